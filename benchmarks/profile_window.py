"""Window-kernel variants on one GPU: parity against the reference, then kernel latency.

PYTHONPATH=src python benchmarks/profile_window.py --out DIR   # writes gpu_window_variants.json

Round 3 of issue 3 (benchmarks/NOTES_gpu.md): the "band" kernel (raster-order token tiles against
contiguous neighbour bands) against main's "gram" kernel, with its tuning knobs, in one process.
Parity first (every variant against the float64 reference on small odd shapes, and against "gram"
on the benchmark shapes); a variant that fails is reported and not timed. The "gram" and "dots"
kernels live in ``window_variants.py`` beside this script; the library keeps "band".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpu import copy_bandwidth, make_inputs, time_events  # noqa: E402
from window_variants import window_entropy_and_gradient_variant  # noqa: E402

from entropy_select.core.entropy import local_window_entropy  # noqa: E402
from entropy_select.core.gradient import spatial_gradient_magnitude  # noqa: E402

VARIANTS = {  # name -> launcher options
    "gram (main)": {"variant": "gram"},
    "band m32 d64 w4 s2": {"variant": "band"},
    "band m32 d64 w8 s2": {"variant": "band", "num_warps": 8},
    "band m32 d64 w4 s3": {"variant": "band", "num_stages": 3},
    "band m32 d64 w4 s4": {"variant": "band", "num_stages": 4},
    "band m32 d32 w4 s4": {"variant": "band", "block_d": 32, "num_stages": 4},
    "band m32 d128 w8 s2": {"variant": "band", "block_d": 128, "num_warps": 8},
    "band m16 d64 w4 s3": {"variant": "band", "block_m": 16, "num_stages": 3},
    "band m64 d64 w8 s2": {"variant": "band", "block_m": 64, "num_warps": 8},
    "band m64 d32 w8 s3": {
        "variant": "band",
        "block_m": 64,
        "block_d": 32,
        "num_warps": 8,
        "num_stages": 3,
    },  # fmt: skip
    "band m32 d64 w4 s3 split1": {"variant": "band", "num_stages": 3, "splits": 1},
    "band m32 d64 w4 s3 split4": {"variant": "band", "num_stages": 3, "splits": 4},
}
SHAPES = [(16, 14, 14, 3584), (64, 14, 14, 3584), (1024, 14, 14, 1152)]


def parity(opts: dict) -> float:
    """Worst error over small odd shapes against the float64 reference, minus the same-dtype
    reference's own error (must stay under ~1e-6)."""
    worst = 0.0
    for shape, dtype in [((1, 7, 13, 27, 40), torch.bfloat16), ((2, 3, 2, 3, 129), torch.float16),
                         ((1, 4, 14, 14, 200), torch.float32)]:  # fmt: skip
        x = torch.randn(*shape, device="cuda").to(dtype)
        ent, grad = window_entropy_and_gradient_variant(x, **opts)
        for out, ref in ((ent, local_window_entropy), (grad, spatial_gradient_magnitude)):
            anchor = ref(x.double())
            scale = max(1.0, anchor.abs().max().item())
            own = (ref(x).double() - anchor).abs().max().item()
            worst = max(worst, ((out.double() - anchor).abs().max().item() - own) / scale)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    bw = copy_bandwidth()
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "copy_GBps": bw * 1e-9, "parity": {}, "kernels": []}  # fmt: skip
    bad = set()
    for name, opts in VARIANTS.items():
        try:
            err = parity(opts)
        except Exception as exc:  # noqa: BLE001
            err = f"error: {str(exc)[:300]}"
        out["parity"][name] = err
        if not isinstance(err, float) or err > 2e-6:
            bad.add(name)
        print(f"parity {name}: {err}", flush=True)
    for T, H, W, D in SHAPES:
        xs = make_inputs(T, H, W, D, torch.bfloat16)
        nbytes = xs[0].numel() * 2
        ref_ent, ref_grad = window_entropy_and_gradient_variant(xs[0], variant="gram")
        for name, opts in VARIANTS.items():
            if name in bad:
                continue
            row = {"T": T, "D": D, "variant": name}
            try:
                ent, grad = window_entropy_and_gradient_variant(xs[0], **opts)
                gdiff = ((grad - ref_grad) / ref_grad.max()).abs().max().item()
                row["max_diff_vs_gram"] = max((ent - ref_ent).abs().max().item(), gdiff)
                fn = lambda x, o=opts: window_entropy_and_gradient_variant(x, **o)  # noqa: E731
                us = statistics.median(time_events(fn, xs, reps=args.reps))
                row.update(median_us=us, frac_copy_bw=nbytes / (us * 1e-6) / bw)
            except Exception as exc:  # noqa: BLE001
                row["error"] = str(exc)[:300]
            out["kernels"].append(row)
            print(row, flush=True)
        del xs
        torch.cuda.empty_cache()
    with open(os.path.join(args.out, "gpu_window_variants.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"\n{out['device']}  copy {bw * 1e-12:.2f} TB/s")
    for r in out["kernels"]:
        us = r.get("median_us")
        txt = f"{us:9.1f} us  {100 * r['frac_copy_bw']:5.1f}%" if us else r.get("error", "")[:60]
        print(f"T={r['T']:5d} D={r['D']}  {r['variant']:28s} {txt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

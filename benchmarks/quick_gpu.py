"""Quick GPU checks, each fitting in a minute of device time, printed line by line.

``--part frame``: the frame-select kernel alone (``profile_frame.py``'s inputs and device timer,
r = 0.35, 30 launches each), the gathered token output (the default) against Round 5's scanned
one and the selection without tokens, at 16x14x14x3584 and (default, balanced) 1x27x27x1152.
``--part graph``: the whole selection of 16x14x14x3584 bf16 (``bench_gpu.py``'s inputs and
timers, 20 calls each) in the caller's CUDA graph and through the library's cached graph
(``cuda_graph="auto"``), every preset, r = 0.05 / 0.35 / 0.5.
``--part groups``: the frame-select kernel alone in context mode (``balanced``) at
16/64x14x14x3584, r = 5-50%, with 16, 32 and 64 merged groups a tile (``block_g``) and the
default: few large groups (low r) take ``ceil(largest group / lanes)`` gather steps, and a
tile of 64 groups has 2 lanes where one of 16 has 8.

    PYTHONPATH=src python benchmarks/quick_gpu.py --part frame     # needs a CUDA GPU
    PYTHONPATH=src python benchmarks/quick_gpu.py --part graph
    PYTHONPATH=src python benchmarks/quick_gpu.py --part groups

The device calls of 2026-11-30 ran this code as two scripts at the repository root
(``results/quick_gpu_h200.log`` holds their output).
"""

from __future__ import annotations

import argparse
import statistics

import torch


def frame() -> None:
    import profile_frame as pf

    case = ("offline 16x14x14 D3584", 16, 14, 14, 3584, "K")
    for variant in ({}, {"token_output": "scan"}, {"no_tokens": True}):
        for preset in ("paper", "default", "balanced"):
            fn, _ = pf._call(case, preset, variant)
            print(preset, variant, f"{statistics.median(pf.device_us(fn, 30)):.1f} us", flush=True)
    case = ("frame 1x27x27 D1152", 1, 27, 27, 1152, "m")
    for variant in ({}, {"token_output": "scan"}):
        for preset in ("default", "balanced"):
            fn, _ = pf._call(case, preset, variant)
            ts = pf.device_us(fn, 30)
            print("27x27", preset, variant, f"{statistics.median(ts):.1f} us", flush=True)


def graph() -> None:
    import bench_gpu as bg

    import entropy_select as es

    xs = bg.make_inputs(16, 14, 14, 3584, torch.bfloat16)
    N = 16 * 196
    for preset, cfg in bg.PRESET_CONFIGS.items():
        for r in (0.05, 0.35, 0.5):
            K = int(r * N)

            def call(x, K=K, cfg=cfg, cuda_graph=False):
                return es.select_tokens(
                    x, budget=K, impl="triton", validate=False, config=cfg, cuda_graph=cuda_graph
                )

            gt = bg.graph_times(call, xs, reps=20)
            at = bg.time_events(lambda x, call=call: call(x, cuda_graph="auto"), xs, reps=20)
            print(
                preset, r, "graph", f"{statistics.median(gt):.1f}",
                "auto", f"{statistics.median(at):.1f}", flush=True,
            )  # fmt: skip


def groups() -> None:
    import profile_frame as pf

    for T in (16, 64):
        case = (f"offline {T}x14x14 D3584", T, 14, 14, 3584, "K")
        for r in (0.05, 0.1, 0.25, 0.35, 0.5):
            pf.RETENTION = r
            row = []
            for block_g in (16, 32, 64, None):
                fn, _ = pf._call(case, "balanced", {"block_g": block_g})
                row.append(f"g{block_g or 'default'} {statistics.median(pf.device_us(fn, 30)):.1f}")
            print(f"{T}f r={r}", " ".join(row), "us", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("frame", "graph", "groups"), required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    {"frame": frame, "graph": graph, "groups": groups}[args.part]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

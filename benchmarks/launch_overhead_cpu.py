"""Host time of the Triton path with the GPU replaced by a no-op, before and after direct launches.

CPU only, no GPU: Triton's real ``JITFunction.run`` (binder, specialisation, cache key, launch
metadata) runs against a stand-in CUDA driver whose launcher does nothing; the kernels are really
compiled for sm_90 (Triton's own compiler and ptxas, cached after the first run). So the figures
are the Python/host cost of a call (argument handling, allocations of CPU tensors instead of CUDA
ones, the launches' bookkeeping), with no GPU work and no CUDA driver calls: the device machine's
host differs (its CUDA allocations and launches cost more), so only the difference between the
two modes, measured in the same process, carries over.

Modes, alternated in rounds: ``normal`` (``launch`` forced onto ``kernel[grid](...)``, i.e. what
every call did before) and ``direct`` (``launch`` as shipped).

    PYTHONPATH=src python benchmarks/launch_overhead_cpu.py \
        --out benchmarks/results/launch_overhead_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch
from common import metadata, write_json


class _Utils:
    def get_device_properties(self, device):
        return {"max_shared_mem": 232448, "multiprocessor_count": 132, "max_num_regs": 65536}

    def load_binary(self, name, kernel, shared, device):
        return 1, 2, 128, 0, 1024  # module, function, registers, spills, max threads


class _NoOpLauncher:
    def __init__(self, src, metadata):
        pass

    def __call__(self, *args):
        pass


class _Driver:
    """A stand-in CUDA driver: sm_90 target, device 0, stream 0, a launcher that does nothing."""

    utils = _Utils()
    launcher_cls = _NoOpLauncher

    def get_current_target(self):
        from triton.backends.compiler import GPUTarget

        return GPUTarget("cuda", 90, 32)

    def get_current_device(self):
        return 0

    def get_current_stream(self, device):
        return 0

    def get_device_capability(self, device):
        return (9, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1,16,14,14,3584")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    torch.set_num_threads(1)  # a push's frame copy: no thread pool waiting on busy cores
    from triton.runtime import driver

    driver.set_active(_Driver())
    from entropy_select import streaming
    from entropy_select.kernels.triton import launch as L
    from entropy_select.kernels.triton.select import select_tokens_triton
    from entropy_select.selectors.entropy_select import PRESETS
    from entropy_select.streaming import StreamingSelector

    # The no-op launcher leaves every output unwritten, so a push's finite flags are whatever the
    # allocation held; the recount they would trigger is not launch overhead (both modes alike).
    streaming.check_finite = lambda *a, **k: None

    def mode_context(mode):  # "normal": every launch through kernel[grid](...), as before
        if mode == "normal":
            return L.normal_launches()
        L.clear()
        return contextlib.nullcontext()

    def run_calls(fn, n):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e6

    shape = tuple(int(s) for s in args.shape.split(","))
    dtype = getattr(torch, args.dtype)
    x = torch.randn(shape).to(dtype)
    K = int(0.35 * shape[1] * shape[2] * shape[3])
    frame = torch.randn(shape[2], shape[3], 1152).to(dtype)
    results = {}
    with torch.no_grad():
        for name in ("paper", "default", "balanced"):
            cfg = PRESETS[name]
            stream = StreamingSelector(retention=0.35, config=cfg)
            stream._resolve_impl = lambda _x: "triton"
            cases = {
                f"select_tokens_triton/{name}": lambda cfg=cfg: select_tokens_triton(x, K, cfg),
                f"stream_push/{name}": lambda stream=stream: stream.push(frame),
            }
            for case, fn in cases.items():
                rows = {"normal": [], "direct": []}
                for mode in ("normal", "direct"):  # warm-up: compile, bind
                    with mode_context(mode):
                        run_calls(fn, 3)
                for _ in range(args.rounds):
                    for mode in ("normal", "direct"):
                        with mode_context(mode):
                            run_calls(fn, 3)
                            rows[mode].append(run_calls(fn, args.calls))
                results[case] = {
                    m: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v)}
                    for m, v in rows.items()
                }
                print(
                    f"{case:36s} normal {results[case]['normal']['median_us']:7.1f} µs"
                    f"  direct {results[case]['direct']['median_us']:7.1f} µs per call"
                )
    import triton

    meta = metadata("cpu") | {
        "machine": "project CPU machine (2 shared cores), no GPU: stand-in driver, no-op launcher",
        "triton": triton.__version__,
        "shape": shape,
        "dtype": args.dtype,
        "K": K,
        "stream_frame": list(frame.shape),
        "calls_per_round": args.calls,
        "rounds": args.rounds,
    }
    if args.out:
        write_json(Path(args.out), {"meta": meta, "results": results})


if __name__ == "__main__":
    main()

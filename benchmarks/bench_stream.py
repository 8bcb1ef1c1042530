"""Per-frame latency of streaming selection (``es.StreamingSelector.push``), CPU or GPU.

For each frame shape (14×14×1152 and 27×27×1152 by default) and config (the library default and
the ``paper`` preset), a stream at retention 0.25 (adaptive budgets) is warmed up with
``temporal_window`` frames (so the window is full), then every ``push`` of the next ``--frames``
frames is timed on its own: wall clock around the call (``push`` returns host-side sizes, so it
synchronises with the device by itself; on CUDA we also synchronise before starting the clock).
Reported: median, p10, p90, min, max in milliseconds. For context, the same run times the
offline selector on 16 frames (``select_tokens``) and reports its cost per frame.

The CPU machine of this project is shared by several jobs, so wall-clock times there include
waiting for a core. On the CPU the script therefore also records the CPU time of each push
(``time.thread_time`` with ``--threads 1``, where all of torch's work runs on the calling thread;
``time.process_time`` otherwise), which waiting does not inflate, and the load average.

CPU (this project's 2-core machine)::

    PYTHONPATH=src python benchmarks/bench_stream.py

GPU (Triton kernels on the new frame, past frames read from the ring; torch reference path for
comparison; `--profile` adds a torch.profiler table of ten pushes per preset)::

    PYTHONPATH=src python benchmarks/bench_stream.py --device cuda

Writes ``benchmarks/results/stream_<device>.json`` (``--out PATH`` elsewhere; one torch thread:
``--threads 1 --out benchmarks/results/stream_cpu_1thread.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from common import RESULTS, metadata, write_json

import entropy_select as es

CONFIGS = {
    "default": es.EntropySelectConfig(),
    "paper": es.EntropySelectConfig.paper(),
    "balanced": es.EntropySelectConfig.balanced(),
}


def _stats(times: list[float]) -> dict:
    ms = sorted(1000 * t for t in times)
    n = len(ms)
    return {
        "median_ms": statistics.median(ms),
        "p10_ms": ms[int(0.1 * (n - 1))],
        "p90_ms": ms[int(0.9 * (n - 1))],
        "min_ms": ms[0],
        "max_ms": ms[-1],
        "frames": n,
    }


def time_stream(frames: torch.Tensor, cfg, impl: str, retention: float) -> dict:
    """Warm up with K_t frames, then time each push of the rest."""
    stream = es.StreamingSelector(retention=retention, config=cfg, impl=impl)
    sync = torch.cuda.synchronize if frames.is_cuda else (lambda: None)
    warm = cfg.temporal_window + 2
    for f in frames[:warm]:
        stream.push(f)
    clock = time.thread_time if torch.get_num_threads() == 1 else time.process_time
    times, cpu = [], []
    for f in frames[warm:]:
        sync()
        start, cstart = time.perf_counter(), clock()
        stream.push(f)
        sync()
        times.append(time.perf_counter() - start)
        cpu.append(clock() - cstart)
    out = _stats(times)
    if not frames.is_cuda:
        out["cpu_time"] = dict(_stats(cpu), clock=clock.__name__)
    out["state_bytes"] = stream.state_bytes
    out["impl_used"] = stream._impl
    return out


def profile_push(frames: torch.Tensor, cfg, retention: float, rows: int = 14) -> None:
    """Print where one steady-state push spends its time (torch.profiler: host time per op,
    device time per kernel), to see launch overhead against device work."""
    from torch.profiler import ProfilerActivity, profile

    stream = es.StreamingSelector(retention=retention, config=cfg, impl="triton")
    for f in frames[: cfg.temporal_window + 2]:
        stream.push(f)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for f in frames[cfg.temporal_window + 2 : cfg.temporal_window + 12]:
            stream.push(f)
    print("  10 pushes, by host time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))
    print("  by device time:")
    try:
        print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=rows))
    except (KeyError, AttributeError, ValueError):  # older torch spells it "cuda"
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=rows))


def time_offline(video: torch.Tensor, cfg, impl: str, retention: float, repeat: int) -> dict:
    """``select_tokens`` on a whole clip, per frame (for context only)."""
    sync = torch.cuda.synchronize if video.is_cuda else (lambda: None)
    for _ in range(2):
        es.select_tokens(video, retention=retention, config=cfg, impl=impl)
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        es.select_tokens(video, retention=retention, config=cfg, impl=impl)
        sync()
        times.append((time.perf_counter() - start) / video.shape[0])
    return _stats(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=int, default=60, help="timed pushes per case")
    p.add_argument("--retention", type=float, default=0.25)
    p.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (GPU default)")
    p.add_argument("--shapes", default="14x14x1152,27x27x1152")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--out", default=None, help="JSON path (default: results/stream_<device>.json)")
    p.add_argument(
        "--profile", action="store_true", help="CUDA: print a torch.profiler table of the pushes"
    )
    args = p.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if dev.type == "cuda" else "float32"))
    impls = ["triton", "reference"] if dev.type == "cuda" else ["reference"]
    offline_impl = "auto"
    g = torch.Generator().manual_seed(0)
    load_start = os.getloadavg()  # the CPU machine is shared: record how busy it was
    results = []
    for shape in args.shapes.split(","):
        H, W, D = (int(v) for v in shape.split("x"))
        frames = torch.randn(args.frames + 8, H, W, D, generator=g).to(dev, dtype)
        clip = frames[:16].contiguous()
        for name, cfg in CONFIGS.items():
            for impl in impls:
                row = {"shape": [H, W, D], "dtype": str(dtype), "config": name, "impl": impl}
                row.update(time_stream(frames, cfg, impl, args.retention))
                results.append(row)
                if args.profile and impl == "triton":
                    profile_push(frames, cfg, args.retention)
                cpu = row.get("cpu_time")
                print(
                    f"{H}x{W}x{D} {name:7s} stream[{impl}]: median {row['median_ms']:.3f} ms "
                    f"(p10 {row['p10_ms']:.3f}, p90 {row['p90_ms']:.3f}) per frame"
                    + (f"; CPU time median {cpu['median_ms']:.3f} ms" if cpu else "")
                )
            off = time_offline(clip, cfg, offline_impl, args.retention, repeat=7)
            results.append(
                {
                    "shape": [H, W, D],
                    "dtype": str(dtype),
                    "config": name,
                    "impl": f"offline select_tokens(impl={offline_impl}), 16 frames, per frame",
                    **off,
                }
            )
            print(f"{H}x{W}x{D} {name:7s} offline 16 frames: {off['median_ms']:.3f} ms per frame")
    payload = {
        "meta": metadata(args.device),
        "what": "StreamingSelector.push latency per frame (window full), retention "
        f"{args.retention}, adaptive budgets; offline select_tokens per frame for context",
        "loadavg_start_end": [list(load_start), list(os.getloadavg())],
        "results": results,
    }
    path = Path(args.out) if args.out else RESULTS / f"stream_{dev.type}.json"
    write_json(path, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Where the host's time goes in one eager call of the fused GPU path (``cuda_graph=False``).

The eager path is bound by the host issuing launches (``NOTES_gpu.md``), so this profiles the
Python side: ``cProfile`` over ``--calls`` eager calls of ``select_tokens`` per preset, after a
warm-up, with the GPU synchronised only at the end (as an adapter runs it). Writes, per preset,
the top functions by own time (``host_<preset>.txt``) and a JSON of wall time per call with and
without the profiler, and each GPU kernel's device time per call (``kernels_us``, torch.profiler).

Replays (``auto_*`` rows, ``host_<preset>_auto.txt``): the same call through the library's
cached graph (``cuda_graph="auto"`` after its eager and capture calls), back to back, one at a
time from an idle GPU with CUDA events (``bench_gpu.py``'s measure) and its host time alone;
``--only-auto`` runs just these (a quick A/B of two checkouts: run it with each one's ``src``
first on ``PYTHONPATH``).

Direct launches (``kernels/triton/launch.py``): ``eager_us`` / ``eager_validate_us`` are the
shipped path; ``eager_normal_launch_us`` is the same call with every launch forced through
``kernel[grid](...)`` (``JITFunction.run``, as before), measured in the same run. ``stream`` rows:
per-push wall time of a 14x14x1152 bf16 stream (``StreamingSelector.push``, its one host sync
included), direct and forced-normal launches, each preset, adaptive budgets.

    PYTHONPATH=src python benchmarks/profile_host.py --out $OUT            # needs a CUDA GPU
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import time
from pathlib import Path

import torch
from common import metadata

import entropy_select as es

PRESETS = {
    "paper": es.EntropySelectConfig.paper(),
    "default": es.EntropySelectConfig(),
    "balanced": es.EntropySelectConfig.balanced(),
}


def _calls(x: torch.Tensor, cfg, n: int, validate: bool, cuda_graph=False) -> float:
    """Seconds per call of ``n`` calls (eager by default), synchronised once at the end."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        es.select_tokens(x, retention=0.35, config=cfg, cuda_graph=cuda_graph, validate=validate)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def _replays(x: torch.Tensor, cfg, n: int) -> dict[str, float]:
    """The library's cached graph (``cuda_graph="auto"``, ``validate=False``, as ``bench_gpu.py``'s
    ``auto`` rows) after its eager and capture calls: ``auto_us``, µs per call of ``n`` calls
    back to back (the host's rate: the GPU work overlaps); ``auto_event_us``, the median of ``n``
    calls each timed by CUDA events from an idle GPU (``bench_gpu.py``'s measure, host prefix
    included); ``auto_host_us``, the median host time of those calls (return minus call)."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    for _ in range(3):
        _calls(x, cfg, 1, validate=False, cuda_graph="auto")  # eager, capture, first replay
    row = {"auto_us": 1e6 * _calls(x, cfg, n, validate=False, cuda_graph="auto")}
    events, host = [], []
    for _ in range(n):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        t0 = time.perf_counter()
        es.select_tokens(x, retention=0.35, config=cfg, cuda_graph="auto", validate=False)
        host.append(time.perf_counter() - t0)
        end.record()
        end.synchronize()
        events.append(start.elapsed_time(end) * 1e3)
    row["auto_event_us"] = statistics.median(events)
    row["auto_host_us"] = 1e6 * statistics.median(host)
    return row


def _pushes(cfg, n: int) -> float:
    """Seconds per push of ``n`` pushes of a 14x14x1152 bf16 stream (after 8 warm-up pushes)."""
    frames = torch.randn(8, 14, 14, 1152, device="cuda", dtype=torch.bfloat16)
    stream = es.StreamingSelector(retention=0.35, config=cfg)
    for f in frames:
        stream.push(f)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(n):
        stream.push(frames[i % 8])
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def _kernel_times(x: torch.Tensor, cfg, n: int) -> dict[str, float]:
    """Device time per call of each GPU kernel (torch.profiler, ``n`` eager calls after warm-up)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        _calls(x, cfg, n, validate=False)
    times: dict[str, float] = {}
    for event in prof.key_averages():
        device_us = getattr(event, "device_time_total", None)
        if device_us is None:  # older torch
            device_us = event.cuda_time_total
        if device_us > 0:
            times[event.key[:80]] = times.get(event.key[:80], 0.0) + device_us / n
    return dict(sorted(times.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="directory for the results")
    p.add_argument("--shape", default="16,14,14,3584", help="T,H,W,D")
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--top", type=int, default=40)
    p.add_argument(
        "--only-auto",
        action="store_true",
        help="only the replay rows (and their profile): a quick A/B of the replay path",
    )
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        p.error("needs a CUDA GPU")
    from entropy_select.kernels.triton import launch

    args.out.mkdir(parents=True, exist_ok=True)
    T, H, W, D = (int(v) for v in args.shape.split(","))
    x = torch.randn(T, H, W, D, device="cuda", dtype=torch.bfloat16)
    result = {"meta": metadata("cuda"), "shape": [T, H, W, D], "calls": args.calls, "presets": {}}
    for name, cfg in PRESETS.items():
        for validate in (True, False):
            _calls(x, cfg, 20, validate)  # compile and warm up
        auto = _replays(x, cfg, args.calls)
        prof = cProfile.Profile()
        prof.enable()
        auto["auto_profiled_us"] = 1e6 * _calls(x, cfg, args.calls, False, cuda_graph="auto")
        prof.disable()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(args.top)
        (args.out / f"host_{name}_auto.txt").write_text(text.getvalue())
        if args.only_auto:
            result["presets"][name] = auto
            print(name, {k: round(v, 1) for k, v in auto.items()}, flush=True)
            continue
        row = {
            "eager_us": 1e6 * _calls(x, cfg, args.calls, validate=False),
            "eager_validate_us": 1e6 * _calls(x, cfg, args.calls, validate=True),
        }
        with launch.normal_launches():  # every launch through kernel[grid](...), as before
            _calls(x, cfg, 5, validate=False)
            row["eager_normal_launch_us"] = 1e6 * _calls(x, cfg, args.calls, validate=False)
            row["stream_push_normal_launch_us"] = 1e6 * _pushes(cfg, args.calls)
        row["stream_push_us"] = 1e6 * _pushes(cfg, args.calls)
        row["eager_again_us"] = 1e6 * _calls(x, cfg, args.calls, validate=False)  # drift check
        row.update(auto)
        row["kernels_us"] = _kernel_times(x, cfg, 50)
        prof = cProfile.Profile()
        prof.enable()
        row["profiled_us"] = 1e6 * _calls(x, cfg, args.calls, validate=False)
        prof.disable()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(args.top)
        (args.out / f"host_{name}.txt").write_text(text.getvalue())
        result["presets"][name] = row
        print(name, {k: round(v, 1) for k, v in row.items() if k != "kernels_us"}, flush=True)
        print("  device us/call:", {k: round(v, 1) for k, v in row["kernels_us"].items()})
    (args.out / "host_profile.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

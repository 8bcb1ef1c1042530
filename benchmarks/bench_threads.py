"""CPU threads vs a busy core: the CLI's work at 1 and at all torch threads, idle vs loaded.

Issue 15, point 8: on the 2-core machine, with one core busy with another process, a selection
went from 44 ms to 690 ms at torch's default of 2 intra-op threads (the threads wait on each
other at every parallel region while one of them is descheduled); at 1 thread it took 70 ms.
This script measures the two CPU-heavy steps of the CLI in one run:

- ``select``: ``es.select_tokens`` (library default, CPU fast path) on 16×14×14×1152 float32;
- ``encode``: the ImageNet MobileNetV2 encoder on 2 frames at 448×448 (the demo's encoder;
  skipped when its weights package is not installed);

at each thread count in ``--threads`` (default: 1 and every core), each with ``--busy`` extra
busy-loop processes running (default: 0 and 1; a busy loop is ``while True: pass`` in a child
process, ended by the script). Thread counts are interleaved run by run inside each condition,
and the conditions alternate twice, so drift falls on all alike. It also checks that the
selection is bit-identical at every thread count. The machine's load average is recorded: on
a shared machine "0 busy" means "no extra load from this script", not "idle".

    PYTHONPATH=src python benchmarks/bench_threads.py     # writes results/threads_cpu.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import RESULTS, metadata, write_json

import entropy_select as es

SHAPE = (16, 14, 14, 1152)


def _busy(count: int) -> list[subprocess.Popen]:
    """Start ``count`` busy-loop child processes (each keeps one core at 100%)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        child.terminate()
    for child in children:
        child.wait(timeout=10)


def _time_interleaved(
    fns: dict, threads: list[int], repeat: dict[str, int]
) -> dict[str, list[float]]:
    """Seconds of each (workload, threads) pair, round-robin over the thread counts."""
    times = {f"{name}@{n}": [] for name in fns for n in threads}
    for name, fn in fns.items():
        for n in threads:  # warm-up at each thread count
            torch.set_num_threads(n)
            fn()
        for _ in range(repeat[name]):
            for n in threads:
                torch.set_num_threads(n)
                start = time.perf_counter()
                fn()
                times[f"{name}@{n}"].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS / "threads_cpu.json")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}", help="comma-separated")
    parser.add_argument("--busy", default="0,1", help="extra busy processes per condition")
    parser.add_argument("--repeat-select", type=int, default=9)
    parser.add_argument("--repeat-encode", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="times each condition comes back")
    args = parser.parse_args()
    threads = sorted({int(n) for n in args.threads.split(",")})
    busy_levels = [int(b) for b in args.busy.split(",")]
    default_threads = torch.get_num_threads()
    meta = metadata("cpu")

    x = torch.randn(*SHAPE, generator=torch.Generator().manual_seed(0))
    fns = {"select": lambda: es.select_tokens(x, retention=0.35)}
    repeat = {"select": args.repeat_select, "encode": args.repeat_encode}
    try:
        from entropy_select.encoders import get_encoder

        encoder = get_encoder("mobilenet_v2")
        frames = torch.randint(
            0, 256, (2, 448, 448, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
        )
        fns["encode"] = lambda: encoder.encode(frames, batch_size=2)
    except ImportError as err:
        print(f"encode skipped: {err}")

    # the same selection at every thread count (float reductions could differ in order)
    keeps = []
    for n in threads:
        torch.set_num_threads(n)
        keeps.append(es.select_tokens(x, retention=0.35).keep_index)
    identical = all(torch.equal(keeps[0], k) for k in keeps[1:])

    samples: dict[str, list[float]] = {}
    load = []
    for _ in range(args.rounds):
        for busy in busy_levels:
            children = _busy(busy)
            try:
                time.sleep(0.5)  # let the busy loops start
                load.append({"busy": busy, "loadavg_1min_before": os.getloadavg()[0]})
                got = _time_interleaved(fns, threads, repeat)
            finally:
                _stop(children)
            for key, values in got.items():
                samples.setdefault(f"busy{busy}:{key}", []).extend(values)
    torch.set_num_threads(default_threads)

    rows = []
    for key, values in samples.items():
        condition, rest = key.split(":")
        name, n = rest.split("@")
        row = {
            "workload": name,
            "extra_busy_processes": int(condition.removeprefix("busy")),
            "threads": int(n),
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "runs": len(values),
        }
        rows.append(row)
        print(
            f"{name:<7} busy={row['extra_busy_processes']} threads={n}: median "
            f"{1000 * row['median_s']:8.1f} ms  (min {1000 * row['min_s']:.1f}, "
            f"max {1000 * row['max_s']:.1f}, {len(values)} runs)"
        )
    print(f"same keep_index at threads {threads}: {identical}")
    write_json(
        args.out,
        {
            "meta": {**meta, "torch_default_threads": default_threads},
            "shape": list(SHAPE),
            "retention": 0.35,
            "encode_input": [2, 448, 448, 3],
            "threads": threads,
            "busy_levels": busy_levels,
            "load": load,
            "identical_selection_across_threads": identical,
            "results": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Host time of one eager GPU-path call, with the GPU replaced by a no-op, for two checkouts A/B.

CPU only, no GPU. The eager fused path's latency on the device is its host time (``NOTES_gpu.md``:
four or five launches, their allocations and the Python around them), and the device machine's
host is not this one: so this measures what changes between code versions, in one run, here.
Triton's real launch path runs against ``launch_overhead_cpu.py``'s stand-in CUDA driver (the
kernels are compiled for sm_90; the launcher does nothing) on CPU tensors, and the impl
resolution is forced to Triton. Cases, per preset, 16x14x14x3584 bf16, r = 0.35:

- ``select_tokens``: the public call an adapter makes on one ``[T, H, W, D]`` video,
  ``select_tokens(x, budget=K, config=cfg, validate=False, cuda_graph=False)`` (checks,
  dispatch, the pipeline, the unbatched result);
- ``select_tokens_triton``: the batched pipeline alone;
- ``stream_push``: one ``StreamingSelector.push`` of a 14x14x1152 bf16 frame (r = 0.35, the
  window full; the push's NaN recount stubbed out, as in ``launch_overhead_cpu.py``: the no-op
  kernels leave its flags unwritten).

Each ``--src`` tree runs in its own Python (``PYTHONPATH=<src>``), the trees alternating round by
round so that machine drift falls on both alike; each round is the mean µs per call of
``--calls`` calls; reported: the median over rounds, and the ratio of each tree to the first.

    git worktree add /tmp/before <commit>   # or: git archive <commit> src | tar -x -C /tmp/before
    python benchmarks/eager_host_cpu.py --src /tmp/before/src --label <commit> --src src \
        --label HEAD --out benchmarks/results/eager_host_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import metadata, write_json

HERE = Path(__file__).resolve().parent


def child(calls: int, warmup_rounds: int) -> dict:
    """One round in this process: µs per call of each case (run with a tree's src first)."""
    import torch

    torch.set_num_threads(1)
    from launch_overhead_cpu import _Driver
    from triton.runtime import driver

    driver.set_active(_Driver())
    import entropy_select as es
    import entropy_select.kernels as kernels
    from entropy_select import streaming

    kernels.triton_available = lambda x=None: (True, "")  # CPU tensors on the stand-in driver
    streaming.check_finite = lambda *a, **k: None  # the no-op kernels write no NaN flags
    from entropy_select.kernels.triton.select import select_tokens_triton

    presets = {
        "paper": es.EntropySelectConfig.paper(),
        "default": es.EntropySelectConfig(),
        "balanced": es.EntropySelectConfig.balanced(),
    }
    x = torch.randn(1, 16, 14, 14, 3584).to(torch.bfloat16)
    K = int(0.35 * 16 * 196)
    out = {}
    frame = torch.randn(14, 14, 1152).to(torch.bfloat16)
    for name, cfg in presets.items():
        stream = es.StreamingSelector(retention=0.35, config=cfg)
        stream._resolve_impl = lambda _x: "triton"
        cases = {
            "select_tokens": lambda cfg=cfg: es.select_tokens(
                x[0], budget=K, config=cfg, validate=False, cuda_graph=False
            ),
            "select_tokens_triton": lambda cfg=cfg: select_tokens_triton(x, K, cfg),
            "stream_push": lambda stream=stream: stream.push(frame),
        }
        for case, fn in cases.items():
            for _ in range(warmup_rounds * calls):  # compile, bind the direct launches, caches
                fn()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            out[f"{case}/{name}"] = (time.perf_counter() - t0) / calls * 1e6
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", required=False, help="a src tree (repeat)")
    parser.add_argument("--label", action="append", help="what each --src is (a commit)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.calls, warmup_rounds=1)))
        return 0
    srcs = [str(Path(s).resolve()) for s in (args.src or ["src"])]
    rows: dict[str, dict[str, list[float]]] = {s: {} for s in srcs}
    for r in range(args.rounds):
        for src in srcs:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, str(HERE)]))
            env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's warning, same value
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", "--calls",
                 str(args.calls)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                return 1
            for case, us in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                rows[src].setdefault(case, []).append(us)
        print(f"round {r + 1}/{args.rounds}", flush=True)
    base = srcs[0]
    results = {}
    for src in srcs:
        results[src] = {}
        for case, v in rows[src].items():
            med = statistics.median(v)
            ref = statistics.median(rows[base][case])
            results[src][case] = {
                "median_us": round(med, 2),
                "min_us": round(min(v), 2),
                "max_us": round(max(v), 2),
                "ratio_to_first": round(med / ref, 3),
            }
    for case in rows[base]:
        cells = "  ".join(f"{results[s][case]['median_us']:7.1f}" for s in srcs)
        ratio = results[srcs[-1]][case]["ratio_to_first"]
        print(f"{case:36s} {cells} µs   last/first {ratio:.3f}")
    import triton

    meta = metadata("cpu") | {
        "machine": "project CPU machine (2 shared cores), no GPU: stand-in driver, no-op launcher",
        "triton": triton.__version__,
        "shape": [16, 14, 14, 3584],
        "dtype": "bfloat16",
        "retention": 0.35,
        "calls_per_round": args.calls,
        "rounds": args.rounds,
        "srcs": srcs,
        "labels": args.label or srcs,
    }
    if args.out:
        write_json(Path(args.out), {"meta": meta, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The frame kernel alone (SPEC §5-7, ``frame_select_triton``) on one GPU: the pairwise kernel
(Round 4), the sorted kernel with its output tokens by scanning (Round 5) and by gathering
(Round 6, the default), and a small sweep of its launch geometry.

PYTHONPATH=src python benchmarks/profile_frame.py --out DIR   # writes gpu_frame_kernel.json

Issues 12 and 14 (benchmarks/NOTES_gpu.md, "Round 5" and "Round 6"). For each preset's mode
(paper: select, library default: grid fusion, balanced: context pooling) and three cases,
(a) 16x14x14 frames with bf16 features D = 3584 (offline), (b) one 14x14 frame with D = 1152
(one streaming push), (c) one 27x27 frame with D = 1152, at retention 0.35: first every output of
each variant against the pairwise kernel's (keep mask, keep_index, assignment, weights:
``identical``, "DIFF" in the table if not; the largest token difference: ``tokens_max_diff``, "~"
if not 0), then its device time per launch: CUDA events around each of ``--reps`` launches
queued behind a sleep kernel (so that host launch overhead does not count), median after
warm-up. The kernels are compiled first by a pool of processes (the Triton cache is shared on
disk), so that the whole run stays under ~90 s on a 16-core host.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

import torch

PRESETS = ("paper", "default", "balanced")
#: (name, T, H, W, D, row stride: "K" for a video, "m" for a stream push)
CASES = [
    ("offline 16x14x14 D3584", 16, 14, 14, 3584, "K"),
    ("stream 1x14x14 D1152", 1, 14, 14, 1152, "m"),
    ("frame 1x27x27 D1152", 1, 27, 27, 1152, "m"),
]
RETENTION = 0.35
#: name -> frame_select_triton options; "pairwise" is the kernel before the sorts.
VARIANTS = {
    "pairwise (before)": {"algo": "pairwise", "num_warps": 4, "block_i": 64, "block_j": 64},
    "sort (default)": {},
    # Round 5's token output (the frame's tokens scanned for the kept and merged ones): before
    "sort, scan tokens (before)": {"token_output": "scan"},
    "sort w4 b64 g32 (first)": {"num_warps": 4, "block_i": 64, "block_j": 64, "block_g": 32},
    "sort w1": {"num_warps": 1},
    "sort w2": {"num_warps": 2},
    "sort w8": {"num_warps": 8},
    "sort b32": {"block_i": 32, "block_j": 32},  # warps: the default (4, or 8 above 256 tokens)
    "sort b64": {"block_i": 64, "block_j": 64},
    "sort j256 w8": {"block_j": 256, "num_warps": 8},  # merged tokens: one gather step
    "sort g32": {"block_g": 32},  # context pooling's merged groups a tile (default 64)
    # the selection alone (no output tokens): what the token output costs, before and after
    "pairwise, no tokens": {"algo": "pairwise", "no_tokens": True},
    "sort, no tokens": {"no_tokens": True},
}
#: (``num_warps`` 1 and 2 run on the 14x14 cases only.)
#: The channel split rule (default: two programs per SM), per case.
SPLITS = {
    "offline": {"sort splits=7": {"splits": 7}, "sort splits=28": {"splits": 28}},
    "stream": {"sort splits=1": {"splits": 1}, "sort splits=4": {"splits": 4}},
}


def _inputs(case, preset):
    import entropy_select as es
    from entropy_select.core.allocation import allocate_frame_budget
    from entropy_select.kernels.triton.select import frame_select_options, merge_mode

    _, T, H, W, D, stride = case
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(1, T, H, W, D, device="cuda", dtype=torch.bfloat16, generator=g)
    s = torch.rand(1, T, H, W, device="cuda", generator=g)
    N = T * H * W
    K = max(1, round(RETENTION * N))
    fb = allocate_frame_budget(s, K)
    cfg = {"paper": es.EntropySelectConfig.paper(), "default": es.EntropySelectConfig(),
           "balanced": es.EntropySelectConfig.balanced()}[preset]  # fmt: skip
    opts = frame_select_options(cfg, merge_mode(cfg, H, W))
    return s, fb, K, K if stride == "K" else H * W, x, opts


def _call(case, preset, variant_opts):
    """The launch, and K (a stream's rows hold H·W slots, of which the first K are written)."""
    from entropy_select.kernels.triton.frame_select import frame_select_triton

    s, fb, K, stride, x, opts = _inputs(case, preset)
    variant_opts = dict(variant_opts)
    if variant_opts.pop("no_tokens", False):
        x = None
    return lambda: frame_select_triton(s, fb, stride, features=x, **opts, **variant_opts), K


def _written(outs, K: int) -> list:
    keep, index, tokens, assignment, weights = outs
    return [keep, index[:, :K], None if tokens is None else tokens[:, :K], assignment, weights]


def _compile(job) -> str:
    """One launch (compiles into the shared on-disk cache); runs in a pool process."""
    case, preset, opts = job
    try:
        _call(case, preset, opts)[0]()
        torch.cuda.synchronize()
        return ""
    except Exception as exc:  # noqa: BLE001
        return f"{case[0]} {preset} {opts}: {str(exc)[:300]}"


def _jobs():
    for case in CASES:
        variants = dict(VARIANTS, **SPLITS.get(case[0].split()[0], {}))
        for name, opts in variants.items():
            if case[2] * case[3] > 256 and opts.get("num_warps", 4) < 4:
                continue  # a 1024-key sort in one or two warps: ~50 s to compile, and spills
            for preset in PRESETS:
                yield case, preset, name, opts


def device_us(fn, reps: int) -> list[float]:
    """Device time of each of ``reps`` launches (µs), queued behind a sleep kernel."""
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    events = [
        (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        for _ in range(reps)
    ]
    torch.cuda._sleep(int(1e6 * reps))  # ~0.5 ms a launch: the host queues every launch
    for start, end in events:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) * 1e3 for start, end in events]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--procs", type=int, default=min(16, os.cpu_count() or 1))
    args = parser.parse_args()
    t0 = time.time()
    jobs = [(case, preset, opts) for case, preset, _, opts in _jobs()]
    # the references each row compares with (the pairwise kernel at its default geometry, with
    # and without tokens), compiled in the pool too: compiled one by one in the timing loop,
    # they took the two device calls of 2026-11-30 past their 130 s and 200 s limits
    jobs += [
        (case, preset, {"algo": "pairwise", "no_tokens": no_tokens})
        for case in CASES
        for preset in PRESETS
        for no_tokens in (False, True)
    ]
    with mp.get_context("spawn").Pool(args.procs) as pool:
        errors = [e for e in pool.map(_compile, jobs, chunksize=1) if e]
    compile_s = time.time() - t0
    print(f"compiled {len(jobs)} launches in {compile_s:.1f} s; errors: {errors}", flush=True)
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "triton": __import__("triton").__version__, "retention": RETENTION,
           "reps": args.reps, "compile_s": compile_s, "compile_errors": errors,
           "measures": "device time of one frame_select_triton launch (the frame kernel alone, "
                       "outputs allocated by the caching allocator), CUDA events, median; "
                       "floor_us: the same around a one-element add (event and launch overhead)",
           "rows": []}  # fmt: skip
    one = torch.zeros(1, device="cuda")
    out["floor_us"] = statistics.median(device_us(lambda: one.add_(1), args.reps))
    print(f"floor (events around a one-element add): {out['floor_us']:.1f} us", flush=True)
    for case, preset, name, opts in _jobs():
        row = {"case": case[0], "preset": preset, "variant": name, "options": opts}
        try:
            fn, K = _call(case, preset, opts)
            base = {"algo": "pairwise", "no_tokens": opts.get("no_tokens", False)}
            ref = _written(_call(case, preset, base)[0](), K)
            got = _written(fn(), K)
            row["identical"] = all(  # keep, keep_index, assignment, weights
                (a is None and b is None) or torch.equal(a, b)
                for i, (a, b) in enumerate(zip(got, ref, strict=True))
                if i != 2
            )
            if got[2] is not None:
                row["tokens_max_diff"] = (got[2].float() - ref[2].float()).abs().max().item()
            us = device_us(fn, args.reps)
            row.update(median_us=statistics.median(us), min_us=min(us), max_us=max(us))
        except Exception as exc:  # noqa: BLE001
            row["error"] = str(exc)[:300]
        out["rows"].append(row)
        print(  # as it goes: a run cut by a time limit still shows its rows
            f"{case[0]:24s} {name:28s} {preset:9s} "
            + (f"{row['median_us']:7.1f} us" if "median_us" in row else row.get("error", "")),
            flush=True,
        )
    out["total_s"] = time.time() - t0
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_frame_kernel.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"{out['device']}  triton {out['triton']}  total {out['total_s']:.0f} s")
    print(f"{'case':24s} {'variant':24s} {'paper':>14s} {'default':>14s} {'balanced':>14s}")
    table: dict = {}
    for r in out["rows"]:
        us = r.get("median_us")
        flag = " DIFF" if not r.get("identical") else " ~" if r.get("tokens_max_diff") else ""
        txt = f"{us:7.1f}{flag:5s}" if us else "error"
        table.setdefault((r["case"], r["variant"]), {})[r["preset"]] = txt
    for (case, variant), cells in table.items():
        print(f"{case:24s} {variant:24s} " + " ".join(f"{cells.get(p, ''):>14s}" for p in PRESETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())

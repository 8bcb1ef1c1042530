"""GPU benchmark of ENTROPY-SELECT's presets against the reference, a naive implementation and the
baselines (issues 3 and 12).

One run covers, for each shape and retention and for each preset (``paper``, ``default``,
``balanced``): the fused Triton path eager (``cuda_graph=False``; row ``impl: "triton"``, timings
under ``"eager"``), the library's default ``cuda_graph="auto"`` called eagerly as ``es.patch``
users call it (row ``impl: "auto"``: its first call, eager, and its second, the capture, timed
once each under ``"auto_first_call_us"`` / ``"auto_capture_call_us"``; then the repeated calls,
replays of the library's cached graph, under ``"auto"``), the whole eager call captured in a CUDA
graph by the benchmark (``"graph"`` of the ``triton`` rows; it also proves the path has no host
synchronisation), the reference path, and ``naive_select`` below (the paper's method as a first
implementation writes it: ``unfold`` + softmax in plain torch, Python loops). Per row: median
latency (CUDA events, after warm-up, inputs rotated so that repeated runs do not measure a warm
L2), peak extra memory over the input size (for ``auto`` also what its cache keeps), effective
bandwidth (feature bytes read once / time) against the measured device-to-device copy bandwidth,
and, for the fused path at r = 0.35, the kernels one call launches (torch profiler); per method,
max/min latency across retentions, eager, auto and graph. Each row says what its timings measure
(``"measures"``, also in the JSON's ``meta``).
Baseline selectors run in the same process unless ``--no-baselines``.

Run (on a CUDA machine, from the repository root)::

    PYTHONPATH=src python benchmarks/bench_gpu.py --out results_dir [--quick] [--no-baselines]

Writes ``gpu_bench.json`` (and ``gpu_bench.png`` when matplotlib is there) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

import torch

import entropy_select as es
from entropy_select import selectors

RETENTIONS = (0.05, 0.1, 0.25, 0.35, 0.5)
SHAPES = (  # (name, T, H, W, D, dtype)
    ("llava_ov_16f", 16, 14, 14, 3584, torch.bfloat16),
    ("llava_ov_64f", 64, 14, 14, 3584, torch.bfloat16),
    ("long_1024f", 1024, 14, 14, 1152, torch.bfloat16),
)
FRAMES = (16, 32, 64, 128, 256, 512, 1024)
PRESET_CONFIGS = {
    "paper": es.EntropySelectConfig.paper(),
    "default": es.EntropySelectConfig(),
    "balanced": es.EntropySelectConfig.balanced(),
}  # latency vs frames at 14x14x1152 bf16, r = 0.25


def time_events(fn, inputs, warmup: int = 5, reps: int = 30) -> list[float]:
    """Per-call latencies in µs, CUDA events around each call, inputs rotated."""
    for k in range(warmup):
        fn(inputs[k % len(inputs)])
    torch.cuda.synchronize()
    out = []
    for k in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(inputs[k % len(inputs)])
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) * 1e3)
    return out


def copy_bandwidth(nbytes: int = 1 << 30) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written."""
    a = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ts = time_events(lambda _: b.copy_(a), [None], warmup=3, reps=20)
    return 2 * nbytes / (statistics.median(ts) * 1e-6)


def peak_extra(fn, x) -> int:
    """Peak memory allocated during ``fn(x)`` above what was allocated before (bytes)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn(x)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def capture_graphs(fn, inputs) -> list[torch.cuda.CUDAGraph]:
    """``fn(x)`` captured in one CUDA graph per input, after a warm-up of each on a side stream
    (compilation, allocator); raises what the capture raises."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for x in inputs:
            fn(x)
    torch.cuda.current_stream().wait_stream(stream)
    graphs = []
    for x in inputs:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn(x)
        graphs.append(g)
    return graphs


def graph_times(fn, inputs, reps: int = 30) -> list[float] | str:
    """Latencies of CUDA-graph replays (one graph per rotated input), or the capture error."""
    try:
        graphs = capture_graphs(fn, inputs)
    except Exception as err:  # noqa: BLE001 - reported, not hidden
        torch.cuda.synchronize()
        return f"capture failed: {type(err).__name__}: {err}"[:400]
    return time_events(lambda g: g.replay(), graphs, warmup=3, reps=reps)


def summary(ts: list[float]) -> dict:
    return {
        "median_us": statistics.median(ts),
        "min_us": min(ts),
        "max_us": max(ts),
        "iqr_us": statistics.quantiles(ts, n=4)[2] - statistics.quantiles(ts, n=4)[0],
    }


def make_inputs(T, H, W, D, dtype, copies_bytes: int = 160 << 20) -> list[torch.Tensor]:
    """Enough independent random inputs to exceed the L2 cache when rotated (never zeros)."""
    one = T * H * W * D * torch.finfo(dtype).bits // 8
    n = max(1, min(4, -(-copies_bytes // one)))
    g = torch.Generator(device="cuda").manual_seed(0)
    return [torch.randn(T, H, W, D, device="cuda", dtype=dtype, generator=g) for _ in range(n)]


PRESETS = ("paper", "default", "balanced")
#: What each row's timings measure, written into every row (``"measures"``) and the JSON's meta.
MEASURES = {
    "triton": (
        "eager: select_tokens(impl='triton', cuda_graph=False), every call launches the kernels "
        "(what es.patch(model, cuda_graph=False) gets); graph: that call captured in a CUDA "
        "graph by the benchmark and replayed"
    ),
    "auto": (
        "auto: the default cuda_graph='auto' after its first two calls on this key (eager, then "
        "the capture, timed once each in auto_first_call_us / auto_capture_call_us): the "
        "features' and a fresh output's addresses written, a replay of the library's cached "
        "graph (features read in place, tokens written into the output), the small outputs "
        "copied out (inputs over graphs.AUTO_MAX_INPUT_BYTES run eagerly); what es.patch users "
        "get on repeated shapes"
    ),
}


def naive_select(x: torch.Tensor, budget: int) -> torch.Tensor:
    """The paper's method (paper config) as a first implementation writes it: every neighbour
    materialised with ``unfold``, a softmax over them, plain torch, Python loops over frames and
    grid cells, host synchronisations. For comparison only; returns the kept tokens ``[K, D]``.
    """
    import math

    import torch.nn.functional as F

    k, kt, kp, tau, top_q, alloc_tau, grid, coverage = 5, 3, 3, 1.0, 0.3, 0.1, 4, 0.5
    T, H, W, D = x.shape
    m = H * W
    xn = F.normalize(x.float(), dim=-1).permute(0, 3, 1, 2)  # [T, D, H, W]
    ones = torch.ones(T, 1, H, W, device=x.device)
    centre = xn.flatten(2)  # [T, D, m]

    def neighbours(src, size):  # [T, D, size², m] and which exist [T, size², m]
        nb = F.unfold(src, size, padding=size // 2).view(T, D, size * size, m)
        ok = F.unfold(ones, size, padding=size // 2).view(T, size * size, m) > 0
        return nb, ok

    nb, ok = neighbours(xn, k)
    not_centre = torch.arange(k * k, device=x.device) != (k * k) // 2
    sims = [torch.einsum("tdkn,tdn->tkn", nb, centre)[:, not_centre]]
    valid = [ok[:, not_centre]]
    for dt in range(1, kt):
        past = torch.cat([torch.zeros_like(xn[:dt]), xn[:-dt]])  # frame t − dt
        nb, ok = neighbours(past, kp)
        sims.append(torch.einsum("tdkn,tdn->tkn", nb, centre))
        valid.append(ok & (torch.arange(T, device=x.device) >= dt)[:, None, None])
    s, v = torch.cat(sims, 1) / tau, torch.cat(valid, 1)
    p = torch.softmax(s.masked_fill(~v, float("-inf")), 1)
    h = -(p * torch.log(p.clamp_min(1e-30))).sum(1)
    n = v.sum(1)
    ent = torch.where(n >= 2, h / torch.log(n.clamp_min(2).float()), 0).view(T, H, W)
    xf = x.float()
    gx, gy = torch.gradient(xf, dim=2)[0], torch.gradient(xf, dim=1)[0]
    g = (gx.pow(2).sum(-1) + gy.pow(2).sum(-1)).sqrt()
    score = 0.5 * ent + 0.5 * (g - g.min()) / (g.max() - g.min())
    sal = score.flatten(1).topk(math.ceil(top_q * m), dim=1).values.mean(1)
    w = torch.softmax(sal.double() / alloc_tau, 0)
    lo = min(4, budget // T)
    fb = torch.floor(w * budget).long().clamp(lo, m).tolist()
    order = torch.argsort(w, descending=True).tolist()
    while sum(fb) < budget:  # one token at a time: to the largest-weight frame below its bound
        fb[next(f for f in order if fb[f] < m)] += 1
    while sum(fb) > budget:  # ... or from the smallest-weight frame above its floor
        fb[next(f for f in reversed(order) if fb[f] > lo)] -= 1
    gh, gw = min(grid, H), min(grid, W)
    cell = (
        (torch.arange(H)[:, None] * gh // H) * gw + torch.arange(W)[None, :] * gw // W
    ).flatten()
    cell = cell.to(x.device)
    keep = []
    for t in range(T):
        st = score[t].flatten()
        chosen = torch.zeros(m, dtype=torch.bool, device=x.device)
        quota = max(1, int(fb[t] * coverage / (gh * gw) + 1e-9)) if fb[t] >= gh * gw else 0
        for c in range(gh * gw):
            idx = (cell == c).nonzero().squeeze(1)
            chosen[idx[st[idx].topk(min(quota, len(idx))).indices]] = True
        rest = fb[t] - int(chosen.sum())
        chosen[st.masked_fill(chosen, float("-inf")).topk(rest).indices] = True
        keep.append(chosen.nonzero().squeeze(1) + t * m)
    return x.reshape(-1, D)[torch.cat(keep)]


def kernel_count(fn, x) -> dict:
    """GPU kernels and host-side launches of one call (torch profiler)."""
    from torch.profiler import ProfilerActivity, profile

    fn(x)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn(x)
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    syncs = sum(1 for e in prof.events() if "Synchronize" in e.name) - 1  # ours, after the call
    return {"kernels": len(names), "names": sorted(set(names))[:40], "host_syncs": max(0, syncs)}


def bench_shape(name, T, H, W, D, dtype, copy_bw, args) -> dict:
    xs = make_inputs(T, H, W, D, dtype)
    nbytes = xs[0].numel() * xs[0].element_size()
    rec = {
        "name": name,
        "shape": [T, H, W, D],
        "dtype": str(dtype),
        "input_bytes": nbytes,
        "runs": [],
    }
    methods = [(f"entropy_select[triton,cuda_graph=False,{p}]", "triton", p) for p in PRESETS]
    methods += [(f"entropy_select[triton,cuda_graph=auto,{p}]", "auto", p) for p in PRESETS]
    if not args.no_reference:
        methods += [(f"entropy_select[reference,{p}]", "reference", p) for p in PRESETS]
    methods += [("naive_unfold_softmax[paper]", "naive", "paper")]
    baselines = (
        [] if args.no_baselines else [s for s in selectors.available() if s != "entropy_select"]
    )
    too_slow: dict[str, float] = {}  # methods slower than --max-seconds a call on this shape
    for r in RETENTIONS:
        K = max(1, min(T * H * W, int(r * T * H * W + 1e-9)))
        for label, impl, preset in methods:
            if impl == "naive":
                fn = lambda x, K=K: naive_select(x, K)  # noqa: E731
            else:
                cfg = PRESET_CONFIGS[preset]
                fn = lambda x, impl=impl, K=K, cfg=cfg: es.select_tokens(  # noqa: E731
                    x,
                    budget=K,
                    impl="triton" if impl == "auto" else impl,
                    validate=False,
                    config=cfg,
                    cuda_graph="auto" if impl == "auto" else False,  # the library's graph cache
                )
            row = {"method": label, "impl": impl, "preset": preset, "retention": r, "K": K}
            row["measures"] = MEASURES.get(impl, "eager calls")
            try:
                if label in too_slow:
                    raise TimeoutError(f"skipped: one call took {too_slow[label]:.1f} s before")
                if impl not in ("triton", "auto"):
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    fn(xs[0])
                    torch.cuda.synchronize()
                    once = time.perf_counter() - start
                    if once > args.max_seconds:
                        too_slow[label] = once
                        raise TimeoutError(f"skipped: one call took {once:.1f} s")
                if impl == "auto":  # first call (eager), second (capture), and what the cache
                    from entropy_select.kernels.triton import graphs  # keeps between calls

                    graphs.clear()
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
                    alloc, reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
                    for which in ("auto_first_call_us", "auto_capture_call_us"):
                        start = time.perf_counter()
                        fn(xs[0])
                        torch.cuda.synchronize()
                        row[which] = (time.perf_counter() - start) * 1e6
                    row["cached_graphs"] = len(graphs.cached_shapes())  # 1: the capture happened
                    row["cache_allocated_over_input"] = (
                        torch.cuda.memory_allocated() - alloc
                    ) / nbytes
                    row["cache_reserved_over_input"] = (
                        torch.cuda.memory_reserved() - reserved
                    ) / nbytes
                reps = args.reps if impl in ("triton", "auto") else max(5, args.reps // 5)
                row["auto" if impl == "auto" else "eager"] = summary(time_events(fn, xs, reps=reps))
                row["peak_extra_bytes"] = peak_extra(fn, xs[0])
                row["peak_extra_over_input"] = row["peak_extra_bytes"] / nbytes
                if impl == "triton":
                    gt = graph_times(fn, xs, reps=reps)
                    row["graph"] = summary(gt) if isinstance(gt, list) else gt
                if r == 0.35 and impl in ("triton", "auto"):
                    row["launches"] = kernel_count(fn, xs[0])
                best = min(
                    row[mode]["median_us"]
                    for mode in ("eager", "auto", "graph")
                    if isinstance(row.get(mode), dict)
                )
                row["best_us"] = best
                row["bandwidth_Bps"] = nbytes / (best * 1e-6)
                row["bandwidth_over_copy"] = row["bandwidth_Bps"] / copy_bw
            except Exception as err:  # noqa: BLE001
                row["error"] = f"{type(err).__name__}: {err}"[:400]
            rec["runs"].append(row)
            us = {
                mode: row[mode]["median_us"] if isinstance(row.get(mode), dict) else float("nan")
                for mode in ("eager", "auto", "graph")
            }
            print(
                f"{name:14s} r={r:<5} {label:42s} eager {us['eager']:10.1f} us  auto "
                f"{us['auto']:8.1f} us  graph {us['graph']:8.1f} us {row.get('error', '')}",
                flush=True,
            )
        for sel_name in baselines:
            row = {"method": sel_name, "retention": r, "K": K}
            try:
                sel = selectors.get(sel_name)
                fn = lambda x, sel=sel, K=K: sel(x, budget=K)  # noqa: E731
                if sel_name in too_slow:
                    raise TimeoutError(f"skipped: one call took {too_slow[sel_name]:.1f} s before")
                torch.cuda.synchronize()
                start = time.perf_counter()
                fn(xs[0])  # a first call; methods slower than --max-seconds a call are skipped
                torch.cuda.synchronize()
                once = time.perf_counter() - start
                if once > args.max_seconds:
                    too_slow[sel_name] = once
                    raise TimeoutError(f"skipped: one call took {once:.1f} s (> --max-seconds)")
                ts = time_events(fn, xs, warmup=2, reps=max(5, args.reps // 5))
                row["eager"] = summary(ts)
                row["best_us"] = row["eager"]["median_us"]
                row["peak_extra_bytes"] = peak_extra(fn, xs[0])
            except Exception as err:  # noqa: BLE001
                row["error"] = f"{type(err).__name__}: {err}"[:400]
            rec["runs"].append(row)
            print(
                f"{name:14s} r={r:<5} {sel_name:34s} {row.get('best_us', float('nan')):10.1f} us "
                f"{row.get('error', '')}",
                flush=True,
            )
    for method in {row["method"] for row in rec["runs"]}:
        for mode in ("eager", "auto", "graph"):
            lat = [
                row[mode]["median_us"]
                for row in rec["runs"]
                if row["method"] == method and isinstance(row.get(mode), dict)
            ]
            if lat:
                key = f"max_over_min_across_retention_{mode}"
                rec.setdefault(key, {})[method] = max(lat) / min(lat)
    del xs
    torch.cuda.empty_cache()
    return rec


def bench_frames(args) -> list[dict]:
    out = []
    for T in FRAMES:
        xs = make_inputs(T, 14, 14, 1152, torch.bfloat16)
        K = int(0.25 * T * 196)
        cfg = PRESET_CONFIGS[args.frames_preset]
        fn = lambda x, K=K, cfg=cfg: es.select_tokens(  # noqa: E731
            x, budget=K, impl="triton", validate=False, config=cfg, cuda_graph=False
        )
        eager = summary(time_events(fn, xs, reps=args.reps))
        gt = graph_times(fn, xs, reps=args.reps)
        out.append({"T": T, "eager": eager, "graph": summary(gt) if isinstance(gt, list) else gt})
        print(f"frames T={T:5d} eager {eager['median_us']:10.1f} us", flush=True)
        del xs
        torch.cuda.empty_cache()
    return out


def print_table(results: dict) -> None:
    """The summary the README quotes, per preset (median µs): eager calls first (for the
    ``cuda_graph=auto`` rows: its replays after the first two calls), then in a CUDA graph."""
    print(
        "\nshape           method                                     "
        "r=0.05..0.5 eager (auto: replay) | graph  (µs)"
    )
    for rec in results["shapes"]:
        for method in dict.fromkeys(r["method"] for r in rec.get("runs", [])):
            rows = [r for r in rec["runs"] if r["method"] == method]
            called = " ".join(
                next(
                    (f"{r[m]['median_us']:7.0f}" for m in ("eager", "auto") if m in r),
                    "      -",
                )
                for r in rows
            )
            graph = " ".join(
                f"{r['graph']['median_us']:6.0f}" if isinstance(r.get("graph"), dict) else "     -"
                for r in rows
            )
            print(f"{rec['name']:15s} {method:42s} {called} | {graph}")


def git_commit() -> str:
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        head = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
        changed = subprocess.check_output(
            ["git", "status", "--porcelain", "--untracked-files=no"], text=True
        ).strip()
        return head + ("+dirty" if changed else "")  # a tree with uncommitted changes says so
    except Exception:  # noqa: BLE001
        return os.environ.get("BENCH_COMMIT", "unknown")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="the 16-frame shape only")
    parser.add_argument("--no-baselines", action="store_true", help="skip the baseline selectors")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference path")
    parser.add_argument("--shapes", default="", help="comma-separated shape names (SHAPES)")
    parser.add_argument("--frames-preset", default="default", choices=PRESETS)
    parser.add_argument("--no-frames", action="store_true", help="skip the latency-vs-frames sweep")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=3.0,
        help="skip a baseline on a shape once one call takes longer (recorded in the JSON)",
    )
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu.py needs a CUDA device", file=sys.stderr)
        return 2
    import triton
    from host_costs import unit_costs

    props = torch.cuda.get_device_properties(0)
    copy_bw = copy_bandwidth()
    try:
        host_units = {k: round(v, 2) for k, v in unit_costs().items()}
    except Exception as err:  # noqa: BLE001 - recorded, not hidden: the benchmark goes on
        host_units = f"failed: {type(err).__name__}: {err}"[:300]
    meta = {
        "device": torch.cuda.get_device_name(0),
        "multiprocessors": props.multi_processor_count,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "copy_bandwidth_Bps": copy_bw,
        # the host's unit costs (µs): the eager rows are host-bound and scale with them, which
        # differ between machines and days (launch 9-19 µs on H200 hosts): compare eager
        # figures of two runs only with these beside them
        "host_unit_us": host_units,
        "selectors": selectors.available(),
        "measures": MEASURES,
    }
    print(json.dumps(meta), flush=True)
    results = {"meta": meta, "shapes": [], "frames": []}
    shapes = SHAPES[:1] if args.quick else SHAPES
    if args.shapes:
        shapes = [spec for spec in SHAPES if spec[0] in args.shapes.split(",")]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gpu_bench.json")

    def write() -> None:  # after each shape, so that a run cut off by a time limit keeps its part
        with open(path, "w") as fh:
            json.dump(results, fh, indent=1)

    for spec in shapes:
        try:
            results["shapes"].append(bench_shape(*spec, copy_bw, args))
        except Exception:  # noqa: BLE001
            results["shapes"].append({"name": spec[0], "error": traceback.format_exc()[-800:]})
        write()
    if not args.quick and not args.no_frames:
        results["frames"] = bench_frames(args)
    print_table(results)
    write()
    print("wrote", path)
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from plot_gpu import plot

        plot(results, os.path.join(args.out, "gpu_bench.png"))
    except Exception as err:  # noqa: BLE001
        print("no plot:", err)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Quick GPU checks, each fitting in a minute or two of device time, printed line by line.

``--part frame``: the frame-select kernel alone (``profile_frame.py``'s inputs and device timer,
r = 0.35, 30 launches each), the gathered token output (the default) against Round 5's scanned
one and the selection without tokens, at 16x14x14x3584 and (default, balanced) 1x27x27x1152.
``--part graph``: the whole selection of ``--frames`` (16) x14x14x3584 bf16 (``bench_gpu.py``'s
inputs and timers, 20 calls each) in the caller's CUDA graph and through the library's cached
graph (``cuda_graph="auto"``), every preset, r = 0.05 / 0.25 / 0.35 / 0.5.
``--part zerocopy``: the library's cached graph (``cuda_graph=True``) replaying with its
features read in place and its tokens written into the call's fresh tensor (the holder; the
default now) against the same graph with the features copied into a held buffer first and the
tokens copied out of the graph's (the scheme before, forced for the comparison), unaligned inputs
(a view one element in: copied for the call) and the eager path, r = 0.35, every preset, at
16 and 64x14x14x3584 and 1024x14x14x1152 bf16 (inputs rotated, CUDA events, 20 calls each);
and the GPU memory a cached key holds over the input's bytes, both schemes.
``--part groups``: the frame-select kernel alone in context mode (``balanced``) at
16/64x14x14x3584, r = 5-50%, with 16, 32 and 64 merged groups a tile (``block_g``) and the
default: few large groups (low r) take ``ceil(largest group / lanes)`` gather steps, and a
tile of 64 groups has 2 lanes where one of 16 has 8.
``--part fusion``: the frame-select kernel alone for the default (grid fusion) at 16 and
64x14x14x3584, r = 0.25 / 0.35 / 0.5: the default geometry, the selection without tokens, and 4
and 2 lanes a fused cell (``block_j`` 64 / 32), outputs checked against the default's.
``--part flat``: max/min latency across r = 5-50% in the caller's CUDA graph at ``--frames``
(14x14x3584 up to 64 frames, else x1152), the retentions interleaved round by round (one graph
per r and input, 60 rounds) so that the machine's drift falls on every r alike; beside each, the
gather of its output tokens alone (what writing K tokens costs at least).
``--part band``: the window kernel and its finish pass alone, each of ``BAND_CONFIGS`` (code
options and launch geometries of the band kernel; ``window_variants.py``'s ``"tma"``; the
library and ``"tma"`` at 576 and 2,304 channels, whose intercept in D is the fixed cost), at
each of ``BAND_SHAPES`` (bf16), alternated round by round, with each one's largest difference
from the library's output (nan for another width).
``--part budget``: the frame kernel's own budgets (the default up to 64 frames) against the
budget kernel's launch, each preset (``--presets``), eager and in a graph, 16 and 64 frames
(``--budget-frames``).

``--part eager``: eager latency of every preset and r = 5-50% at ``--frames``, the cells
interleaved round by round (a slow stretch of the host falls on all of them alike), median,
lower quartile and minimum per cell, the host's unit costs before and after.
``--part eager_wait``: what the eager figure is made of: each preset at r = 0.35 timed five ways
alternated (events then a blocking wait, events then polling, events behind a sleep kernel: the
call's GPU work alone, wall clock, and r cycling through five values), with the timed loop's
driver allocations and launches.
``--part finish``: the finish pass and the score kernel in one launch against two, each preset,
eager and in a graph, 16 and 64 frames (``--budget-frames``).
``--part gram``: the gradient from the window's dots in the finish pass (the band kernel's
``grad_gram``, the default) against its four gradient loads, likewise.

``--part ncu`` / ``ncu_band``: two launches of the frame kernel per preset (16x14x14x3584,
r = 0.35), or of the window kernel at 16x14x14x3584 and 1024x14x14x1152, for Nsight Compute
(``benchmarks/ncu_lines.py`` reads its source export; ``results/ncu_*_h200_*.txt``).

    PYTHONPATH=src python benchmarks/quick_gpu.py --part frame     # needs a CUDA GPU
    PYTHONPATH=src python benchmarks/quick_gpu.py --part graph
    PYTHONPATH=src python benchmarks/quick_gpu.py --part groups
    PYTHONPATH=src python benchmarks/quick_gpu.py --part zerocopy
    PYTHONPATH=src python benchmarks/quick_gpu.py --part fusion
    PYTHONPATH=src python benchmarks/quick_gpu.py --part flat --frames 64
    PYTHONPATH=src python benchmarks/quick_gpu.py --part band
    PYTHONPATH=src python benchmarks/quick_gpu.py --part band --band-configs "stages 4" \
        --band-frames 64,1024
    PYTHONPATH=src python benchmarks/quick_gpu.py --part budget --budget-frames 24,32,48 \
        --presets default
    PYTHONPATH=src python benchmarks/quick_gpu.py --part finish
    PYTHONPATH=src python benchmarks/quick_gpu.py --part gram
    PYTHONPATH=src python benchmarks/quick_gpu.py --part eager --frames 64
    PYTHONPATH=src python benchmarks/quick_gpu.py --part eager_wait --frames 16

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


def graph(frames: int = 16) -> None:
    import bench_gpu as bg

    import entropy_select as es

    xs = bg.make_inputs(frames, 14, 14, 3584, torch.bfloat16)
    N = frames * 196
    for preset, cfg in bg.PRESET_CONFIGS.items():
        for r in (0.05, 0.25, 0.35, 0.5):
            K = int(r * N)

            def call(x, K=K, cfg=cfg, cuda_graph=False):
                return es.select_tokens(
                    x, budget=K, impl="triton", validate=False, config=cfg, cuda_graph=cuda_graph
                )

            gt = bg.graph_times(call, xs, reps=20)
            at = bg.time_events(lambda x, call=call: call(x, cuda_graph="auto"), xs, reps=20)
            print(
                f"{frames}f", preset, r, "graph", f"{statistics.median(gt):.1f}",
                "auto", f"{statistics.median(at):.1f}", flush=True,
            )  # fmt: skip


def _on_off(label, flag, names, frame_counts, presets) -> None:
    """The whole selection per preset with ``flag[0]`` on (``names[0]``) and off (``names[1]``),
    alternated in one process (three rounds of 10 calls each, so that drift falls on both
    alike), in the caller's CUDA graph and eager (``cuda_graph=False``: host-bound), at
    ``frame_counts`` frames of 14x14x3584 bf16, r = 0.05 / 0.35; one line of medians each."""
    import bench_gpu as bg

    import entropy_select as es

    for frames in frame_counts:
        xs = bg.make_inputs(frames, 14, 14, 3584, torch.bfloat16)
        for preset, cfg in bg.PRESET_CONFIGS.items():
            if presets and preset not in presets:
                continue
            for r in (0.05, 0.35):
                K = int(r * frames * 196)

                def call(x, K=K, cfg=cfg):
                    return es.select_tokens(
                        x, budget=K, impl="triton", validate=False, config=cfg, cuda_graph=False
                    )

                cells = {name: ([], []) for name in names}
                for _ in range(3):
                    for name, on in zip(names, (True, False), strict=True):
                        flag[0] = on
                        g = bg.graph_times(call, xs, reps=10)
                        if isinstance(g, str):  # the capture's error
                            raise RuntimeError(g)
                        cells[name][0].extend(g)
                        cells[name][1].extend(bg.time_events(call, xs, reps=10))
                flag[0] = True
                row = " ".join(
                    f"{name} graph {statistics.median(g):.1f} eager {statistics.median(e):.1f}"
                    for name, (g, e) in cells.items()
                )
                print(f"{label} {frames}f {preset} r={r} {row} us", flush=True)


#: ``--part eager`` / ``eager_wait``: the retentions of the eager cells.
EAGER_RS = (0.05, 0.1, 0.25, 0.35, 0.5)


def _eager_cells(xs, frames: int) -> dict:
    """``(preset, r) -> call`` of one eager ``select_tokens`` (``cuda_graph=False``) at each of
    :data:`EAGER_RS`, every call made twice on each input first (compiles, plans, direct-launch
    entries)."""
    import bench_gpu as bg

    import entropy_select as es

    cells = {}
    for preset, cfg in bg.PRESET_CONFIGS.items():
        for r in EAGER_RS:

            def call(x, K=int(r * frames * 196), cfg=cfg):
                return es.select_tokens(
                    x, budget=K, impl="triton", validate=False, config=cfg, cuda_graph=False
                )

            for x in xs:
                call(x)
                call(x)
            cells[preset, r] = call
    torch.cuda.synchronize()
    return cells


def _timed_call(fn, x, how: str = "sync") -> float:
    """µs of ``fn(x)``: CUDA events around it then a blocking wait (``sync``) or polling
    (``spin``); ``sleep``: the same as ``sync`` behind a ~1 ms sleep kernel (the host issues the
    call under it, so the events time its GPU work alone); ``wall``: ``perf_counter`` around the
    call and ``torch.cuda.synchronize()``."""
    import time

    if how == "wall":
        t0 = time.perf_counter()
        fn(x)
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1e6
    start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
    if how == "sleep":
        torch.cuda._sleep(2_000_000)  # ~1 ms of GPU time
    start.record()
    fn(x)
    end.record()
    if how == "spin":
        while not end.query():
            pass
    else:
        end.synchronize()
    return start.elapsed_time(end) * 1e3


def _loop_counts() -> tuple[int, dict]:
    """The driver allocations (``cudaMalloc`` calls) and the launches (direct, normal) so far."""
    from entropy_select.kernels.triton import launch

    return torch.cuda.memory_stats().get("num_device_alloc", -1), launch.stats()


def _print_loop_counts(frames: int, before: tuple[int, dict]) -> None:
    mallocs, launches = _loop_counts()
    print(f"{frames}f timed loop: cudaMalloc calls {mallocs - before[0]}, launches {launches} "
          f"(before {before[1]})", flush=True)  # fmt: skip


def eager(frames: int = 16, rounds: int = 40) -> None:
    """Eager latency (``cuda_graph=False``) of every preset and r = 5-50%, the cells interleaved
    round by round (every cell timed once a round, CUDA events around one call, the inputs
    rotating, every other round in reverse order), so that a slow stretch of the host falls on
    every cell alike rather than on a row, as it does in ``bench_gpu.py``'s sequence of cells;
    per cell the median, the lower quartile and the minimum of ``rounds`` calls, with the host's
    unit costs (``host_costs.unit_costs``) before and after."""
    import bench_gpu as bg
    import host_costs

    D = 3584 if frames <= 64 else 1152
    xs = bg.make_inputs(frames, 14, 14, D, torch.bfloat16)
    print(f"{frames}f host unit us before {host_costs.unit_costs()}", flush=True)
    cells = _eager_cells(xs, frames)
    before = _loop_counts()
    times = {key: [] for key in cells}
    order = list(cells)
    j = 0
    for k in range(rounds):
        for key in order if k % 2 == 0 else order[::-1]:
            times[key].append(_timed_call(cells[key], xs[j % len(xs)]))
            j += 1
    _print_loop_counts(frames, before)
    for preset in bg.PRESET_CONFIGS:
        row = []
        for r in EAGER_RS:
            ts = sorted(times[preset, r])
            row.append(
                f"r={r} {statistics.median(ts):.0f} (q1 {ts[len(ts) // 4]:.0f}, min {ts[0]:.0f})"
            )
        print(f"{frames}f {preset} eager " + " ".join(row) + " us", flush=True)
    print(f"{frames}f host unit us after {host_costs.unit_costs()}", flush=True)


def eager_wait(frames: int = 16, rounds: int = 40) -> None:
    """How the eager figure depends on the way the caller waits (Round 16: the same code timed
    129-149 µs one day and 230-259 another, while its host work back to back was the lowest
    yet). Each preset at r = 0.35, five ways alternated round by round, median µs a call:
    ``sync`` (``--part eager``'s loop: CUDA events around one call, then ``end.synchronize()``),
    ``spin`` (the same, but the host polls ``end.query()`` instead of blocking in the driver),
    ``sleep`` (the same as ``sync`` with the GPU kept busy by a 1 ms sleep kernel queued before
    the call, so the events time the call's GPU work only once the host has issued it),
    ``wall`` (``perf_counter`` around the call and its ``torch.cuda.synchronize()``) and
    ``sync5`` (``sync`` with r cycling through 5 / 10 / 25 / 35 / 50%, as ``--part eager``'s
    cells do); with the driver allocations (``cudaMalloc``) and launches (direct, normal)
    of the timed loop."""
    import bench_gpu as bg

    xs = bg.make_inputs(frames, 14, 14, 3584, torch.bfloat16)
    calls = _eager_cells(xs, frames)
    hows = ("sync", "spin", "sleep", "wall", "sync5")
    presets = list(bg.PRESET_CONFIGS)
    times = {(p, h): [] for p in presets for h in hows}
    before = _loop_counts()
    j = 0
    for k in range(rounds):
        keys = list(times) if k % 2 == 0 else list(times)[::-1]
        for preset, how in keys:
            if how == "sync5":  # as sync, r cycling through the five
                r, mode = EAGER_RS[j % len(EAGER_RS)], "sync"
            else:
                r, mode = 0.35, how
            times[preset, how].append(_timed_call(calls[preset, r], xs[j % len(xs)], mode))
            j += 1
    _print_loop_counts(frames, before)
    for preset in presets:
        row = " ".join(f"{h} {statistics.median(times[preset, h]):.0f}" for h in hows)
        print(f"{frames}f {preset} eager, µs a call: {row}", flush=True)


def budget(frame_counts=(16, 64), presets=None) -> None:
    """The budgets from the frame kernel (``select.FUSE_BUDGET``, the default) against the budget
    kernel's launch (:func:`_on_off`). Grid fusion (the default preset) is fused only up to
    ``select.FUSION_BUDGET_FRAMES``: the limit is lifted here so that both are timed."""
    from entropy_select.kernels.triton import select

    limit = select.FUSION_BUDGET_FRAMES
    select.FUSION_BUDGET_FRAMES = 64
    try:
        _on_off("budget", select.FUSE_BUDGET, ("fused", "kernel"), frame_counts, presets)
    finally:
        select.FUSION_BUDGET_FRAMES = limit


def finish(frame_counts=(16, 64), presets=None) -> None:
    """The finish pass and the score kernel in one launch (``scores.FINISH_SCORES``, the
    default where the grid is small) against two launches (:func:`_on_off`)."""
    from entropy_select.kernels.triton import scores

    _on_off("finish", scores.FINISH_SCORES, ("one", "two"), frame_counts, presets)


class _GradGram:
    """``_on_off``'s flag for the band kernel's ``grad_gram`` option: setting it sets
    ``BAND_TUNING`` and drops the cached band plans (which read it)."""

    def __getitem__(self, i: int) -> bool:
        from entropy_select.kernels.triton import window_entropy as we

        return we.BAND_TUNING["grad_gram"]

    def __setitem__(self, i: int, on: bool) -> None:
        from entropy_select.kernels.triton import window_entropy as we

        we.BAND_TUNING["grad_gram"] = on
        we._video_band_plan.cache_clear()


def gram(frame_counts=(16, 64), presets=None) -> None:
    """The gradient from the window's dots in the finish pass (``BAND_TUNING["grad_gram"]``, the
    default) against the band kernel's four gradient loads (:func:`_on_off`)."""
    _on_off("grad_gram", _GradGram(), ("dots", "loads"), frame_counts, presets)


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


def fusion() -> None:
    import profile_frame as pf

    variants = {
        "default": {},
        "no tokens": {"no_tokens": True},
        "j64": {"block_j": 64},
        "j32": {"block_j": 32},
    }
    for T in (16, 64):
        case = (f"offline {T}x14x14 D3584", T, 14, 14, 3584, "K")
        for r in (0.25, 0.35, 0.5):
            pf.RETENTION = r
            ref = None
            row = []
            for name, opts in variants.items():
                fn, K = pf._call(case, "default", opts)
                got = pf._written(fn(), K)
                if ref is None:
                    ref = got
                pairs = list(zip(got, ref, strict=True))  # tokens: summation order may differ
                same = "no tokens" in name or (
                    all(torch.equal(a, b) for i, (a, b) in enumerate(pairs) if i != 2)
                    and torch.allclose(got[2].float(), ref[2].float(), rtol=1e-2, atol=1e-2)
                )
                us = statistics.median(pf.device_us(fn, 30))
                row.append(f"{name} {us:.1f}{'' if same else ' DIFF'}")
            print(f"{T}f r={r}", " | ".join(row), "us", flush=True)


def flat(frames: int = 16, rounds: int = 60) -> None:
    """Max/min latency across r = 5-50% in the caller's CUDA graph, with the retentions
    interleaved: one graph per (r, input) captured first, then ``rounds`` rounds that replay every
    r once each (CUDA events around each replay; the inputs rotating replay by replay, every
    other round in reverse order), so that drift of the machine and the cache fall on every r
    alike; medians per r and their max/min, every preset.

    Beside each selection, in the same rounds, the gather of its output tokens alone
    (``index_select`` of the selection's ``keep_index`` rows of the features, in a graph of its
    own): the least that writing ``K`` tokens of ``D`` channels costs, which grows with r. The
    second line of each preset gives the gather's medians and, per r, the selection less the
    gather: the part of the selection whose cost the flatness target is about."""
    import bench_gpu as bg

    import entropy_select as es

    D = 3584 if frames <= 64 else 1152
    xs = bg.make_inputs(frames, 14, 14, D, torch.bfloat16)
    N = frames * 196
    rs = (0.05, 0.1, 0.25, 0.35, 0.5)
    for preset, cfg in bg.PRESET_CONFIGS.items():
        graphs = {}
        held = []  # what the gather graphs read: a graph holds no reference to its inputs
        for r in rs:
            K = int(r * N)

            def call(x, K=K, cfg=cfg):
                return es.select_tokens(
                    x, budget=K, impl="triton", validate=False, config=cfg, cuda_graph=False
                )

            for i, g in enumerate(bg.capture_graphs(call, xs)):
                graphs["select", r, i] = g
            index = call(xs[0]).keep_index.reshape(-1)  # [K] int64, sorted
            held.append(index)

            def gather(x, index=index):
                return x.reshape(N, D).index_select(0, index)

            for i, g in enumerate(bg.capture_graphs(gather, xs)):
                graphs["gather", r, i] = g
        times = {(kind, r): [] for kind in ("select", "gather") for r in rs}
        j = 0  # the inputs rotate replay by replay (together larger than the L2 cache), and
        for k in range(rounds):  # every other round runs the retentions in reverse order
            for r in rs if k % 2 == 0 else rs[::-1]:
                for kind in ("select", "gather"):
                    g = graphs[kind, r, j % len(xs)]
                    j += 1
                    start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                    start.record()
                    g.replay()
                    end.record()
                    end.synchronize()
                    times[kind, r].append(start.elapsed_time(end) * 1e3)
        med = {key: statistics.median(ts) for key, ts in times.items()}
        sel = [med["select", r] for r in rs]
        gat = [med["gather", r] for r in rs]
        rest = [a - b for a, b in zip(sel, gat, strict=True)]
        row = " ".join(f"r={r} {t:.1f}" for r, t in zip(rs, sel, strict=True))
        print(f"{frames}f {preset} graph {row} us | max/min {max(sel) / min(sel):.3f}", flush=True)
        row = " ".join(f"r={r} {t:.1f}" for r, t in zip(rs, gat, strict=True))
        less = " ".join(f"{t:.1f}" for t in rest)
        print(
            f"{frames}f {preset} gather alone {row} us | selection less gather {less} us, "
            f"max/min {max(rest) / min(rest):.3f}",
            flush=True,
        )
        del graphs, held
        torch.cuda.synchronize()


def ncu() -> None:
    """Two launches of the frame kernel per preset (16x14x14x3584, r = 0.35), for a profiler:
    ``ncu --set full --import-source yes -k regex:_frame_select_kernel python ... --part ncu``."""
    import profile_frame as pf

    case = ("offline 16x14x14 D3584", 16, 14, 14, 3584, "K")
    for preset in ("paper", "default", "balanced"):
        fn, _ = pf._call(case, preset, {})
        fn()
        fn()
        torch.cuda.synchronize()


def ncu_band() -> None:
    """Two launches of the window kernel and its finish pass at 16x14x14x3584 and
    1024x14x14x1152 bf16 (paper preset's windows), for a profiler (``-k regex:_window_``)."""
    import bench_gpu as bg

    from entropy_select.kernels.triton.window_entropy import window_entropy_and_gradient_triton

    for T, D in ((16, 3584), (1024, 1152)):
        x = bg.make_inputs(T, 14, 14, D, torch.bfloat16)[0]
        for _ in range(2):
            window_entropy_and_gradient_triton(x, 5, 3, 3, 1.0)
        torch.cuda.synchronize()
        del x


#: ``--part band``'s band kernel configurations: name -> keyword arguments of
#: ``window_entropy_and_gradient_triton`` (``tune`` as a "+"-joined string of ``BAND_TUNING``
#: names turned on, the others off).
_NEW = "split_tile+grad2d+wide+stages3+even_d+grad_gram"
BAND_CONFIGS = {
    "before (all off)": {"tune": ""},
    "library": {},
    "no grad_gram": {"tune": "split_tile+grad2d+wide+stages3+even_d"},
    "no split_tile": {"tune": "grad2d+wide+stages3+even_d+grad_gram"},
    "no grad2d": {"tune": "split_tile+wide+stages3+even_d+grad_gram"},
    "no wide": {"tune": "split_tile+grad2d+stages3+even_d+grad_gram"},
    "no stages3": {"tune": "split_tile+grad2d+wide+even_d+grad_gram"},
    "no even_d": {"tune": "split_tile+grad2d+wide+stages3+grad_gram"},
    "m64 splits 1": {"block_m": 64, "splits": 1, "tune": _NEW},
    "m64 splits 2": {"block_m": 64, "splits": 2, "tune": _NEW},
    "m64 splits 3": {"block_m": 64, "splits": 3, "tune": _NEW},
    "stages 4": {"num_stages": 4},
    "block_d 128 stages 2": {"block_d": 128, "num_stages": 2},
    # window_variants.py's "tma" (bulk tensor copies; Round 16): persistent, one box a band
    "tma": {"_variant": "tma"},
    "tma one program a tile": {"_variant": "tma", "persistent": False},
    "tma fewest rows": {"_variant": "tma", "one_box": False},
}
for _d in (576, 2304):  # the same shape at other widths: the intercept is the fixed cost
    BAND_CONFIGS[f"library D{_d}"] = {"_D": _d}
    BAND_CONFIGS[f"tma D{_d}"] = {"_D": _d, "_variant": "tma"}
#: ``--part band``'s shapes (T, H, W, D), bf16: LLaVA-OneVision at 16 / 32 / 64 frames, a long
#: video, 27x27 frames (a SigLIP grid unpooled), a Qwen2.5-VL-like 16x16 merged grid.
BAND_SHAPES = (
    (16, 14, 14, 3584), (32, 14, 14, 3584), (64, 14, 14, 3584), (1024, 14, 14, 1152),
    (16, 27, 27, 1152), (16, 16, 16, 3584),
)  # fmt: skip


def band_options(opts: dict) -> dict:
    """A ``BAND_CONFIGS`` entry as keyword arguments of ``window_entropy_and_gradient_triton``:
    its ``tune`` string as a dict, the names given on and every other ``BAND_TUNING`` name off."""
    from entropy_select.kernels.triton.window_entropy import BAND_TUNING

    opts = dict(opts)
    if "tune" in opts:
        on = set(filter(None, opts["tune"].split("+")))
        opts["tune"] = {name: name in on for name in BAND_TUNING}
    return opts


def band(rounds: int = 3, reps: int = 20, configs=(), frames=()) -> None:
    """The window kernel and its finish pass alone (paper windows), every ``BAND_CONFIGS`` entry,
    at each of ``BAND_SHAPES``: device µs (CUDA events behind a sleep kernel,
    ``profile_frame.device_us``), the configurations alternated round by round; each output's
    largest difference from the library's, over the largest value. ``configs`` / ``frames``
    (optional): only these entries (and the library's) and shapes of these frame counts."""
    import bench_gpu as bg
    import profile_frame as pf

    from entropy_select.kernels.triton import window_entropy as we

    def caller(x, opts):
        opts = band_options(opts)
        if "_D" in opts:
            x = bg.make_inputs(*x.shape[:3], opts.pop("_D"), x.dtype)[0]
        if "_variant" in opts:
            from window_variants import window_entropy_and_gradient_variant as variant

            name = opts.pop("_variant")
            return lambda: variant(x, 5, 3, 3, 1.0, variant=name, **opts)
        return lambda: we.window_entropy_and_gradient_triton(x, 5, 3, 3, 1.0, **opts)

    for T, H, W, D in BAND_SHAPES:
        if frames and T not in frames:
            continue
        x = bg.make_inputs(T, H, W, D, torch.bfloat16)[0]
        calls = {
            name: caller(x, opts)
            for name, opts in BAND_CONFIGS.items()
            if not configs or name in configs or name == "library"
        }
        ref = calls["library"]()
        diffs = {}
        for name, fn in list(calls.items()):
            try:
                out = fn()
            except Exception as err:  # e.g. a geometry that does not fit this GPU
                print(f"band {T}x{H}x{W}x{D} {name:<28} failed: {str(err)[:200]}", flush=True)
                del calls[name]
                continue
            if out[0].shape != ref[0].shape or "_D" in BAND_CONFIGS[name]:
                diffs[name] = float("nan")
                continue
            diffs[name] = max(
                ((o - r).abs().max() / r.abs().max()).item() for o, r in zip(out, ref, strict=True)
            )
        times = {name: [] for name in calls}
        for _ in range(rounds):
            for name, fn in calls.items():
                times[name] += pf.device_us(fn, reps)
        base = statistics.median(times["library"])
        for name in calls:
            med = statistics.median(times[name])
            print(
                f"band {T}x{H}x{W}x{D} {name:24s} {med:8.1f} us  x{med / base:.3f}"
                f"  rel diff {diffs[name]:.1e}",
                flush=True,
            )
        del x, calls, ref
        torch.cuda.empty_cache()


def zerocopy() -> None:
    import bench_gpu as bg

    import entropy_select as es
    from entropy_select.kernels.triton import graphs

    kernel_only = graphs.reads_features_in_kernels

    def copy_in(*_):  # the key then holds an input buffer and every replay copies into it
        return False

    for T, D in ((16, 3584), (64, 3584), (1024, 1152)):
        xs = bg.make_inputs(T, 14, 14, D, torch.bfloat16)
        odd = [  # the same values, one element into a new allocation (not 16-byte aligned)
            torch.empty(x.numel() + 8, dtype=x.dtype, device="cuda")[1 : 1 + x.numel()]
            .view(x.shape)
            .copy_(x)
            for x in xs
        ]
        K = int(0.35 * T * 196)
        nbytes = xs[0].numel() * xs[0].element_size()
        for preset, cfg in bg.PRESET_CONFIGS.items():

            def call(x, cfg=cfg, K=K, cuda_graph=True):
                return es.select_tokens(
                    x, budget=K, config=cfg, validate=False, cuda_graph=cuda_graph
                )

            row = [f"{T}x14x14x{D}", preset]
            eager = bg.time_events(lambda x, call=call: call(x, cuda_graph=False), xs, reps=20)
            row.append(f"eager {statistics.median(eager):.1f}")
            for name, patch, inputs in (
                ("zero-copy", kernel_only, xs),
                ("copy-in", copy_in, xs),
                ("zero-copy-unaligned", kernel_only, odd),
            ):
                graphs.reads_features_in_kernels = patch
                try:
                    graphs.clear()
                    torch.cuda.synchronize()
                    before = torch.cuda.memory_allocated()
                    call(inputs[0])  # captures (cuda_graph=True) and replays; result dropped
                    torch.cuda.synchronize()
                    held = (torch.cuda.memory_allocated() - before) / nbytes
                    ts = bg.time_events(call, inputs, reps=20)
                finally:
                    graphs.reads_features_in_kernels = kernel_only
                row.append(f"{name} {statistics.median(ts):.1f} (held {held:.2f}x)")
            graphs.clear()
            print(" | ".join(row), "us", flush=True)
        del xs, odd
        torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = {
        "frame": frame, "graph": graph, "groups": groups, "zerocopy": zerocopy, "fusion": fusion,
        "ncu": ncu,
        "ncu_band": ncu_band,
        "flat": flat,
        "band": band,
        "budget": budget,
        "finish": finish,
        "eager": eager,
        "eager_wait": eager_wait,
        "gram": gram,
    }  # fmt: skip
    parser.add_argument("--part", choices=tuple(parts), required=True)
    parser.add_argument("--frames", type=int, default=16, help="--part graph, flat, eager")
    parser.add_argument(
        "--budget-frames", default="16,64", help="--part budget / finish: frame counts"
    )
    parser.add_argument("--presets", default="", help="--part budget / finish: presets")
    parser.add_argument(
        "--band-configs", default="", help="--part band: BAND_CONFIGS names (comma-separated)"
    )
    parser.add_argument("--band-frames", default="", help="--part band: frame counts")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    if args.part == "graph":
        graph(args.frames)
    elif args.part in ("flat", "eager", "eager_wait"):
        parts[args.part](args.frames)
    elif args.part == "band":
        band(
            configs=tuple(c for c in args.band_configs.split(",") if c),
            frames=tuple(int(f) for f in args.band_frames.split(",") if f),
        )
    elif args.part in ("budget", "finish", "gram"):
        parts[args.part](
            tuple(int(f) for f in args.budget_frames.split(",")),
            tuple(p for p in args.presets.split(",") if p),
        )
    else:
        parts[args.part]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

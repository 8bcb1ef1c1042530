"""Registers, stack and SASS size of the frame kernel compiled for sm_90 on a machine without a GPU.

CPU only: the stand-in CUDA driver of ``launch_overhead_cpu.py`` (sm_90 target, a launcher that
does nothing) lets ``frame_select_triton`` compile its kernel with Triton's own compiler and
ptxas; ``cuobjdump`` (shipped with Triton) then reads each compiled kernel's resource usage
(registers a thread, stack and local memory bytes: spills show there) and its SASS (instruction
count, ``BAR.SYNC`` count). For each preset's mode and case of ``profile_frame.py``, both token
outputs (``token_output="gather"``, the default, and ``"scan"``, Round 5's).

    PYTHONPATH=src python benchmarks/frame_registers_cpu.py \
        --out benchmarks/results/frame_registers_sm90.json

``--window-geometry``: the window kernel at 16x14x14x3584 for every launch geometry its wrapper
takes (tokens a program, channels a step, warps, pipeline stages).

``--window-shared``: the window kernel's shared memory as compiled for sm_90, sm_80, sm_89 and
sm_86 at 2 and 3 pipeline stages, against each one's limit, and the stages the library takes.

``--fused-budget``: the frame kernel reading its budgets and computing them itself
(``FUSED_BUDGET``), each preset, 16 and 64 frames.

``--finish-scores``: the finish-and-score kernel (one launch, ``scores.FINISH_SCORES``) against
the finish kernel and the score kernel it replaces, each preset, 16 and 64 frames of 14x14.

``--window-tune``: the window kernel for each of ``quick_gpu.BAND_CONFIGS`` (its code options:
``BAND_TUNING``) at 16x14x14x3584 and 1024x14x14x1152.

``--window``: the same for the window (band) kernel instead, the paper's windows with the
per-video extremes, bfloat16, at 16x14x14x3584 and 1024x14x14x1152 (Nsight Compute on an H200
found it at 255 registers with spills, ``results/ncu_band_h200_2a254bb.txt``: a variant's
registers can be checked here before any device time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from unittest import mock

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CASES = [("16x14x14 D3584", 16, 14, 14, 3584), ("1x14x14 D1152", 1, 14, 14, 1152),
         ("1x27x27 D1152", 1, 27, 27, 1152)]  # fmt: skip


def _usage(compiled, tool: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as fh:
        fh.write(compiled.asm["cubin"])
    try:
        res = subprocess.run([tool, "-res-usage", fh.name], capture_output=True, text=True).stdout
        sass = subprocess.run([tool, "-sass", fh.name], capture_output=True, text=True).stdout
    finally:
        os.unlink(fh.name)
    m = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", res)
    keys = ("registers", "stack_bytes", "static_shared_bytes", "local_bytes")
    out = dict(zip(keys, map(int, m.groups()), strict=True)) if m else {"error": res[-300:]}
    out["sass_instructions"] = len(re.findall(r"/\*[0-9a-f]{4,}\*/", sass))
    out["bar_sync"] = sass.count("BAR.SYNC")
    # reciprocals: one in each integer division by a runtime value (and each float 1/x)
    out["mufu_rcp"] = sass.count("MUFU.RCP")
    return out


def _compiled_by(kernel, fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` and return the compiled kernel it added to ``kernel``'s cache
    (None: it compiled none, an earlier one fits)."""
    cache = kernel.device_caches[0][0]
    before = set(cache)
    fn(*args, **kwargs)
    new = [k for k in cache if k not in before]
    return cache[new[-1]] if new else None


def _write(path: str | None, rows: list[dict], target: str = "sm_90 target") -> None:
    import triton

    if path:
        with open(path, "w") as fh:
            out = {"machine": f"CPU, no GPU: stand-in driver, {target}",
                   "triton": triton.__version__, "rows": rows}  # fmt: skip
            json.dump(out, fh, indent=1)


def fused_budget_rows(tool: str, presets: dict) -> list[dict]:
    """The frame kernel (gathered tokens) as it reads the budgets of the budget kernel and as it
    computes them itself (``FUSED_BUDGET``: ``_budget_from``), per preset, at 16 and 64 frames
    of 14x14 (a 64-frame video is one ``[64, 64]`` tile of the budgets' pairwise ranks)."""
    from entropy_select.core.allocation import allocate_frame_budget
    from entropy_select.kernels.triton import frame_select as fs
    from entropy_select.kernels.triton.scores import budget_args
    from entropy_select.kernels.triton.select import frame_select_options, merge_mode

    rows = []
    for T in (16, 64):
        s = torch.rand(1, T, 14, 14)
        x = torch.randn(1, T, 14, 14, 3584).to(torch.bfloat16)
        K = round(0.35 * T * 196)
        for preset, cfg in presets.items():
            opts = frame_select_options(cfg, merge_mode(cfg, 14, 14))
            fb = allocate_frame_budget(s, K)
            sal = torch.rand(1, T)
            for budget in ("kernel", "fused"):
                extra = {}
                if budget == "fused":
                    extra["_budget_from"] = (sal, budget_args(T, K, 196, cfg))
                compiled = _compiled_by(
                    fs._frame_select_kernel, fs.frame_select_triton, s, fb, K, features=x,
                    **opts, **extra,
                )  # fmt: skip
                row = {"case": f"{T}x14x14 D3584", "preset": preset, "budget": budget}
                row.update(_usage(compiled, tool))
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def finish_scores_rows(tool: str, presets: dict) -> list[dict]:
    """The finish-and-score kernel and the two kernels it replaces (the finish kernel, with the
    per-video extremes, and the score kernel), per preset, at 16 and 64 frames of 14x14."""
    from entropy_select.kernels.triton import scores as sc
    from entropy_select.kernels.triton import select as ts
    from entropy_select.kernels.triton import window_entropy as we

    kernels = {
        "finish_score": sc._finish_score_kernel,
        "finish": we._window_entropy_finish_kernel,
        "score": sc._score_kernel,
    }
    rows = []
    for T in (16, 64):
        x = torch.randn(1, T, 14, 14, 3584).to(torch.bfloat16)
        for preset, cfg in presets.items():
            for fused in (True, False):
                sc.FINISH_SCORES[0] = fused
                caches = {n: set(k.device_caches[0][0]) for n, k in kernels.items()}
                ts.fused_scores_triton(x, cfg)
                for name, kernel in kernels.items():
                    cache = kernel.device_caches[0][0]
                    new = [k for k in cache if k not in caches[name]]
                    if not new:
                        continue
                    row = {"case": f"{T}x14x14 D3584", "preset": preset, "kernel": name}
                    row.update(_usage(cache[new[-1]], tool))
                    rows.append(row)
                    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    sc.FINISH_SCORES[0] = True
    return rows


def window_rows(tool: str) -> list[dict]:
    """The band kernel's resource usage at each of its two benchmark shapes (see the docstring)."""
    from entropy_select.kernels.triton import window_entropy as we

    rows = []
    for T, D in ((16, 3584), (1024, 1152)):
        x = torch.empty(1, T, 14, 14, D, dtype=torch.bfloat16)  # the no-op launcher reads nothing
        minmax = torch.empty(1, 4, dtype=torch.int32)
        compiled = _compiled_by(
            we._window_band_kernel, we.window_entropy_and_gradient_triton, x, 5, 3, 3, 1.0,
            minmax=minmax,
        )  # fmt: skip
        row = {"case": f"{T}x14x14 D{D}", "kernel": "_window_band_kernel"}
        row.update(_usage(compiled, tool) if compiled else {"same_kernel_as": rows[-1]["case"]})
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def window_geometry_rows(tool: str) -> list[dict]:
    """The band kernel at 16x14x14x3584 bf16 (paper windows, the extremes) for each launch
    geometry the wrapper takes (``block_m``, ``block_d``, ``num_warps``, ``num_stages``): which
    ones compile without spills, and with how many registers, before any device time."""
    import itertools

    from entropy_select.kernels.triton import window_entropy as we

    x = torch.empty(1, 16, 14, 14, 3584, dtype=torch.bfloat16)
    minmax = torch.empty(1, 4, dtype=torch.int32)
    rows = []
    for bm, bd, nw, ns in itertools.product((16, 32, 64), (16, 32, 64), (4, 8), (1, 2, 3)):
        geometry = {"block_m": bm, "block_d": bd, "num_warps": nw, "num_stages": ns}
        row = dict(geometry)
        try:
            compiled = _compiled_by(
                we._window_band_kernel, we.window_entropy_and_gradient_triton, x, 5, 3, 3, 1.0,
                minmax=minmax, **geometry,
            )  # fmt: skip
        except Exception as err:  # e.g. out of shared memory for this geometry
            row["error"] = f"{type(err).__name__}: {str(err)[:120]}"
        else:
            row.update(_usage(compiled, tool) if compiled else {"error": "no new kernel"})
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def window_tune_rows(tool: str) -> list[dict]:
    """The band kernel for each of ``quick_gpu.BAND_CONFIGS`` (its code options and launch
    geometries) at 16x14x14x3584 and 1024x14x14x1152 bf16 (paper windows, the extremes)."""
    from quick_gpu import BAND_CONFIGS, band_options

    from entropy_select.kernels.triton import window_entropy as we

    rows = []
    for T, D in ((16, 3584), (1024, 1152)):
        x = torch.empty(1, T, 14, 14, D, dtype=torch.bfloat16)
        minmax = torch.empty(1, 4, dtype=torch.int32)
        for name, opts in BAND_CONFIGS.items():
            if any(k.startswith("_") for k in opts):  # another width or a variant's kernel
                continue
            opts = {k: v for k, v in band_options(opts).items() if k != "splits"}  # same code
            row = {"case": f"{T}x14x14 D{D}", "config": name}
            compiled = _compiled_by(
                we._window_band_kernel, we.window_entropy_and_gradient_triton, x, 5, 3, 3, 1.0,
                minmax=minmax, **opts,
            )  # fmt: skip
            row.update(_usage(compiled, tool) if compiled else {"error": "no new kernel"})
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


#: ``--window-shared``: (compute capability, shared memory a block may opt into, bytes)
SHARED_ARCHES = ((90, 232448), (80, 166912), (89, 101376), (86, 101376))
#: ``--window-shared``: (case, [T, H, W, D], dtype, band kernel geometry)
SHARED_CASES = (
    ("14x14 bf16, 64 tokens", (16, 14, 14, 3584), torch.bfloat16, {"block_m": 64}),
    ("14x14 bf16, 32 tokens", (16, 14, 14, 3584), torch.bfloat16, {"block_m": 32}),
    ("16x16 bf16, 64 tokens", (16, 16, 16, 3584), torch.bfloat16, {"block_m": 64}),
    ("27x27 bf16, 32 tokens", (16, 27, 27, 1152), torch.bfloat16, {"block_m": 32}),
    ("40x40 bf16, 32 tokens", (2, 40, 40, 1152), torch.bfloat16, {"block_m": 32}),
    ("14x14 f32, 64 tokens", (4, 14, 14, 256), torch.float32, {"block_m": 64}),
)


def window_shared_rows(tool: str) -> list[dict]:
    """The band kernel's shared memory as Triton compiles it for each of ``SHARED_ARCHES``, at
    2 and 3 stages (``SHARED_CASES``), against the arch's limit, and the stages the library's
    plan takes there (``window_entropy._stages``)."""
    from launch_overhead_cpu import _Driver
    from triton.backends.compiler import GPUTarget
    from triton.runtime import driver

    from entropy_select.kernels.triton import launch
    from entropy_select.kernels.triton import window_entropy as we

    rows = []
    for arch, limit in SHARED_ARCHES:

        class Arch(_Driver):
            def get_current_target(self, arch=arch):
                return GPUTarget("cuda", arch, 32)

            def get_device_capability(self, device, arch=arch):
                return divmod(arch, 10)

        driver.set_active(Arch())
        # the kernel's binder holds the target it was made for, and the direct launches their
        # compiled kernels: both anew for this arch
        we._window_band_kernel.device_caches.clear()
        launch.clear()
        for name, shape, dtype, geometry in SHARED_CASES:
            x = torch.empty(1, *shape, dtype=dtype)
            minmax = torch.empty(1, 4, dtype=torch.int32)
            T, H, W, D = shape
            _, block_d, nr, *_, nr_b = we._band_plan(
                1, T * H * W, D, W, dtype.itemsize, x.device, 5, 3, 3, 64,
                geometry["block_m"], None, None, True,
            )  # fmt: skip
            step = nr + nr_b + geometry["block_m"]
            with mock.patch.object(we, "_shared_memory", lambda device, limit=limit: limit):
                plan_stages = we._stages(3, step, block_d, dtype.itemsize, torch.device("cuda"))
            for stages in (2, 3):
                row = {"arch": f"sm_{arch}", "limit": limit, "case": name, "stages": stages}
                compiled = _compiled_by(
                    we._window_band_kernel, we.window_entropy_and_gradient_triton, x, 5, 3, 3,
                    1.0, minmax=minmax, num_stages=stages, **geometry,
                )  # fmt: skip
                shared = compiled.metadata.shared if compiled else None
                row.update(shared=shared, fits=None if shared is None else shared <= limit)
                row["library_stages"] = plan_stages
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--window", action="store_true", help="the window kernel instead")
    parser.add_argument(
        "--window-tune", action="store_true", help="the window kernel's quick_gpu.BAND_CONFIGS"
    )
    parser.add_argument(
        "--window-shared", action="store_true", help="the window kernel's shared memory by arch"
    )
    parser.add_argument(
        "--window-geometry", action="store_true", help="the window kernel's launch geometries"
    )
    parser.add_argument(
        "--fused-budget",
        action="store_true",
        help="the frame kernel reading the budgets and computing them (FUSED_BUDGET), each preset",
    )
    parser.add_argument(
        "--finish-scores",
        action="store_true",
        help="the finish-and-score kernel against the two it replaces, each preset",
    )
    args = parser.parse_args()
    import triton
    from launch_overhead_cpu import _Driver
    from triton.runtime import driver

    driver.set_active(_Driver())
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if args.window_shared:
        _write(args.out, window_shared_rows(tool), "each row's target")
        return 0
    if args.window or args.window_geometry or args.window_tune:
        rows = window_geometry_rows if args.window_geometry else window_rows
        _write(args.out, (window_tune_rows if args.window_tune else rows)(tool))
        return 0
    import entropy_select as es
    from entropy_select.core.allocation import allocate_frame_budget
    from entropy_select.kernels.triton import frame_select as fs
    from entropy_select.kernels.triton.select import frame_select_options, merge_mode

    presets = {"paper": es.EntropySelectConfig.paper(), "default": es.EntropySelectConfig(),
               "balanced": es.EntropySelectConfig.balanced()}  # fmt: skip
    if args.fused_budget:
        _write(args.out, fused_budget_rows(tool, presets))
        return 0
    if args.finish_scores:
        _write(args.out, finish_scores_rows(tool, presets))
        return 0
    rows = []
    for name, T, H, W, D in CASES:
        s = torch.rand(1, T, H, W)
        x = torch.randn(1, T, H, W, D).to(torch.bfloat16)
        K = max(1, round(0.35 * T * H * W))
        fb = allocate_frame_budget(s, K)
        for preset, cfg in presets.items():
            opts = frame_select_options(cfg, merge_mode(cfg, H, W))
            for output in ("gather", "scan"):
                compiled = _compiled_by(  # each combination compiles anew
                    fs._frame_select_kernel, fs.frame_select_triton, s, fb, K, features=x,
                    token_output=output, **opts,
                )  # fmt: skip
                row = {"case": name, "preset": preset, "token_output": output}
                row.update(_usage(compiled, tool))
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    _write(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``X_INDIRECT`` kernels compiled for sm_90 on the CPU: do they compile, keep their vector
loads, and leave the direct kernels' code as it was?

CPU only, no GPU: Triton's real compiler (and ptxas) runs against the stand-in driver of
``launch_overhead_cpu.py`` (sm_90, a launcher that does nothing), so each launch compiles its
kernel and runs nothing. For the band kernel (bfloat16 and float32, with and without the
per-video extremes) and the frame kernel (every mode; the sorted kernel's gathered and scanned
token output and the pairwise kernel), direct and indirect (the features' address read from a
holder, as a cached CUDA graph launches them), it prints a hash of each PTX without its debug
lines and counts its 128-bit global loads (``ld.global...v4``). ``--against SRC`` compiles the
direct kernels of another checkout (``SRC``: its ``src`` folder, e.g. main's) in a subprocess and
reports whether every direct PTX is identical to this checkout's.

    PYTHONPATH=src python benchmarks/indirect_ptx_cpu.py --against /work/main/src
    PYTHONPATH=/tmp/tr36site:src python benchmarks/indirect_ptx_cpu.py   # Triton 3.6 (the GPU's)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import torch


def _ptx_key(ptx: str) -> tuple[str, int, int]:
    """``(hash of the PTX without .loc/.file/comment lines and debug sections, v4 loads, v4
    stores)``."""
    lines = [
        line
        for line in ptx.split(".section\t.debug")[0].splitlines()
        if not line.strip().startswith((".loc", ".file", "//"))
    ]
    v4 = sum("ld.global" in line and ".v4" in line for line in lines)
    st4 = sum("st.global" in line and ".v4" in line for line in lines)
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()[:12], v4, st4


def compile_all(indirect: bool) -> dict[str, tuple[str, int, int]]:
    """``{variant: (ptx hash, v4 loads, v4 stores)}`` of every variant this checkout compiles
    (``indirect``: also the frame kernel writing its tokens at a held address, ``out``)."""
    from launch_overhead_cpu import _Driver
    from triton.runtime import driver

    driver.set_active(_Driver())
    from entropy_select.kernels.triton import frame_select as fs
    from entropy_select.kernels.triton import launch as L
    from entropy_select.kernels.triton import window_entropy as we

    compiled = []
    normal = L._normal

    def record(kernel, grid, args, kwargs):  # every launch takes the normal path: it compiles
        compiled.append(normal(kernel, grid, args, kwargs))
        return compiled[-1]

    L._normal = record
    out = {}
    variants = ("direct", "indirect") if indirect else ("direct",)
    with L.normal_launches():
        for dtype in (torch.bfloat16, torch.float32):
            x = torch.randn(1, 4, 14, 14, 256).to(dtype)
            holder = torch.tensor([x.data_ptr()], dtype=torch.int64)
            out_tokens = torch.empty(1, 48, 256, dtype=dtype)
            at_out = torch.tensor([out_tokens.data_ptr()], dtype=torch.int64)
            scores = torch.rand(1, 4, 14, 14)
            budget = torch.full((1, 4), 12, dtype=torch.int64)
            for variant in variants:
                kw = {"_x_address": holder} if variant == "indirect" else {}
                for minmax in (None, torch.empty(1, 4, dtype=torch.int32)):
                    compiled.clear()
                    we.window_entropy_and_gradient_triton(x, minmax=minmax, **kw)
                    band = next(c for c in compiled if c.name == "_window_band_kernel")
                    name = f"band {dtype} minmax={minmax is not None} {variant}"
                    out[name] = _ptx_key(band.asm["ptx"])
                fkw = [(variant, kw)]
                if variant == "indirect":
                    fkw.append(("indirect out", {**kw, "_out_address": at_out}))
                for (fvariant, kw), mode in itertools.product(fkw, ("select", "fusion", "context")):
                    for algo, tokens in (
                        ("sort", "gather"),
                        ("sort", "scan"),
                        ("pairwise", "scan"),
                    ):
                        compiled.clear()
                        fs.frame_select_triton(
                            scores, budget, 48, mode=mode, features=x, algo=algo,
                            token_output=tokens, **kw,
                        )  # fmt: skip
                        name = f"frame {dtype} {mode} {algo}/{tokens} {fvariant}"
                        out[name] = _ptx_key(compiled[-1].asm["ptx"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=None, help="another checkout's src folder")
    parser.add_argument("--direct-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import triton

    if args.direct_only:  # the subprocess of --against
        print(json.dumps(compile_all(indirect=False)))
        return 0
    ours = compile_all(indirect=True)
    print(f"triton {triton.__version__}, sm_90 (stand-in driver)")
    for name, (digest, v4, st4) in ours.items():
        print(f"{name:59s} {digest} v4 loads {v4} v4 stores {st4}")
    bad = []
    for name, (_, v4, st4) in ours.items():
        for tail in ("indirect", "indirect out"):
            if name.endswith(tail):
                direct = ours[name[: -len(tail)] + "direct"]
                if (v4, st4) != direct[1:]:
                    bad.append(name)
    print("indirect v4 loads and stores equal the direct ones:", "yes" if not bad else f"NO: {bad}")
    if args.against:
        here = Path(__file__).resolve().parent
        mine = (here.parent / "src").resolve()
        rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        rest = [p for p in rest if Path(p).resolve() != mine]  # keep e.g. another Triton's site
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([args.against, str(here), *rest]))
        proc = subprocess.run(
            [sys.executable, __file__, "--direct-only"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        theirs = json.loads(proc.stdout.strip().splitlines()[-1])
        differ = [n for n, (d, *_) in theirs.items() if ours.get(n, ("",))[0] != d]
        print(f"direct PTX identical to {args.against}'s:", "yes" if not differ else differ)
        return 1 if differ or bad else 0
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

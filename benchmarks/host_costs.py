"""What one eager call's host work is made of, on the machine that runs it (needs a CUDA GPU).

The eager GPU path is bound by the host issuing its work (``NOTES_gpu.md``), and the device
machine's host costs differ from this project's CPU machine (where ``launch_overhead_cpu.py`` and
``replay_overhead_cpu.py`` stand a no-op in for CUDA). This times, on the GPU's host, the
unit operations a call is built of and the call's pieces, each as host time per operation
(``perf_counter`` over ``--n`` back-to-back operations, median of ``--rounds``), with a long
sleep kernel queued first so that no operation waits for the GPU:

- ``empty``: ``torch.empty`` of a small CUDA tensor (the caching allocator);
- ``view``: a ``view`` of a CUDA tensor; ``fill_``: a one-element int64 ``fill_`` (a launch);
- ``launch``: one direct Triton launch (``kernels/triton/launch.py``) of a one-element kernel;
- ``select_tokens`` / ``select_tokens_triton``: the whole eager call and its GPU pipeline for
  16x14x14x3584 bf16, r = 0.35, each preset; ``scores`` / ``budget`` / ``frame`` /
  ``assemble`` / ``unbatched``: the pipeline's pieces called alone with their inputs (at 16
  frames the pipeline launches no budget kernel: its frame kernel computes the budgets, so
  ``budget`` is what that saves and ``frame`` times the kernel that reads them).

    PYTHONPATH=src python benchmarks/host_costs.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import triton
import triton.language as tl
from common import metadata

import entropy_select as es


@triton.jit
def _one(ptr):
    tl.store(ptr, 1.0)


def host_us(fn, n: int, rounds: int) -> float:
    """Median over ``rounds`` of the host µs per call of ``n`` calls, the GPU kept busy."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(rounds):
        torch.cuda._sleep(int(2e6 * n))  # ~1 ms of GPU per call queued: nothing waits for it
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t0) / n * 1e6)
        torch.cuda.synchronize()
    return statistics.median(out)


def unit_costs(n: int = 100, rounds: int = 7) -> dict[str, float]:
    """Host µs of the unit operations an eager call is built of, on this machine's host
    (``empty``, ``view``, ``fill_``, ``launch``: the module docstring). They vary from one
    machine (and day) to the next by up to 2x; ``bench_gpu.py`` records them beside its eager
    figures, which scale with them."""
    from entropy_select.kernels.triton.launch import launch

    dev = torch.device("cuda")
    small = torch.zeros(1024, device=dev)
    holder = torch.zeros(1, dtype=torch.int64, device=dev)
    return {
        "empty": host_us(lambda: torch.empty(1024, device=dev), n, rounds),
        "view": host_us(lambda: small.view(32, 32), n, rounds),
        "fill_": host_us(lambda: holder.fill_(12345), n, rounds),
        "launch": host_us(lambda: launch(_one, (1,), small), n, rounds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    from entropy_select.core.selection import assemble_selection
    from entropy_select.kernels.triton.frame_select import frame_select_triton
    from entropy_select.kernels.triton.scores import frame_budget_triton
    from entropy_select.kernels.triton.select import (
        _scores,
        frame_select_options,
        merge_mode,
        select_tokens_triton,
    )

    n, rounds = args.n, args.rounds
    dev = torch.device("cuda")
    rows = unit_costs(n, rounds)
    print({k: round(v, 2) for k, v in rows.items()}, flush=True)
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(1, 16, 14, 14, 3584, device=dev, dtype=torch.bfloat16, generator=g)
    K = int(0.35 * 16 * 196)
    presets = {
        "paper": es.EntropySelectConfig.paper(),
        "default": es.EntropySelectConfig(),
        "balanced": es.EntropySelectConfig.balanced(),
    }
    for name, cfg in presets.items():
        score, entropy, gradient, saliency = _scores(x, cfg)
        fb = frame_budget_triton(saliency, K, 196, cfg)
        opts = frame_select_options(cfg, merge_mode(cfg, 14, 14))
        keep, index, tokens, assign, weights = frame_select_triton(score, fb, K, features=x, **opts)
        sel = select_tokens_triton(x, K, cfg)

        def assemble(keep=keep, score=score, fb=fb, index=index, tokens=tokens, ent=entropy,
                     grad=gradient, assign=assign, weights=weights):  # fmt: skip
            return assemble_selection(
                x, keep, score, K, keep_index=index, tokens=tokens, frame_budget=fb,
                entropy=ent, gradient=grad, assignment=assign, weights=weights,
            )  # fmt: skip

        parts = {
            "select_tokens": lambda cfg=cfg: es.select_tokens(
                x[0], budget=K, config=cfg, validate=False, cuda_graph=False
            ),
            "select_tokens_triton": lambda cfg=cfg: select_tokens_triton(x, K, cfg),
            "scores": lambda cfg=cfg: _scores(x, cfg),
            "budget": lambda cfg=cfg, sal=saliency: frame_budget_triton(sal, K, 196, cfg),
            "frame": lambda s=score, fb=fb, o=opts: frame_select_triton(s, fb, K, features=x, **o),
            "assemble": assemble,
            "unbatched": lambda sel=sel: sel.unbatched(),
        }
        rows[name] = {k: host_us(fn, n, rounds) for k, fn in parts.items()}
        print(name, {k: round(v, 1) for k, v in rows[name].items()}, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "host_costs.json").write_text(
        json.dumps({"meta": metadata("cuda"), "n": n, "rounds": rounds, "host_us": rows}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

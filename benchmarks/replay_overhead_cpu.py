"""Host time of one ``select_tokens`` call served by the library's cached CUDA graph, on the CPU.

CPU only, no GPU. What an adapter's call does on the host when its shape's graph is cached
(``cuda_graph="auto"`` after two calls): ``select_tokens``' checks, the dispatch, the cache
lookup, the holder's write, the replay, the copies out and the result's views. Stand-ins replace
what needs a GPU: ``torch.cuda``'s device guard, streams and graph capture (the "replay" does
nothing), the impl resolution (forced to Triton) and the captured selection (the reference, run
once at capture). Tensors are CPU tensors of ``[T, H, W, D]`` with a small ``D`` (64), so the
copies are cheap and the figure is the Python and torch-dispatch cost of the path. On the device
machine every CUDA call (copies, replay, stream queries) costs more, and its host ran Python
several times slower than this machine's in earlier runs (``NOTES_gpu.md``), so only ratios
between code versions measured in one run carry over.

    PYTHONPATH=src python benchmarks/replay_overhead_cpu.py \
        --out benchmarks/results/replay_overhead_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch
from common import metadata, write_json


class _Stream:
    def wait_stream(self, other):
        pass

    def __eq__(self, other):
        return other is self

    __hash__ = object.__hash__


class _Graph:
    def replay(self):
        pass


def install_stand_ins() -> None:
    """Make ``graphs.graph_select`` and ``select_tokens``' dispatch run on CPU tensors."""
    from entropy_select.core.select import select_reference
    from entropy_select.kernels.triton import graphs
    from entropy_select.selectors import entropy_select as es_mod

    stream = _Stream()
    torch.cuda.device = lambda device: contextlib.nullcontext()
    torch.cuda.current_stream = lambda device=None: stream
    torch.cuda.Stream = lambda device=None: stream
    torch.cuda.stream = lambda s: contextlib.nullcontext()
    torch.cuda.CUDAGraph = _Graph
    torch.cuda.graph = lambda graph, stream=None, capture_error_mode=None: contextlib.nullcontext()
    torch.cuda.is_current_stream_capturing = lambda: False
    # the reference reads x (the holder's address is x's: the stand-in replay reads the same)
    graphs.select_tokens_triton = lambda x, K, cfg, **_: select_reference(x, cfg, budget=K)
    es_mod._resolve_impl = lambda impl, x: "triton"
    es_mod._graphable = lambda x, cfg, plan: True  # the real one starts with x.is_cuda


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="16,14,14,64", help="one video [T, H, W, D]")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    install_stand_ins()
    import entropy_select as es
    from entropy_select.selectors.entropy_select import PRESETS

    shape = tuple(int(s) for s in args.shape.split(","))
    x = torch.randn(shape).to(torch.bfloat16)
    K = int(0.35 * shape[0] * shape[1] * shape[2])
    results = {}
    for name, cfg in PRESETS.items():

        def call(cfg=cfg):
            return es.select_tokens(x, budget=K, config=cfg, validate=False, cuda_graph=True)

        first = call()  # captures
        assert call().keep_index.shape == first.keep_index.shape == (K,)
        rounds = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for _ in range(args.calls):
                call()
            rounds.append((time.perf_counter() - t0) / args.calls * 1e6)
        results[name] = {"median_us": statistics.median(rounds), "min_us": min(rounds)}
        print(f"{name:9s} {results[name]['median_us']:6.1f} µs per replayed call (host, CPU)")
    meta = metadata("cpu") | {
        "machine": "project CPU machine (2 shared cores), no GPU: stand-ins for CUDA calls",
        "shape": shape,
        "K": K,
        "calls_per_round": args.calls,
        "rounds": args.rounds,
    }
    if args.out:
        write_json(Path(args.out), {"meta": meta, "results": results})


if __name__ == "__main__":
    main()

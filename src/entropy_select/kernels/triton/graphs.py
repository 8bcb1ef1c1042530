"""A CUDA graph per input shape, captured on first use and replayed (opt-in: ``cuda_graph=True``).

The fused path is five kernel launches with no host synchronisation, so its eager latency is
bound by the host issuing launches (and allocating their outputs), not by the GPU. Video LLM
adapters call the selector again and again with the same shapes (frames × grid × channels and the
same ``K``), so this module captures the whole selection once per
``(shape, strides, dtype, device, K, config)`` and, on later calls, copies the new features into
the graph's input buffer, replays the graph and copies the outputs out: a handful of host calls
instead of every launch and allocation.

Costs, stated where they are paid: each cached shape holds a copy of one input (the graph reads
its features from a fixed address) and the graph's own workspace; the cache keeps the last
:data:`MAX_GRAPHS` shapes (least recently used first out; :func:`clear` empties it). The results
are fresh tensors, never views of the graph's buffers, so a later call does not change them.
A call the graph cannot serve (autograd on the features, explicit frame budgets, the online
budget rule, a non-CUDA input) runs the eager fused path instead.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

import torch

from ...core.config import EntropySelectConfig
from ...core.selection import Selection
from .select import select_tokens_triton

__all__ = ["graph_select", "clear", "cached_shapes", "MAX_GRAPHS"]

#: Shapes (and budgets, configs) whose graphs are kept.
MAX_GRAPHS = 8

_LOCK = threading.Lock()
_GRAPHS: OrderedDict[tuple, _Entry] = OrderedDict()


@dataclasses.dataclass
class _Entry:
    graph: torch.cuda.CUDAGraph
    static_x: torch.Tensor
    out: Selection


def _capture(x: torch.Tensor, budget: int, config: EntropySelectConfig) -> _Entry:
    static_x = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
    static_x.copy_(x)
    side = torch.cuda.Stream(device=x.device)
    side.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(side), torch.no_grad():
        select_tokens_triton(static_x, budget, config)  # compile and warm up off the graph
    torch.cuda.current_stream(x.device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        out = select_tokens_triton(static_x, budget, config)
    return _Entry(graph, static_x, out)


def graph_select(x: torch.Tensor, budget: int, config: EntropySelectConfig) -> Selection:
    """:func:`~.select.select_tokens_triton` through a cached CUDA graph.

    Args:
        x: a checked CUDA batch (the caller resolved ``impl`` to Triton).
        budget: K. config: the hyper-parameters.

    Returns:
        The same :class:`Selection` as the eager fused path, in fresh tensors.

    Shapes:
        x: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], ...
    """
    key = (tuple(x.shape), x.stride(), x.dtype, x.device, budget, config)
    with _LOCK, torch.no_grad():  # one caller at a time uses a graph's buffers
        entry = _GRAPHS.get(key)
        if entry is None:
            entry = _GRAPHS[key] = _capture(x, budget, config)
            while len(_GRAPHS) > MAX_GRAPHS:
                _GRAPHS.popitem(last=False)
        _GRAPHS.move_to_end(key)
        entry.static_x.copy_(x)
        entry.graph.replay()
        fields = {}
        for f in dataclasses.fields(Selection):
            value = getattr(entry.out, f.name)
            fields[f.name] = value.clone() if isinstance(value, torch.Tensor) else value
    # copies of the graph's outputs (a later replay overwrites the buffers)
    return dataclasses.replace(entry.out, **fields)


def clear() -> None:
    """Drop every cached graph (and the memory it holds)."""
    with _LOCK:
        _GRAPHS.clear()


def cached_shapes() -> list[tuple]:
    """Keys ``(shape, strides, dtype, device, K, config)`` of the cached graphs, oldest first."""
    with _LOCK:
        return list(_GRAPHS)

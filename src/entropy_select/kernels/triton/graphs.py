"""A CUDA graph per input shape, captured and replayed (``cuda_graph="auto"``, default, or True).

The fused path is five kernel launches with no host synchronisation, so its eager latency is
bound by the host issuing launches (and allocating their outputs), not by the GPU. Video LLM
adapters call the selector again and again with the same shapes (frames × grid × channels and the
same ``K``), so this module captures the whole selection once per key
``(shape, strides, dtype, device, K, config)`` and, on later calls, copies the new features into
the graph's input buffer, replays the graph and copies its outputs out: four host calls (a copy
in, a replay, two copies out) instead of every launch and allocation. The results' fields are
views of the copies made by a recipe computed at capture (one ``as_strided`` a field, already
without the batch dimension for a ``[T, H, W, D]`` input), so a replayed call costs little more
host time than those four calls (``benchmarks/replay_overhead_cpu.py``).

When a key is captured (:func:`graph_select`'s ``eager_calls``): ``cuda_graph=True`` captures on
the key's first call; ``cuda_graph="auto"`` runs a key's first call eagerly and captures on its
second, so a shape seen once never pays the capture (a device synchronisation and a release of
torch's cached memory, once per key) nor the memory below. Under ``"auto"`` an input larger than
:data:`AUTO_MAX_INPUT_BYTES` (64 MiB: about 40 frames of 14x14x3584 bfloat16) always runs
eagerly: there the kernels, not the host, set the latency, and a replay's copy of the features
into the graph's input buffer costs more than the launches it saves (measured on an H200: 16
frames replay in about half the eager time, 64 frames about break even, 1,024 frames of
14x14x1152 replay ~15% slower).

Costs, stated where they are paid: each cached key holds a copy of one input (the graph reads its
features from a fixed address) and the graph's private memory pool (its outputs, ``K × D`` tokens
and the ``N``-sized maps, and its intermediates): about 1.05-1.5× the input at r = 5-50%. The
cache keeps the last :data:`MAX_GRAPHS` keys within an estimated :data:`MAX_GRAPH_BYTES` (2 GiB),
least recently used first out; under ``"auto"`` a key larger than that alone runs eagerly.
:func:`clear` empties the cache; ``cuda_graph=False`` never fills it. The results are fresh
tensors, never views of the graph's buffers, so a later call does not change them. A call the
graph cannot serve (autograd on the features, explicit frame budgets, the online budget rule, a
non-CUDA input, a call during a capture or under ``torch.compile``) runs the eager fused path
instead; so does a key whose capture failed under ``"auto"`` (with one warning).

Streams and devices: the key holds the input's device, so a graph only ever serves features on
the device it was captured on, and every call runs under that device. The copy in, the replay and
the copies out are issued on the caller's current stream of that device
(:meth:`torch.cuda.CUDAGraph.replay` launches on the current stream), in that order; a call on a
different stream than the key's previous call first waits for that stream, so two streams never
use one graph's buffers at once. As with any CUDA op, the caller makes the features ready on its
current stream before the call.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import warnings
from collections import OrderedDict

import torch

from ...core.checks import check_finite, finite_flag
from ...core.config import EntropySelectConfig
from ...core.selection import Selection
from .select import select_tokens_triton

__all__ = [
    "graph_select",
    "clear",
    "cached_shapes",
    "MAX_GRAPHS",
    "MAX_GRAPH_BYTES",
    "AUTO_MAX_INPUT_BYTES",
]

#: Keys (shape, strides, dtype, device, K, config, validate) whose graphs are kept.
MAX_GRAPHS = 8
#: Estimated GPU memory of every kept graph together (input copy and private pool, taken as
#: :data:`COST_OVER_INPUT` × the input's bytes): least recently used keys go first beyond it, and
#: under ``"auto"`` a key whose estimate alone exceeds it is not captured (it runs eagerly).
MAX_GRAPH_BYTES = 2 * 2**30
#: A cached key's memory over its input's bytes: 1.1-1.5 measured on an H200 at r = 5-50%
#: (``benchmarks/results/gpu_h200_auto.json``, ``cache_allocated_over_input``).
COST_OVER_INPUT = 1.5
#: Under ``"auto"``, a key whose input is larger than this runs eagerly (never captured, holds
#: no memory): a replay first copies the features into the graph's input buffer, which costs
#: more than the launches it saves once the kernels, not the host, set the latency. H200,
#: ``bench_gpu.py`` (``results/gpu_h200_sweep.json`` and ``gpu_h200_sweep_long.json``), median
#: µs over r = 5-50%, paper / default / balanced, replay against eager: 16x14x14x3584 bf16
#: (22 MB) 134 / 164 / 155 against 300 / 310 / 302; 64 frames (90 MB) 330 / 427 / 401 against
#: 303 / 407 / 370; 1024x14x14x1152 (462 MB) 1387 / 1681 / 1762 against 1197 / 1454 / 1470.
#: ``cuda_graph=True`` captures any size.
AUTO_MAX_INPUT_BYTES = 64 * 2**20
#: Keys remembered as seen (eagerly, not yet captured) for ``eager_calls`` > 0: only the keys, no
#: tensors.
MAX_SEEN = 64

_LOCK = threading.Lock()
_GRAPHS: OrderedDict[tuple, _Entry] = OrderedDict()
_SEEN: OrderedDict[tuple, int] = OrderedDict()  # key -> eager calls so far
_FAILED: OrderedDict[tuple, str] = OrderedDict()  # keys whose capture raised -> why


@dataclasses.dataclass
class _Entry:
    """One captured selection: its input buffer, its graph and where its outputs are."""

    graph: torch.cuda.CUDAGraph
    static_x: torch.Tensor  # the graph reads the features here
    tokens: torch.Tensor  # the graph's output tokens [B, K, D]
    packed: torch.Tensor  # every other tensor field, as bytes in one buffer (see _pack)
    layout: tuple  # ((dtype, start, end, sizes, ((name, shape), ...)), ...) of ``packed``
    template: Selection  # the captured Selection: the fields that are None
    stream: torch.cuda.Stream  # the stream of the last call's copy in, replay and copies out
    views: dict = dataclasses.field(init=False)  # squeeze -> _views(layout, squeeze)

    def __post_init__(self) -> None:
        self.views = {False: _views(self.layout, False), True: _views(self.layout, True)}


def _dense_strides(x: torch.Tensor) -> bool:
    """Whether ``x`` covers its memory exactly once (no overlap, no gaps): then a buffer with its
    strides can be written by ``copy_`` (an expanded, stride-0 input could not)."""
    expected = 1
    for size, stride in sorted(zip(x.shape, x.stride(), strict=True), key=lambda p: p[1]):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


def _pack(out: Selection, **extra: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """Every tensor field but ``tokens`` (and the ``extra`` tensors, e.g. the NaN check's flag)
    as bytes in one flat buffer, by one ``cat``.

    Fields are grouped by dtype, wider elements first, so each group starts at a multiple of its
    element size (every field's byte size is a multiple of its own element size).

    Returns:
        ``(packed uint8 [bytes], layout)``; :func:`_fields` reads a copy of ``packed`` back
        by :func:`_views`' recipe.
    """
    fields = [
        (f.name, getattr(out, f.name))
        for f in dataclasses.fields(Selection)
        if f.name != "tokens" and isinstance(getattr(out, f.name), torch.Tensor)
    ] + list(extra.items())
    groups: dict[torch.dtype, list[tuple[str, torch.Tensor]]] = {}
    for name, value in fields:
        groups.setdefault(value.dtype, []).append((name, value))
    order = sorted(groups, key=lambda d: -d.itemsize)
    parts, layout, start = [], [], 0
    for dtype in order:
        members = groups[dtype]
        sizes = tuple(v.numel() for _, v in members)
        nbytes = sum(sizes) * dtype.itemsize
        names = tuple((n, v.shape) for n, v in members)
        layout.append((dtype, start, start + nbytes, sizes, names))
        parts += [v.reshape(-1).view(torch.uint8) for _, v in members]  # [numel·size] bytes
        start += nbytes
    pad = -start % 8  # whole int64 words, so every dtype can view the buffer (see _views)
    if pad:
        parts.append(parts[0].new_zeros(pad))
    return torch.cat(parts), tuple(layout)


def _views(layout: tuple, squeeze: bool) -> tuple:
    """How a copy of the packed buffer becomes the fields, precomputed once per graph:
    ``((dtype, ((name, size, stride, offset), ...)), ...)``, each field one ``as_strided`` of the
    buffer viewed as its dtype (a few host calls a field, against a slice, a split and a view).
    ``squeeze``: the fields of a batch of one without their leading ``B`` (a ``[T, H, W, D]``
    input's result, what :meth:`Selection.unbatched` would give); extra scalars keep their shape.
    """
    views = []
    for dtype, start, _, sizes, members in layout:
        offset, items = start // dtype.itemsize, []
        for size, (name, shape) in zip(sizes, members, strict=True):
            shape = tuple(shape)[1:] if squeeze and len(shape) > 0 else tuple(shape)
            strides = [1] * len(shape)
            for k in range(len(shape) - 2, -1, -1):
                strides[k] = strides[k + 1] * shape[k + 1]
            items.append((name, shape, tuple(strides), offset))
            offset += size
        views.append((dtype, tuple(items)))
    return tuple(views)


def _fields(packed: torch.Tensor, views: tuple) -> dict[str, torch.Tensor]:
    """The fields of ``packed`` (a copy of a graph's packed buffer) as views of it, by
    :func:`_views`' recipe (no GPU work)."""
    fields = {}
    for dtype, items in views:
        typed = packed.view(dtype)
        for name, size, stride, offset in items:
            fields[name] = typed.as_strided(size, stride, offset)
    return fields


def _static_input(x: torch.Tensor) -> torch.Tensor:
    """The graph's input buffer, holding a copy of ``x``: with ``x``'s strides where they cover
    their memory exactly once, else dense (an expanded input). Made outside inference mode, so
    that later calls may write it with or without ``torch.inference_mode`` (an inference tensor
    cannot be written outside it)."""
    with torch.inference_mode(False):
        if _dense_strides(x):
            static_x = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
        else:
            static_x = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        return static_x.copy_(x)


def _capture(
    x: torch.Tensor, budget: int, config: EntropySelectConfig, validate: bool = False
) -> _Entry:
    """Capture the selection of ``x`` (with ``x``'s device current) into a new graph; with
    ``validate``, the graph also computes the NaN check's flag (``finite`` in the packed
    outputs)."""
    with torch.inference_mode(False):  # the graph's outputs are normal tensors too
        return _capture_normal(x, budget, config, validate)


def _select(static_x, budget, config, validate):
    """The captured work: the selection, and with ``validate`` the NaN check's flag (its
    reduction first, so the check reads the input before the kernels)."""
    finite = {"finite": finite_flag(static_x)} if validate else {}
    return select_tokens_triton(static_x, budget, config), finite


def _capture_normal(
    x: torch.Tensor, budget: int, config: EntropySelectConfig, validate: bool = False
) -> _Entry:
    static_x = _static_input(x)
    caller = torch.cuda.current_stream(x.device)
    side = torch.cuda.Stream(device=x.device)
    side.wait_stream(caller)
    with torch.cuda.stream(side), torch.no_grad():
        _select(static_x, budget, config, validate)  # compile and warm up off the graph
    caller.wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    # thread_local: other threads' CUDA calls during the capture are not errors (a library
    # captures inside applications it does not know; torch's own cudagraph trees do the same)
    capture = torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local")
    with capture, torch.no_grad():
        out, extra = _select(static_x, budget, config, validate)
        packed, layout = _pack(out, **extra)  # one cat, inside the graph
    return _Entry(graph, static_x, out.tokens, packed, layout, out, caller)


def graph_select(
    x: torch.Tensor,
    budget: int,
    config: EntropySelectConfig,
    *,
    eager_calls: int = 0,
    validate: bool = False,
    squeeze: bool = False,
) -> Selection:
    """:func:`~.select.select_tokens_triton` through a cached CUDA graph.

    Args:
        x: a checked CUDA batch the graph can serve (the caller resolved ``impl`` to Triton and
            checked that no autograd, frame budgets, online rule or capture is involved).
        budget: K. config: the hyper-parameters.
        eager_calls: how many calls of a key run eagerly before the key is captured: 0 for
            ``cuda_graph=True`` (capture on first use; a failed capture raises), 1 for ``"auto"``
            (capture on the second call; a failed capture warns once and the key stays eager).
        validate: raise ``ValueError`` (counting them) if ``x`` holds NaN/inf, by one
            synchronisation after the replay (the check's reduction runs inside the graph; the
            kernels select valid tokens from non-finite features, so nothing else changes).
        squeeze: ``x`` is a batch of one made from a ``[T, H, W, D]`` video: return that
            video's unbatched selection (what :meth:`Selection.unbatched` gives, made directly).

    Returns:
        The same :class:`Selection` as the eager fused path, in fresh tensors (the tokens in one,
        every other field a view of a second).

    Shapes:
        x: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], ...
    """
    key = (x.shape, x.stride(), x.dtype, x.device, budget, config, validate)
    with torch.cuda.device(x.device):  # the graph's device (the key's) is current throughout
        with _LOCK:  # one caller at a time uses a graph's buffers
            entry = _entry_for(key, x, budget, config, eager_calls)  # captures under no_grad
            if entry is not None:
                stream = torch.cuda.current_stream(x.device)
                if stream != entry.stream:  # the last call's copies out may still be running
                    stream.wait_stream(entry.stream)
                    entry.stream = stream
                # No autograd here: _graphable sent no input that requires grad, and the
                # buffers never do.
                entry.static_x.copy_(x)
                entry.graph.replay()  # on the current stream, after the copy in
                packed = entry.packed.clone()
                tokens = (entry.tokens[0] if squeeze else entry.tokens).clone()
        if entry is None:
            with torch.no_grad():
                out, extra = _select(x, budget, config, validate)
            if validate:
                check_finite(x, "features", extra["finite"])  # after every launch
            return out.unbatched() if squeeze else out
    # views of the copies (a later replay overwrites the graph's buffers, not these)
    fields = _fields(packed, entry.views[squeeze])
    finite = fields.pop("finite", None)
    if finite is not None:
        check_finite(x, "features", finite)  # the one synchronisation, after the replay
    return dataclasses.replace(entry.template, tokens=tokens, **fields)  # every tensor field


def _entry_for(
    key: tuple, x: torch.Tensor, budget: int, config: EntropySelectConfig, eager_calls: int
) -> _Entry | None:
    """The graph of ``key``, captured now if the key has had its ``eager_calls``; None: run this
    call eagerly. Called with the lock held."""
    entry = _GRAPHS.get(key)
    if entry is not None:
        _GRAPHS.move_to_end(key)
        return entry
    if eager_calls and key in _FAILED:
        return None
    if eager_calls and (_input_bytes(key) > AUTO_MAX_INPUT_BYTES or _cost(key) > MAX_GRAPH_BYTES):
        return None  # "auto": the copy in would cost more than the graph saves
    seen = _SEEN.pop(key, 0)
    if seen < eager_calls:
        _SEEN[key] = seen + 1  # most recent last
        while len(_SEEN) > MAX_SEEN:
            _SEEN.popitem(last=False)
        return None
    try:
        entry = _capture(x, budget, config, key[-1])
    except Exception as err:
        if not eager_calls:  # cuda_graph=True asked for a graph: say why there is none
            raise
        _FAILED[key] = why = f"{type(err).__name__}: {err}"
        while len(_FAILED) > MAX_SEEN:
            _FAILED.popitem(last=False)
        warnings.warn(
            f"entropy_select: capturing a CUDA graph for features {tuple(x.shape)} {x.dtype} "
            f"(K={budget}) failed ({why}); this shape runs eagerly (cuda_graph=False skips the "
            "attempt)",
            RuntimeWarning,
            stacklevel=6,
        )
        return None
    _GRAPHS[key] = entry
    while len(_GRAPHS) > MAX_GRAPHS or (
        len(_GRAPHS) > 1 and sum(map(_cost, _GRAPHS)) > MAX_GRAPH_BYTES
    ):
        _GRAPHS.popitem(last=False)
    return entry


def _input_bytes(key: tuple) -> int:
    """The bytes of ``key``'s input (its dense copy in the graph's input buffer)."""
    shape, _, dtype = key[:3]
    return math.prod(shape) * dtype.itemsize


def _cost(key: tuple) -> int:
    """The estimated GPU memory of ``key``'s graph: :data:`COST_OVER_INPUT` × its input's bytes."""
    return int(COST_OVER_INPUT * _input_bytes(key))


def clear() -> None:
    """Drop every cached graph (and the memory it holds) and forget the keys seen."""
    with _LOCK:
        _GRAPHS.clear()
        _SEEN.clear()
        _FAILED.clear()


def cached_shapes() -> list[tuple]:
    """Keys ``(shape, strides, dtype, device, K, config, validate)`` of the cached graphs, oldest
    first."""
    with _LOCK:
        return list(_GRAPHS)

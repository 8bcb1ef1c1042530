"""A CUDA graph per input shape, captured and replayed (``cuda_graph="auto"``, default, or True).

The fused path is five kernel launches with no host synchronisation, so its eager latency is
bound by the host issuing launches (and allocating their outputs), not by the GPU. Video LLM
adapters call the selector again and again with the same shapes (frames × grid × channels and the
same ``K``), so this module captures the whole selection once per key
``(shape, strides, dtype, device, K, config)`` and, on later calls, points the graph at the new
features and at a fresh tensor for the tokens, replays it and copies its other outputs out: five
host calls (two one-element writes, the tokens' allocation, a replay, one copy out) instead of
every launch and allocation. The results' other fields are views of that copy made by a recipe
computed at capture (one ``as_strided`` a field, already without the batch dimension for a
``[T, H, W, D]`` input), so a replayed call costs little more host time than those calls
(``benchmarks/replay_overhead_cpu.py``).

No copy in, no tokens' copy out: the two kernels that read the features (the band kernel and the
frame kernel's token output) are captured in their ``X_INDIRECT`` form, which reads the features'
address from an int64 tensor, the key's *holder*, when the kernel runs, and the frame kernel in its
``OUT_INDIRECT`` form, which writes the output tokens at the address the holder's second element
gives. A replay allocates the call's tokens, writes the caller's ``x.data_ptr()`` and the tokens'
address into the holder (``fill_``: one small kernel each, the address its argument) and replays,
so the graph reads the caller's features where they are and writes the tokens straight into the
tensor the call returns. The kernels take the address as a multiple of 16 bytes (128-bit loads); an
input whose address is not (a view starting at an odd element) is first copied, the memory it spans
from its first element to its last, into a fresh aligned buffer for that call only, and the holder
points there. (Triton compiles other kernels for an unaligned address, with narrower loads, so such
an input's scores can differ from the eager path's on it in the last bits, 1e-7 on an H200, as they
would between the eager path on the input and on an aligned copy of it.) A config whose selection
reads the features in torch code as well (``rarity > 0``; more fused cells than the frame kernel
ranks; :func:`~.select.reads_features_in_kernels`) keeps the earlier scheme: the graph reads a copy
of the input held by the key and writes its tokens into its own buffer; each replay copies the
features in and the tokens out.

When a key is captured (:func:`graph_select`'s ``eager_calls``): ``cuda_graph=True`` captures on
the key's first call; ``cuda_graph="auto"`` runs a key's first call eagerly and captures on its
second, so a shape seen once never pays the capture (a device synchronisation and a release of
torch's cached memory, once per key) nor the memory below. Under ``"auto"`` an input larger than
:data:`AUTO_MAX_INPUT_BYTES` (256 MiB: about 190 frames of 14x14x3584 bfloat16) always runs
eagerly: there the kernels, not the host, set the latency (measured on an H200: 16 frames replay
in about half the eager time, 64 frames faster than eager, 1,024 frames of 14x14x1152 even).

Costs, stated where they are paid: each cached key holds the graph's private memory pool (its
``N``-sized outputs and its intermediates, :data:`POOL_BYTES_PER_TOKEN` a token at most: about 1-2%
of a 14x14x3584 bf16 input); a config that reads the features in torch code holds a copy of one
input and the ``K × D`` tokens as well. The cache keeps the last :data:`MAX_GRAPHS` keys within an
estimated :data:`MAX_GRAPH_BYTES` (2 GiB), least recently used first out; under ``"auto"`` a key
larger than that alone runs eagerly. :func:`clear` empties the cache; ``cuda_graph=False`` never
fills it. The results are fresh tensors, never views of the graph's buffers, so a later call does
not change them. A call the graph cannot serve (autograd on the features, explicit frame budgets,
the online budget rule, a non-CUDA input, a call during a capture or under ``torch.compile``) runs
the eager fused path instead; so does a key whose capture failed under ``"auto"`` (with one
warning). ``validate=True`` launches the NaN check's reduction on the caller's features before the
replay and reads it after (as the eager path does), so one graph serves both.

Streams and devices: the key holds the input's device, so a graph only ever serves features on the
device it was captured on, and every call runs under that device. The holder's writes (or the copy
in), the replay and the copies out are issued on the caller's current stream of that device
(:meth:`torch.cuda.CUDAGraph.replay` launches on the current stream), in that order; a call on a
different stream than the key's previous call first waits for that stream, so two streams never use
one graph's buffers at once. As with any CUDA op, the caller makes the features ready on its
current stream before the call.

Lifetime of the features: the graph reads the caller's ``x`` (or the call's aligned copy) during
the replay, which is queued on the caller's current stream while ``x`` is alive (the call holds
it). If the caller frees ``x`` after the call, torch's caching allocator hands its memory only to
later work on that same stream (which runs after the replay), as for any CUDA op reading a tensor;
a caller that uses ``x`` on other streams records them on it (``Tensor.record_stream``) as usual.
The holder keeps the last addresses after the call; the next call writes each again unless it
already holds that address (the caching allocator often hands a repeated shape's features and
tokens the same memory as the call before): a holder is written only by its key's calls, in
stream order (a call on another stream first waits for the previous call's), so what the last
write left is what the next replay reads. The tokens' tensor is allocated on the caller's
current stream, which the replay writes it on, like any CUDA op's output.
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
from .select import reads_features_in_kernels, select_tokens_triton

__all__ = [
    "graph_select",
    "clear",
    "cached_shapes",
    "MAX_GRAPHS",
    "MAX_GRAPH_BYTES",
    "AUTO_MAX_INPUT_BYTES",
]

#: Keys (shape, strides, dtype, device, K, config) whose graphs are kept.
MAX_GRAPHS = 8
#: Estimated GPU memory of every kept graph together (private pool, and the input copy of a key
#: that holds one; see :func:`_cost`): least recently used keys go first beyond it, and under
#: ``"auto"`` a key whose estimate alone exceeds it is not captured (it runs eagerly).
MAX_GRAPH_BYTES = 2 * 2**30
#: A cached key's private pool besides any ``[B, K, D]`` output tokens (those of a key that
#: copies in), in bytes per input token (the ``N``-sized maps and the intermediates), for
#: :func:`_cost`. Measured on an H200
#: (``benchmarks/quick_gpu.py --part zerocopy``, ``results/quick_gpu_zerocopy_h200.log``, r =
#: 0.35): a key held 0.00-0.01 × its input at 16x14x14x3584 bf16 and 0.01-0.02 × at
#: 1024x14x14x1152 (the run before, with the tokens in the pool, 0.35-0.37: the tokens' 0.35
#: and the rest), so at most ~110 bytes a token (the log's two decimals bound it); taken as 128.
POOL_BYTES_PER_TOKEN = 128
#: Under ``"auto"``, a key whose input is larger than this runs eagerly (never captured, holds
#: no memory): there the kernels, not the host, set the latency, and a replay gains nothing.
#: H200, r = 0.35, paper / default / balanced, median µs (``quick_gpu.py --part zerocopy``,
#: ``results/quick_gpu_zerocopy_h200.log``, its first block: replays with neither the copy in nor
#: the tokens' copy out, the module docstring): 64x14x14x3584 bf16 (90 MB) replays in 314 / 437
#: / 342 against 356 / 665 / 600 eager; 1024x14x14x1152 (462 MB) in 1164 / 1450 / 1380
#: against 1148 / 1457 / 1274 (even). 256 MiB (about 190 frames of 14x14x3584 bf16) lies
#: between the two; the value between them is not measured. It was 64 MiB while replays copied
#: the features in (1,024 frames then replayed ~15% slower than eager, 64 frames even:
#: ``results/gpu_h200_sweep.json``, ``gpu_h200_sweep_long.json``). ``cuda_graph=True``
#: captures any size.
AUTO_MAX_INPUT_BYTES = 256 * 2**20
#: Keys remembered as seen (eagerly, not yet captured) for ``eager_calls`` > 0: only the keys, no
#: tensors.
MAX_SEEN = 64
#: The alignment, in bytes, of every address the ``X_INDIRECT`` kernels read (``tl.multiple_of``).
ALIGN = 16

_LOCK = threading.Lock()
_GRAPHS: OrderedDict[tuple, _Entry] = OrderedDict()
_SEEN: OrderedDict[tuple, int] = OrderedDict()  # key -> eager calls so far
_FAILED: OrderedDict[tuple, str] = OrderedDict()  # keys whose capture raised -> why


@dataclasses.dataclass
class _Entry:
    """One captured selection: where it reads its features, its graph and where its outputs are.

    Exactly one of ``holder`` and ``static_x`` is set; ``tokens`` is None with ``holder``."""

    graph: torch.cuda.CUDAGraph
    # [2] int64: the addresses the graph's kernels read the features at and write the tokens to
    holder: torch.Tensor | None
    static_x: torch.Tensor | None  # or the features' copy the graph reads (torch code reads x)
    tokens: torch.Tensor | None  # or the graph's output tokens [B, K, D] (copied out)
    packed: torch.Tensor  # every other tensor field, as bytes in one buffer (see _pack)
    layout: tuple  # ((dtype, start, end, sizes, ((name, shape), ...)), ...) of ``packed``
    template: Selection  # the captured Selection: the fields that are None
    stream: torch.cuda.Stream  # the stream of the last call's write, replay and copies out
    views: dict = dataclasses.field(init=False)  # squeeze -> _views(layout, squeeze)
    token_shape: dict = dataclasses.field(init=False)  # squeeze -> a call's tokens' shape
    slots: tuple = dataclasses.field(init=False)  # the holder's two elements, as views
    written: list = dataclasses.field(init=False)  # what this key's replays last wrote there

    def __post_init__(self) -> None:
        self.views = {False: _views(self.layout, False), True: _views(self.layout, True)}
        B, K, D = self.template.tokens.shape
        self.token_shape = {False: (B, K, D), True: (K, D)}
        self.slots = () if self.holder is None else (self.holder[0:1], self.holder[1:2])
        self.written = [None, None]  # unknown after the capture: the first replay writes both


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


def _pack(out: Selection) -> tuple[torch.Tensor, tuple]:
    """Every tensor field but ``tokens`` as bytes in one flat buffer, by one ``cat``.

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
    ]
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
    input's result, what :meth:`Selection.unbatched` would give).
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
    """The input buffer of a key whose config reads the features in torch code, holding a copy of
    ``x``: with ``x``'s strides where they cover their memory exactly once, else dense (an
    expanded input). Made outside inference mode, so that later calls may write it with or
    without ``torch.inference_mode`` (an inference tensor cannot be written outside it)."""
    with torch.inference_mode(False):
        if _dense_strides(x):
            static_x = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
        else:
            static_x = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        return static_x.copy_(x)


def _span(x: torch.Tensor) -> int:
    """Elements from ``x``'s first element to its last in memory (strides are never negative)."""
    return 1 + sum((size - 1) * stride for size, stride in zip(x.shape, x.stride(), strict=True))


def _aligned_copy(x: torch.Tensor) -> torch.Tensor:
    """A copy, in a fresh buffer (aligned: a new allocation is), of the memory ``x`` spans from
    its first element to its last, gaps and overlaps included, so that ``x``'s strides address it
    from its start as they address ``x`` from ``x.data_ptr()`` (a dense ``x``: its ``numel``
    elements). Flat ``[span]``."""
    return x.as_strided((_span(x),), (1,)).clone()  # keeps x's storage offset: x's first element


def _write_address(slot: torch.Tensor, address: int, written: list | None, i: int) -> None:
    """``slot.fill_(address)`` (a fill kernel on the current stream, the address its argument: no
    host buffer), skipped when ``written[i]``, what the last write left there, is ``address``;
    ``written``: the key's record (None: always write)."""
    if written is not None and written[i] == address:
        return
    slot.fill_(address)
    if written is not None:
        written[i] = address


def _point(holder: torch.Tensor, x: torch.Tensor, written: list | None = None) -> torch.Tensor:
    """Write into ``holder`` the address of ``x``'s features for the graph's kernels: ``x``'s
    own when it is a multiple of :data:`ALIGN` bytes, else that of an :func:`_aligned_copy`
    (``written``: see :func:`_write_address`, element 0).

    Returns:
        The tensor the holder points into (``x`` or the copy); the caller keeps it alive until
        the work that reads it is queued on the current stream.
    """
    target = x if x.data_ptr() % ALIGN == 0 else _aligned_copy(x)
    _write_address(holder, target.data_ptr(), written, 0)
    return target


def _point_tokens(
    holder: torch.Tensor, shape: tuple, x: torch.Tensor, written: list | None = None
) -> torch.Tensor:
    """A fresh ``shape`` tensor of ``x``'s dtype for the output tokens, its address written into
    ``holder`` for the ``OUT_INDIRECT`` frame kernel (``written``: see :func:`_write_address`,
    element 1); the caller keeps it alive until the work that writes it is queued (a replay's
    result: returned)."""
    tokens = torch.empty(*shape, dtype=x.dtype, device=x.device)  # ints parse faster than a tuple
    _write_address(holder, tokens.data_ptr(), written, 1)
    return tokens


def _capture(x: torch.Tensor, budget: int, config: EntropySelectConfig) -> _Entry:
    """Capture the selection of ``x`` (with ``x``'s device current) into a new graph."""
    with torch.inference_mode(False):  # the graph's outputs and buffers are normal tensors too
        return _capture_normal(x, budget, config)


def _record(work, device: torch.device) -> tuple[torch.cuda.CUDAGraph, object]:
    """Run ``work`` once off the graph (compiling and warming up its kernels) on a side stream,
    then capture it there: ``(graph, work's result in the graph's memory)``."""
    caller = torch.cuda.current_stream(device)
    side = torch.cuda.Stream(device=device)
    side.wait_stream(caller)
    with torch.cuda.stream(side), torch.no_grad():
        work()
    caller.wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    # thread_local: other threads' CUDA calls during the capture are not errors (a library
    # captures inside applications it does not know; torch's own cudagraph trees do the same)
    capture = torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local")
    with capture, torch.no_grad():
        result = work()
    return graph, result


def _capture_normal(x: torch.Tensor, budget: int, config: EntropySelectConfig) -> _Entry:
    caller = torch.cuda.current_stream(x.device)
    if reads_features_in_kernels(config, x.shape[2], x.shape[3]):
        holder = torch.empty(2, dtype=torch.int64, device=x.device)
        static_x = None
        at_x, at_out = holder[0:1], holder[1:2]
        # alive until the warm-up (which writes tokens there) and the capture are queued
        target = _point(at_x, x)  # noqa: F841
        scratch = _point_tokens(at_out, (x.shape[0], budget, x.shape[-1]), x)  # noqa: F841

        def work():  # x gives the shape, strides and dtype; the kernels read at the holder
            out = select_tokens_triton(
                x, budget, config, _x_address=at_x, _out_address=at_out, _one_finish=False
            )
            return out, *_pack(out)  # one cat, inside the graph

    else:
        holder, static_x = None, _static_input(x)

        def work():
            out = select_tokens_triton(static_x, budget, config, _one_finish=False)
            return out, *_pack(out)

    graph, (out, packed, layout) = _record(work, x.device)
    tokens = None if holder is not None else out.tokens  # the stand-in is not kept
    return _Entry(graph, holder, static_x, tokens, packed, layout, out, caller)


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
            synchronisation after the replay (the check's reduction is launched on ``x`` before
            the replay; the kernels select valid tokens from non-finite features, so nothing
            else changes).
        squeeze: ``x`` is a batch of one made from a ``[T, H, W, D]`` video: return that
            video's unbatched selection (what :meth:`Selection.unbatched` gives, made directly).

    Returns:
        The same :class:`Selection` as the eager fused path, in fresh tensors (the tokens in one,
        every other field a view of a second).

    Shapes:
        x: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], ...
    """
    key = (x.shape, x.stride(), x.dtype, x.device, budget, config)
    with torch.cuda.device(x.device):  # the graph's device (the key's) is current throughout
        flag = finite_flag(x) if validate else None  # launched first, read after the replay
        with _LOCK:  # one caller at a time uses a graph's buffers
            entry = _entry_for(key, x, budget, config, eager_calls)  # captures under no_grad
            if entry is not None:
                stream = torch.cuda.current_stream(x.device)
                if stream != entry.stream:  # the last call's copies out may still be running
                    stream.wait_stream(entry.stream)
                    entry.stream = stream
                # No autograd here: _graphable sent no input that requires grad, and the
                # buffers never do.
                if entry.holder is not None:
                    at_x, at_out = entry.slots
                    target = _point(at_x, x, entry.written)  # noqa: F841 (alive until the replay)
                    # the graph writes this call's tokens into this call's own tensor
                    tokens = _point_tokens(at_out, entry.token_shape[squeeze], x, entry.written)
                    entry.graph.replay()  # on the current stream, after the two writes
                else:
                    entry.static_x.copy_(x)
                    entry.graph.replay()  # on the current stream, after the copy in
                    tokens = (entry.tokens[0] if squeeze else entry.tokens).clone()
                packed = entry.packed.clone()
        if entry is None:
            with torch.no_grad():
                out = select_tokens_triton(x, budget, config)
            if flag is not None:
                check_finite(x, "features", flag)  # after every launch
            return out.unbatched() if squeeze else out
    if flag is not None:
        check_finite(x, "features", flag)  # the one synchronisation, after the replay
    # views of the copies (a later replay overwrites the graph's buffers, not these)
    fields = _fields(packed, entry.views[squeeze])
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
        return None  # "auto": the kernels, not the host, set the latency (see the constant)
    seen = _SEEN.pop(key, 0)
    if seen < eager_calls:
        _SEEN[key] = seen + 1  # most recent last
        while len(_SEEN) > MAX_SEEN:
            _SEEN.popitem(last=False)
        return None
    try:
        entry = _capture(x, budget, config)
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
    """The bytes of ``key``'s input (its elements; a strided input's gaps not counted)."""
    shape, _, dtype = key[:3]
    return math.prod(shape) * dtype.itemsize


def _cost(key: tuple) -> int:
    """The estimated GPU memory of ``key``'s graph: :data:`POOL_BYTES_PER_TOKEN` an input token,
    plus the input's copy and the output tokens (``B × K × D``) when its config reads the
    features in torch code (then the key holds both). An unaligned input's copy lasts one call
    and is not counted."""
    shape, dtype, budget, config = key[0], key[2], key[4], key[5]
    B, T, H, W, D = shape
    pool = B * T * H * W * POOL_BYTES_PER_TOKEN
    if reads_features_in_kernels(config, H, W):
        return pool
    return pool + _input_bytes(key) + B * budget * D * dtype.itemsize


def clear() -> None:
    """Drop every cached graph (and the memory it holds) and forget the keys seen."""
    with _LOCK:
        _GRAPHS.clear()
        _SEEN.clear()
        _FAILED.clear()


def cached_shapes() -> list[tuple]:
    """Keys ``(shape, strides, dtype, device, K, config)`` of the cached graphs, oldest first."""
    with _LOCK:
        return list(_GRAPHS)

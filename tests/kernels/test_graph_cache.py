"""The CUDA-graph cache (``cuda_graph=``, ``kernels/triton/graphs.py``) without a GPU.

The policy (``"auto"`` captures a key on its second call, True on its first, an LRU of
``MAX_GRAPHS`` keys, a failed ``"auto"`` capture warns once and stays eager) runs with the capture
replaced by a counter; the output packing runs on CPU tensors; the option's parsing and its way
from ``es.patch`` / ``selectors.get`` / lmms-eval's ``es_cuda_graph`` to the selector are checked
as values. The real capture and replay are the ``cuda`` tests of ``test_triton_parity.py``.
"""

from __future__ import annotations

import ctypes
import dataclasses

import pytest
import torch
from selection_fields import assert_fields_equal

import entropy_select as es
from entropy_select import selectors
from entropy_select.selectors import entropy_select as es_mod

pytest.importorskip("triton")
from entropy_select.kernels.triton import graphs  # noqa: E402


@pytest.fixture
def captures(monkeypatch):
    """``graphs._capture`` replaced by one that records its calls and returns a token."""
    calls = []

    def fake(x, budget, config):
        calls.append((tuple(x.shape), budget))
        return f"graph{len(calls)}"

    graphs.clear()
    monkeypatch.setattr(graphs, "_capture", fake)
    yield calls
    graphs.clear()


def _key(T=4, K=10, cfg=None, stride=None):
    shape = (1, T, 3, 3, 8)
    x = torch.zeros(shape)
    stride = stride or x.stride()
    return (shape, stride, x.dtype, x.device, K, cfg or es.EntropySelectConfig()), x


def test_auto_captures_a_key_on_its_second_call_and_replays_after(captures):
    key, x = _key()
    assert graphs._entry_for(key, x, 10, None, eager_calls=1) is None  # first call: eager
    assert captures == []
    assert graphs._entry_for(key, x, 10, None, eager_calls=1) == "graph1"  # second: capture
    assert graphs._entry_for(key, x, 10, None, eager_calls=1) == "graph1"  # third: replay
    assert captures == [((1, 4, 3, 3, 8), 10)] and graphs.cached_shapes() == [key]


def test_other_k_shape_strides_or_config_are_other_keys(captures):
    base, x = _key()
    others = [
        _key(K=11)[0],
        _key(T=5)[0],
        _key(stride=(288, 72, 24, 8, 1))[0][:1] + ((1, 72, 24, 8, 1),) + base[2:],
        _key(cfg=es.EntropySelectConfig.paper())[0],
    ]
    graphs._entry_for(base, x, 10, None, eager_calls=1)
    for key in others:  # each seen once: none captured, the base key's count untouched
        assert graphs._entry_for(key, x, 10, None, eager_calls=1) is None
    assert captures == []
    assert graphs._entry_for(base, x, 10, None, eager_calls=1) == "graph1"
    assert len({base, *others}) == 5


def test_true_captures_on_first_call(captures):
    key, x = _key()
    assert graphs._entry_for(key, x, 10, None, eager_calls=0) == "graph1"
    assert len(captures) == 1


def test_the_cache_keeps_the_last_max_graphs_keys(captures):
    keys = [_key(K=k)[0] for k in range(1, graphs.MAX_GRAPHS + 2)]
    x = torch.zeros(1, 4, 3, 3, 8)
    for key in keys:
        graphs._entry_for(key, x, 1, None, eager_calls=0)
    graphs._entry_for(keys[1], x, 1, None, eager_calls=0)  # used: now the most recent
    graphs._entry_for(_key(K=99)[0], x, 1, None, eager_calls=0)  # evicts the oldest, keys[2]
    cached = graphs.cached_shapes()
    assert len(cached) == graphs.MAX_GRAPHS
    assert keys[0] not in cached and keys[2] not in cached and keys[1] in cached
    assert cached[-2:] == [keys[1], _key(K=99)[0]]
    assert len(captures) == graphs.MAX_GRAPHS + 2  # a hit does not capture again


def test_the_cache_keeps_its_estimated_memory_under_max_graph_bytes(captures, monkeypatch):
    """Keys go least recently used first once their estimated memory (POOL_BYTES_PER_TOKEN a
    token) passes MAX_GRAPH_BYTES; under "auto" a key larger than the cap alone stays eager,
    while cuda_graph=True still captures it (and it alone is kept)."""
    x = torch.zeros(1, 4, 3, 3, 8)  # 36 tokens, 1152 bytes
    one = 36 * graphs.POOL_BYTES_PER_TOKEN
    monkeypatch.setattr(graphs, "MAX_GRAPH_BYTES", 3 * one)
    keys = [_key(K=4, cfg=es.EntropySelectConfig(alpha=a))[0] for a in (0.1, 0.2, 0.3, 0.4)]
    for key in keys[:3]:
        graphs._entry_for(key, x, 1, None, eager_calls=0)
    assert graphs.cached_shapes() == keys[:3]  # exactly at the cap
    graphs._entry_for(keys[0], x, 1, None, eager_calls=0)  # used: now the most recent
    graphs._entry_for(keys[3], x, 1, None, eager_calls=0)  # over the cap: keys[1] goes
    assert graphs.cached_shapes() == [keys[2], keys[0], keys[3]]
    big = torch.zeros(1, 16, 3, 3, 32)  # 144 tokens: over the cap (3 × 36 tokens) alone
    key_big = (tuple(big.shape), big.stride(), big.dtype, big.device, 7, es.EntropySelectConfig())
    for _ in range(3):
        assert graphs._entry_for(key_big, big, 7, None, eager_calls=1) is None
    assert len(captures) == 4  # "auto" never captured it
    assert graphs._entry_for(key_big, big, 7, None, eager_calls=0) == "graph5"
    assert graphs.cached_shapes() == [key_big]  # everything older made room
    rarity = _key(cfg=es.EntropySelectConfig(rarity=0.5))[0]  # holds an input copy too
    assert graphs._cost(keys[0]) == one
    # a config read outside the kernels: its input's copy and its K x D tokens too
    assert graphs._cost(rarity) == graphs._cost(_key()[0]) + 1152 + 10 * 8 * 4
    assert graphs._cost(_key(K=2)[0]) == graphs._cost(_key(K=1)[0])  # the tokens are the call's


def test_a_failed_auto_capture_warns_once_and_stays_eager(monkeypatch):
    calls = []

    def broken(x, budget, config):
        calls.append(1)
        raise RuntimeError("operation not permitted when stream is capturing")

    graphs.clear()
    monkeypatch.setattr(graphs, "_capture", broken)
    key, x = _key()
    assert graphs._entry_for(key, x, 10, None, eager_calls=1) is None
    with pytest.warns(RuntimeWarning, match="runs eagerly"):
        assert graphs._entry_for(key, x, 10, None, eager_calls=1) is None
    assert graphs._entry_for(key, x, 10, None, eager_calls=1) is None  # no second attempt
    assert len(calls) == 1
    with pytest.raises(RuntimeError, match="capturing"):  # cuda_graph=True says why
        graphs._entry_for(key, x, 10, None, eager_calls=0)
    graphs.clear()


@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
def test_packed_outputs_round_trip_exactly(preset):
    """Every non-token field through one byte buffer: equal values, dtypes and shapes, and the
    unpacked fields are views of the one copy."""
    x = torch.randn(2, 3, 5, 6, 8)
    sel = es.select_tokens(x, retention=0.3, impl="reference", config=es_mod.PRESETS[preset])
    packed, layout = graphs._pack(sel)
    copy = packed.clone()
    fields = graphs._fields(copy, graphs._views(layout, False))
    want = {
        f.name: getattr(sel, f.name)
        for f in dataclasses.fields(sel)
        if f.name != "tokens" and getattr(sel, f.name) is not None
    }
    assert fields.keys() == want.keys()
    for name, value in want.items():
        assert fields[name].dtype == value.dtype and torch.equal(fields[name], value), name
        assert fields[name].untyped_storage().data_ptr() == copy.untyped_storage().data_ptr()
    starts = [start for _, start, _, _, _ in layout]
    widths = [dtype.itemsize for dtype, *_ in layout]
    assert all(s % w == 0 for s, w in zip(starts, widths, strict=True))  # aligned views


def test_dense_strides():
    x = torch.zeros(2, 3, 4, 5)
    assert graphs._dense_strides(x) and graphs._dense_strides(x.transpose(1, 3))
    assert not graphs._dense_strides(x[..., ::2])  # gaps
    assert not graphs._dense_strides(torch.zeros(3, 1, 5).expand(3, 4, 5))  # overlap


@pytest.mark.parametrize(
    ("value", "want"),
    [("auto", "auto"), ("AUTO", "auto"), (True, True), (False, False), ("false", False),
     ("0", False), ("1", True), (1, True)],
)  # fmt: skip
def test_cuda_graph_values(value, want):
    assert es_mod.check_cuda_graph(value) == want
    assert selectors.get("entropy_select", cuda_graph=value).cuda_graph == want


@pytest.mark.parametrize("value", ["sometimes", 2, None])
def test_bad_cuda_graph_values_raise(value):
    with pytest.raises(ValueError, match="cuda_graph must be"):
        es.select_tokens(torch.randn(2, 3, 3, 4), retention=0.5, cuda_graph=value)
    with pytest.raises(ValueError, match="cuda_graph must be"):
        es_mod.EntropySelect(cuda_graph=value)


def test_auto_is_the_default_everywhere():
    assert es_mod.EntropySelect().cuda_graph == "auto"
    assert selectors.get("entropy_select").cuda_graph == "auto"
    assert selectors.selector_options("entropy_select")["cuda_graph"][0] == "auto"


def test_lmms_eval_es_cuda_graph_reaches_the_selector():
    from entropy_select.integrations import lmms_eval as plugin

    assert "es_cuda_graph" in plugin.valid_keys()
    for raw, want in (("false", False), (False, False), (0, False), ("auto", "auto")):
        args = plugin.parse_compression_args({"retention": "0.3", "cuda_graph": raw})
        assert selectors.get("entropy_select", **args.options).cuda_graph == want


@pytest.mark.parametrize(("value", "eager_calls"), [("auto", 1), (True, 0), (False, None)])
def test_dispatch_sends_graphable_calls_to_the_cache(monkeypatch, value, eager_calls):
    """The wiring: "auto" asks the cache for capture-on-second-call, True for first-call, False
    never asks; a call the graph cannot serve never asks either."""
    import entropy_select.kernels as kernels

    seen = []
    monkeypatch.setattr(es_mod, "_resolve_impl", lambda impl, x: "triton")
    monkeypatch.setattr(graphs, "graph_select", lambda x, K, cfg, eager_calls, validate, squeeze:
        seen.append(("graph", K, eager_calls)) or "graphed")  # fmt: skip
    monkeypatch.setattr(kernels, "select_tokens_triton", lambda x, K, cfg, **plan: "eager")
    monkeypatch.setattr(es_mod, "_graphable", lambda x, cfg, plan: True)
    x = torch.randn(1, 2, 3, 3, 4)
    out = es_mod._dispatch(x, es.EntropySelectConfig(), "auto", {"budget": 5}, value)
    assert out == ("eager" if value is False else "graphed")
    assert seen == ([] if value is False else [("graph", 5, eager_calls)])
    monkeypatch.setattr(es_mod, "_graphable", lambda x, cfg, plan: False)
    assert es_mod._dispatch(x, es.EntropySelectConfig(), "auto", {"budget": 5}, value) == "eager"


def test_graphable_excludes_what_a_graph_cannot_serve():
    cfg = es.EntropySelectConfig()
    x = torch.randn(1, 2, 3, 3, 4)
    assert not es_mod._graphable(x, cfg, {"budget": 5})  # not CUDA


class _Stream:
    """A stand-in for a CUDA stream: records what it was made to wait for."""

    def __init__(self, name):
        self.name, self.waited = name, []

    def wait_stream(self, other):
        self.waited.append(other.name)


def _at(address: int, like: torch.Tensor) -> torch.Tensor:
    """The tensor laid out like ``like`` (shape, strides, dtype) at host ``address``: what an
    ``X_INDIRECT`` kernel reads when its holder holds ``address``."""
    nbytes = graphs._span(like) * like.element_size()
    memory = (ctypes.c_char * nbytes).from_address(address)
    return torch.frombuffer(memory, dtype=like.dtype).as_strided(like.shape, like.stride())


@pytest.fixture
def cpu_graphs(monkeypatch):
    """``graph_select`` on the CPU: the kernels replaced by the reference, which (like the
    ``X_INDIRECT`` kernels) reads its features at the address in ``_x_address`` when given one;
    the capture by a fake graph whose replay recomputes into the captured buffers (as a real
    replay writes them); the device and stream calls by stand-ins. Yields a dict:
    ``"current"``, the current stream; ``"one_finish"``, each selection's ``_one_finish``;
    ``"reads"``, the address each selection read its
    features at; ``"writes"``, the address each selection with ``_out_address`` wrote its tokens
    at (as the ``OUT_INDIRECT`` frame kernel does); ``"copies"``, how many aligned copies were
    made."""
    from contextlib import nullcontext

    from entropy_select.core.select import select_reference

    state = {
        "current": _Stream("default"),
        "reads": [],
        "writes": [],
        "copies": 0,
        "one_finish": [],
    }
    monkeypatch.setattr(torch.cuda, "device", lambda device: nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: state["current"])

    def select(x, K, cfg, _x_address=None, _out_address=None, _one_finish=True):
        state["one_finish"].append(_one_finish)
        if _x_address is not None:
            x = _at(int(_x_address), x)
        state["reads"].append(x.data_ptr())
        out = select_reference(x, cfg, budget=K)
        if _out_address is not None:  # the tokens written at the held address, a stand-in back
            _at(int(_out_address), out.tokens.contiguous()).copy_(out.tokens)
            state["writes"].append(int(_out_address))
            stand_in = out.tokens.new_empty(1, 1, 1).expand(out.tokens.shape)
            out = dataclasses.replace(out, tokens=stand_in)
        return out

    def record(work, device):
        result = work()
        out, packed, _ = result

        class Graph:
            def replay(self):
                new, new_packed, _ = work()  # writes the tokens at the holder's address, if any
                if out.tokens.stride(-1) != 0:  # not a stand-in: the graph's own buffer
                    out.tokens.copy_(new.tokens)
                packed.copy_(new_packed)

        return Graph(), result

    copy = graphs._aligned_copy

    def counted(x):
        state["copies"] += 1
        return copy(x)

    graphs.clear()
    monkeypatch.setattr(graphs, "select_tokens_triton", select)
    monkeypatch.setattr(graphs, "_record", record)
    monkeypatch.setattr(graphs, "_aligned_copy", counted)
    yield state
    graphs.clear()


@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
def test_graph_select_replays_into_fresh_results(cpu_graphs, preset):
    """Through ``graph_select``'s own holder writes, replay, copy out and unpacking: each call
    equals the pipeline on its input, read where that input is (no copy), its tokens written
    straight into the tensor it returns (no copy out), and later calls change no earlier
    result."""
    from entropy_select.core.select import select_reference

    cfg = es_mod.PRESETS[preset]
    xs = [torch.randn(2, 3, 5, 6, 8, generator=torch.Generator().manual_seed(k)) for k in range(4)]
    assert all(x.data_ptr() % graphs.ALIGN == 0 for x in xs)
    results = [graphs.graph_select(x, 40, cfg, eager_calls=1) for x in xs]
    assert len(graphs.cached_shapes()) == 1
    for k, (x, out) in enumerate(zip(xs, results, strict=True)):
        assert_fields_equal(out, select_reference(x, cfg, budget=40), k)
    entry = next(iter(graphs._GRAPHS.values()))
    assert entry.static_x is None and int(entry.holder[0]) == xs[-1].data_ptr()
    assert entry.tokens is None  # the key holds no tokens' buffer
    # the eager call, the recording (at x[1]), then a replay per call from x[1], each at its input
    assert cpu_graphs["reads"] == [x.data_ptr() for x in (xs[0], xs[1], *xs[1:])]
    assert cpu_graphs["copies"] == 0
    # the eager call launches the finish and score kernels as one; the recording and its
    # replays apart (faster in a graph)
    assert cpu_graphs["one_finish"] == [True] + [False] * len(xs)
    # the recording wrote into a scratch tensor; each replay into the tokens its call returned
    assert cpu_graphs["writes"][1:] == [out.tokens.data_ptr() for out in results[1:]]
    tokens = {out.tokens.untyped_storage().data_ptr() for out in results[1:]}
    maps = {out.scores.untyped_storage().data_ptr() for out in results[1:]}
    assert len(tokens) == len(maps) == 3  # the replays' results: three of each, fresh
    assert entry.packed.untyped_storage().data_ptr() not in maps


def test_a_replay_writes_an_address_only_where_it_changed(cpu_graphs, monkeypatch):
    """Each holder slot is written (a fill kernel on a GPU) only when the call's address differs
    from what the key's last write left there; features rewritten in place at the same address
    are read anew; another input's address, or the tokens' new tensor, is written."""
    from entropy_select.core.select import select_reference

    cfg = es.EntropySelectConfig()
    fills = []
    real_fill = torch.Tensor.fill_

    def fill(self, value):
        fills.append((self.data_ptr(), int(value)))
        return real_fill(self, value)

    monkeypatch.setattr(torch.Tensor, "fill_", fill)
    x = torch.randn(1, 3, 5, 6, 8, generator=torch.Generator().manual_seed(1))
    first = graphs.graph_select(x, 30, cfg, eager_calls=0)  # the capture, then a replay
    entry = next(iter(graphs._GRAPHS.values()))
    at_x, at_out = (slot.data_ptr() for slot in entry.slots)

    def writes(since):
        return [(at, value) for at, value in fills[since:] if at in (at_x, at_out)]

    mark = len(fills)
    second = graphs.graph_select(x, 30, cfg, eager_calls=0)  # same x, first's tokens alive
    assert writes(mark) == [(at_out, second.tokens.data_ptr())]
    x.copy_(torch.randn(x.shape, generator=torch.Generator().manual_seed(2)))  # same memory
    mark = len(fills)
    third = graphs.graph_select(x, 30, cfg, eager_calls=0)
    assert [at for at, _ in writes(mark)] == [at_out]
    assert_fields_equal(third, select_reference(x, cfg, budget=30))
    y = torch.randn(1, 3, 5, 6, 8, generator=torch.Generator().manual_seed(3))
    mark = len(fills)
    fourth = graphs.graph_select(y, 30, cfg, eager_calls=0)
    assert writes(mark) == [(at_x, y.data_ptr()), (at_out, fourth.tokens.data_ptr())]
    assert_fields_equal(fourth, select_reference(y, cfg, budget=30))
    assert entry.written == [y.data_ptr(), fourth.tokens.data_ptr()]
    assert int(entry.holder[0]) == y.data_ptr() and int(entry.holder[1]) == fourth.tokens.data_ptr()
    assert first.tokens.data_ptr() != second.tokens.data_ptr()  # both alive: two tensors


def _unaligned(shape, seed, layout="dense"):
    """Features ``shape`` whose first element is 4 bytes past a 16-byte boundary: dense, with
    gaps between the channels, or expanded (stride 0) along W."""
    g = torch.Generator().manual_seed(seed)
    B, T, H, W, D = shape
    if layout == "dense":
        x = torch.randn(B * T * H * W * D + 1, generator=g)[1:].view(shape)
    elif layout == "gaps":
        x = torch.randn(B, T, H, W, 2 * D + 1, generator=g)[..., 1::2]
    else:
        x = torch.randn(B, T, H, 1, D + 1, generator=g)[..., 1:].expand(shape)
    assert x.data_ptr() % graphs.ALIGN == 4
    return x


@pytest.mark.parametrize("layout", ["dense", "gaps", "expanded"])
def test_an_unaligned_input_is_read_from_an_aligned_copy(cpu_graphs, layout):
    """An input whose address is not a multiple of 16 bytes (the kernels' promise) is copied, the
    memory it spans, into an aligned buffer for that call; the holder points there; the result
    is the input's. Aligned calls of the same key before and after read in place."""
    from entropy_select.core.select import select_reference

    cfg = es_mod.PRESETS["default"]
    shape = (1, 3, 5, 6, 8)
    odd = [_unaligned(shape, k, layout) for k in range(3)]
    stride = odd[0].stride()
    if layout == "expanded":  # aligned inputs with the same (stride-0) strides
        even = [torch.randn(1, 3, 5, 1, 9)[..., :8].expand(shape) for _ in range(2)]
    else:
        even = [torch.empty_strided(shape, stride).copy_(torch.randn(shape)) for _ in range(2)]
    assert all(x.data_ptr() % graphs.ALIGN == 0 and x.stride() == stride for x in even)
    calls = [(even[0], True), (odd[0], False), (odd[1], False), (even[1], True), (odd[2], False)]
    for k, (x, aligned) in enumerate(calls):
        out = graphs.graph_select(x, 30, cfg, eager_calls=0)
        assert_fields_equal(out, select_reference(x, cfg, budget=30), k)
        entry = graphs._GRAPHS[next(iter(graphs._GRAPHS))]
        held = int(entry.holder[0])
        assert held % graphs.ALIGN == 0 and (held == x.data_ptr()) == aligned, k
    assert cpu_graphs["copies"] == 3  # the odd calls only (the capture was an even one)
    assert len(graphs.cached_shapes()) == 1 and entry.static_x is None


def test_a_config_read_outside_the_kernels_copies_into_its_own_buffer(cpu_graphs):
    """The rarity term reads the features in torch code: that key keeps the earlier scheme, a
    held input copy written on every call (no holder), with the same results."""
    from entropy_select.core.select import select_reference

    cfg = es.EntropySelectConfig(rarity=0.5)
    xs = [torch.randn(1, 3, 5, 6, 8, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    for k, x in enumerate(xs):
        assert_fields_equal(graphs.graph_select(x, 30, cfg), select_reference(x, cfg, budget=30), k)
    entry = next(iter(graphs._GRAPHS.values()))
    assert entry.holder is None and torch.equal(entry.static_x, xs[-1])
    assert set(cpu_graphs["reads"]) == {entry.static_x.data_ptr()}


@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
@pytest.mark.parametrize("eager_calls", [0, 1])
def test_squeeze_gives_the_unbatched_selection(cpu_graphs, monkeypatch, preset, eager_calls):
    """A ``[T, H, W, D]`` video through the cache (``select_tokens``' own path): the eager call,
    the capture and the replays each give exactly the reference's unbatched selection, with its
    shapes, the replays' fields made directly as views of fresh copies."""
    from entropy_select.core.select import select_reference

    monkeypatch.setattr(es_mod, "_resolve_impl", lambda impl, x: "triton")
    monkeypatch.setattr(es_mod, "_graphable", lambda x, cfg, plan: True)
    cfg = es_mod.PRESETS[preset]
    cuda_graph = "auto" if eager_calls else True
    xs = [torch.randn(3, 5, 6, 8, generator=torch.Generator().manual_seed(k)) for k in range(4)]
    for x in xs:
        out = es.select_tokens(x, budget=40, config=cfg, validate=False, cuda_graph=cuda_graph)
        want = select_reference(x[None], cfg, budget=40).unbatched()
        for f in dataclasses.fields(want):
            value = getattr(want, f.name)
            if value is None:
                assert getattr(out, f.name) is None, f.name
            else:
                got = getattr(out, f.name)
                assert got.shape == value.shape and torch.equal(got, value), f.name
    assert out.tokens.shape == (40, 8) and out.keep_index.shape == (40,)
    assert len(graphs.cached_shapes()) == 1


@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
def test_squeezed_views_give_the_unbatched_fields(preset):
    """The squeezed recipe gives :meth:`Selection.unbatched`'s fields, from a buffer padded to
    whole 8-byte words."""
    x = torch.randn(1, 3, 5, 6, 8)
    sel = es.select_tokens(x, retention=0.3, impl="reference", config=es_mod.PRESETS[preset])
    packed, layout = graphs._pack(sel)
    assert packed.numel() % 8 == 0
    single = sel.unbatched()
    want = {
        f.name: getattr(single, f.name)
        for f in dataclasses.fields(single)
        if f.name != "tokens" and getattr(single, f.name) is not None
    }
    squeezed = graphs._fields(packed, graphs._views(layout, True))
    assert squeezed.keys() == want.keys()
    for name, value in want.items():
        got = squeezed[name]
        assert got.dtype == value.dtype and got.shape == value.shape, name
        assert torch.equal(got, value), name


def test_a_call_on_another_stream_waits_for_the_previous_one(cpu_graphs):
    cfg = es.EntropySelectConfig()
    x = torch.randn(1, 3, 5, 6, 8)
    graphs.graph_select(x, 30, cfg, eager_calls=0)
    graphs.graph_select(x, 30, cfg, eager_calls=0)
    assert cpu_graphs["current"].waited == []  # same stream: no wait
    side = cpu_graphs["current"] = _Stream("side")
    graphs.graph_select(x, 30, cfg, eager_calls=0)
    graphs.graph_select(x, 30, cfg, eager_calls=0)
    assert side.waited == ["default"]  # once, on the change
    entry = next(iter(graphs._GRAPHS.values()))
    assert entry.stream is side


def test_a_key_captured_in_inference_mode_serves_calls_outside_it(cpu_graphs):
    """The graph's holder is a normal tensor: a key captured under ``torch.inference_mode``
    (as ``generate`` loops often run) still takes calls without it, and the other way round."""
    cfg = es.EntropySelectConfig()
    x = torch.randn(1, 3, 5, 6, 8)
    with torch.inference_mode():
        graphs.graph_select(x, 30, cfg, eager_calls=0)  # captured here
        inside = graphs.graph_select(x, 30, cfg, eager_calls=0)
    outside = graphs.graph_select(x + 1, 30, cfg, eager_calls=0)
    assert torch.equal(inside.keep_index, graphs.graph_select(x, 30, cfg).keep_index)
    assert not graphs._GRAPHS[next(iter(graphs._GRAPHS))].holder.is_inference()
    assert outside.tokens.shape == inside.tokens.shape


def test_static_input_keeps_dense_strides_and_densifies_expanded_inputs():
    x = torch.randn(2, 3, 4, 5).transpose(1, 3)
    assert graphs._static_input(x).stride() == x.stride()
    wide = torch.randn(2, 3, 1, 5).expand(2, 3, 4, 5)
    static = graphs._static_input(wide)
    assert static.is_contiguous() and torch.equal(static, wide)


@pytest.mark.parametrize("eager_calls", [0, 1])
def test_validate_reads_the_flag_after_the_replay(cpu_graphs, monkeypatch, eager_calls):
    """``validate=True``: the NaN check's flag is launched on the caller's features before the
    replay (the graph reads them in place, so the check must too) and read after it; a poisoned
    input raises the entry check's error, on the eager call, the capture and the replays alike,
    and a finite one gives what ``validate=False`` gives, from the same graph."""
    cfg = es.EntropySelectConfig()
    x = torch.randn(1, 3, 5, 6, 8)
    bad = x.clone()
    bad[0, 1, 2, 3, 4] = float("nan")
    bad[0, 2, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError) as want:
        es.core.checks.check_finite(bad, "features")
    events = []
    flag, check, record = graphs.finite_flag, graphs.check_finite, graphs._record

    def flagged(t):
        events.append(("flag", t.data_ptr()))
        return flag(t)

    def checked(t, name, f):
        events.append(("check", t.data_ptr()))
        return check(t, name, f)

    def recorded(work, device):
        graph, result = record(work, device)
        replay = graph.replay
        graph.replay = lambda: events.append(("replay", None)) or replay()
        return graph, result

    monkeypatch.setattr(graphs, "finite_flag", flagged)
    monkeypatch.setattr(graphs, "check_finite", checked)
    monkeypatch.setattr(graphs, "_record", recorded)
    for call in range(3):
        good = graphs.graph_select(x, 30, cfg, eager_calls=eager_calls, validate=True)
        plain = graphs.graph_select(x, 30, cfg, eager_calls=eager_calls)
        assert_fields_equal(good, plain, call)
        events.clear()
        with pytest.raises(ValueError) as err:
            graphs.graph_select(bad, 30, cfg, eager_calls=eager_calls, validate=True)
        assert str(err.value) == str(want.value), call
        p = bad.data_ptr()
        assert events == [("flag", p), ("replay", None), ("check", p)], (call, events)
    assert len(graphs.cached_shapes()) == 1  # validate is not part of the key
    entry = next(iter(graphs._GRAPHS.values()))
    assert "finite" not in [n for group in entry.layout for n, _ in group[4]]


def test_auto_runs_inputs_over_the_size_limit_eagerly(captures, monkeypatch):
    """Under "auto" an input over AUTO_MAX_INPUT_BYTES is never captured (the kernels set its
    latency: a replay would gain nothing); cuda_graph=True still captures it."""
    key, x = _key()  # 1152 bytes
    monkeypatch.setattr(graphs, "AUTO_MAX_INPUT_BYTES", x.numel() * x.element_size())
    for _ in range(3):  # exactly at the limit: captured on the second call
        graphs._entry_for(key, x, 10, None, eager_calls=1)
    assert len(captures) == 1
    big_key, big = _key(T=5)
    for _ in range(3):
        assert graphs._entry_for(big_key, big, 10, None, eager_calls=1) is None
    assert len(captures) == 1 and graphs.cached_shapes() == [key]
    assert graphs._entry_for(big_key, big, 10, None, eager_calls=0) == "graph2"
    assert graphs.AUTO_MAX_INPUT_BYTES == x.numel() * x.element_size()  # the patch took
    monkeypatch.undo()
    assert graphs.AUTO_MAX_INPUT_BYTES == 256 * 2**20
    assert graphs._input_bytes(_key(T=16)[0]) == 16 * 3 * 3 * 8 * 4

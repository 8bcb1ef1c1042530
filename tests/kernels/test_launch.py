"""``kernels/triton/launch.py``: direct launches of compiled kernels, on the CPU with stand-ins.

The kernel is a real ``@triton.jit`` function (so its parameters, defaults, constexprs and
``do_not_specialize`` are Triton's own), whose ``run`` is replaced by a recorder that returns a
stand-in compiled kernel; the driver is a stand-in giving a device and a stream. The GPU twin of
these checks (same outputs, no ``JITFunction.run`` after a warm-up) is ``test_launch_cuda.py``.
"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

from triton.runtime.jit import JITFunction, create_function_from_signature  # noqa: E402

from entropy_select.kernels.triton import launch as L  # noqa: E402
from entropy_select.selectors.entropy_select import PRESETS  # noqa: E402


@triton.jit(do_not_specialize=["n_free"])
def _toy_kernel(
    x_ptr,
    y_ptr,
    n,
    n_free,
    scale,
    flag,
    BLOCK: tl.constexpr,
    MODE: tl.constexpr = 3,
    EXTRA: tl.constexpr = None,
):
    pass


class _Compiled:
    """A stand-in CompiledKernel: ``run`` is its launcher, recording every direct launch."""

    def __init__(self, log, fail=False):
        self.log, self.fail = log, fail
        self.function, self.packed_metadata = object(), ("meta",)

    @property
    def run(self):
        def launcher(*call):
            if self.fail:
                raise RuntimeError("launcher broke")
            self.log.append(("direct", call))

        return launcher


class _Driver:
    def get_current_device(self):
        return 0

    def get_current_stream(self, device):
        return 777


@pytest.fixture
def toy(monkeypatch):
    """The toy kernel launched through ``launch``, its normal launches recorded; yields the log."""
    from triton.runtime import driver

    log = []
    compiled = _Compiled(log)

    def run(*args, grid, warmup, **kwargs):
        log.append(("normal", grid, args, kwargs))
        return compiled

    monkeypatch.setattr(_toy_kernel, "run", run)  # what kernel[grid](...) calls
    monkeypatch.setattr(driver, "_active", _Driver())
    monkeypatch.setattr(L, "direct_launch_supported", lambda: (True, ""))
    L.clear()
    yield log, compiled
    L.clear()


def _args(**over):
    x = torch.zeros(64)  # 256-byte aligned allocations
    y = torch.zeros(64, dtype=torch.bfloat16)
    base = {"x": x, "y": y, "n": 96, "n_free": 1000, "scale": 0.5, "flag": True}
    base.update(over)
    return [base[k] for k in ("x", "y", "n", "n_free", "scale", "flag")]


def _binder_values(args, kwargs):
    """``bound_args.values()`` as ``JITFunction.run`` computes them (Triton's own binder)."""
    from triton.backends.compiler import BaseBackend

    binder = create_function_from_signature(_toy_kernel.signature, _toy_kernel.params, BaseBackend)
    params, specialization, options = binder(*args, **kwargs)
    return list(params.values()), specialization, options


def test_second_call_launches_directly_with_what_run_passes(toy):
    log, _ = toy
    args, kw = _args(), {"BLOCK": 32, "num_warps": 4}
    assert isinstance(_toy_kernel, JITFunction)
    L.launch(_toy_kernel, (5, 2), *args, **kw)
    assert [e[0] for e in log] == ["normal"]
    L.launch(_toy_kernel, (5, 2), *args, **kw)
    assert [e[0] for e in log] == ["normal", "direct"]
    call = log[-1][1]
    g0, g1, g2, stream, function, meta, launch_metadata, enter, exit_, *values = call
    assert (g0, g1, g2, stream) == (5, 2, 1, 777)
    assert meta == ("meta",) and launch_metadata is None
    assert enter is triton.knobs.runtime.launch_enter_hook
    assert exit_ is triton.knobs.runtime.launch_exit_hook
    want, _, _ = _binder_values(args, kw)
    assert len(values) == len(want) == 9  # every parameter, constexprs and defaults included
    assert all(a is b or a == b for a, b in zip(values, want, strict=True))
    assert L.stats() == {"direct": 1, "normal": 1}


def test_grid_of_three_and_one(toy):
    log, _ = toy
    for grid, want in (((7,), (7, 1, 1)), ((2, 3, 4), (2, 3, 4))):
        L.launch(_toy_kernel, grid, *_args(), BLOCK=16)
        L.launch(_toy_kernel, grid, *_args(), BLOCK=16)
        assert log[-1][0] == "direct" and log[-1][1][:3] == want


@pytest.mark.parametrize(
    ("change", "direct"),
    [
        ({"n": 97}, False),  # a specialised int: by value
        ({"n": 1}, False),
        ({"n_free": 1001}, True),  # do_not_specialize: its type only
        ({"n_free": 16}, True),
        ({"n_free": 2**40}, False),  # i32 -> i64
        ({"scale": 3.25}, True),  # float values are not specialised
        ({"flag": False}, False),  # bools by value (finer than Triton)
        ({"x": torch.zeros(65)[1:]}, False),  # a misaligned pointer
        ({"x": torch.zeros(64, dtype=torch.float16)}, False),  # another dtype
        ({"x": torch.zeros(3, 4)[:, 1:3].contiguous()}, True),  # another shape, aligned
    ],
)
def test_the_key_follows_the_specialisation(toy, change, direct):
    log, _ = toy
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    new = _args(**change)
    L.launch(_toy_kernel, (1,), *new, BLOCK=32)
    assert log[-1][0] == ("direct" if direct else "normal")
    if direct:  # and then it passes the new values
        assert all(a is b for a, b in zip(log[-1][1][9 : 9 + 6], new, strict=True))


def test_keyword_values_are_part_of_the_key(toy):
    log, _ = toy
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32, num_warps=4)
    for kw in ({"BLOCK": 64, "num_warps": 4}, {"BLOCK": 32, "num_warps": 8}, {"BLOCK": 32}):
        L.launch(_toy_kernel, (1,), *_args(), **kw)
        assert log[-1][0] == "normal", kw
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32, MODE=3)  # the default, given: a new key
    assert log[-1][0] == "normal"
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32, MODE=3)
    assert log[-1][0] == "direct" and log[-1][1][-3:] == (32, 3, None)


def test_equal_keys_mean_equal_triton_specialisation():
    """Over many argument variants: two calls with one launch key have one
    ``(specialization, options)`` for Triton's own binder (the key is at least as fine)."""
    state = L._Kernel(_toy_kernel)
    variants = [
        _args(**c)
        for c in (
            {},
            {"n": 1},
            {"n": 16},
            {"n": 17},
            {"n": 2**33},
            {"n_free": 1},
            {"n_free": 32},
            {"n_free": 2**35},
            {"scale": 2.0},
            {"flag": False},
            {"x": torch.zeros(65)[1:]},
            {"x": torch.zeros(68)[4:]},
            {"y": torch.zeros(64)},
        )
    ]
    seen = {}
    for args in variants:
        for kw in ({"BLOCK": 32}, {"BLOCK": 32, "num_warps": 8}):
            key = L._key((0, False), args, kw, state)
            _, spec, options = _binder_values(args, kw)
            spec = (str(spec), str(options))
            assert seen.setdefault(key, spec) == spec
    assert len(seen) > 10


def test_launch_hooks_and_pre_run_hooks_take_the_normal_path(toy, monkeypatch):
    log, _ = toy
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    hook = triton.knobs.runtime.launch_enter_hook
    hook.add(print)
    try:
        L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    finally:
        hook.remove(print)
    assert log[-1][0] == "normal"
    monkeypatch.setattr(_toy_kernel, "pre_run_hooks", [print])
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    assert log[-1][0] == "normal"
    monkeypatch.setattr(_toy_kernel, "pre_run_hooks", [])
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    assert log[-1][0] == "direct"


def test_a_failing_first_direct_launch_falls_back_for_good(toy):
    log, compiled = toy
    compiled.fail = True
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)  # the direct launch raises: normal instead
    compiled.fail = False
    L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    assert [e[0] for e in log] == ["normal", "normal", "normal"]


def test_calls_it_cannot_key_take_the_normal_path(toy):
    log, _ = toy
    x, y, n, n_free, scale, flag = _args()
    for _ in range(2):
        L.launch(_toy_kernel, (1,), x, y, n, n_free, scale, flag, 32)  # a positional constexpr
        L.launch(_toy_kernel, (1,), x, y, n, n_free, scale, flag=flag, BLOCK=32)  # runtime kwarg
        L.launch(_toy_kernel, (1,), x, y, n, n_free, scale, "str", BLOCK=32)  # unknown type
        L.launch(_toy_kernel, lambda meta: (1,), *_args(), BLOCK=32)  # a callable grid
        L.launch(_toy_kernel, (1,), *_args(), BLOCK=[32])  # unhashable keyword value
    assert {e[0] for e in log} == {"normal"}


def test_unsupported_triton_or_not_a_jit_function_is_always_normal(toy, monkeypatch):
    log, _ = toy
    monkeypatch.setattr(L, "direct_launch_supported", lambda: (False, "test"))
    for _ in range(3):
        L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    assert {e[0] for e in log} == {"normal"}
    calls = []

    class Interpreted:  # what @triton.jit gives under TRITON_INTERPRET=1
        def __getitem__(self, grid):
            return lambda *a, **k: calls.append(grid)

    monkeypatch.setattr(L, "direct_launch_supported", lambda: (True, ""))
    fn = Interpreted()
    for _ in range(3):
        L.launch(fn, (2,), 1, 2, BLOCK=3)
    assert calls == [(2,)] * 3


def test_normal_launches_forces_the_normal_path_inside_only(toy):
    log, _ = toy
    for _ in range(2):
        L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    assert log[-1][0] == "direct"
    with L.normal_launches():
        for _ in range(3):
            L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
        assert [e[0] for e in log[-3:]] == ["normal"] * 3
    for _ in range(2):  # after it: the key binds again, then launches directly
        L.launch(_toy_kernel, (1,), *_args(), BLOCK=32)
    assert [e[0] for e in log[-2:]] == ["normal", "direct"]


def test_direct_launch_supported_names_why_not(monkeypatch):
    monkeypatch.setattr(triton, "__version__", "3.5.1")
    ok, why = L.direct_launch_supported()
    assert not ok and "3.5.1" in why
    monkeypatch.setattr(triton, "__version__", "3.6.0")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    ok, why = L.direct_launch_supported()
    assert not ok and "TRITON_INTERPRET" in why


def test_entries_are_bounded(toy, monkeypatch):
    log, _ = toy
    monkeypatch.setattr(L, "MAX_KEYS", 4)
    for n in range(10):
        L.launch(_toy_kernel, (1,), *_args(n=n + 100), BLOCK=32)
    assert len(L._STATES[id(_toy_kernel)].entries) <= 4


@pytest.fixture
def stand_in_kernels(monkeypatch):
    """Every kernel of the fused path and the stream push with a stand-in ``run`` (no GPU work:
    outputs stay as allocated), so that a CPU call exercises every launch site's arguments."""
    from triton.runtime import driver

    from entropy_select.kernels.triton import frame_select, scores, window_entropy

    kernels = [
        window_entropy._window_band_kernel,
        window_entropy._window_entropy_finish_kernel,
        scores._score_kernel,
        scores._finish_score_kernel,
        scores._budget_kernel,
        scores._online_budget_kernel,
        frame_select._frame_select_kernel,
    ]
    log = []
    for kernel in kernels:
        compiled = _Compiled(log)

        def run(*args, grid, warmup, _k=kernel, _c=compiled, **kwargs):
            log.append(("normal", _k, args, kwargs))
            return _c

        monkeypatch.setattr(kernel, "run", run)
    monkeypatch.setattr(driver, "_active", _Driver())
    monkeypatch.setattr(L, "direct_launch_supported", lambda: (True, ""))
    L.clear()
    yield log
    L.clear()


@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
def test_every_launch_of_the_fused_path_is_direct_after_a_warm_up(stand_in_kernels, preset):
    """After one call, a call of the same shape (new tensors) launches its three kernels directly:
    every launch site passes its runtime arguments positionally and its constexprs by keyword."""
    from entropy_select.kernels.triton.select import select_tokens_triton

    cfg = PRESETS[preset]
    for dtype in (torch.float32, torch.bfloat16):
        select_tokens_triton(torch.randn(2, 4, 6, 6, 8, dtype=dtype), 40, cfg)  # warm-up
        before = L.stats()
        select_tokens_triton(torch.randn(2, 4, 6, 6, 8, dtype=dtype), 40, cfg)
        after = L.stats()
        assert after["normal"] == before["normal"], preset
        # the band kernel, the finish-and-score kernel, the frame kernel (with the budgets)
        assert after["direct"] - before["direct"] == 3


@pytest.mark.filterwarnings("ignore:Truncating")  # stand-ins leave the counts unwritten
@pytest.mark.parametrize("budget", ["adaptive", "fixed"])
def test_every_launch_of_a_stream_push_is_direct_after_the_window_fills(stand_in_kernels, budget):
    import entropy_select as es

    rate = {"retention": 0.3} if budget == "adaptive" else {"tokens_per_frame": 9}
    stream = es.StreamingSelector(**rate, config=PRESETS["default"], budget=budget)
    stream._resolve_impl = lambda x: "triton"
    frames = torch.randn(6, 6, 6, 16)
    counts = []
    for frame in frames:
        before = L.stats()
        stream.push(frame)
        after = L.stats()
        counts.append((after["normal"] - before["normal"], after["direct"] - before["direct"]))
    kernels = 5 if budget == "adaptive" else 4
    assert counts[-1] == (0, kernels), counts


_INTERPRETED = """
import torch
from entropy_select.kernels.triton import launch as L
from entropy_select.kernels.triton.select import select_tokens_triton
from entropy_select.selectors.entropy_select import PRESETS
assert not L.direct_launch_supported()[0]
x = torch.randn(1, 3, 5, 6, 8)
a = select_tokens_triton(x, 20, PRESETS["default"])
b = select_tokens_triton(x, 20, PRESETS["default"])
assert torch.equal(a.keep_index, b.keep_index)
assert L.stats() == {"direct": 0, "normal": 6}, L.stats()  # 3 launches a call (3 frames)
print("ok")
"""


def test_the_interpreter_always_takes_the_normal_path():
    """Under ``TRITON_INTERPRET=1`` (a fresh process: the flag is read at import) every launch
    goes through ``kernel[grid](...)``, on repeated calls too."""
    from interpreted import run_interpreted

    run_interpreted(_INTERPRETED)


_RECORDED = """
import sys, torch
from triton.backends.compiler import GPUTarget
from triton.runtime import driver


class Utils:
    def get_device_properties(self, device):
        return {"max_shared_mem": 232448, "multiprocessor_count": 132, "max_num_regs": 65536}

    def load_binary(self, name, kernel, shared, device):
        return 1, 2, 128, 0, 1024


CALLS = []


class Launcher:  # records what it is called with: JITFunction.run's call, or launch's
    def __init__(self, src, metadata):
        self.name = src.fn.__name__

    def __call__(self, *args):
        CALLS.append((self.name, args))


class Driver:
    utils = Utils()
    launcher_cls = Launcher

    def get_current_target(self):
        return GPUTarget("cuda", 90, 32)

    def get_current_device(self):
        return 0

    def get_current_stream(self, device):
        return 0

    def get_device_capability(self, device):
        return (9, 0)


driver.set_active(Driver())
from entropy_select.kernels.triton import launch as L
from entropy_select.kernels.triton.select import select_tokens_triton
from entropy_select.selectors.entropy_select import PRESETS

assert L.direct_launch_supported()[0], L.direct_launch_supported()


def same(a, b):
    if isinstance(a, torch.Tensor) and type(b) is int:  # a site's later launches (RAW_POINTERS)
        return L.RAW_POINTERS[0] and b != 0 and (a is not x or b == x.data_ptr())
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        meta = lambda t: (t.dtype, t.shape, t.stride())
        return type(a) is type(b) and meta(a) == meta(b)
    return type(a) is type(b) and a == b


x = torch.randn(1, 4, 6, 6, 40).to(torch.bfloat16)
# "indirect": the X_INDIRECT kernels of a cached graph (features at a holder's address)
address = {"_x_address": torch.tensor([x.data_ptr()])} if sys.argv[2] == "indirect" else {}
for name in sys.argv[1].split(","):
    cfg = PRESETS[name]
    L.clear()
    CALLS.clear()
    select_tokens_triton(x, 40, cfg, **address)  # normal launches: JITFunction.run launches
    normal = list(CALLS)
    for second in (False, True):  # the keys' first direct launches, then later ones
        CALLS.clear()
        select_tokens_triton(x, 40, cfg, **address)
        assert L.stats()["normal"] == 3 and len(CALLS) == 3, (L.stats(), len(CALLS))
        pairs = [(u, v) for (_, a), (_, b) in zip(normal, CALLS) for u, v in zip(a[9:], b[9:])]
        ints = sum(torch.is_tensor(u) and type(v) is int for u, v in pairs)
        assert (ints > 0) == (L.RAW_POINTERS[0] and second), ints  # addresses from the 2nd on
        for (kn, a), (kd, b) in zip(normal, CALLS, strict=True):
            assert kn == kd and len(a) == len(b), (kn, kd, len(a), len(b))
            # grid, stream, function, packed metadata: equal; launch metadata: only hooks read it
            assert all(same(u, v) for u, v in zip(a[:6], b[:6])), kn
            assert b[6] is None
            assert a[7] is b[7] and a[8] is b[8], kn  # the same hook chains
            bad = [i for i, (u, v) in enumerate(zip(a[9:], b[9:])) if not same(u, v)]
            assert not bad, (kn, bad)
print("ok")
"""


@pytest.mark.parametrize("raw", ["1", "0"], ids=["addresses", "tensors"])
@pytest.mark.parametrize("features", ["direct", "indirect"])
def test_direct_launches_pass_the_launcher_what_jit_run_passes(features, raw):
    """With the installed Triton's real ``JITFunction.run`` and compiler (kernels compiled for
    sm_90 on the CPU) and a recording launcher: a direct launch calls the launcher with the
    same grid, stream, function, packed metadata, hooks and arguments (every parameter,
    constexprs included) as ``JITFunction.run`` does; also for the ``X_INDIRECT`` kernels
    (``indirect``: the features' address in a holder, a dtype among the constexprs); with
    ``RAW_POINTERS`` (``addresses``, the default) each tensor as an int address, the features'
    where the call reads them, and without (``tensors``) the tensors themselves. Run by
    hand against other releases with ``PYTHONPATH=<site of that triton>`` (checked with 3.6.0,
    the GPU machine's)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from entropy_select.kernels.triton.launch import direct_launch_supported

    if not direct_launch_supported()[0]:
        pytest.skip(f"direct launches unsupported here: {direct_launch_supported()[1]}")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env["ENTROPY_SELECT_RAW_POINTERS"] = raw
    proc = subprocess.run(
        [sys.executable, "-c", _RECORDED, "default", features],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def test_a_site_launches_like_launch_and_keys_its_tensors(toy, monkeypatch):
    """A :class:`~launch.Site` (a cached plan's launch): its first call per key goes through
    ``launch`` (normal, then the key's first direct launch), later ones directly with what
    ``launch`` passes; a tensor of another dtype or alignment is a new key; a clear() forgets.
    (With the tensors themselves: ``RAW_POINTERS`` off; its addresses are the next test's.)"""
    log, _ = toy
    monkeypatch.setattr(L, "RAW_POINTERS", [False])
    site = L.Site(_toy_kernel, BLOCK=32, num_warps=4)
    args = _args()
    site((5, 2), *args)
    site((5, 2), *args)
    assert [e[0] for e in log] == ["normal", "direct"]
    L.launch(_toy_kernel, (5, 2), *args, BLOCK=32, num_warps=4)  # what launch passes
    want = log[-1][1]
    new = _args()  # new tensors, same specialisation
    site((5, 2), *new)
    assert log[-1][0] == "direct" and len(log[-1][1]) == len(want)
    assert log[-1][1][:9] == want[:9] and log[-1][1][15:] == want[15:]
    assert all(a is b for a, b in zip(log[-1][1][9:15], new, strict=True))
    assert site.entries and L.stats()["direct"] == 3
    for change in ({"x": torch.zeros(65)[1:]}, {"y": torch.zeros(64)}):  # alignment, dtype
        n = len(log)
        site((5, 2), *_args(**change))
        site((5, 2), *_args(**change))
        assert [e[0] for e in log[n:]] == ["normal", "direct"], change
    L.clear()
    site((5, 2), *args)
    assert log[-1][0] == "normal" and not site.entries


def test_a_site_takes_the_normal_path_where_launch_does(toy, monkeypatch):
    log, _ = toy
    site = L.Site(_toy_kernel, BLOCK=32)
    for _ in range(3):
        site((1,), *_args())
    assert log[-1][0] == "direct"
    hook = triton.knobs.runtime.launch_enter_hook
    hook.add(print)
    try:
        site((1,), *_args())
    finally:
        hook.remove(print)
    assert log[-1][0] == "normal"
    with L.normal_launches():
        site((1,), *_args())
        site((1,), *_args())
    assert [e[0] for e in log[-2:]] == ["normal", "normal"]
    monkeypatch.setattr(L, "direct_launch_supported", lambda: (False, "test"))
    L.clear()
    for _ in range(3):
        site((1,), *_args())
    assert [e[0] for e in log[-3:]] == ["normal"] * 3


def test_a_site_called_with_other_fixed_arguments_is_caught(toy, monkeypatch):
    """The suite runs with ``CHECK_SITES`` on (``tests/conftest.py``): a plan that passed a
    site other non-tensor arguments than its first call's would be launched with the first
    call's specialisation, so the check raises."""
    monkeypatch.setattr(L, "CHECK_SITES", [True])
    site = L.Site(_toy_kernel, BLOCK=32)
    site((1,), *_args())
    site((1,), *_args(x=torch.ones(64)))  # tensors may change
    with pytest.raises(AssertionError, match="other arguments"):
        site((1,), *_args(n=97))


class _OnDevice1(torch.Tensor):
    """A CPU tensor that reports device index 1 (what a site's key reads of a tensor)."""

    def get_device(self):
        return 1


def test_raw_pointers_pass_addresses_to_the_launcher(toy, monkeypatch):
    """``RAW_POINTERS`` (on by default; ``ENTROPY_SELECT_RAW_POINTERS=0`` turns it off): a
    site's direct launches pass each tensor's address as an int (what Triton's launcher reads
    from a tensor), the rest as before; its first launches of a key still go through ``launch``
    with the tensors."""
    log, _ = toy
    monkeypatch.setattr(L, "RAW_POINTERS", [True])
    site = L.Site(_toy_kernel, BLOCK=32)
    site((1,), *_args())
    site((1,), *_args())
    assert [e[0] for e in log] == ["normal", "direct"]
    assert torch.is_tensor(log[-1][1][9]) and torch.is_tensor(log[-1][1][10])  # through launch
    new = _args()
    site((1,), *new)
    call = log[-1][1][9:15]
    assert log[-1][0] == "direct"
    assert call[0] == new[0].data_ptr() and call[1] == new[1].data_ptr()
    assert type(call[0]) is int and type(call[1]) is int
    assert tuple(call[2:]) == tuple(new[2:])
    # a tensor on another device (index) is another key: its first launch goes through
    # ``launch`` with the tensor itself, whose pointer check the launcher makes
    on_1 = _args()
    on_1[0] = on_1[0].as_subclass(_OnDevice1)
    site((1,), *on_1)
    assert torch.is_tensor(log[-1][1][9])
    site((1,), *on_1)
    assert type(log[-1][1][9]) is int  # proven: addresses from then on
    monkeypatch.setattr(L, "RAW_POINTERS", [False])  # off: tensors again (another key)
    site((1,), *new)
    site((1,), *new)
    assert all(torch.is_tensor(v) for v in log[-1][1][9:11])

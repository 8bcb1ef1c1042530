"""Direct launches on the GPU (``kernels/triton/launch.py``): the same outputs, bit for bit, as
``kernel[grid](...)``, and no ``JITFunction.run`` once a shape has been seen.

CUDA only (skipped elsewhere); the CPU checks of the key and fallback logic are in
``test_launch.py``.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import pytest
import torch

import entropy_select as es
from entropy_select.selectors.entropy_select import PRESETS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

VARIANTS = {
    **PRESETS,
    "fusion_score": es.EntropySelectConfig(fusion_weight="score"),
    "frame_scope": es.EntropySelectConfig(minmax_scope="frame"),
    "minmax_mode": es.EntropySelectConfig(entropy_mode="minmax", grid_fusion=False),
}


@pytest.fixture
def launch():
    pytest.importorskip("triton")
    from entropy_select.kernels.triton import launch as L

    ok, why = L.direct_launch_supported()
    if not ok:
        pytest.fail(f"direct launches unavailable on this GPU machine: {why}")
    L.clear()
    yield L
    L.clear()


@contextmanager
def _count_run(monkeypatch):
    """Count calls of ``JITFunction.run`` (every normal launch goes through it)."""
    from triton.runtime.jit import JITFunction

    calls = []
    original = JITFunction.run

    def counted(self, *args, **kwargs):
        calls.append(self.fn.__name__)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(JITFunction, "run", counted)
        yield calls


def _fields(out) -> dict:
    return {f.name: getattr(out, f.name) for f in dataclasses.fields(out)}


def _assert_identical(a, b, what):
    fa, fb = _fields(a), _fields(b)
    for name, va in fa.items():
        vb = fb[name]
        if isinstance(va, torch.Tensor):
            assert va.dtype == vb.dtype and va.shape == vb.shape, (what, name)
            assert torch.equal(va, vb), (what, name)
        else:
            assert va == vb, (what, name)


CASES = [
    *((p, (1, 16, 14, 14, 256), d) for p in PRESETS for d in (torch.bfloat16, torch.float32)),
    *((v, (2, 7, 13, 27, 40), torch.bfloat16) for v in VARIANTS),  # odd shape, every option
]


@pytest.mark.parametrize(("variant", "shape", "dtype"), CASES)
def test_direct_launches_equal_normal_launches(launch, monkeypatch, variant, shape, dtype):
    """Every preset and option: bit-identical Selections from normal launches, the key's first
    direct launch and later ones; after the warm-up call, no ``JITFunction.run`` at all."""
    from entropy_select.kernels.triton.scores import finish_scores_fits
    from entropy_select.kernels.triton.select import fuses_budget, merge_mode, select_tokens_triton

    cfg = VARIANTS[variant]
    g = torch.Generator(device="cuda").manual_seed(3)
    x = torch.randn(*shape, device="cuda", generator=g).to(dtype)
    T, H, W = shape[1:4]
    K = int(0.3 * T * H * W)
    with launch.normal_launches():
        want = select_tokens_triton(x, K, cfg)
        again = select_tokens_triton(x, K, cfg)
    _assert_identical(want, again, "normal vs normal (control: the kernels are deterministic)")
    first = select_tokens_triton(x, K, cfg)  # normal launches, bound
    with _count_run(monkeypatch) as runs:
        before = launch.stats()
        second = select_tokens_triton(x, K, cfg)  # each key's first direct launch
        third = select_tokens_triton(x.clone(), K, cfg)  # a new tensor of the same shape
        after = launch.stats()
    assert runs == [], runs
    # five launches a call (band, finish, score, budget, frame kernels), one fewer where the
    # frame kernel computes the budgets (select.fuses_budget), one fewer where the finish pass
    # and the score kernel are one (per-video extremes, scores.finish_scores_fits)
    launches = 5 - fuses_budget(T, H * W, merge_mode(cfg, H, W))
    launches -= cfg.minmax_scope == "video" and finish_scores_fits(shape[0], T, H * W, x.device)
    assert after["normal"] == before["normal"]
    assert after["direct"] - before["direct"] == 2 * launches, (after, before, launches)
    for out, what in ((first, "first"), (second, "second"), (third, "third")):
        _assert_identical(want, out, what)


@pytest.mark.parametrize("budget", ["adaptive", "fixed"])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_stream_pushes_equal_normal_launches(launch, monkeypatch, preset, budget):
    """Stream pushes, direct vs normal launches: identical FrameSelections frame by frame, and
    once the window is full, no ``JITFunction.run`` in a push."""
    cfg = PRESETS[preset]
    rate = {"retention": 0.3} if budget == "adaptive" else {"tokens_per_frame": 40}
    g = torch.Generator(device="cuda").manual_seed(5)
    frames = torch.randn(10, 14, 14, 1152, device="cuda", generator=g).to(torch.bfloat16)

    def run(count_from=None):
        stream = es.StreamingSelector(**rate, config=cfg, budget=budget)
        outs, runs = [], []
        for t, f in enumerate(frames):
            if count_from is not None and t >= count_from:
                with _count_run(monkeypatch) as calls:
                    outs.append(stream.push(f))
                runs += calls
            else:
                outs.append(stream.push(f))
        return outs, runs

    with launch.normal_launches():
        want, _ = run()
    run()  # every key of a stream seen once (its ring head cycles through its slots)
    got, runs = run(count_from=cfg.temporal_window + 1)
    assert runs == [], runs
    for t, (a, b) in enumerate(zip(want, got, strict=True)):
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(va, torch.Tensor):
                assert torch.equal(va, vb), (t, f.name)
            else:
                assert va == vb, (t, f.name)


def test_a_launch_hook_takes_the_normal_path_and_sees_every_launch(launch):
    """With a launch hook set (a profiler such as Proton), every launch goes through
    ``JITFunction.run`` and the hook sees it, with its metadata."""
    from triton import knobs

    cfg = PRESETS["default"]
    x = torch.randn(1, 8, 14, 14, 128, device="cuda")
    es.select_tokens(x, retention=0.3, config=cfg, cuda_graph=False)
    es.select_tokens(x, retention=0.3, config=cfg, cuda_graph=False)
    seen = []

    def hook(metadata):
        seen.append(metadata.get()["name"])

    knobs.runtime.launch_enter_hook.add(hook)
    try:
        es.select_tokens(x, retention=0.3, config=cfg, cuda_graph=False, validate=False)
    finally:
        knobs.runtime.launch_enter_hook.remove(hook)
    assert len(seen) == 3, seen  # 8 frames: band, finish-and-score, frame (with the budgets)


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_validate_raises_after_the_launches_with_the_entry_error(launch, cuda_graph):
    """``validate=True`` on the GPU: a poisoned input raises the reference path's error (eager
    and through a cached graph, on its capture and its replays); a clean one gives what
    ``validate=False`` gives."""
    cfg = PRESETS["default"]
    x = torch.randn(1, 8, 14, 14, 128, device="cuda")
    bad = x.clone()
    bad[0, 3, 2, 1, 7] = float("nan")
    bad[0, 5, 0, 0, 0] = float("-inf")
    with pytest.raises(ValueError) as want:
        es.select_tokens(bad, retention=0.3, config=cfg, impl="reference")
    for _ in range(3):
        with pytest.raises(ValueError) as err:
            es.select_tokens(bad, retention=0.3, config=cfg, cuda_graph=cuda_graph)
        assert str(err.value) == str(want.value)
        a = es.select_tokens(x, retention=0.3, config=cfg, cuda_graph=cuda_graph)
        b = es.select_tokens(x, retention=0.3, config=cfg, cuda_graph=cuda_graph, validate=False)
        _assert_identical(a, b, "validate on vs off")
    from entropy_select.kernels.triton import graphs

    graphs.clear()


@pytest.mark.parametrize(
    ("shape", "preset"),
    [
        ((1, 16, 14, 14, 256), "default"),
        ((1, 64, 14, 14, 64), "paper"),
        ((3, 5, 7, 9, 32), "balanced"),
    ],
)
def test_finish_and_score_kernel_equals_two_launches_call_after_call(shape, preset):
    """The finish-and-score kernel's frames wait for its finish blocks on the GPU (the
    interpreter runs programs in order, so only here is the wait exercised): 100 calls, new
    features each, every output bit-identical to the two launches' (a frame scored before its
    video's extremes were complete would differ)."""
    from entropy_select.kernels.triton import scores
    from entropy_select.kernels.triton.select import select_tokens_triton

    B, T, H, W, _ = shape
    assert scores.finish_scores_fits(B, T, H * W, torch.device("cuda"))
    g = torch.Generator(device="cuda").manual_seed(11)
    cfg = PRESETS[preset]
    K = int(0.3 * T * H * W)
    for _ in range(100):
        x = torch.randn(*shape, device="cuda", generator=g).to(torch.bfloat16)
        with _finish_scores(scores, False):
            want = select_tokens_triton(x, K, cfg)
        got = select_tokens_triton(x, K, cfg)
        _assert_identical(want, got, "one launch vs two")


@contextmanager
def _finish_scores(scores, on: bool):
    old = scores.FINISH_SCORES[0]
    scores.FINISH_SCORES[0] = on
    try:
        yield
    finally:
        scores.FINISH_SCORES[0] = old

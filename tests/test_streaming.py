import math

import pytest
import torch

import entropy_select as es


def _run(stream, video):
    """Push every frame; return the outputs and the offline-equivalent arrays."""
    outs = [stream.push(f) for f in video]
    T, H, W, _ = video.shape
    m = H * W
    budgets = torch.tensor([o.budget for o in outs])
    keep_index = torch.cat([o.keep_index + t * m for t, o in enumerate(outs)])
    return outs, budgets, keep_index


def _assert_equal_offline(outs, budgets, keep_index, sel, exact_scores=False):
    assert torch.equal(sel.frame_budget, budgets)
    assert torch.equal(sel.keep_index, keep_index)
    tol = {"rtol": 0, "atol": 0} if exact_scores else {}
    if sel.scores.dtype == torch.float32 and not exact_scores:
        # float32 rounding (1e-7) is amplified by the min-max of Ĥ, whose range on real features
        # is narrow (about 0.025, SPEC "Measured property"); the selections are still equal
        tol = {"rtol": 0, "atol": 1e-4}
    torch.testing.assert_close(torch.stack([o.scores for o in outs]), sel.scores, **tol)
    torch.testing.assert_close(torch.stack([o.gradient for o in outs]), sel.gradient, **tol)
    torch.testing.assert_close(torch.cat([o.tokens for o in outs]), sel.tokens)
    assert torch.equal(torch.stack([o.keep_mask for o in outs]), sel.keep_mask)


def _video(T=10, H=6, W=7, D=12, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, H, W, D, generator=g, dtype=dtype)
    # frames of very different saliency, so that adaptive budgets move
    return x * torch.linspace(0.2, 3.0, T, dtype=dtype).roll(3)[:, None, None, None]


CONFIGS = [
    es.EntropySelectConfig(),
    es.EntropySelectConfig.paper(),
    es.EntropySelectConfig(alpha=0.3, entropy_mode="complement_minmax", tau=0.2),
    es.EntropySelectConfig(temporal_window=1, grid=2, min_frame_tokens=0),
    es.EntropySelectConfig(temporal_window=5, past_window=1, alpha=0.7),
    es.EntropySelectConfig.balanced(),  # context pooling
    es.EntropySelectConfig(rarity=0.4, fusion_weight="score", fusion_grid=2),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("mode", ["adaptive", "fixed", "tokens"])
def test_stream_equals_offline_on_random_features(cfg, mode):
    x = _video()
    if mode == "tokens":
        stream = es.StreamingSelector(tokens_per_frame=9, config=cfg)
    else:
        stream = es.StreamingSelector(retention=0.3, config=cfg, budget=mode)
    outs, budgets, keep_index = _run(stream, x)
    for impl in ("reference", "cpu"):
        sel = es.select_tokens(x, frame_budget=budgets, config=stream.config, impl=impl)
        _assert_equal_offline(outs, budgets, keep_index, sel)
    if mode == "adaptive":  # the online rule inside select_tokens gives the same budgets
        sel = es.select_tokens(x, retention=0.3, config=stream.config)
        _assert_equal_offline(outs, budgets, keep_index, sel)
        if cfg.alpha < 1:  # Ĝ sees the scaled frames (Ĥ is scale-free): the budgets adapt
            assert len(set(budgets.tolist())) > 2
    # the whole-video (non-causal) config does NOT reproduce the stream in general
    if cfg.alpha < 1:
        sel = es.select_tokens(x, frame_budget=budgets, config=cfg, impl="reference")
        assert not torch.equal(sel.scores, torch.stack([o.scores for o in outs]))


def test_stream_reference_scores_equal_the_offline_reference_exactly():
    x = _video(dtype=torch.float64)
    stream = es.StreamingSelector(retention=0.25, config=es.EntropySelectConfig.paper())
    outs, budgets, keep_index = _run(stream, x)
    sel = es.select_tokens(x, frame_budget=budgets, config=stream.config, impl="reference")
    assert torch.equal(sel.keep_index, keep_index)
    torch.testing.assert_close(
        torch.stack([o.entropy for o in outs]), sel.entropy, rtol=0, atol=1e-13
    )


@pytest.fixture(scope="module")
def real_features():
    video = pytest.importorskip("entropy_select.video")
    pytest.importorskip("av")
    from entropy_select.encoders.mobilenet_v2 import MobileNetV2Encoder

    try:
        path = video.sample_video_path("bikes.mp4")
        enc = MobileNetV2Encoder(input_size=448)
        return video.video_features(path, enc, frames=12, cache=False).features
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("cfg", [es.EntropySelectConfig(), es.EntropySelectConfig.paper()])
def test_stream_equals_offline_on_real_features(real_features, cfg):
    x = real_features  # [12, 14, 14, 1280] MobileNetV2 features of bikes.mp4 (scene cuts)
    assert x.shape == (12, 14, 14, 1280)
    stream = es.StreamingSelector(retention=0.25, config=cfg)
    outs, budgets, keep_index = _run(stream, x)
    assert int(budgets.sum()) <= math.ceil(0.25 * x.shape[0] * 196)
    for impl in ("reference", "cpu"):
        sel = es.select_tokens(x, frame_budget=budgets, config=stream.config, impl=impl)
        _assert_equal_offline(outs, budgets, keep_index, sel)


@pytest.mark.parametrize("cfg", [es.EntropySelectConfig(), es.EntropySelectConfig.paper()])
def test_stack_frames_is_the_offline_selection(cfg):
    from entropy_select.streaming import stack_frames

    x = _video()
    stream = es.StreamingSelector(retention=0.3, config=cfg)
    whole = stack_frames([stream.push(f) for f in x])
    sel = es.select_tokens(x, frame_budget=whole.frame_budget, config=stream.config)
    assert torch.equal(whole.keep_index, sel.keep_index)
    torch.testing.assert_close(whole.tokens, sel.tokens)
    if cfg.grid_fusion:
        assert torch.equal(whole.assignment, sel.assignment)
        torch.testing.assert_close(whole.weights, sel.weights)
    with pytest.raises(ValueError, match="at least one"):
        stack_frames([])


def test_future_frames_never_change_past_outputs():
    x = _video(T=8)
    y = x.clone()
    y[5:] = torch.randn_like(y[5:]) * 10  # a different future
    sa, sb = es.StreamingSelector(retention=0.3), es.StreamingSelector(retention=0.3)
    outs_a = [sa.push(f) for f in x]
    outs_b = [sb.push(f) for f in y]
    for t in range(5):
        for name in ("keep_index", "tokens", "scores", "entropy", "gradient", "keep_mask"):
            assert torch.equal(getattr(outs_a[t], name), getattr(outs_b[t], name)), (t, name)
        assert outs_a[t].emitted == outs_b[t].emitted
    # and the offline selector with the causal config agrees: its first 5 frames do not move
    cfg = sa.config
    la = es.select_tokens(x, retention=0.3, config=cfg)
    lb = es.select_tokens(y, retention=0.3, config=cfg)
    assert torch.equal(la.frame_budget[:5], lb.frame_budget[:5])
    assert torch.equal(la.keep_mask[:5], lb.keep_mask[:5])


@pytest.mark.parametrize("kt", [1, 2, 3, 5])
def test_state_holds_at_most_temporal_window_minus_one_frames(kt):
    H, W, D = 5, 6, 16
    stream = es.StreamingSelector(retention=0.5, temporal_window=kt)
    counters = 8 + 8 + 8  # emitted (int64), log-normaliser and carry (float64)
    for t in range(7):
        stream.push(torch.randn(H, W, D))
        held = min(t + 1, kt - 1)
        assert stream.history_frames == held
        assert stream.state_bytes == held * H * W * D * 4 + counters
        for past in stream._history:  # each owns exactly its memory (no view of a bigger tensor)
            assert past.untyped_storage().nbytes() == H * W * D * 4
    stream.reset()
    assert stream.state_bytes == 0 and stream.frames_seen == 0


def test_state_does_not_grow_with_the_video():
    stream = es.StreamingSelector(tokens_per_frame=4)
    sizes = []
    for _ in range(30):
        stream.push(torch.randn(4, 4, 8))
        sizes.append(stream.state_bytes)
    assert len(set(sizes[2:])) == 1


@pytest.mark.parametrize("retention", [0.05, 0.25, 0.6, 1.0])
def test_adaptive_guarantee_after_every_frame(retention):
    x = _video(T=25, H=5, W=5, dtype=torch.float32, seed=3)
    cfg = es.EntropySelectConfig(min_frame_tokens=2, alpha=0.5, alloc_tau=0.02)
    stream = es.StreamingSelector(retention=retention, config=cfg)
    lo = min(2, math.floor(retention * 25 + 1e-9))
    for t, frame in enumerate(x):
        out = stream.push(frame)
        assert out.emitted <= math.ceil(retention * 25 * (t + 1) - 1e-9)
        assert out.budget >= lo and out.seen == 25 * (t + 1)
        assert out.keep_index.shape == (out.budget,) and out.tokens.shape == (out.budget, 12)
        assert torch.equal(out.keep_index, out.keep_mask.flatten().nonzero().flatten())


def test_fixed_retention_emits_the_ceiling_schedule():
    stream = es.StreamingSelector(retention=0.3, budget="fixed", min_frame_tokens=0)
    for t in range(9):
        out = stream.push(torch.randn(5, 5, 4))
        assert out.emitted == math.ceil(0.3 * 25 * (t + 1) - 1e-9)


def test_batched_streams_equal_streams_alone():
    a, b = _video(seed=1), _video(seed=2) * 0.1
    both = es.StreamingSelector(retention=0.2)
    sa, sb = es.StreamingSelector(retention=0.2), es.StreamingSelector(retention=0.2)
    for fa, fb in zip(a, b, strict=True):
        oa, ob = both.push(torch.stack([fa, fb]))
        for got, want in ((oa, sa.push(fa)), (ob, sb.push(fb))):
            assert torch.equal(got.keep_index, want.keep_index)
            torch.testing.assert_close(got.tokens, want.tokens)
            assert got.emitted == want.emitted


def test_reset_starts_a_new_stream():
    x = _video(T=5)
    stream = es.StreamingSelector(retention=0.3)
    first = [stream.push(f) for f in x]
    stream.reset()
    stream.push(torch.randn(3, 3, 5))  # another shape is fine after a reset
    stream.reset()
    again = [stream.push(f) for f in x]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a.keep_index, b.keep_index) and a.t == b.t


def test_tokens_carry_gradient_to_their_frame():
    stream = es.StreamingSelector(tokens_per_frame=5, grid_fusion=False)
    frame = torch.randn(4, 4, 6, requires_grad=True)
    out = stream.push(frame)
    out.tokens.sum().backward()
    assert frame.grad.flatten(0, 1).abs().sum(-1).ne(0).sum() == 5


def test_keep_everything_is_the_identity():
    x = _video(T=4)
    stream = es.StreamingSelector(tokens_per_frame=42)
    for f in x:
        out = stream.push(f)
        assert torch.equal(out.tokens, f.reshape(-1, 12)) and out.assignment is None


def test_config_and_repr():
    stream = es.StreamingSelector(retention=0.25, tau=0.1)
    assert stream.config.minmax_scope == "frame" and stream.config.frame_budget_rule == "online"
    assert stream.config.tau == 0.1
    fixed = es.StreamingSelector(tokens_per_frame=3)
    assert fixed.config.frame_budget_rule == "softmax"
    assert "retention=0.25" in repr(stream)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({}, ValueError, "exactly one of retention"),
        ({"retention": 0.2, "tokens_per_frame": 3}, ValueError, "exactly one of retention"),
        ({"retention": 0.0}, ValueError, r"retention must be in \(0, 1\]"),
        ({"retention": "0.2"}, TypeError, "retention must be a number"),
        ({"tokens_per_frame": 0}, ValueError, "tokens_per_frame must be >= 1"),
        ({"tokens_per_frame": 2.5}, TypeError, "tokens_per_frame must be an int"),
        ({"tokens_per_frame": 3, "budget": "adaptive"}, ValueError, "fixed budget"),
        ({"retention": 0.2, "budget": "greedy"}, ValueError, "budget must be one of"),
        ({"retention": 0.2, "impl": "cuda"}, ValueError, "impl must be one of"),
        ({"retention": 0.2, "config": {"tau": 1}}, TypeError, "EntropySelectConfig"),
        ({"retention": 0.2, "taux": 1}, ValueError, "unknown EntropySelectConfig key"),
    ],
)
def test_constructor_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        es.StreamingSelector(**kwargs)


def test_push_errors():
    stream = es.StreamingSelector(retention=0.3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        stream.push([[1.0]])
    with pytest.raises(TypeError, match="floating-point"):
        stream.push(torch.ones(3, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="one frame at a time"):
        stream.push(torch.randn(2, 2, 3, 3, 4))
    with pytest.raises(ValueError, match="empty dimension"):
        stream.push(torch.randn(3, 0, 4))
    bad = torch.randn(3, 3, 4)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        stream.push(bad)
    bad = torch.randn(3, 3, 4)
    bad[1, 2, 3] = -float("inf")
    with pytest.raises(ValueError, match="0 NaN and 1 inf"):
        stream.push(bad)
    assert stream.frames_seen == 0 and stream.state_bytes == 0  # nothing was taken in
    stream.push(torch.randn(3, 3, 4))
    with pytest.raises(ValueError, match=r"shape \(3, 4, 4\).*\[3, 3, 4\].*reset\(\)"):
        stream.push(torch.randn(3, 4, 4))
    with pytest.raises(ValueError, match="float64"):
        stream.push(torch.randn(3, 3, 4, dtype=torch.float64))
    assert stream.frames_seen == 1
    with pytest.raises(ValueError, match="exceeds the frame's H\\*W=9"):
        es.StreamingSelector(tokens_per_frame=10).push(torch.randn(3, 3, 4))
    with pytest.raises(RuntimeError, match='impl="triton" cannot run here'):
        es.StreamingSelector(retention=0.3, impl="triton").push(torch.randn(3, 3, 4))


_TRITON_STREAM = """
import torch, entropy_select as es
from entropy_select.streaming import stack_frames
torch.manual_seed(0)
dev = "{device}"
x = torch.randn(6, 4, 5, 16, device=dev)
x = x * torch.linspace(0.3, 2.0, 6, device=dev)[:, None, None, None]
cfg = es.EntropySelectConfig.paper()
tri = es.StreamingSelector(retention=0.3, config=cfg, impl="triton")
ref = es.StreamingSelector(retention=0.3, config=cfg, impl="reference")
outs = [tri.push(f) for f in x]
assert tri._impl == "triton"
for f, o in zip(x, outs):
    r = ref.push(f)
    assert torch.equal(o.keep_index, r.keep_index), (o.keep_index, r.keep_index)
    torch.testing.assert_close(o.entropy, r.entropy, atol=2e-6, rtol=0)
b = torch.tensor([o.budget for o in outs])
sel = es.select_tokens(x, frame_budget=b, config=tri.config, impl="triton")
keep = torch.cat([o.keep_index.cpu() + t * 20 for t, o in enumerate(outs)])
assert torch.equal(sel.keep_index.cpu(), keep)
for c in (es.EntropySelectConfig(), es.EntropySelectConfig.balanced()):  # merging configs
    tri = es.StreamingSelector(retention=0.3, config=c, impl="triton")
    ref = es.StreamingSelector(retention=0.3, config=c, impl="reference")
    outs = [tri.push(f) for f in x]
    for f, o in zip(x, outs):
        r = ref.push(f)
        assert torch.equal(o.keep_index, r.keep_index), (o.keep_index, r.keep_index)
        assert torch.equal(o.assignment, r.assignment)
        torch.testing.assert_close(o.tokens, r.tokens)
    assert tri.state_bytes == ref.state_bytes and tri.history_frames == 2
    b = torch.tensor([o.budget for o in outs])
    sel = es.select_tokens(x, frame_budget=b, config=tri.config, impl="triton")
    stacked = stack_frames(outs)
    assert torch.equal(sel.keep_index, stacked.keep_index)
    assert torch.equal(sel.assignment, stacked.assignment)
    torch.testing.assert_close(sel.tokens, stacked.tokens)
# A NaN/inf frame is found at the push's one sync, after the kernels ran: it raises and leaves
# the stream as it was, so the next pushes equal a stream that never saw it.
for c, kw in ((cfg, {{}}), (es.EntropySelectConfig(), {{}}), (cfg, {{"budget": "fixed"}})):
    clean = es.StreamingSelector(retention=0.3, config=c, impl="triton", **kw)
    hit = es.StreamingSelector(retention=0.3, config=c, impl="triton", **kw)
    for t, f in enumerate(x):
        if t in (0, 3):
            bad = f.clone()
            bad[1, 2, 5] = float("nan") if t == 3 else float("inf")
            seen, held, past = hit.frames_seen, hit.state_bytes, [h.clone() for h in hit._history]
            state = (hit._emitted, hit._log_norm, hit._carry)
            counters = [v.clone() for v in state if v is not None]
            try:
                hit.push(bad)
                raise AssertionError("a non-finite frame was taken in")
            except ValueError as e:
                assert ("1 NaN" if t == 3 else "0 NaN and 1 inf") in str(e), e
            assert hit.frames_seen == seen and hit.state_bytes == held
            assert all(torch.equal(a, b) for a, b in zip(hit._history, past, strict=True))
            now = [v for v in (hit._emitted, hit._log_norm, hit._carry) if v is not None]
            assert all(torch.equal(a, b) for a, b in zip(now, counters, strict=True))
        a, b = clean.push(f), hit.push(f)
        assert torch.equal(a.keep_index, b.keep_index) and a.emitted == b.emitted, t
        assert torch.equal(a.scores, b.scores) and torch.equal(a.tokens, b.tokens), t
# B streams pushed together equal each stream alone (the ring and counters per stream).
xb = torch.stack([x, x.flip(0)], 1)  # [T, 2, H, W, D]
for c in (cfg, es.EntropySelectConfig.balanced()):
    both = es.StreamingSelector(retention=0.3, config=c, impl="triton")
    alone = [es.StreamingSelector(retention=0.3, config=c, impl="triton") for _ in range(2)]
    for f in xb:
        outs = both.push(f)
        for b in range(2):
            o = alone[b].push(f[b])
            assert torch.equal(outs[b].keep_index, o.keep_index) and outs[b].emitted == o.emitted
            torch.testing.assert_close(outs[b].tokens, o.tokens)
zero = torch.tensor([0, 20, 3, 0, 1, 2])  # explicit budgets with empty and full frames
for c in (cfg, es.EntropySelectConfig()):
    a = es.select_tokens(x, frame_budget=zero, config=c, impl="triton")
    r = es.select_tokens(x.cpu(), frame_budget=zero, config=c, impl="reference")
    assert torch.equal(a.keep_index.cpu(), r.keep_index)
print("ok")
"""


def _run_triton_stream(device, env_extra):
    import os
    import subprocess
    import sys

    pytest.importorskip("triton")
    env = dict(os.environ, **env_extra)
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(src), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", _TRITON_STREAM.format(device=device)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def test_triton_stream_under_the_interpreter():
    """The GPU per-frame path (Triton window kernel on the [1, L, H, W, D] window) equals the
    torch path and the offline Triton path, run on the CPU by Triton's interpreter."""
    _run_triton_stream("cpu", {"TRITON_INTERPRET": "1"})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_triton_stream_on_cuda():
    _run_triton_stream("cuda", {})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("preset", ["default", "paper", "balanced"])
def test_steady_state_triton_push_launches_a_handful_of_kernels_and_syncs_once(preset):
    """A push with a full window: at most 7 GPU operations (the window kernel's two passes, which
    also count NaN/inf values, the score, budget and frame kernels, the device-to-host copy of
    the sizes and flags, the copy of the frame into the ring) and one host sync."""
    pytest.importorskip("triton")
    from torch.profiler import ProfilerActivity, profile

    cfg = {
        "default": es.EntropySelectConfig(),
        "paper": es.EntropySelectConfig.paper(),
        "balanced": es.EntropySelectConfig.balanced(),
    }[preset]
    x = torch.randn(6, 14, 14, 256, device="cuda", dtype=torch.bfloat16)
    stream = es.StreamingSelector(retention=0.25, config=cfg, impl="triton")
    for f in x[:4]:
        stream.push(f)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        stream.push(x[4])
    events = prof.events()
    gpu = [e.name for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    assert 0 < len(gpu) <= 7, gpu
    # the profiler's own exit synchronises the device (cudaDeviceSynchronize): not the push's
    waits = ("cudaStreamSynchronize", "cudaEventSynchronize")
    assert len([e.name for e in events if e.name in waits]) == 1, [e.name for e in events]
    assert not [e.name for e in events if e.name in ("aten::item", "aten::_local_scalar_dense")]


def test_frames_may_get_zero_tokens_when_the_rate_is_below_one_a_frame():
    # r·m = 0.8 < 1: some frames emit nothing, the ceiling still holds, and offline agrees
    x = _video(T=6, H=4, W=4)
    for cfg in (es.EntropySelectConfig(min_frame_tokens=0), es.EntropySelectConfig.paper()):
        stream = es.StreamingSelector(retention=0.05, config=cfg)
        outs, budgets, keep_index = _run(stream, x)
        assert 0 in budgets.tolist() and outs[0].tokens.shape == (0, 12)
        assert [o.emitted for o in outs] == budgets.cumsum(0).tolist()
        assert all(o.emitted <= math.ceil(0.05 * 16 * (t + 1)) for t, o in enumerate(outs))
        sel = es.select_tokens(x, frame_budget=budgets, config=stream.config)
        _assert_equal_offline(outs, budgets, keep_index, sel)

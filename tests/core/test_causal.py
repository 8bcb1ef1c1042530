import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import entropy_select as es
from entropy_select.core import local_window_entropy, spatial_gradient_magnitude
from entropy_select.core.causal import (
    frame_window_entropy,
    normalize_gradient,
    online_bounds,
    online_frame_budget,
)
from entropy_select.core.select import combine_scores


@pytest.mark.parametrize("windows", [(5, 3, 3), (3, 1, 3), (5, 4, 1), (1, 2, 3)])
def test_frame_window_entropy_is_the_last_frame_of_the_reference(windows):
    k, kt, kp = windows
    x = torch.randn(2, 6, 5, 7, 8, dtype=torch.float64)
    full = local_window_entropy(x, k, kt, kp, tau=0.3)  # [B, T, H, W]
    for t in range(6):
        window = x[:, max(0, t - kt + 1) : t + 1]
        got = frame_window_entropy(window, k, kt, kp, tau=0.3)
        torch.testing.assert_close(got, full[:, t], rtol=0, atol=1e-12)


def test_frame_window_entropy_rejects_a_long_window():
    with pytest.raises(ValueError, match="1..3 frames"):
        frame_window_entropy(torch.randn(1, 4, 3, 3, 2), 5, 3, 3)


def test_frame_scope_normalises_each_frame():
    entropy = torch.rand(4, 3, 5, dtype=torch.float64)
    raw = torch.rand(4, 3, 5, dtype=torch.float64) * torch.arange(1, 5)[:, None, None]
    cfg = es.EntropySelectConfig(alpha=0.5, minmax_scope="frame", entropy_mode="minmax")
    g = normalize_gradient(raw, cfg)
    score = combine_scores(entropy, g, cfg)
    for t in range(4):
        assert g[t].min() == 0 and g[t].max() == 1  # every frame spans [0, 1]
        e = (entropy[t] - entropy[t].min()) / (entropy[t].max() - entropy[t].min())
        torch.testing.assert_close(score[t], 0.5 * e + 0.5 * g[t])
    video = normalize_gradient(raw, es.EntropySelectConfig())
    assert not torch.allclose(video, g)  # the video scope differs on this input
    # the rarity term is min-max normalised per frame too
    x = torch.randn(4, 3, 5, 6, dtype=torch.float64) * torch.arange(1, 5)[:, None, None, None]
    rare = es.EntropySelectConfig(alpha=0.5, rarity=1.0, minmax_scope="frame")
    s = combine_scores(entropy[None], g[None], rare, x[None])[0]
    for t in range(4):
        assert s[t].min() == 0 and s[t].max() == 1


def test_frame_scope_of_one_frame_equals_the_video_scope():
    x = torch.randn(1, 6, 6, 4, dtype=torch.float64)
    raw = spatial_gradient_magnitude(x)
    e = torch.rand(1, 6, 6, dtype=torch.float64)
    for cfg in (es.EntropySelectConfig(alpha=0.3), es.EntropySelectConfig.paper()):
        frame = dataclasses.replace(cfg, minmax_scope="frame")
        a = combine_scores(e, normalize_gradient(raw, cfg), cfg)
        b = combine_scores(e, normalize_gradient(raw, frame), frame)
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@settings(max_examples=60, deadline=None)
@given(
    T=st.integers(1, 30),
    side=st.integers(1, 6),
    retention=st.floats(0.01, 1.0),
    bmin=st.integers(0, 12),
    bmax=st.one_of(st.none(), st.integers(1, 40)),
    spread=st.floats(0.0, 3.0),
    seed=st.integers(0, 10_000),
)
def test_online_rule_guarantee(T, side, retention, bmin, bmax, spread, seed):
    """After every frame: emitted <= ceil(r·N_t) and every frame gets at least lo."""
    g = torch.Generator().manual_seed(seed)
    m = side * side
    scores = torch.rand(3, T, side, side, generator=g, dtype=torch.float64)
    scores = scores * torch.rand(3, T, 1, 1, generator=g, dtype=torch.float64) * spread
    cfg = es.EntropySelectConfig(min_frame_tokens=bmin, max_frame_tokens=bmax, alloc_tau=0.05)
    b = online_frame_budget(scores, retention, cfg)  # [3, T]
    lo, hi = online_bounds(retention, m, cfg)
    assert lo <= min(bmin, math.floor(retention * m + 1e-9))
    assert (b >= lo).all() and (b <= hi).all()
    emitted = b.cumsum(-1)
    for t in range(T):
        assert (emitted[:, t] <= math.ceil(retention * m * (t + 1) - 1e-9)).all()


def test_online_rule_banks_for_a_salient_frame():
    # Nine dull frames, then a salient one: the salient frame spends what the dull ones saved.
    scores = torch.zeros(1, 10, 4, 4, dtype=torch.float64)
    scores[0, 9] = 1.0
    cfg = es.EntropySelectConfig(min_frame_tokens=1)
    b = online_frame_budget(scores, 0.25, cfg)[0]
    assert b[:9].tolist() == [4] * 9  # equal saliency: r·m = 4 tokens a frame
    assert b[9] == 4  # all spent: nothing to bank
    # Dull frames below the running average save; the next salient frame takes the savings.
    scores = torch.zeros(1, 10, 4, 4, dtype=torch.float64)
    scores[0, 0] = 0.5  # the first frame sets a high running average
    scores[0, 9] = 0.6
    hoard = dataclasses.replace(cfg, bank_rate=0.0)  # spend the bank on salient frames only
    b = online_frame_budget(scores, 0.25, hoard)[0]
    assert b[1:9].max() < 4 and b[9] > 4  # saved, then spent
    assert int(b.sum()) <= math.ceil(0.25 * 160)
    # with bank_rate > 0 each frame also spends part of the bank: closer to the rate overall
    spend = online_frame_budget(scores, 0.25, cfg)[0]
    assert int(b.sum()) < int(spend.sum()) <= math.ceil(0.25 * 160)
    assert spend[1:9].tolist() == sorted(spend[1:9].tolist())  # the bank fills, then drains


def test_bank_rate_keeps_a_stream_near_its_rate():
    # A salient first frame sets a high running average; later frames are all below it.
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(1, 40, 5, 5, generator=g, dtype=torch.float64) * 0.1
    scores[0, 0] += 0.5
    for gamma, low in ((0.0, 0.0), (0.25, 0.9)):
        cfg = es.EntropySelectConfig(bank_rate=gamma)
        total = int(online_frame_budget(scores, 0.3, cfg).sum())
        assert low * 0.3 * 1000 <= total <= math.ceil(0.3 * 1000)
    assert es.EntropySelectConfig.from_kwargs(bank_rate="0.5").bank_rate == 0.5
    with pytest.raises(ValueError, match="bank_rate"):
        es.EntropySelectConfig(bank_rate=1.5)


def test_online_rule_without_saliency_spends_the_rate():
    # Equal saliency: the carried fraction makes the total floor(r·N_t) after every frame.
    scores = torch.ones(1, 12, 5, 5)
    b = online_frame_budget(scores, 0.3, es.EntropySelectConfig())[0]
    assert b.cumsum(0).tolist() == [math.floor(0.3 * 25 * (t + 1)) for t in range(12)]


def test_select_tokens_online_rule_and_explicit_budgets():
    x = torch.randn(6, 5, 5, 8, dtype=torch.float64)
    cfg = es.EntropySelectConfig(minmax_scope="frame", frame_budget_rule="online")
    sel = es.select_tokens(x, retention=0.3, config=cfg)
    assert sel.budget == int(sel.frame_budget.sum()) <= math.ceil(0.3 * 150)
    again = es.select_tokens(x, frame_budget=sel.frame_budget, config=cfg)
    assert torch.equal(again.keep_index, sel.keep_index)
    with pytest.raises(ValueError, match="takes retention="):
        es.select_tokens(x, budget=20, config=cfg)


def test_explicit_frame_budget_overrides_eq4():
    x = torch.randn(4, 6, 6, 8)
    b = torch.tensor([0, 36, 3, 1])
    for impl in ("reference", "cpu"):
        sel = es.select_tokens(x, frame_budget=b, impl=impl)
        assert sel.frame_budget.tolist() == b.tolist() and sel.budget == 40
        assert sel.keep_mask.flatten(1).sum(1).tolist() == b.tolist()
    batch = es.select_tokens(torch.stack([x, -x]), frame_budget=b)
    assert batch.keep_index.shape == (2, 40)


@pytest.mark.parametrize(
    ("fb", "err", "match"),
    [
        ([1.0, 2.0, 3.0], TypeError, "integer dtype"),
        ([[1, 2]], ValueError, "shape"),
        ([1, 2], ValueError, "shape"),
        ([0, 0, 0], ValueError, "sums to 0"),
        ([1, 2, 10], ValueError, r"\[0, H\*W=9\]"),
        ([-1, 2, 3], ValueError, r"\[0, H\*W=9\]"),
    ],
)
def test_frame_budget_errors(fb, err, match):
    x = torch.randn(3, 3, 3, 4)
    with pytest.raises(err, match=match):
        es.select_tokens(x, frame_budget=torch.tensor(fb))


def test_frame_budget_conflicts():
    x = torch.randn(3, 3, 3, 4)
    with pytest.raises(ValueError, match="alone"):
        es.select_tokens(x, retention=0.5, frame_budget=torch.tensor([1, 1, 1]))
    with pytest.raises(TypeError, match="integer torch.Tensor"):
        es.select_tokens(x, frame_budget=[1, 1, 1])
    with pytest.raises(ValueError, match="totals differ"):
        es.select_tokens(torch.stack([x, x]), frame_budget=torch.tensor([[1, 1, 1], [1, 1, 2]]))
    with pytest.raises(ValueError, match="not a list"):
        es.select_tokens([x, x], frame_budget=torch.tensor([1, 1, 1]))


def test_config_options_are_checked():
    with pytest.raises(ValueError, match="minmax_scope must be one of video, frame"):
        es.EntropySelectConfig(minmax_scope="clip")
    with pytest.raises(ValueError, match="frame_budget_rule must be one of softmax, online"):
        es.EntropySelectConfig(frame_budget_rule="greedy")
    cfg = es.EntropySelectConfig.from_kwargs(minmax_scope="frame", frame_budget_rule="online")
    assert (cfg.minmax_scope, cfg.frame_budget_rule) == ("frame", "online")

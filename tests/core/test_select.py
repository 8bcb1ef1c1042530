import dataclasses

import pytest
import torch

import entropy_select as es
from entropy_select.core import fuse_cells, grid_cells

from . import oracle

PAPER = es.EntropySelectConfig.paper()


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize(
    "shape,K,cfg",
    [
        ((4, 5, 6, 8), 30, {}),
        ((3, 4, 4, 5), 7, {"tau": 0.1, "alpha": 0.3}),
        ((1, 6, 6, 4), 10, {}),  # T = 1
        ((5, 2, 3, 4), 3, {}),  # K < T·B_min, tiny grid
        ((3, 3, 3, 3), 27, {}),  # K = N
        ((6, 4, 4, 6), 40, {"max_frame_tokens": 8, "min_frame_tokens": 2, "grid": 2}),
        (
            (2, 7, 5, 3),
            20,
            {"spatial_window": 3, "temporal_window": 2, "past_window": 1, "coverage": 1.0},
        ),
    ],
)
def test_end_to_end_matches_naive_oracle(shape, K, cfg):
    x = rand(*shape, seed=sum(shape) + K)
    sel = es.select_tokens(x, budget=K, config=PAPER, **cfg)
    c = dataclasses.replace(PAPER, **cfg)
    keep, score, budgets = oracle.select(
        x,
        K,
        c.spatial_window,
        c.temporal_window,
        c.past_window,
        c.tau,
        c.alpha,
        c.top_q,
        c.alloc_tau,
        c.min_frame_tokens,
        c.max_frame_tokens,
        c.grid,
        c.coverage,
    )
    torch.testing.assert_close(sel.scores, score, rtol=0, atol=1e-12)
    assert sel.frame_budget.tolist() == budgets
    assert sel.keep_index.tolist() == keep


def test_outputs_are_consistent():
    x = rand(4, 6, 6, 16, dtype=torch.float32)
    sel = es.select_tokens(x, retention=0.35, config=PAPER)
    K = int(0.35 * 144)
    assert sel.budget == K and sel.keep_index.shape == (K,) and sel.tokens.shape == (K, 16)
    assert torch.equal(sel.keep_index, sel.keep_index.sort().values)
    assert torch.equal(sel.keep_mask.view(-1).nonzero().view(-1), sel.keep_index)
    assert torch.equal(sel.tokens, x.view(-1, 16)[sel.keep_index])
    assert int(sel.frame_budget.sum()) == K
    assert torch.equal(sel.keep_mask.sum((1, 2)), sel.frame_budget)
    assert sel.tokens.dtype == x.dtype and sel.scores.dtype == torch.float32
    assert sel.assignment is None
    torch.testing.assert_close(sel.scores, 0.5 * sel.entropy + 0.5 * sel.gradient)


def test_retention_formula():
    x = rand(2, 5, 5, 3)
    assert es.select_tokens(x, retention=0.35).budget == 17  # floor(0.35 * 50 + 1e-9)
    assert es.select_tokens(x, retention=0.001).budget == 1
    assert es.select_tokens(x, retention=1.0).budget == 50
    assert es.select_tokens(x, retention=0.1).budget == 5  # 0.1 * 50 = 5.000000000000001


def test_batch_and_list_equal_single():
    x = rand(3, 4, 5, 5, 8)
    batched = es.select_tokens(x, retention=0.3)
    listed = es.select_tokens([x[0], x[1], x[2]], retention=0.3)
    for b in range(3):
        one = es.select_tokens(x[b], retention=0.3)
        assert torch.equal(batched.keep_index[b], one.keep_index)
        assert torch.equal(listed[b].keep_index, one.keep_index)
        assert torch.equal(batched.frame_budget[b], one.frame_budget)
        torch.testing.assert_close(batched.scores[b], one.scores)
        torch.testing.assert_close(batched.tokens[b], one.tokens)


def test_ragged_list():
    videos = [rand(3, 4, 4, 6, seed=1), rand(5, 2, 7, 6, seed=2), rand(1, 1, 1, 6, seed=3)]
    sels = es.select_tokens(videos, retention=0.5)
    assert [s.budget for s in sels] == [24, 35, 1]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes(dtype):
    x = rand(3, 4, 4, 8).to(dtype)
    sel = es.select_tokens(x, retention=0.5)
    assert sel.tokens.dtype == dtype and sel.budget == 24
    want = torch.float64 if dtype == torch.float64 else torch.float32
    assert sel.scores.dtype == want


def test_noncontiguous_input():
    x = rand(3, 8, 5, 4).permute(0, 2, 3, 1)  # [3, 5, 4, 8]
    a = es.select_tokens(x, retention=0.4)
    b = es.select_tokens(x.contiguous(), retention=0.4)
    assert torch.equal(a.keep_index, b.keep_index)


def test_zero_vectors_are_valid():
    x = torch.zeros(2, 3, 3, 4)
    sel = es.select_tokens(x, budget=5)
    assert sel.keep_index.tolist() == sorted(sel.keep_index.tolist()) and sel.budget == 5


def test_grid_fusion_keeps_budget_and_merges_by_score():
    x = rand(3, 6, 6, 8)
    sel = es.select_tokens(x, retention=0.25, config=PAPER, grid_fusion=True)
    plain = es.select_tokens(x, retention=0.25, config=PAPER)
    assert sel.budget == plain.budget == 27
    assert torch.equal(sel.frame_budget, plain.frame_budget)
    assert torch.equal(sel.keep_mask.sum((1, 2)), sel.frame_budget)
    a = sel.assignment
    assert a.shape == (108,) and a.min() >= -1 and a.max() < 27
    assert torch.equal(a[sel.keep_index], torch.arange(27))  # kept tokens map to their own slot
    # Each merged slot is the score-weighted mean of the tokens assigned to it (fused cells).
    flat = x.view(-1, 8)
    s = sel.scores.reshape(-1)
    merged = 0
    for slot in range(27):
        members = (a == slot).nonzero().view(-1)
        if len(members) > 1:
            merged += 1
            w = s[members]
            want = (flat[members] * w[:, None]).sum(0) / w.sum()
            torch.testing.assert_close(sel.tokens[slot], want)
        else:
            torch.testing.assert_close(sel.tokens[slot], flat[sel.keep_index[slot]])
    assert merged > 0


def test_fuse_cells_counts():
    x = rand(1, 2, 8, 8, 4)
    s = torch.rand(1, 2, 8, 8, dtype=torch.float64)
    fb = torch.tensor([[20, 5]])
    f = fuse_cells(x, s, fb, 4, 0.5)
    assert f.keep_mask.sum((-1, -2)).tolist() == [[20, 5]]
    # c_f = min(16, B_f // 2) fused tokens where enough cells hold unselected tokens
    assert f.anchor_mask.sum((-1, -2)).tolist() == [[10, 2]]
    cell, _ = grid_cells(8, 8, 4)
    # anchors are unselected-before-fusion tokens with the top score of their cell
    assert not (f.anchor_mask & ~f.absorbed).any()


def test_fusion_with_budget_equal_to_n_keeps_every_token_unchanged():
    x = rand(2, 3, 3, 4)
    sel = es.select_tokens(x, budget=18, grid_fusion=True)
    assert sel.keep_index.tolist() == list(range(18))
    assert torch.equal(sel.tokens, x.view(18, 4)) and sel.assignment is None


def test_library_default_is_boundary_entropy_plus_gradient_with_mean_fusion():
    x = rand(3, 6, 6, 8, dtype=torch.float32)
    sel = es.select_tokens(x, retention=0.25)
    h = sel.entropy.flatten()
    h_mm = (h - h.min()) / (h.max() - h.min())  # minmax over the video
    expected = 0.5 * (1 - h_mm) + 0.5 * sel.gradient.flatten()
    torch.testing.assert_close(sel.scores.flatten(), expected)
    a = sel.assignment  # plain-mean summaries: weight 1 for every assigned token
    assert a is not None and torch.equal(sel.weights, (a >= 0).to(sel.weights.dtype))
    explicit = es.select_tokens(
        x,
        retention=0.25,
        config=PAPER,
        entropy_mode="complement_minmax",
        grid_fusion=True,
        fusion_weight="mean",
    )
    assert torch.equal(sel.keep_index, explicit.keep_index)
    torch.testing.assert_close(sel.tokens, explicit.tokens)


def test_balanced_preset_pools_equal_count_context():
    x = rand(2, 8, 8, 8, dtype=torch.float32)
    sel = es.select_tokens(x, retention=0.25, config=es.EntropySelectConfig.balanced())
    a = sel.assignment
    sizes = torch.bincount(a[a >= 0], minlength=sel.budget)
    flat = x.reshape(-1, 8)
    for t in range(2):  # context runs of one frame differ in size by at most one token
        in_frame = (sel.keep_index // 64 == t) & (sizes > 1)
        s = sizes[in_frame]
        assert int(s.max() - s.min()) <= 1
    for k in range(sel.budget):  # every output is the plain mean of its members
        torch.testing.assert_close(sel.tokens[k], flat[a == k].mean(0))
    assert int((a >= 0).sum()) == 128  # every token is kept or pooled


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"retention": 0.0}, ValueError, "retention"),
        ({"retention": 1.5}, ValueError, "retention"),
        ({"budget": 0}, ValueError, "budget"),
        ({"budget": 10_000}, ValueError, "budget"),
        ({}, ValueError, "exactly one"),
        ({"retention": 0.5, "budget": 3}, ValueError, "exactly one"),
        ({"budget": 2.5}, TypeError, "budget"),
        ({"retention": 0.5, "spatial_window": 4}, ValueError, "spatial_window"),
        ({"retention": 0.5, "tua": 1}, ValueError, "unknown.*tua.*valid keys"),
        ({"retention": 0.5, "impl": "cuda"}, ValueError, "impl"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        es.select_tokens(rand(2, 3, 3, 4), **kwargs)


def test_bad_features():
    with pytest.raises(ValueError, match=r"\[T, H, W, D\]"):
        es.select_tokens(torch.randn(3, 4, 5), retention=0.5)
    with pytest.raises(ValueError, match="empty"):
        es.select_tokens(torch.randn(0, 4, 4, 5), retention=0.5)
    with pytest.raises(TypeError, match="floating"):
        es.select_tokens(torch.ones(2, 3, 3, 4, dtype=torch.long), retention=0.5)
    x = torch.randn(2, 3, 3, 4)
    x[0, 0, 0, :2] = float("nan")
    x[1, 1, 1, 0] = float("inf")
    with pytest.raises(ValueError, match="2 NaN and 1 inf"):
        es.select_tokens(x, retention=0.5)
    with pytest.raises(TypeError, match="torch.Tensor"):
        es.select_tokens([[1.0]], retention=0.5)
    with pytest.raises(ValueError, match="empty list"):
        es.select_tokens([], retention=0.5)
    with pytest.raises(ValueError, match="share D"):
        es.select_tokens([torch.randn(1, 2, 2, 3), torch.randn(1, 2, 2, 4)], retention=0.5)
    with pytest.raises(TypeError, match="config"):
        es.select_tokens(torch.randn(1, 2, 2, 3), retention=0.5, config={"tau": 1})


def test_explicit_triton_never_falls_back_on_cpu():
    with pytest.raises(RuntimeError, match="triton"):
        es.select_tokens(rand(2, 3, 3, 4, dtype=torch.float32), retention=0.5, impl="triton")


@pytest.mark.parametrize("impl", ["reference", "cpu"])
@pytest.mark.parametrize("preset", ["default", "paper"])
def test_input_that_requires_grad(impl, preset):
    """A leaf that requires grad (what a model's vision tower hands over with autograd on):
    the same selection as without grad, no graph on the scores, and gradient reaching exactly the
    inputs the output tokens were gathered or fused from."""
    cfg = es.EntropySelectConfig.paper() if preset == "paper" else es.EntropySelectConfig()
    torch.manual_seed(0)
    x = torch.randn(4, 8, 8, 16, requires_grad=True)
    sel = es.select_tokens(x, retention=0.35, config=cfg, impl=impl)
    plain = es.select_tokens(x.detach(), retention=0.35, config=cfg, impl=impl)
    assert torch.equal(sel.keep_index, plain.keep_index)
    assert torch.equal(sel.tokens.detach(), plain.tokens)
    assert not sel.scores.requires_grad and not sel.entropy.requires_grad
    sel.tokens.sum().backward()
    got = x.grad.abs().sum(-1).flatten() > 0  # [N]
    if sel.assignment is None:
        expected = torch.zeros(x.shape[:-1], dtype=torch.bool).flatten()
        expected[sel.keep_index] = True
    else:
        expected = sel.assignment >= 0
    assert torch.equal(got, expected)

"""One contract over every registered selector: shapes, dtypes, budgets, batches, lists."""

from __future__ import annotations

import pytest
import torch

from entropy_select import selectors
from entropy_select.core import Selection

NAMES = selectors.available()
# selectors whose merged tokens are the plain mean of the input tokens assigned to them
MEAN_MERGERS = {"pooling", "scissor", "tome"}
# (T, H, W): a single token, T=1, tiny and odd grids, more frames than a grid holds
SHAPES = [(1, 1, 1), (1, 2, 3), (3, 1, 1), (2, 2, 3), (5, 3, 4), (9, 2, 2)]
D = 6


def video(shape, dtype=torch.float32, seed=0, batch=None):
    g = torch.Generator().manual_seed(seed)
    size = (*shape, D) if batch is None else (batch, *shape, D)
    return torch.randn(size, generator=g, dtype=torch.float64).to(dtype)


def budgets(n):
    return sorted({1, max(1, n // 3), max(1, n - 1), n})


def check(sel: Selection, x: torch.Tensor, K: int, name: str) -> None:
    """Every invariant of one unbatched Selection of video ``x`` [T, H, W, D]."""
    T, H, W, Dx = x.shape
    N = T * H * W
    assert isinstance(sel, Selection)
    idx = sel.keep_index
    assert idx.shape == (K,) and idx.dtype == torch.int64
    assert bool((idx[1:] > idx[:-1]).all()), "keep_index must be sorted and unique"
    assert 0 <= int(idx.min()) and int(idx.max()) < N
    assert sel.tokens.shape == (K, Dx) and sel.tokens.dtype == x.dtype
    assert bool(torch.isfinite(sel.tokens.float()).all())
    assert sel.scores.shape == (T, H, W) and sel.scores.is_floating_point()
    assert not bool(torch.isnan(sel.scores).any())
    assert sel.entropy is None or sel.entropy.shape == (T, H, W)
    assert sel.keep_mask.shape == (T, H, W) and sel.keep_mask.dtype == torch.bool
    assert torch.equal(sel.keep_mask.flatten().nonzero().flatten(), idx)
    assert sel.frame_budget.shape == (T,) and sel.frame_budget.dtype == torch.int64
    assert int(sel.frame_budget.sum()) == K
    assert torch.equal(sel.frame_budget, sel.keep_mask.flatten(1).sum(1))
    flat = x.reshape(N, Dx)
    if sel.assignment is None:
        assert torch.equal(sel.tokens, flat[idx])
        return
    a = sel.assignment
    assert a.shape == (N,) and a.dtype == torch.int64
    assert int(a.min()) >= -1 and int(a.max()) < K
    assert torch.equal(a[idx], torch.arange(K)), "each anchor belongs to its own slot"
    assert set(a[a >= 0].tolist()) == set(range(K)), "every slot holds at least one token"
    # Every output token is the (weighted) mean of exactly the inputs assigned to it
    # (Selection.weights; None: plain means), so no input counts in two outputs.
    w = torch.ones(N, dtype=torch.float64) if sel.weights is None else sel.weights.double()
    assert sel.weights is None or sel.weights.shape == (N,)
    w = w * (a >= 0)
    ref = torch.zeros(K, Dx, dtype=torch.float64).index_add_(
        0, a.clamp_min(0), flat.double() * w[:, None]
    )
    mass = torch.zeros(K, dtype=torch.float64).index_add_(0, a.clamp_min(0), w)
    assert bool((mass > 0).all()), "every slot has positive weight"
    ref = ref / mass[:, None]
    tol = 1e-10 if x.dtype == torch.float64 else 1e-5 if x.dtype == torch.float32 else 2e-2
    torch.testing.assert_close(sel.tokens.double(), ref, rtol=tol, atol=tol)


def test_registry_lists_every_baseline():
    expected = {
        "entropy_select",
        "uniform",
        "random",
        "pooling",
        "evs",
        "vidcom2",
        "dycoke_ttm",
        "scissor",
        "divprune",
        "tome",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_contract_shapes_and_budgets(name):
    sel_fn = selectors.get(name)
    for shape in SHAPES:
        x = video(shape, torch.float64, seed=sum(shape))
        n = shape[0] * shape[1] * shape[2]
        for K in budgets(n):
            check(sel_fn(x, budget=K), x, K, name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_contract_dtypes(name, dtype):
    x = video((3, 4, 5), dtype, seed=7)
    for K in (1, 17, 60):
        check(selectors.get(name)(x, budget=K), x, K, name)


@pytest.mark.parametrize("name", NAMES)
def test_contract_retention_matches_budget(name):
    x = video((4, 3, 3), seed=3)
    a, b = selectors.get(name)(x, retention=0.35), selectors.get(name)(x, budget=12)
    assert torch.equal(a.keep_index, b.keep_index)


@pytest.mark.parametrize("name", NAMES)
def test_contract_batch_equals_single(name):
    xb = video((4, 3, 4), seed=11, batch=3)
    for K in (1, 19, 48):
        batched = selectors.get(name)(xb, budget=K)
        assert batched.keep_index.shape == (3, K)
        for b in range(3):
            single = selectors.get(name)(xb[b], budget=K)
            assert torch.equal(batched.keep_index[b], single.keep_index)
            assert torch.equal(batched.frame_budget[b], single.frame_budget)
            torch.testing.assert_close(batched.tokens[b], single.tokens)
            if single.assignment is not None:
                assert torch.equal(batched.assignment[b], single.assignment)


@pytest.mark.parametrize("name", NAMES)
def test_contract_ragged_list(name):
    videos = [video((2, 3, 3), seed=1), video((1, 2, 5), seed=2), video((4, 1, 3), seed=3)]
    out = selectors.get(name)(videos, retention=0.5)
    assert isinstance(out, list) and len(out) == 3
    for v, sel in zip(videos, out, strict=True):
        K = max(1, int(v.shape[0] * v.shape[1] * v.shape[2] * 0.5))
        check(sel, v, K, name)
        assert torch.equal(sel.keep_index, selectors.get(name)(v, retention=0.5).keep_index)


@pytest.mark.parametrize("name", NAMES)
def test_contract_noncontiguous_and_deterministic(name):
    x = video((3, 5, 4), seed=5).transpose(1, 2)  # [3, 4, 5, D] non-contiguous
    assert not x.is_contiguous()
    a = selectors.get(name)(x, budget=20)
    b = selectors.get(name)(x.contiguous(), budget=20)
    assert torch.equal(a.keep_index, b.keep_index)
    check(a, x, 20, name)


@pytest.mark.parametrize("name", NAMES)
def test_contract_rejects_bad_budget(name):
    x = video((2, 2, 2))
    with pytest.raises(ValueError):
        selectors.get(name)(x, budget=0)
    with pytest.raises(ValueError):
        selectors.get(name)(x, budget=9)


@pytest.mark.parametrize("name", selectors.available())
def test_inputs_that_require_grad(name):
    """Selection is not differentiable, its tokens are: indices and scores carry no graph, the
    output tokens back-propagate to exactly the inputs they came from (kept or merged in)."""
    torch.manual_seed(0)
    x = torch.randn(3, 6, 6, 8, requires_grad=True)
    sel = selectors.get(name)(x, retention=0.3)
    plain = selectors.get(name)(x.detach(), retention=0.3)
    assert not sel.scores.requires_grad and not sel.keep_index.requires_grad
    assert sel.tokens.requires_grad
    assert torch.equal(sel.keep_index, plain.keep_index)
    torch.testing.assert_close(sel.tokens.detach(), plain.tokens, rtol=0, atol=0)
    sel.tokens.sum().backward()
    touched = x.grad.abs().sum(-1).flatten() > 0  # [N] inputs that received gradient
    if sel.assignment is None:  # a pure selection: d(sum tokens)/dx = 1 at kept rows, else 0
        expected = torch.zeros(x.shape[:-1]).flatten()
        expected[sel.keep_index] = 1
        torch.testing.assert_close(x.grad.flatten(0, -2), expected[:, None].expand(-1, 8))
    else:  # merged: only inputs assigned to an output slot receive gradient
        assert not bool((touched & (sel.assignment < 0)).any())
        assert bool(touched[sel.keep_index].all())


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad"])
def test_every_selector_under_inference_and_no_grad(mode):
    ctx = torch.inference_mode if mode == "inference_mode" else torch.no_grad
    x = torch.randn(3, 6, 6, 8)
    for name in selectors.available():
        with ctx():
            sel = selectors.get(name)(x, retention=0.3)
        assert sel.tokens.shape == (int(0.3 * 108), 8), name


def test_grid_fusion_leftover_slots_are_not_also_in_a_cell_mean():
    """The reproduction of the fusion bug: a frame with fewer fused cells than fused slots."""
    x = torch.randn(1, 8, 8, 16, generator=torch.Generator().manual_seed(0))
    sel = selectors.get("entropy_select", grid_fusion=True)(x, retention=0.9)
    flat = x.reshape(-1, 16)
    a = sel.assignment
    for s in range(sel.budget):
        members = (a == s).nonzero()[:, 0]
        w = sel.weights[members].double()
        expected = (flat[members].double() * w[:, None]).sum(0) / w.sum()
        torch.testing.assert_close(sel.tokens[s].double(), expected, rtol=1e-5, atol=1e-5)


def test_unknown_options_name_the_key_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) for selector 'tome': bad; valid"):
        selectors.get("tome", bad=1)
    with pytest.raises(ValueError, match="valid options are: seed"):
        selectors.get("random", sede=1)
    with pytest.raises(
        ValueError, match="'entropy_select': taus; valid options are: preset, impl, "
    ):
        selectors.get("entropy_select", taus=0.1)  # its own options, then its config's fields
    assert selectors.options_of(type(selectors.get("random"))) == ["seed"]


def test_one_parser_for_strings_everywhere():
    """A CLI's ``key=value`` strings and Python values select the same thing."""
    x = torch.randn(3, 5, 5, 8, generator=torch.Generator().manual_seed(0))
    typed = selectors.get("random", seed=3)(x, retention=0.3)
    parsed = selectors.get("random", seed="3")(x, retention=0.3)
    assert torch.equal(typed.keep_index, parsed.keep_index)
    es_typed = selectors.get("entropy_select", tau=0.5, grid_fusion=False, max_frame_tokens=None)
    es_parsed = selectors.get(
        "entropy_select", tau="0.5", grid_fusion="off", max_frame_tokens="none"
    )
    assert es_typed.config == es_parsed.config
    with pytest.raises(ValueError, match="cannot parse seed='x': seed must be an integer"):
        selectors.get("random", seed="x")

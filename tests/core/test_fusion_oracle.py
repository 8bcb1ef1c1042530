"""ENTROPY-SELECT (grid fusion on and off, every entropy_mode) against the float64 loop oracle.

Three layers, so that a tie can never hide a fault nor fail a correct result:

- the selection stage (SPEC §4-7) on dyadic scores full of exact ties, where every sum is exact:
  budgets, kept positions, assignment, weights and tokens must equal the oracle's exactly;
- the scores (SPEC §1-3) of every ``entropy_mode`` on inputs with ties, constant regions, zero
  vectors and half precision, within the input's rounding;
- the whole pipeline: the oracle's selection stage run on the library's own scores must give the
  library's result (unless two cells tie at the fusion cut), and a plain selection must be a
  SPEC §5 selection of the oracle's independent scores up to a tolerance (no tie gate).
"""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import entropy_select as es
from entropy_select.core import allocate_frame_budget
from entropy_select.core.select import select_from_scores

from . import oracle
from .strategies import configs, tied_scores, videos

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tol(dtype):
    """Score tolerance: float64 input computes in float64, any other in float32."""
    return 1e-9 if dtype == torch.float64 else 2e-4


def _token_tol(dtype):
    """Token tolerance: output tokens are rounded to the input dtype (bf16: eps 2^-7)."""
    return max(_tol(dtype), torch.finfo(dtype).eps)


def _assert_matches_oracle(sel, ref, x, tol):
    assert sel.keep_index.tolist() == ref["keep"]
    T, H, W, _ = x.shape
    if sel.assignment is None:  # a plain selection: every output is its own input
        assignment = [-1] * (T * H * W)
        for slot, pos in enumerate(ref["keep"]):
            assignment[pos] = slot
        assert assignment == ref["assignment"]
    else:
        assert sel.assignment.tolist() == ref["assignment"]
        w = torch.tensor(ref["weights"], dtype=torch.float64)
        torch.testing.assert_close(sel.weights.double(), w, rtol=1e-6, atol=1e-12)
    scale = max(1.0, float(x.double().abs().max()))
    torch.testing.assert_close(sel.tokens.double(), ref["tokens"], rtol=0, atol=tol * scale)


@st.composite
def tied_cases(draw):
    x = draw(videos(dims=(1, 3, 8, 64), dtypes=(torch.float64,)))
    T, H, W, _ = x.shape
    s = draw(tied_scores(T, H, W))
    K = draw(st.integers(1, T * H * W))
    return x, s, K, draw(configs())


@settings(max_examples=150, deadline=None)
@given(tied_cases())
def test_selection_stage_equals_oracle_on_tied_scores(case):
    """SPEC §4-7 (budgets, quotas, fusion with its leftover deviation) exactly, ties included."""
    x, s, K, cfg = case
    budget = allocate_frame_budget(
        s, K, cfg.top_q, cfg.alloc_tau, cfg.min_frame_tokens, cfg.max_frame_tokens
    )
    ref = oracle.select_full(x, K, cfg, s=s)
    assert budget.tolist() == ref["budgets"]
    sel = select_from_scores(x[None], K, cfg, s[None], s[None], s[None], budget[None]).unbatched()
    # dyadic sums are exact, so even tied cell totals are ordered identically: no tie excuse
    _assert_matches_oracle(sel, ref, x, 1e-12)


@settings(max_examples=40, deadline=None)
@given(videos(), configs())
def test_scores_of_every_entropy_mode_equal_oracle(x, cfg):
    """Ĥ, Ĝ and the fused score S of every entropy_mode, fp16/bf16 and D up to 1152 included."""
    sel = es.select_tokens(x, budget=1, config=cfg, impl="reference")
    s, h, g = oracle.score(x.double(), cfg)
    tol = _tol(x.dtype)
    torch.testing.assert_close(sel.entropy.double(), h, rtol=0, atol=tol)
    torch.testing.assert_close(sel.gradient.double(), g, rtol=0, atol=tol * 10)
    span = float(h.max() - h.min())
    if "minmax" in cfg.entropy_mode and cfg.alpha > 0:
        # min-max of Ĥ divides rounding errors by Ĥ's span: compare at that conditioning, and
        # not at all where Ĥ is constant up to rounding (any [0, 1] pattern is then correct).
        if span < 1e3 * tol:
            return
        tol = tol / span
    torch.testing.assert_close(sel.scores.double(), s, rtol=0, atol=tol * 10)


@settings(max_examples=60, deadline=None)
@given(videos(), configs(), st.data())
def test_whole_pipeline_equals_oracle_up_to_ties(x, cfg, data):
    """select_tokens (reference and CPU path) against the oracle, tie-aware.

    The oracle's §4-7 on the library's scores must reproduce budgets, positions, assignment and
    tokens (unless cells tie at the fusion cut); a plain selection must moreover be a SPEC §5
    selection of the oracle's own scores, up to a tolerance (so ties never skip the check).
    """
    T, H, W, _ = x.shape
    K = data.draw(st.integers(1, T * H * W))
    impl = data.draw(st.sampled_from(["reference", "cpu"]))
    sel = es.select_tokens(x, budget=K, config=cfg, impl=impl)
    s = sel.scores.double()
    budgets = oracle.budgets_up_to_ties(sel.frame_budget.tolist(), s, K, cfg)
    ref = oracle.select_full(x, K, cfg, s=s, budgets=budgets)
    assert sel.frame_budget.tolist() == ref["budgets"]
    if not ref["ambiguous"]:
        _assert_matches_oracle(sel, ref, x, _token_tol(x.dtype))
    if not cfg.grid_fusion or K == T * H * W:
        s = oracle.score(x.double(), cfg)[0]
        tol = 10 * _tol(x.dtype)
        if "minmax" in cfg.entropy_mode and cfg.alpha > 0:
            h = sel.entropy.double()
            tol = tol / max(float(h.max() - h.min()), 1e-300)
            if tol > 0.1:  # Ĥ constant up to rounding: min-max of it is noise
                return
        for t in range(T):
            kept = {(i, j) for i in range(H) for j in range(W) if sel.keep_mask[t, i, j]}
            why = oracle.acceptable_plain_frame(
                kept, s[t], int(sel.frame_budget[t]), cfg.grid, cfg.coverage, tol
            )
            assert not why, f"frame {t}: {why}"


@settings(max_examples=60, deadline=None)
@given(videos(dtypes=(torch.float64, torch.float32, torch.bfloat16)), st.data())
def test_each_output_is_the_weighted_mean_of_its_inputs(x, data):
    """The merging invariant on the library default (fusion on): every input sits in at most one
    output; every output is the weighted mean of exactly the inputs assigned to it, its own kept
    input among them; dropped inputs have weight 0."""
    T, H, W, D = x.shape
    N = T * H * W
    K = data.draw(st.integers(1, N))
    cfg = data.draw(configs(fusion=True))
    sel = es.select_tokens(x, budget=K, config=cfg)
    if K == N:
        assert sel.assignment is None and torch.equal(sel.tokens, x.reshape(N, D))
        return
    a, w = sel.assignment, sel.weights.double()
    assert a.shape == (N,) and w.shape == (N,)
    assert torch.equal(a[sel.keep_index], torch.arange(K))  # each kept input is in its own slot
    # weights are scores (>= 0; a zero-score input may sit in a mean with weight 0), 0 if dropped
    assert bool((w >= 0).all()) and bool((w[a < 0] == 0).all())
    flat = x.reshape(N, D).double()
    for slot in range(K):
        members = (a == slot).nonzero().view(-1)
        assert float(w[members].sum()) > 0
        mean = (flat[members] * w[members, None]).sum(0) / w[members].sum()
        scale = max(1.0, float(flat[members].abs().max()))
        torch.testing.assert_close(
            sel.tokens[slot].double(), mean, rtol=0, atol=_token_tol(x.dtype) * scale
        )


def test_planted_fault_anchor_at_lowest_score_is_caught(monkeypatch):
    """The fault of issue 17 (fused token placed at the cell's LOWEST-scoring unselected position)
    must fail the oracle comparison: plant it and check the comparison sees it."""
    from entropy_select.core import fusion

    real = fusion.rank_within
    calls = []

    def lowest_first(scores, groups=None, eligible=None, num_groups=None):
        calls.append(groups is not None)
        if groups is not None:  # the anchor's rank: reversed scores put the lowest first
            return real(-scores, groups, eligible, num_groups)
        return real(scores, groups, eligible, num_groups)

    x = torch.randn(2, 6, 6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cfg = es.EntropySelectConfig.paper()
    cfg = es.EntropySelectConfig.from_kwargs(cfg, grid_fusion=True)
    good = es.select_tokens(x, budget=20, config=cfg, impl="reference")
    _assert_matches_oracle(good, oracle.select_full(x, 20, cfg, s=good.scores), x, 1e-12)
    monkeypatch.setattr(fusion, "rank_within", lowest_first)
    bad = es.select_tokens(x, budget=20, config=cfg, impl="reference")
    assert any(calls)
    with pytest.raises(AssertionError):
        _assert_matches_oracle(bad, oracle.select_full(x, 20, cfg, s=bad.scores), x, 1e-12)


@functools.cache
def _fixed_input():
    x = torch.randn(3, 5, 6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    x[1, :2, :3] = 0  # zero tokens
    return x, oracle.score(x, es.EntropySelectConfig(alpha=0.5))[0]


@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("coverage", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("grid", [1, 2, 3])
@pytest.mark.parametrize("K", [5, 17, 40])
def test_fixed_cases_equal_oracle(fusion, coverage, grid, K):
    """Every grid/coverage/fusion combination on one fixed input (no reliance on hypothesis
    reaching it), on both paths; the paper's alpha keeps the random input tie-free."""
    x, s = _fixed_input()
    cfg = es.EntropySelectConfig(alpha=0.5, grid_fusion=fusion, coverage=coverage, grid=grid)
    ref = oracle.select_full(x, K, cfg, s=s)  # scores do not depend on grid/coverage/fusion
    for impl in ("reference", "cpu"):
        sel = es.select_tokens(x, budget=K, config=cfg, impl=impl)
        torch.testing.assert_close(sel.scores, ref["scores"], rtol=0, atol=1e-12)
        assert sel.frame_budget.tolist() == ref["budgets"]
        assert not ref["ambiguous"]
        _assert_matches_oracle(sel, ref, x, 1e-12)


@pytest.mark.parametrize("mode", ["paper", "minmax", "complement", "complement_minmax"])
def test_fixed_cases_of_every_entropy_mode_equal_oracle(mode):
    x = torch.randn(3, 5, 6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    cfg = es.EntropySelectConfig(entropy_mode=mode, tau=0.1)  # the default: fusion on, alpha 1
    ref = oracle.select_full(x, 20, cfg)
    sel = es.select_tokens(x, budget=20, config=cfg)
    torch.testing.assert_close(sel.scores, ref["scores"], rtol=0, atol=1e-12)
    assert not ref["ambiguous"]
    _assert_matches_oracle(sel, ref, x, 1e-12)


def test_a_cell_without_unselected_tokens_never_takes_a_fused_slot():
    """Found by mutation testing: ranking cells without excluding those that have no unselected
    token lets a fully selected cell (total 0) take the slot of a qualifying cell whose
    unselected scores are 0 too. Fixed scores, so hypothesis luck is not needed."""
    s = torch.tensor(
        [[0.0, 0.5, 1.0, 0.5], [0.0, 1.0, 1.0, 0.5], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64
    )[None]  # [1, 3, 4]
    x = torch.randn(1, 3, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cfg = es.EntropySelectConfig(grid=3, coverage=0.0)
    budget = torch.tensor([11])
    sel = select_from_scores(x[None], 11, cfg, s[None], s[None], s[None], budget[None])
    ref = oracle.select_full(x, 11, cfg, s=s, budgets=[11])
    _assert_matches_oracle(sel.unbatched(), ref, x, 1e-12)


@pytest.mark.parametrize("K", [5, 17, 40])
@pytest.mark.parametrize(
    "opts",
    [
        {"fusion_grid": 2},
        {"fusion_grid": 6, "fusion_share": 0.25},
        {"fusion_weight": "score"},
        {"fusion_weight": "mean", "fusion_share": 0.35, "grid": 3},
        {"grid_fusion": False, "context_share": 0.25},
        {"grid_fusion": False, "context_share": 0.75},
        {"grid_fusion": False, "context_share": 0.5, "coverage": 1.0, "grid": 2},
    ],
)
def test_fusion_options_and_context_pooling_equal_oracle(opts, K):
    """The options beyond SPEC §6 (fusion grid, share, plain means) and detail + context pooling
    (docs/algorithm.md §6b), against the loop oracle on both paths."""
    x, s = _fixed_input()
    cfg = es.EntropySelectConfig(alpha=0.5, **opts)
    ref = oracle.select_full(x, K, cfg, s=s)
    for impl in ("reference", "cpu"):
        sel = es.select_tokens(x, budget=K, config=cfg, impl=impl)
        assert sel.frame_budget.tolist() == ref["budgets"]
        assert not ref["ambiguous"]
        _assert_matches_oracle(sel, ref, x, 1e-12)

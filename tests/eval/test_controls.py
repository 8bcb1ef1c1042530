"""The scrambled-means control: a useless selector with the frame's exact mean."""

from __future__ import annotations

import pytest
import torch

from entropy_select.eval.controls import CONTROLS, ScrambledMeans, is_control
from entropy_select.eval.metrics import evaluate_selection
from entropy_select.eval.quality import mean_rank


@pytest.mark.parametrize("retention", [0.05, 0.25, 0.5, 1.0])
def test_outputs_are_plain_means_of_their_groups(retention):
    x = torch.randn(3, 5, 6, 8, generator=torch.Generator().manual_seed(1))
    sel = ScrambledMeans(seed=3)(x, retention)
    flat = x.reshape(-1, 8)
    assert (sel.assignment >= 0).all()  # every input lands in exactly one output
    for k in range(sel.budget):
        members = sel.assignment == k
        assert members.any()
        torch.testing.assert_close(sel.tokens[k], flat[members].mean(0))
    assert torch.equal(sel.keep_index, sel.keep_index.sort().values)
    assert int(sel.frame_budget.sum()) == sel.budget


def test_groups_are_scattered_and_seeded():
    x = torch.randn(1, 14, 14, 4, generator=torch.Generator().manual_seed(0))
    a = ScrambledMeans(seed=0)(x, 0.25).assignment
    b = ScrambledMeans(seed=1)(x, 0.25).assignment
    assert not torch.equal(a, b)
    # a group's members are not neighbours: their rows span most of the frame
    rows = torch.arange(196) // 14
    spans = [int(rows[a == k].max() - rows[a == k].min()) for k in range(int(a.max()) + 1)]
    assert sum(spans) / len(spans) > 4


def test_it_wins_the_mean_based_metrics_on_equal_groups():
    # 16 tokens a frame, budget 4 a frame: four groups of exactly 4, the frame mean exactly kept
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 4, 8, generator=gen) * 3
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 5)
    sel = ScrambledMeans()(x, 0.25)
    m = evaluate_selection(x, sel, head)
    assert m["top1_agreement"] == 1.0
    assert m["kl"] < 1e-6  # float32 rounding of equal means


def test_controls_are_not_ranked_among_contenders():
    def cell(a):
        return {"top1_agreement": a, "kl": 1 - a, "coverage": a, "readout_cosine": a}

    summary = {
        "good": {"0.5": cell(0.9)},
        "bad": {"0.5": cell(0.5)},
        "control:x": {"0.5": cell(1.0)},
    }
    ranks = mean_rank(summary)
    assert ranks == {"good": 1.0, "bad": 2.0, "control:x": 1.0}
    assert all(is_control(k) for k in CONTROLS)

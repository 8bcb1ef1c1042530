import pytest
import torch

from entropy_select.core import cell_quota, grid_cells, grid_quota_topk, rank_within

from . import oracle


def test_grid_cells_small_grids():
    cell, c = grid_cells(2, 3, 4)
    assert c == 6 and cell.tolist() == [0, 1, 2, 3, 4, 5]
    cell, c = grid_cells(5, 5, 4)
    assert c == 16 and cell.view(5, 5)[0].tolist() == [0, 0, 1, 2, 3]


def test_cell_quota_rules():
    b = torch.tensor([0, 3, 16, 20, 40, 64, 200])
    assert cell_quota(b, 16, 0.5).tolist() == [0, 0, 1, 1, 1, 2, 6]
    assert cell_quota(b, 16, 0.0).tolist() == [0, 0, 1, 1, 1, 1, 1]


def test_rank_within_groups_and_eligibility():
    s = torch.tensor([[0.5, 0.9, 0.5, 0.1]])
    assert rank_within(s).tolist() == [[1, 0, 2, 3]]
    groups = torch.tensor([0, 0, 1, 1])
    assert rank_within(s, groups, num_groups=2).tolist() == [[1, 0, 0, 1]]
    elig = torch.tensor([[True, False, True, True]])
    assert rank_within(s, None, elig).tolist() == [[0, 3, 1, 2]]


@pytest.mark.parametrize(
    "H,W,g,rho", [(6, 6, 4, 0.5), (5, 7, 3, 0.3), (2, 3, 4, 1.0), (4, 4, 1, 0.5)]
)
def test_matches_oracle(H, W, g, rho):
    gen = torch.Generator().manual_seed(H * W)
    s = torch.rand(1, H, W, dtype=torch.float64, generator=gen)
    for Bf in range(0, H * W + 1):
        keep = grid_quota_topk(s, torch.tensor([Bf]), g, rho)[0]
        got = {(i, j) for i in range(H) for j in range(W) if keep[i, j]}
        assert got == oracle.frame_select(s[0], Bf, g, rho), Bf


def test_every_cell_meets_quota_even_when_scores_concentrate():
    s = torch.zeros(1, 8, 8)
    s[0, :2, :2] = 10.0  # all mass in one corner
    keep = grid_quota_topk(s, torch.tensor([32]), 4, 0.5)[0]
    cell, _ = grid_cells(8, 8, 4)
    per_cell = torch.zeros(16, dtype=torch.long).scatter_add_(0, cell, keep.view(-1).long())
    assert per_cell.min() >= 1 and int(keep.sum()) == 32


def test_ties_break_to_lower_index():
    keep = grid_quota_topk(torch.zeros(1, 3, 3), torch.tensor([2]), 4, 0.5)[0]
    assert keep.view(-1).nonzero().view(-1).tolist() == [0, 1]

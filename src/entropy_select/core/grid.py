"""Per-frame selection with grid coverage quotas (paper §3.3; SPEC §5)."""

from __future__ import annotations

import torch

__all__ = ["grid_cells", "cell_quota", "grid_quota_topk", "rank_within"]


def grid_cells(
    height: int, width: int, grid: int = 4, device: torch.device | None = None
) -> tuple[torch.Tensor, int]:
    """The grid cell of every token of an ``H×W`` frame, and the number of cells ``c``.

    ``g_h = min(g, H)``, ``g_w = min(g, W)``; token (i, j) lies in cell
    ``floor(i·g_h/H)·g_w + floor(j·g_w/W)`` (SPEC §5.1).

    Shapes:
        -> cell: [H*W] int64 in [0, c)
    """
    gh, gw = min(grid, height), min(grid, width)
    rows = torch.arange(height, device=device) * gh // height
    cols = torch.arange(width, device=device) * gw // width
    return (rows[:, None] * gw + cols[None, :]).reshape(-1), gh * gw


def cell_quota(frame_budget: torch.Tensor, cells: int, coverage: float = 0.5) -> torch.Tensor:
    """Tokens each cell must give a frame of budget ``B_f`` (SPEC §5.2).

    ``floor(B_f·ρ/c)``, raised to 1 when that is 0 and ``B_f >= c``; 0 when ``B_f < c``.
    (A tiny epsilon keeps ``floor`` exact where ``B_f·ρ/c`` is an integer in real arithmetic.)

    Shapes:
        frame_budget: [..., T]  ->  [..., T]
    """
    quota = torch.floor(frame_budget.to(torch.float64) * coverage / cells + 1e-9).to(torch.long)
    quota = torch.where((quota == 0) & (frame_budget >= cells), torch.ones_like(quota), quota)
    return torch.where(frame_budget < cells, torch.zeros_like(quota), quota)


def rank_within(
    scores: torch.Tensor,
    groups: torch.Tensor | None = None,
    eligible: torch.Tensor | None = None,
    num_groups: int | None = None,
) -> torch.Tensor:
    """Rank of each token by score, descending, ties by lower index, within its group.

    Ineligible tokens rank after every eligible one of their group. Two stable sorts, no loop.

    Args:
        scores: [..., m] scores.
        groups: [m] int64 group id of each position (None: one group).
        eligible: [..., m] bool (None: all).
        num_groups: the number of groups (default: ``groups.max() + 1``, one host sync).

    Returns:
        [..., m] int64 rank (0 = best) within the token's group.
    """
    m = scores.shape[-1]
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)  # score desc, index asc
    if eligible is not None:
        inel = (~eligible).gather(-1, order).to(torch.uint8)
        order = order.gather(-1, torch.argsort(inel, dim=-1, stable=True))
    arange = torch.arange(m, device=scores.device).expand_as(order)
    if groups is None:
        return torch.empty_like(order).scatter_(-1, order, arange)
    g = groups[order]  # [..., m] group of each sorted token
    by_group = torch.argsort(g, dim=-1, stable=True)
    order = order.gather(-1, by_group)  # tokens by (group, eligibility, score desc, index)
    if num_groups is None:
        num_groups = int(groups.max()) + 1
    sizes = torch.zeros(num_groups, dtype=torch.long, device=groups.device)
    sizes.scatter_add_(0, groups, torch.ones_like(groups))
    start = sizes.cumsum(0) - sizes
    rank_sorted = arange - start[groups[order]]
    return torch.empty_like(order).scatter_(-1, order, rank_sorted)


def grid_quota_topk(
    scores: torch.Tensor, frame_budget: torch.Tensor, grid: int = 4, coverage: float = 0.5
) -> torch.Tensor:
    """Select ``B_f`` tokens in each frame: every cell's top ``k_cell`` first, then the best rest.

    SPEC §5: ``k_cell`` from :func:`cell_quota` (capped by the cell's size); the remaining
    ``B_f − Σ quotas`` are the frame's top-scoring tokens not yet taken. Ties go to the lower index.

    Returns:
        bool keep mask with exactly ``B_f`` True per frame.

    Shapes:
        scores: [..., T, H, W], frame_budget: [..., T]  ->  [..., T, H, W]
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    if not 0 <= coverage <= 1:
        raise ValueError(f"coverage must be in [0, 1], got {coverage}")
    H, W = scores.shape[-2:]
    cell, cells = grid_cells(H, W, grid, scores.device)
    flat = scores.flatten(-2)  # [..., T, m]
    budget = frame_budget.to(torch.long).unsqueeze(-1)  # [..., T, 1]
    quota = cell_quota(frame_budget.to(torch.long), cells, coverage).unsqueeze(-1)
    in_quota = rank_within(flat, cell, num_groups=cells) < quota  # [..., T, m]
    rank = rank_within(flat, None, in_quota)  # quota tokens first, then by score
    return (rank < budget).view_as(scores)

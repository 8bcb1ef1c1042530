"""Grid fusion: spend part of each frame's budget on one merged token per cell (SPEC §6)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from .grid import grid_cells, grid_quota_topk, rank_within

__all__ = ["FusedCells", "fuse_cells", "cell_sums"]


class FusedCells(NamedTuple):
    """What :func:`fuse_cells` kept and merged.

    Shapes:
        keep_mask:    [..., T, H, W] bool, exactly ``B_f`` True per frame.
        anchor_mask:  [..., T, H, W] bool, the kept positions that carry a fused token.
        absorbed:     [..., T, H, W] bool, the tokens averaged into their cell's fused token.
        weight:       [..., T, H, W] the weight of each absorbed token in its cell's mean (its
                      score, or 1 in a cell whose absorbed scores sum to 0); 0 elsewhere.
        cell_tokens:  [..., T, c, D] the fused token of each cell (zero where a cell is not fused),
                      or None when not asked for.
        cell:         [H*W] int64, the cell of each position of a frame.
    """

    keep_mask: torch.Tensor
    anchor_mask: torch.Tensor
    absorbed: torch.Tensor
    weight: torch.Tensor
    cell_tokens: torch.Tensor | None
    cell: torch.Tensor


def fuse_cells(
    features: torch.Tensor,
    scores: torch.Tensor,
    frame_budget: torch.Tensor,
    grid: int = 4,
    coverage: float = 0.5,
    *,
    fusion_grid: int | None = None,
    fusion_share: float = 0.5,
    fusion_weight: str = "score",
    tokens: bool = True,
) -> FusedCells:
    """Grid fusion of SPEC §6: ``B_f − c_f`` selected tokens plus up to ``c_f`` fused cell tokens.

    ``c_f = min(c, floor(B_f / 2))``. The ``B_f − c_f`` tokens are chosen as in SPEC §5 (quotas on
    ``B_f − c_f``). Among cells still holding unselected tokens, the ``c_f`` with the largest total
    unselected score (ties: lower cell) each give one token: the score-weighted mean of their
    unselected raw features (plain mean if those scores sum to 0), placed at the cell's
    highest-scoring unselected position. Slots left when fewer cells qualify take the next best
    unselected tokens (not anchors) as plain tokens; such a token leaves its cell's mean, so
    every input token sits in exactly one output (see ``docs/algorithm.md``, "Deviations").

    Options beyond SPEC §6 (its values are the defaults): ``fusion_grid`` lays the fused cells on
    their own ``g'×g'`` grid (None: ``grid``); ``fusion_share`` caps the fused slots at
    ``floor(B_f·share)`` instead of ``floor(B_f/2)``; ``fusion_weight="mean"`` takes plain means
    of the absorbed tokens instead of score-weighted ones. ``tokens=False`` skips the cell
    tokens (``cell_tokens`` is None): a caller that merges by ``weight`` itself.

    Shapes:
        features: [..., T, H, W, D], scores: [..., T, H, W], frame_budget: [..., T]
    """
    if fusion_weight not in ("score", "mean"):
        raise ValueError(f"fusion_weight must be 'score' or 'mean', got {fusion_weight!r}")
    H, W = scores.shape[-2:]
    cell, cells = grid_cells(H, W, grid if fusion_grid is None else fusion_grid, scores.device)
    budget = frame_budget.to(torch.long)
    cap = torch.floor(budget.to(torch.float64) * fusion_share + 1e-9).to(torch.long)
    fused_slots = torch.minimum(torch.full_like(budget, cells), cap)  # c_f, [..., T]
    base = grid_quota_topk(scores, budget - fused_slots, grid, coverage).flatten(-2)  # [..., T, m]
    flat = scores.flatten(-2)  # [..., T, m]
    unselected = ~base
    index = cell.expand_as(flat)
    zeros = torch.zeros(*flat.shape[:-1], cells, dtype=flat.dtype, device=flat.device)
    cell_total = zeros.scatter_add(-1, index, torch.where(unselected, flat, 0))  # [..., T, c]
    cell_count = zeros.scatter_add(-1, index, unselected.to(flat.dtype))
    qualifies = cell_count > 0
    cell_rank = rank_within(cell_total, None, qualifies)  # [..., T, c]
    fused_cell = qualifies & (cell_rank < fused_slots.unsqueeze(-1))  # [..., T, c]
    n_fused = fused_cell.sum(-1)  # [..., T]

    in_fused = unselected & fused_cell.gather(-1, index)  # [..., T, m]
    anchor = in_fused & (rank_within(flat, cell, unselected, num_groups=cells) == 0)
    spare = unselected & ~anchor
    extra_rank = rank_within(flat, None, spare)
    extra = spare & (extra_rank < (fused_slots - n_fused).unsqueeze(-1))
    keep = base | anchor | extra
    absorbed = in_fused & ~extra  # a leftover slot's plain token is not also in a cell's mean

    # Score-weighted (or plain) means of the absorbed tokens of each fused cell.
    weight = torch.where(
        absorbed, flat if fusion_weight == "score" else torch.ones_like(flat), 0
    )  # [..., T, m]
    weight_sum = zeros.scatter_add(-1, index, weight)  # [..., T, c]
    plain = (weight_sum <= 0).gather(-1, index) & absorbed  # cells whose scores sum to 0
    weight = torch.where(plain, torch.ones_like(weight), weight)
    cell_tokens = None
    if tokens:
        norm = zeros.scatter_add(-1, index, weight)  # [..., T, c]
        cell_tokens = cell_sums(features, index, weight, cells, plain=fusion_weight == "mean")
        cell_tokens /= norm.clamp_min(torch.finfo(flat.dtype).tiny).unsqueeze(-1)  # [.., T, c, D]
    shape = scores.shape
    return FusedCells(
        keep.view(shape),
        anchor.view(shape),
        absorbed.view(shape),
        weight.view(shape),
        cell_tokens,
        cell,
    )


def cell_sums(
    features: torch.Tensor, group: torch.Tensor, weight: torch.Tensor, groups: int, *, plain: bool
) -> torch.Tensor:
    """``Σ weight·x`` over the tokens of each group of each frame, by one ``index_add_``.

    Sequential row adds in token order (the order of a ``scatter_add`` over ``[..., m, D]``),
    without the ``[..., m, D]`` index or product tensors. ``plain``: every weight is 0 or 1, so
    the rows are added as they are (weight-0 rows go to a discarded slot, nothing is multiplied).

    Shapes:
        features: [..., T, H, W, D]; group, weight: [..., T, m] (group in [0, groups))
        ->  [..., T, groups, D] in ``weight.dtype``
    """
    D = features.shape[-1]
    lead = weight.shape[:-1]  # [..., T]
    frames = weight[..., 0].numel()
    rows = features.reshape(-1, D).to(weight.dtype)  # [F·m, D]
    base = torch.arange(frames, device=weight.device).view(*lead, 1) * groups
    slot = (base + group).reshape(-1)  # [F·m] output row of each token
    sums = torch.zeros(frames * groups + plain, D, dtype=weight.dtype, device=weight.device)
    if plain:  # the discarded last row takes the weight-0 tokens
        sums.index_add_(0, torch.where(weight.reshape(-1) != 0, slot, frames * groups), rows)
        sums = sums[:-1]
    else:
        sums.index_add_(0, slot, rows * weight.reshape(-1, 1))
    return sums.view(*lead, groups, D)

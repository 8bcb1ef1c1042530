"""Saliency-weighted frame budgets (paper §3.4, Eq. 4; SPEC §4)."""

from __future__ import annotations

import math

import torch

__all__ = ["allocate_frame_budget", "frame_saliency", "budget_bounds"]


def frame_saliency(scores: torch.Tensor, top_q: float = 0.3) -> torch.Tensor:
    """``S̄_f``: the mean of the top ``ceil(q·m)`` token scores of each frame (SPEC §4.1).

    Shapes:
        scores: [..., T, H, W]  ->  [..., T]
    """
    if not 0 < top_q <= 1:
        raise ValueError(f"top_q must be in (0, 1], got {top_q}")
    flat = scores.flatten(-2)  # [..., T, m]
    m = flat.shape[-1]
    count = min(m, max(1, math.ceil(top_q * m - 1e-9)))
    return flat.topk(count, dim=-1, sorted=False).values.mean(-1)


def budget_bounds(
    budget: int,
    frames: int,
    tokens_per_frame: int,
    min_frame_tokens: int = 4,
    max_frame_tokens: int | None = None,
) -> tuple[int, int]:
    """The effective per-frame bounds ``(lo, hi)`` of SPEC §4.3; they always admit ``K``.

    ``lo = min(B_min, floor(K/T))``, ``hi = min(m, max(B_max or m, ceil(K/T)))``.
    """
    lo = min(min_frame_tokens, budget // frames)
    hi = min(tokens_per_frame, max(max_frame_tokens or tokens_per_frame, -(-budget // frames)))
    return lo, hi


def allocate_frame_budget(
    scores: torch.Tensor,
    budget: int,
    top_q: float = 0.3,
    alloc_tau: float = 0.1,
    min_frame_tokens: int = 4,
    max_frame_tokens: int | None = None,
) -> torch.Tensor:
    """Split the budget ``K`` over frames in proportion to frame saliency (Eq. 4, SPEC §4).

    ``w = softmax(S̄ / τ_alloc)``; ``B_f = clamp(floor(w_f·K), lo, hi)``; then the remainder is
    added to (or taken from) frames in the order of SPEC §4.5, computed here in closed form: the
    one-at-a-time rule visits frames in a fixed order (largest ``w`` first to add, smallest ``w``
    first to remove), filling each to its bound before the next, so a sort and a cumulative sum
    give the identical result without a loop or host synchronisation. Weights are computed in
    float64 so that every implementation floors the same numbers.

    Args:
        scores: fused token scores ``S``.
        budget: K, with ``1 <= K <= T·H·W``.

    Returns:
        int64 budgets ``B_f`` with ``lo <= B_f <= hi`` summing to K.

    Shapes:
        scores: [..., T, H, W]  ->  [..., T]
    """
    T, H, W = scores.shape[-3:]
    m = H * W
    if not 1 <= budget <= T * m:
        raise ValueError(f"budget must be in [1, {T * m}], got {budget}")
    if not alloc_tau > 0:
        raise ValueError(f"alloc_tau must be > 0, got {alloc_tau}")
    lead = scores.shape[:-3]
    if T == 1:  # SPEC §4.6
        return torch.full((*lead, 1), budget, dtype=torch.long, device=scores.device)
    saliency = frame_saliency(scores, top_q).to(torch.float64)  # [..., T]
    w = torch.softmax(saliency / alloc_tau, dim=-1)
    lo, hi = budget_bounds(budget, T, m, min_frame_tokens, max_frame_tokens)
    alloc = torch.floor(w * budget).to(torch.long).clamp(lo, hi)  # [..., T]
    excess = alloc.sum(-1, keepdim=True) - budget  # [..., 1]; > 0 remove, < 0 add

    frame_idx = torch.arange(T, device=scores.device)
    # Add: largest w first, ties lower frame index (a stable sort of -w keeps index order).
    add_order = torch.argsort(-w, dim=-1, stable=True)
    add = _fill_in_order(add_order, hi - alloc, (-excess).clamp_min(0))
    # Remove: smallest w first, ties higher frame index (stable sort over reversed frames).
    rev = frame_idx.flip(0)
    remove_order = rev[torch.argsort(w[..., rev], dim=-1, stable=True)]
    remove = _fill_in_order(remove_order, alloc - lo, excess.clamp_min(0))
    return alloc + add - remove


def _fill_in_order(
    order: torch.Tensor, capacity: torch.Tensor, amount: torch.Tensor
) -> torch.Tensor:
    """Distribute ``amount`` over frames visited in ``order``, each up to its ``capacity``.

    Shapes:
        order, capacity: [..., T]; amount: [..., 1]  ->  [..., T]
    """
    cap = capacity.gather(-1, order)  # [..., T] in visiting order
    before = cap.cumsum(-1) - cap  # capacity of the frames visited earlier
    given = torch.minimum(cap, (amount - before).clamp_min(0))
    return torch.zeros_like(capacity).scatter(-1, order, given)

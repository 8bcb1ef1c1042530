"""Detail + context: salient tokens kept as they are, the rest of each frame pooled into
equal-count summaries (an option of ours, beyond the paper; ``docs/algorithm.md`` §6b).

Per frame with budget ``B_f``: ``C_f = min(floor(B_f·share), m − (B_f − C_f))`` context slots and
``D_f = B_f − C_f`` detail slots. The detail tokens are chosen as in SPEC §5 (grid quotas on
``D_f``). The ``n_f = m − D_f`` other tokens are ordered along a Z-order (Morton) curve of the
grid, which keeps neighbours together, and cut into ``C_f`` runs of equal length (±1); each run
becomes one output token, the plain mean of its members, placed at the run's first position.

Why equal counts: the mean of the context tokens is then exactly the mean of the tokens that were
not kept as detail, so the summaries carry the frame's gist without the sampling noise of a
uniform subset, while the detail tokens carry what stands out.

Also here: the rarity term ``R`` of a token, one minus its largest cosine similarity to any other
token of its frame (1 for a token unlike everything else in view, 0 for a duplicated one).
"""

from __future__ import annotations

import torch

from .checks import compute_dtype
from .fusion import FusedCells, cell_sums
from .grid import grid_quota_topk, rank_within

__all__ = ["context_pool", "morton_order", "frame_rarity"]


def morton_order(height: int, width: int, device=None) -> torch.Tensor:
    """Z-order (Morton) code of every position of an ``H×W`` grid (row bits and column bits
    interleaved); sorting by it walks the grid in compact 2×2, 4×4, ... blocks.

    Shapes:
        -> [H*W] int64
    """
    i = torch.arange(height, device=device).repeat_interleave(width)
    j = torch.arange(width, device=device).repeat(height)
    code = torch.zeros_like(i)
    for bit in range(max(height, width).bit_length()):
        code |= ((i >> bit) & 1) << (2 * bit + 1)
        code |= ((j >> bit) & 1) << (2 * bit)
    return code


def context_pool(
    features: torch.Tensor,
    scores: torch.Tensor,
    frame_budget: torch.Tensor,
    grid: int = 4,
    coverage: float = 0.5,
    share: float = 0.5,
    *,
    tokens: bool = True,
) -> FusedCells:
    """Detail tokens by score (SPEC §5 on ``B_f − C_f``) plus ``C_f`` equal-count context means.

    Returns a :class:`FusedCells` whose ``cell_tokens`` hold one context token per run (``c`` is
    ``m``: run ``g`` of frame ``t`` is "cell" ``g``), ``weight`` 1 on every absorbed token, and
    ``cell`` the run index of each position is NOT fixed per frame, so ``run`` (below) is returned
    in its place: ``[..., T, m]`` int64 (the run of each absorbed token, -1 elsewhere).
    ``tokens=False`` skips the context tokens (``cell_tokens`` is None).

    Shapes:
        features: [..., T, H, W, D], scores: [..., T, H, W], frame_budget: [..., T]
    """
    H, W = scores.shape[-2:]
    budget = frame_budget.to(torch.long)  # [..., T]
    ctx = torch.floor(budget.to(torch.float64) * share + 1e-9).to(torch.long)
    ctx = torch.minimum(ctx, budget)  # D_f >= 0
    detail_budget = budget - ctx
    # at least one token per run: C_f <= m − D_f always holds since B_f <= m
    detail = grid_quota_topk(scores, detail_budget, grid, coverage).flatten(-2)  # [..., T, m]
    rest = ~detail
    n_rest = rest.sum(-1, keepdim=True)  # [..., T, 1]
    code = morton_order(H, W, scores.device).to(scores.dtype).expand_as(rest)
    r = rank_within(-code, None, rest)  # rank along the curve among the rest (rest first)
    c = ctx.unsqueeze(-1)  # [..., T, 1]
    run = torch.where(rest & (c > 0), (r * c) // n_rest.clamp_min(1), -1)  # [..., T, m]
    first = (run * n_rest + c - 1) // c.clamp_min(1)  # first rank of the token's run
    anchor = rest & (run >= 0) & (first == r)
    keep = detail | anchor
    absorbed = rest & (run >= 0)
    cell_tokens = None
    if tokens:
        cd = compute_dtype(features.dtype)
        slot = run.clamp_min(0)  # [..., T, m]
        counts = torch.zeros(run.shape, dtype=cd, device=features.device)
        counts.scatter_add_(-1, slot, absorbed.to(cd))
        sums = cell_sums(features, slot, absorbed.to(cd), run.shape[-1], plain=True)
        cell_tokens = sums / counts.clamp_min(1).unsqueeze(-1)  # [..., T, m, D]
    shape = scores.shape
    weight = absorbed.to(scores.dtype)
    return FusedCells(
        keep.view(shape),
        anchor.view(shape),
        absorbed.view(shape),
        weight.view(shape),
        cell_tokens,
        run,
    )


def frame_rarity(features: torch.Tensor, chunk_frames: int = 8) -> torch.Tensor:
    """``R = 1 − max_{j ≠ i in the frame} cos(x_i, x_j)``, in [0, 2] (clamped to [0, 1]).

    Shapes:
        features: [B, T, H, W, D]  ->  [B, T, H, W]
    """
    Bsz, T, H, W, D = features.shape
    m = H * W
    cd = compute_dtype(features.dtype)
    x = features.reshape(Bsz * T, m, D)
    out = torch.empty(Bsz * T, m, dtype=cd, device=features.device)
    eye = torch.eye(m, dtype=torch.bool, device=features.device)
    for f0 in range(0, Bsz * T, chunk_frames):
        xc = x[f0 : f0 + chunk_frames].to(cd)
        xn = xc / xc.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        sim = (xn @ xn.transpose(1, 2)).masked_fill(eye, float("-inf"))  # [f, m, m]
        best = sim.amax(-1)
        out[f0 : f0 + chunk_frames] = (1 - torch.where(torch.isfinite(best), best, 1.0)).clamp(0, 1)
    return out.view(Bsz, T, H, W)

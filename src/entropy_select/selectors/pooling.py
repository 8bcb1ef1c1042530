"""``pooling``: PLLaVA-style adaptive average pooling of the token grid, trimmed to exactly K.

Reimplemented from PLLaVA (Xu et al., 2024, "PLLaVA: Parameter-free LLaVA Extension from Images
to Videos for Video Dense Captioning", §3): the ``[T, H, W]`` feature grid is average-pooled to a
smaller ``[T', H', W']`` grid (PLLaVA pools spatially and keeps the frames). Here the pooled shape
is chosen from K, and the surplus pooled tokens are dropped so that exactly K remain.
"""

from __future__ import annotations

import torch

from ..core.checks import compute_dtype
from ..core.selection import Selection, assemble_selection
from .base import Selector, lattice_shape, merge_mean, slot_of_kept, topk_mask

__all__ = ["Pooling", "pooled_shape", "bin_layout"]


def pooled_shape(frames: int, height: int, width: int, budget: int) -> tuple[int, int, int]:
    """The pooled grid ``(T', H', W')`` for a budget K: the smallest spatial lattice that holds it.

    ``K >= T``: ``T' = T`` and ``H'×W'`` the lattice of :func:`~.base.lattice_shape` for
    ``ceil(K/T)`` tokens (aspect ratio kept), so ``T'·H'·W' >= K``. ``K < T``: ``(K, 1, 1)``,
    each pooled token averages a run of consecutive frames.
    """
    if budget < frames:
        return budget, 1, 1
    rows, cols = lattice_shape(height, width, -(-budget // frames))
    return frames, rows, cols


def bin_layout(
    length: int, bins: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``length`` positions into ``bins`` contiguous, non-empty runs.

    Position ``i`` goes to bin ``floor(i·bins/length)``. These are exactly the windows of
    ``adaptive_avg_pool`` when ``bins`` divides ``length``; otherwise adaptive pooling's windows
    overlap by one position, which this partition avoids so that every token has one owner.

    Returns:
        ``(bin of each position [length], anchor of each bin [bins])``; the anchor is the run's
        middle position (the lower middle for even runs).
    """
    pos = torch.arange(length, device=device)
    owner = pos * bins // length
    k = torch.arange(bins + 1, device=device)
    start = (k * length + bins - 1) // bins  # ceil(k·L/bins): first position of each run
    anchor = start[:-1] + (start[1:] - start[:-1] - 1) // 2
    return owner, anchor


class Pooling(Selector):
    """Average-pool the video's token grid to about K tokens, then drop the flattest pooled ones.

    1. Pooled shape from :func:`pooled_shape`; every token belongs to one pooled bin
       (:func:`bin_layout` per axis), and the pooled token is the plain mean of its bin.
    2. If the grid has more than K bins, keep the K bins with the largest within-bin spread
       ``mean ‖x − μ_bin‖²`` (ties: lower bin) and drop the rest — a flat bin is the cheapest to
       lose. Exact when the shape holds exactly K (then nothing is dropped).
    3. Each kept pooled token is anchored at its bin's centre token.

    With an exact shape (``H % H' == 0``, ``W % W' == 0``) the tokens equal
    ``torch.nn.functional.adaptive_avg_pool3d`` of the grid.

    Scores: every token carries its bin's spread (kept anchors hold the K largest bin spreads).
    ``assignment`` maps each token to its bin's output slot (-1 for dropped bins).

    Cost: flat in retention — two scatter passes over the N·D features and a sort of the bins.

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], assignment [B, N]
    """

    name = "pooling"
    merges = True  # tokens are merged from the features (autograd on while selecting)

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, D = features.shape
        device = features.device
        tp, hp, wp = pooled_shape(T, H, W, budget)
        bt, at = bin_layout(T, tp, device)
        bi, ai = bin_layout(H, hp, device)
        bj, aj = bin_layout(W, wp, device)
        P = tp * hp * wp
        owner = (bt[:, None, None] * hp + bi[None, :, None]) * wp + bj[None, None, :]
        owner = owner.reshape(-1).expand(Bsz, -1)  # [B, N] pooled bin of every token
        anchor = ((at[:, None, None] * H + ai[None, :, None]) * W + aj[None, None, :]).reshape(-1)
        flat = features.reshape(Bsz, T * H * W, D)  # [B, N, D]
        cd = compute_dtype(features.dtype)
        mean = merge_mean(flat.to(cd), owner, P)  # [B, P, D] the pooled tokens
        dev = (flat.to(cd) - mean.gather(1, owner.unsqueeze(-1).expand(-1, -1, D))).pow(2).sum(-1)
        spread = torch.zeros(Bsz, P, dtype=cd, device=device).scatter_add_(1, owner, dev)
        count = torch.zeros(P, dtype=cd, device=device).scatter_add_(
            0, owner[0], torch.ones_like(owner[0], dtype=cd)
        )
        spread = spread / count  # [B, P]
        keep_bin = topk_mask(spread, budget)  # [B, P]
        keep_flat = torch.zeros(Bsz, T * H * W, dtype=torch.bool, device=device)
        keep_flat.scatter_(1, anchor.expand(Bsz, -1), keep_bin)
        slot = slot_of_kept(keep_flat).gather(1, anchor.expand(Bsz, -1))  # [B, P]
        bin_slot = torch.where(keep_bin, slot, torch.full_like(slot, -1))
        assignment = bin_slot.gather(1, owner)  # [B, N]
        tokens = merge_mean(flat, assignment, budget)
        scores = spread.gather(1, owner).view(Bsz, T, H, W)
        return assemble_selection(
            features, keep_flat, scores, budget, tokens=tokens, assignment=assignment
        )

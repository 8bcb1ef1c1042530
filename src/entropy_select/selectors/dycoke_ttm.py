"""``dycoke_ttm``: DyCoke's temporal token merging stage (pruning of repeated tokens).

Reimplemented from DyCoke (Tao et al., 2025, "DyCoke: Dynamic Compression of Tokens for Fast
Video Large Language Models", CVPR 2025, §3.2 "Temporal token merging"): frames are taken in
groups of four. In each pair (0,1), (2,3) the second frame keeps only the tokens least similar
to the same position in the first; then frame 2 of the group is pruned the same way against
frame 0. Frame 0 of each group (the anchor) is kept whole. Dropped tokens are discarded, not
averaged. DyCoke's second stage (KV-cache pruning during decoding) needs the language model and
is out of scope for a feature-only selector.
"""

from __future__ import annotations

import torch

from ..core.checks import compute_dtype
from ..core.grid import rank_within
from ..core.selection import Selection, assemble_selection
from .base import Selector, apportion, lattice_mask, normalize_tokens

__all__ = ["DyCokeTTM", "reference_frames"]


def reference_frames(frames: int) -> list[int]:
    """The frame each frame is compared with; -1 for the anchors (``t % 4 == 0``).

    ``t % 2 == 1`` → ``t − 1`` (the pair stage); ``t % 4 == 2`` → ``t − 2`` (the group stage).
    Comparisons use the unpruned features of the reference frame, as DyCoke does.
    """
    return [-1 if t % 4 == 0 else (t - 1 if t % 2 else t - 2) for t in range(frames)]


class DyCokeTTM(Selector):
    """DyCoke's TTM made exact-K.

    Score of a token of a non-anchor frame: ``1 − cos(x[t, p], x[ref(t), p])`` (same position
    ``p``, :func:`reference_frames`). With ``A`` anchor frames (``ceil(T/4)``):

    - ``K >= A·H·W`` (DyCoke's regime: its fixed pruning ratio never touches anchors): anchors
      are kept whole; the other ``K − A·H·W`` tokens are split evenly over the non-anchor frames
      (extra tokens to the earlier ones) and each keeps its most dissimilar tokens (ties: lower
      index). DyCoke's own setting corresponds to one common ratio for all pruned frames.
    - ``K < A·H·W`` (below DyCoke's floor of roughly 1/4 retention, where it has no rule):
      non-anchor frames keep nothing and the K tokens are split evenly over the anchors, each
      keeping a regular lattice (as ``uniform``). This extension is ours.

    Scores: the dissimilarity (in [0, 2]) on non-anchor frames; anchor tokens score 3 when kept
    and 2 when dropped (so kept tokens outrank dropped ones of their frame).

    Cost: flat in retention — one cosine per token (O(N·D)) and a sort per frame.

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K]
    """

    name = "dycoke_ttm"

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, D = features.shape
        m = H * W
        device = features.device
        ref = reference_frames(T)
        is_anchor = torch.tensor([r < 0 for r in ref], device=device)  # [T]
        anchors = int(sum(r < 0 for r in ref))
        xn = normalize_tokens(features.to(compute_dtype(features.dtype))).reshape(Bsz, T, m, D)
        ref_index = torch.tensor([max(r, 0) for r in ref], device=device)
        dissim = 1 - (xn * xn[:, ref_index]).sum(-1)  # [B, T, m]; meaningless on anchors
        if budget >= anchors * m:
            target = torch.where(is_anchor, float(m), (budget - anchors * m) / max(T - anchors, 1))
            # anchors first: give them a priority above any non-anchor target
            target = torch.where(is_anchor, target + 2 * m, target).to(torch.float64)
            frame_budget = apportion(target.expand(Bsz, -1), budget, m)  # [B, T]
            keep = rank_within(dissim) < frame_budget.unsqueeze(-1)
            keep = keep | is_anchor[:, None]  # [B, T, m]
        else:
            per_anchor = torch.zeros(T, dtype=torch.long, device=device)
            split = torch.arange(anchors + 1, device=device) * budget // anchors
            per_anchor[is_anchor] = split[1:] - split[:-1]
            low = budget // anchors
            mask_low = lattice_mask(H, W, low, device)
            mask_high = lattice_mask(H, W, low + 1, device) if low < m else mask_low
            keep = torch.where((per_anchor > low)[:, None], mask_high, mask_low)
            keep = (keep & is_anchor[:, None]).expand(Bsz, -1, -1)
        score = torch.where(is_anchor[:, None], 2 + keep.to(dissim.dtype), dissim)
        return assemble_selection(features, keep, score.view(Bsz, T, H, W), budget)

"""``evs``: Efficient Video Sampling — drop tokens that repeat the previous frame.

Reimplemented from the description of EVS (Bagrov et al., 2025, "Efficient Video Sampling:
Pruning Temporally Redundant Tokens for Faster VLM Inference"; shipped in vLLM as
``vllm/multimodal/evs.py``): a token's score is its dissimilarity to the token at the same
position in the previous frame; the first frame is always kept first; one global top-K.
"""

from __future__ import annotations

import torch

from ..core.checks import compute_dtype
from ..core.selection import Selection, assemble_selection
from .base import Selector, normalize_tokens, topk_mask

__all__ = ["EVS"]


class EVS(Selector):
    """Keep the K tokens that changed most since the previous frame.

    ``score(t, i, j) = 1 − cos(x[t, i, j], x[t−1, i, j])`` for ``t >= 1`` and ``+inf`` for every
    token of frame 0, so frame 0 is kept whole before any later token (and, when
    ``K < H·W``, its first K tokens in raster order, by the lower-index tie rule). One global
    top-K over the video; a zero token counts as dissimilar to everything (cosine 0).

    Scores: the dissimilarity above (``inf`` on frame 0).

    Cost: flat in retention — one cosine per token (O(N·D)) and one sort of N scores.

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K]
    """

    name = "evs"

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, _ = features.shape
        xn = normalize_tokens(features.to(compute_dtype(features.dtype)))  # [B, T, H, W, D]
        score = torch.full((Bsz, T, H, W), float("inf"), dtype=xn.dtype, device=xn.device)
        if T > 1:
            score[:, 1:] = 1 - (xn[:, 1:] * xn[:, :-1]).sum(-1)
        keep_flat = topk_mask(score.reshape(Bsz, -1), budget)
        return assemble_selection(features, keep_flat, score, budget)

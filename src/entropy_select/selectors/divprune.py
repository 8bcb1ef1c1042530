"""``divprune``: diversity-based pruning — a greedy max–min (farthest-point) subset.

Reimplemented from DivPrune (Alvar et al., 2025, "DivPrune: Diversity-based Visual Token
Pruning for Large Multimodal Models", CVPR 2025, §3, Alg. 1): token selection as a Max–Min
Diversity Problem over cosine distance ``d = 1 − cos``, solved greedily. The first token is the
one whose nearest neighbour is farthest; each next token maximises its distance to the nearest
token already chosen.
"""

from __future__ import annotations

import torch

from ..core.checks import compute_dtype
from ..core.selection import Selection, assemble_selection
from .base import Selector, normalize_tokens

__all__ = ["DivPrune"]


class DivPrune(Selector):
    """Greedy max–min diversity selection over the whole video.

    ``d_ij = 1 − cos(x_i, x_j)`` over all N tokens (computed once, as DivPrune does). Seed:
    ``argmax_i min_{j≠i} d_ij``. Then K−1 times: ``argmax_i min_{s∈S} d_is`` over unchosen ``i``
    (ties: lower index). DivPrune recomputes ``min_{s∈S}`` over the whole chosen set each step
    (O(K²·N)); keeping a running minimum gives the same choices in O(K·N).

    Scores: the distance at which a token was chosen (its max–min gain; ``inf`` for the seed);
    for dropped tokens, their final distance to the chosen set. Greedy gains never increase, so
    every kept token scores at least as high as every dropped one.

    Cost: grows with K. The N×N Gram matrix (O(N²·D) time, N² memory: 630 MB at N = 12 544 in
    float32) is paid at every retention; then K sequential steps of O(N) each, one small kernel
    launch group per step — inherently sequential. Measured on an H200 at 14×14×1152
    (``benchmarks/results/selectors_cuda.json``): 9.5× slower at r = 0.5 than at r = 0.05 for
    16 frames, 12× for 64 frames (the steps dominate); on a 2-core CPU the Gram matrix dominates
    (14–18 s for 64 frames at every r, ``selectors_cpu.json``).

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K]
    """

    name = "divprune"

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, D = features.shape
        N = T * H * W
        xn = normalize_tokens(features.to(compute_dtype(features.dtype))).reshape(Bsz, N, D)
        dist = 1 - xn @ xn.transpose(1, 2)  # [B, N, N] cosine distance
        eye = torch.eye(N, dtype=torch.bool, device=xn.device)
        nearest = dist.masked_fill(eye, float("inf")).amin(-1)  # [B, N] nearest-neighbour distance
        pick = torch.argmax(nearest, dim=-1, keepdim=True)  # [B, 1] first maximum on ties
        score = torch.full((Bsz, N), float("-inf"), dtype=xn.dtype, device=xn.device)
        score.scatter_(1, pick, float("inf"))
        chosen = torch.zeros(Bsz, N, dtype=torch.bool, device=xn.device).scatter_(1, pick, True)
        flat_dist = dist.reshape(Bsz * N, N)  # row b*N + i: distances from token i of video b
        base = torch.arange(Bsz, device=xn.device) * N
        reach = flat_dist.index_select(0, base + pick[:, 0])  # [B, N] distance to the chosen set
        for _ in range(budget - 1):
            gain = reach.masked_fill(chosen, float("-inf"))
            pick = torch.argmax(gain, dim=-1, keepdim=True)
            score.scatter_(1, pick, gain.gather(1, pick))
            chosen.scatter_(1, pick, True)
            reach = torch.minimum(reach, flat_dist.index_select(0, base + pick[:, 0]))
        score = torch.where(chosen, score, reach)
        return assemble_selection(features, chosen, score.view(Bsz, T, H, W), budget)

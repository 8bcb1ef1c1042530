"""``tome``: Token Merging by bipartite soft matching, repeated until K tokens remain.

Reimplemented from ToMe (Bolya et al., 2023, "Token Merging: Your ViT But Faster", ICLR 2023,
§3 "Bipartite Soft Matching" and "Proportional attention"/size-weighted averages): split the
tokens alternately into sets A and B, connect every A token to its most similar B token
(cosine), merge the r most similar edges (A into B) by a size-weighted mean, and repeat.
Applied here to the video's tokens as a standalone reducer, not inside a ViT's layers.
"""

from __future__ import annotations

import torch

from ..core.checks import compute_dtype
from ..core.selection import Selection, assemble_selection
from .base import Selector, normalize_tokens

__all__ = ["ToMe"]


class ToMe(Selector):
    """Bipartite soft matching on the whole video until exactly K merged tokens remain.

    Each round, with n tokens kept in ascending order of their anchor position: A = tokens at
    even places, B = odd places; each A token's best B match by cosine of the current (mean)
    features; the ``r = min(n − K, floor(n/2))`` A tokens with the most similar matches (ties:
    lower place) merge into their match (several may merge into one). A merged token's feature
    is the size-weighted mean of its parts (so, the plain mean of the original tokens it holds),
    its anchor the B token's position. Rounds repeat until ``n = K``; each removes up to half.

    Scores: the number of original tokens merged into each kept anchor (>= 1); 0 elsewhere.
    ``assignment`` gives each token's output slot.

    Cost: grows as retention falls: ``ceil(log2(N/K))`` rounds (1 at r = 0.5, 5 at r = 0.05),
    the first costing O((N/2)²·D) and each later one about a quarter of the one before, so the
    arithmetic grows by at most ≈ 4/3; but each round also has a fixed cost (a sort, scatters,
    kernel launches), which dominates on a GPU at video sizes. Measured on an H200 at
    14×14×1152 (``benchmarks/results/selectors_cuda.json``): 3.3× slower at r = 0.05 than at
    r = 0.5 for 16 frames, 1.6× for 64 frames.

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], assignment [B, N]
    """

    name = "tome"
    merges = True  # tokens are merged from the features (autograd on while selecting)

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, D = features.shape
        N = T * H * W
        device = features.device
        total = features.to(compute_dtype(features.dtype)).reshape(Bsz, N, D)  # [B, n, D] sums
        size = torch.ones(Bsz, N, dtype=total.dtype, device=device)  # [B, n]
        anchor = torch.arange(N, device=device).expand(Bsz, -1)  # [B, n] ascending
        owner = anchor.clone()  # [B, N] current place of every original token
        n = N
        while n > budget:
            r = min(n - budget, n // 2)
            na, nb = (n + 1) // 2, n // 2
            mean = normalize_tokens(total / size.unsqueeze(-1))
            sim = mean[:, 0::2] @ mean[:, 1::2].transpose(1, 2)  # [B, na, nb]
            best, match = sim.max(dim=-1)  # [B, na]
            order = torch.argsort(best, dim=-1, descending=True, stable=True)
            src, keep_a = order[:, :r], order[:, r:]  # places within A
            dst = match.gather(1, src)  # places within B
            # merge the r sources into their destinations (size-weighted: sums and sizes add)
            a_total, b_total = total[:, 0::2], total[:, 1::2].clone()
            a_size, b_size = size[:, 0::2], size[:, 1::2].clone()
            b_total.scatter_add_(
                1,
                dst.unsqueeze(-1).expand(-1, -1, D),
                a_total.gather(1, src.unsqueeze(-1).expand(-1, -1, D)),
            )
            b_size.scatter_add_(1, dst, a_size.gather(1, src))
            # survivors: unmerged A tokens and all B tokens, re-sorted by anchor position
            new_anchor = torch.cat([anchor[:, 0::2].gather(1, keep_a), anchor[:, 1::2]], 1)
            resort = torch.argsort(new_anchor, dim=-1)  # anchors are distinct
            place = torch.empty_like(resort).scatter_(
                1, resort, torch.arange(n - r, device=device).expand(Bsz, -1)
            )
            # where each old place goes: A place -> its survivor or its destination's place
            a_new = torch.empty(Bsz, na, dtype=torch.long, device=device)
            a_new.scatter_(1, keep_a, place[:, : na - r])
            a_new.scatter_(1, src, place[:, na - r :].gather(1, dst))
            remap = torch.empty(Bsz, n, dtype=torch.long, device=device)
            remap[:, 0::2] = a_new
            remap[:, 1::2] = place[:, na - r :]
            owner = remap.gather(1, owner)
            survivors_total = torch.cat(
                [a_total.gather(1, keep_a.unsqueeze(-1).expand(-1, -1, D)), b_total], 1
            )
            survivors_size = torch.cat([a_size.gather(1, keep_a), b_size], 1)
            total = survivors_total.gather(1, resort.unsqueeze(-1).expand(-1, -1, D))
            size = survivors_size.gather(1, resort)
            anchor = new_anchor.gather(1, resort)
            n -= r
            assert nb == n - (na - r)
        keep_flat = torch.zeros(Bsz, N, dtype=torch.bool, device=device).scatter_(1, anchor, True)
        score = torch.zeros(Bsz, N, dtype=total.dtype, device=device).scatter_(1, anchor, size)
        tokens = (total / size.unsqueeze(-1)).to(features.dtype)
        return assemble_selection(
            features, keep_flat, score.view(Bsz, T, H, W), budget, tokens=tokens, assignment=owner
        )

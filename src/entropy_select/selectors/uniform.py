"""``uniform``: a regular spatiotemporal stride pattern of exactly K tokens (content-blind).

The simplest baseline of the token-pruning literature (e.g. the uniform-sampling rows of
FastV, Chen et al., 2024b, and of the ENTROPY-SELECT paper's ablations): it looks at positions
only, never at the features.
"""

from __future__ import annotations

import torch

from ..core.selection import Selection, assemble_selection
from .base import Selector, even_split, lattice_mask

__all__ = ["Uniform"]


class Uniform(Selector):
    """Keep K tokens on a regular lattice, spread evenly over frames and over each frame.

    Frame f keeps ``B_f = floor((f+1)·K/T) − floor(f·K/T)`` tokens (so budgets differ by at most
    one and the frames with the extra token are evenly spaced); inside a frame the ``B_f``
    tokens lie on the centred ``rows × cols`` lattice of :func:`~.base.lattice_mask`
    (e.g. 4 of a 4×4 grid: (1,1), (1,3), (3,1), (3,3)). With ``K < T`` some frames keep nothing.

    Scores: 1.0 for kept tokens, 0.0 for dropped ones (the method has no score).

    Cost: the choice is flat in retention — at most two lattice masks of ``H·W`` positions and
    one sort of N indices. Gathering the K output tokens (K·D values) is the only part that grows
    with K, and it dominates this near-free method on a CPU (measured 1 → 30 ms from r = 0.05 to
    0.5 at 16×14×14×1152, ``benchmarks/results/selectors_cpu.json``; flat 0.7 ms on an H200).

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K]
    """

    name = "uniform"

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, _ = features.shape
        m = H * W
        device = features.device
        frame_budget = even_split(budget, T, device)  # [T]
        low = budget // T  # every frame keeps `low` or `low + 1` tokens
        mask_low = lattice_mask(H, W, low, device)  # [m]
        mask_high = lattice_mask(H, W, low + 1, device) if low < m else mask_low
        keep = torch.where((frame_budget > low).unsqueeze(-1), mask_high, mask_low)  # [T, m]
        keep_flat = keep.reshape(1, T * m).expand(Bsz, -1)  # [B, N]
        scores = keep_flat.to(features.dtype if features.dtype == torch.float64 else torch.float32)
        return assemble_selection(features, keep_flat, scores.view(Bsz, T, H, W), budget)

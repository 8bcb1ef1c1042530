"""``random``: K tokens uniformly at random, from an explicit seed (a content-blind baseline)."""

from __future__ import annotations

import torch

from ..core.selection import Selection, assemble_selection
from .base import Selector, topk_mask

__all__ = ["RandomSelect"]


class RandomSelect(Selector):
    """Keep a uniformly random subset of K tokens.

    Each token gets a priority drawn from ``torch.rand`` with a CPU generator seeded with
    ``seed`` (so the choice is the same on every device and every call); the K highest
    priorities are kept. The draw depends only on ``(seed, N)``: every video of a batch gets the
    same positions, so a batch gives exactly the per-video results (the library's batch rule).
    Use different seeds for independent draws.

    Args:
        seed: a non-negative integer seed for the generator.

    Scores: the random priority in [0, 1) (kept tokens hold the K largest).

    Cost: the choice is flat in retention — N random numbers (on the CPU, then one copy) and one
    sort; gathering the K output tokens grows with K (see ``uniform``).

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K]
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = seed

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, _ = features.shape
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
        priority = torch.rand(T * H * W, generator=generator, dtype=torch.float64)
        priority = priority.to(device=features.device, dtype=dtype).expand(Bsz, -1)  # [B, N]
        keep_flat = topk_mask(priority, budget)
        return assemble_selection(features, keep_flat, priority.reshape(Bsz, T, H, W), budget)

    def __repr__(self) -> str:
        return f"RandomSelect(seed={self.seed})"

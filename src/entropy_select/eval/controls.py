"""Controls: selectors built to be useless to a model, run beside the contenders to check what
each metric can see (an issue-10 lesson: ask of every metric what a selector could do to win it
without helping a real model).

``scrambled_means`` cuts every frame into equal-count groups of tokens drawn at random from
anywhere in the frame and outputs each group's plain mean. No model can read a scene from such
tokens (each is a blend of unrelated places), yet the mean of a frame's outputs is exactly the
mean of its inputs. A metric on which this control wins measures the frame mean, not what the
output tokens carry.
"""

from __future__ import annotations

import torch

from ..core.checks import resolve_budget
from ..core.selection import Selection, assemble_selection
from ..selectors.base import even_split, merge_mean

__all__ = ["ScrambledMeans", "CONTROLS", "is_control"]

#: label prefix of control rows in the reports (never ranked among the contenders)
PREFIX = "control:"


def is_control(label: str) -> bool:
    """Whether a report row is a control (not a contender)."""
    return label.startswith(PREFIX)


class ScrambledMeans:
    """Per frame, ``B_f`` (even split of K) plain means of random equal-count groups (±1).

    Each group is anchored at its lowest position; ``assignment`` maps every input to its group's
    slot (plain means: ``weights`` None), so the detail metrics read it like any merging selector.

    Shapes:
        features: [T, H, W, D]  ->  Selection with K outputs
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __repr__(self) -> str:
        return f"ScrambledMeans(seed={self.seed})"

    def __call__(self, features: torch.Tensor, retention: float) -> Selection:
        T, H, W, D = features.shape
        m, N = H * W, T * H * W
        K = resolve_budget(N, retention, None)
        gen = torch.Generator().manual_seed(self.seed)
        fb = even_split(K, T)  # [T]
        owner = torch.full((T, m), -1, dtype=torch.long)  # flat position of each input's anchor
        for t in range(T):
            b = int(fb[t])
            if b == 0:
                continue
            perm = torch.randperm(m, generator=gen)
            g = torch.empty(m, dtype=torch.long)
            g[perm] = (torch.arange(m) * b) // m  # equal-count groups over a random order
            first = torch.full((b,), m, dtype=torch.long).scatter_reduce(
                0, g, torch.arange(m), reduce="amin"
            )  # each group's anchor: its lowest position
            owner[t] = t * m + first[g]
        owner = owner.flatten()  # [N]
        anchor = torch.zeros(N, dtype=torch.bool)
        anchor[owner[owner >= 0]] = True
        keep_index = anchor.nonzero().flatten()  # sorted; slot order = position order
        slot_of = torch.full((N,), -1, dtype=torch.long)
        slot_of[keep_index] = torch.arange(K)
        assignment = torch.where(owner >= 0, slot_of[owner.clamp_min(0)], -1)  # [N]
        tokens = merge_mean(features.reshape(1, N, D), assignment[None], K)  # [1, K, D]
        return assemble_selection(
            None,
            anchor.view(1, T, H, W),
            anchor.view(1, T, H, W).to(torch.float32),
            K,
            keep_index=keep_index[None],
            tokens=tokens,
            frame_budget=fb[None],
            assignment=assignment[None],
        ).video(0)


#: label -> control, added to the reports of ``entropy-select eval``
CONTROLS = {f"{PREFIX}scrambled_means": ScrambledMeans(seed=0)}

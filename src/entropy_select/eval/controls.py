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
        fb = torch.tensor([(t + 1) * K // T - t * K // T for t in range(T)], dtype=torch.long)
        group = torch.full((T, m), -1, dtype=torch.long)  # local group id per position
        anchor = torch.zeros(T, m, dtype=torch.bool)
        for t in range(T):
            b = int(fb[t])
            if b == 0:
                continue
            perm = torch.randperm(m, generator=gen)
            g = torch.empty(m, dtype=torch.long)
            g[perm] = (torch.arange(m) * b) // m  # equal-count groups over a random order
            group[t] = g
            first = torch.full((b,), m, dtype=torch.long).scatter_reduce(
                0, g, torch.arange(m), reduce="amin"
            )
            anchor[t, first] = True
        keep_index = anchor.flatten().nonzero().flatten()  # sorted; slot order = position order
        slot_of = torch.full((N,), -1, dtype=torch.long)
        slot_of[keep_index] = torch.arange(K)
        # each input's anchor: the anchor of its (frame, group)
        frame = torch.arange(T).repeat_interleave(m)
        code = frame * m + group.flatten().clamp_min(0)
        anchor_pos = torch.full((T * m,), -1, dtype=torch.long).scatter_reduce(
            0, code, torch.arange(N), reduce="amin", include_self=False
        )
        assignment = torch.where(group.flatten() >= 0, slot_of[anchor_pos[code].clamp_min(0)], -1)
        flat = features.reshape(N, D)
        sums = torch.zeros(K, D, dtype=torch.float64).index_add_(
            0, assignment.clamp_min(0), flat.double() * (assignment >= 0).unsqueeze(-1)
        )
        counts = torch.zeros(K, dtype=torch.float64).index_add_(
            0, assignment.clamp_min(0), (assignment >= 0).double()
        )
        tokens = (sums / counts.clamp_min(1).unsqueeze(-1)).to(features.dtype)
        return assemble_selection(
            None,
            anchor.view(1, T, H, W),
            anchor.view(1, T, H, W).to(torch.float32),
            K,
            keep_index=keep_index[None],
            tokens=tokens[None],
            frame_budget=fb[None],
            assignment=assignment[None],
        ).video(0)


#: label -> control, added to the reports of ``entropy-select eval``
CONTROLS = {f"{PREFIX}scrambled_means": ScrambledMeans(seed=0)}

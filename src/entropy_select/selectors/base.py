"""The one interface every selector (ENTROPY-SELECT and the baselines) implements."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core.checks import check_features, check_video_list, resolve_budget
from ..core.selection import Selection

__all__ = ["Selector"]


class Selector:
    """Base class: validation, budgets, batches and lists; subclasses implement :meth:`select`.

    Calling ``selector(features, budget=K)`` or ``selector(features, retention=r)`` returns a
    :class:`~entropy_select.core.Selection` with exactly K output tokens (a list of them for a
    list of videos); a ``[B, T, H, W, D]`` batch gives batched fields.
    """

    #: registry name, set by subclasses
    name: str = ""

    def __call__(
        self,
        features: torch.Tensor | Sequence[torch.Tensor],
        retention: float | None = None,
        budget: int | None = None,
        *,
        validate: bool = True,
    ) -> Selection | list[Selection]:
        if isinstance(features, (list, tuple)):
            videos = check_video_list(features) if validate else list(features)
            return [self(v, retention, budget, validate=False) for v in videos]
        check_features(features, finite=validate)
        squeeze = features.dim() == 4
        x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
        _, T, H, W, _ = x.shape
        K = resolve_budget(T * H * W, retention, budget)
        selection = self.select(x, K)
        return selection.unbatched() if squeeze else selection

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        """Select exactly ``budget`` tokens of each video of a checked batch.

        Shapes:
            features: [B, T, H, W, D] -> a batched Selection (keep_index [B, K], ...)
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

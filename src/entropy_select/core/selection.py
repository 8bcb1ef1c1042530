"""The result type shared by ENTROPY-SELECT and every baseline selector."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Selection:
    """Which tokens a selector kept, and why.

    One video gives unbatched tensors; a batch of B equal-shape videos gives the same fields with a
    leading ``B`` dimension.

    Shapes:
        keep_index:   [K] (or [B, K]) int64 flat indices ``t*H*W + i*W + j``, sorted ascending.
        tokens:       [K, D] (or [B, K, D]) the output tokens: the features at ``keep_index``, or
                      merged features where the selector merges (then ``assignment`` is set).
        scores:       [T, H, W] (or [B, T, H, W]) the ranking score (selectors without a score
                      report a score consistent with their choice; see each selector).
        entropy:      [T, H, W] or None: the entropy term Ĥ (ENTROPY-SELECT only).
        gradient:     [T, H, W] or None: the gradient term Ĝ (ENTROPY-SELECT only).
        frame_budget: [T] (or [B, T]) int64, tokens kept per frame, sums to K.
        keep_mask:    [T, H, W] (or [B, T, H, W]) bool, True at ``keep_index``.
        assignment:   [N] (or [B, N]) int64 or None. For merging selectors: the output slot
                      (0..K-1) each input token was merged into, -1 where it was dropped.
                      None for pure selectors (every output token is the input at keep_index).
        weights:      [N] (or [B, N]) or None. The weight of each input token in its output
                      slot's mean: ``tokens[s] = Σ_{a_i = s} w_i·x_i / Σ_{a_i = s} w_i``. None
                      means 1 for every assigned token (plain means; and pure selections).
    """

    keep_index: torch.Tensor
    tokens: torch.Tensor
    scores: torch.Tensor
    frame_budget: torch.Tensor
    keep_mask: torch.Tensor
    entropy: torch.Tensor | None = None
    gradient: torch.Tensor | None = None
    assignment: torch.Tensor | None = None
    weights: torch.Tensor | None = None

    @property
    def budget(self) -> int:
        """K, the number of output tokens."""
        return int(self.keep_index.shape[-1])

    @property
    def num_tokens(self) -> int:
        """N, the number of input tokens."""
        return int(
            self.keep_mask[0].numel() if self.keep_mask.dim() == 4 else self.keep_mask.numel()
        )

    @property
    def retention(self) -> float:
        """K / N."""
        return self.budget / self.num_tokens

    def unbatched(self) -> Selection:
        """The single-video view of a batch of one (drops the leading ``B`` dimension)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return Selection(
            **{k: (v[0] if isinstance(v, torch.Tensor) else v) for k, v in fields.items()}
        )

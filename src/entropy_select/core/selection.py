"""The result type shared by ENTROPY-SELECT and every baseline selector, and its one assembler.

Every :class:`Selection` a selector returns is built by :func:`assemble_selection`: the
reference pipeline, the CPU and Triton fast paths, the baselines and the stream's
:func:`~entropy_select.streaming.stack_frames` all hand it their keep mask (and, where they
computed them, the sorted indices, merged tokens, assignment and weights), so the derived fields
(``keep_index``, gathered ``tokens``, ``frame_budget``, the ``[B, T, H, W]`` mask) are computed
one way only.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch

__all__ = ["Selection", "assemble_selection", "gather_tokens", "mask_to_index"]


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

    def video(self, index: int) -> Selection:
        """The selection of video ``index`` of a batch (every field indexed on its ``B`` dim).

        Shapes:
            a batched Selection (keep_index [B, K], ...)  ->  keep_index [K], tokens [K, D], ...
        """
        # Basic indexing, the fields by one attrgetter: the eager GPU path unbatches every call
        # of a [T, H, W, D] video, and its host time is the latency (``benchmarks/NOTES_gpu.md``).
        index = operator.index(index)  # an int: basic indexing, a view (a tensor would copy)
        return Selection(*[None if v is None else v[index] for v in _FIELDS(self)])

    def unbatched(self) -> Selection:
        """The single-video view of a batch of one (drops the leading ``B`` dimension)."""
        return self.video(0)


_FIELDS = operator.attrgetter(*Selection.__dataclass_fields__)  # every field, in order


def mask_to_index(mask: torch.Tensor, budget: int) -> torch.Tensor:
    """The ``budget`` True positions of a flattened mask, ascending, by one stable sort (no sync).

    Shapes:
        mask: [..., N] bool with exactly ``budget`` True  ->  [..., budget] int64
    """
    return torch.argsort((~mask).to(torch.uint8), dim=-1, stable=True)[..., :budget]


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` of each batch item, by one ``index_select`` over the flattened batch
    (sync-free; on the CPU ~5x faster than advanced indexing ``x[batch, index]``, and far faster
    than ``gather`` with an expanded index).

    Shapes:
        x: [B, N, D], index: [B, K]  ->  [B, K, D]
    """
    Bsz, N, D = x.shape
    rows = index + torch.arange(Bsz, device=x.device).unsqueeze(-1) * N  # [B, K] flat rows
    return x.reshape(Bsz * N, D).index_select(0, rows.reshape(-1)).view(Bsz, -1, D)


def assemble_selection(
    features: torch.Tensor | None,
    keep_mask: torch.Tensor,
    scores: torch.Tensor,
    budget: int,
    *,
    keep_index: torch.Tensor | None = None,
    tokens: torch.Tensor | None = None,
    frame_budget: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    gradient: torch.Tensor | None = None,
    assignment: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> Selection:
    """A batched :class:`Selection` from what a selector decided: the one place one is built.

    What the selector did not compute is derived here, the same way for every selector:
    ``keep_index`` is the sorted kept positions (:func:`mask_to_index`), ``tokens`` the features
    at them (:func:`gather_tokens`: they carry the features' gradient), ``frame_budget`` the kept
    count per frame. ``scores`` are detached: they only rank (merged ``tokens`` keep their graph).

    Args:
        features: the batch the selection is of; only read to gather ``tokens`` (may be None
            when ``tokens`` is given).
        keep_mask: the kept (for merging selectors: anchor) positions, exactly ``budget`` per
            video, as ``[B, T, H, W]`` or flattened ``[B, N]``.
        scores: the selector's score of every token.
        budget: K.
        keep_index: the sorted kept positions, when the selector already has them (a kernel).
        tokens: the output tokens when they are not the features at ``keep_index`` (merging).
        frame_budget: the per-frame budgets, when the selector planned them.
        entropy, gradient: ENTROPY-SELECT's terms Ĥ and Ĝ (None for the baselines).
        assignment, weights: merging selectors' output slot and weight of every input token.

    Shapes:
        features: [B, T, H, W, D]; keep_mask: [B, T, H, W] or [B, N] bool; scores: [B, T, H, W]
        keep_index: [B, K]; tokens: [B, K, D]; frame_budget: [B, T]; assignment, weights: [B, N]
        ->  a batched Selection (keep_index [B, K], tokens [B, K, D], keep_mask [B, T, H, W], ...)
        (or every field of one video without its B, scores [T, H, W], keep_index, tokens and
        frame_budget given: an unbatched Selection)
    """
    if scores.dim() == 3 and (keep_index is None or tokens is None or frame_budget is None):
        # one video without its B: a kernel path that allocated it so, and derived nothing
        raise ValueError("an unbatched selection needs keep_index, tokens and frame_budget")
    Bsz, T, H, W = scores.shape if scores.dim() == 4 else (1, *scores.shape)
    if keep_mask.shape != scores.shape:
        keep_mask = keep_mask.reshape(scores.shape)
    if keep_index is None:
        keep_index = mask_to_index(keep_mask.reshape(Bsz, T * H * W), budget)  # [B, K]
    if tokens is None:
        if features is None:
            raise ValueError("assemble_selection needs the features to gather the tokens")
        flat = features.reshape(Bsz, T * H * W, features.shape[-1])  # [B, N, D]
        tokens = gather_tokens(flat, keep_index)  # [B, K, D]
    if frame_budget is None:
        frame_budget = keep_mask.reshape(Bsz, T, H * W).sum(-1)  # [B, T]
    return Selection(
        keep_index=keep_index,
        tokens=tokens,
        # the scores only rank; merged tokens keep their graph
        scores=scores.detach() if scores.requires_grad else scores,
        frame_budget=frame_budget,
        keep_mask=keep_mask,
        entropy=entropy,
        gradient=gradient,
        assignment=assignment,
        weights=weights,
    )

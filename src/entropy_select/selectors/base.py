"""The one interface every selector (ENTROPY-SELECT and the baselines) implements."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from ..core.checks import check_features, check_video_list, compute_dtype, resolve_budget
from ..core.selection import Selection, gather_tokens

__all__ = [
    "Selector",
    "apportion",
    "even_split",
    "lattice_mask",
    "lattice_shape",
    "merge_mean",
    "normalize_tokens",
    "slot_of_kept",
    "topk_mask",
]


class Selector:
    """Base class: validation, budgets, batches and lists; subclasses implement :meth:`select`.

    Calling ``selector(features, budget=K)`` or ``selector(features, retention=r)`` returns a
    :class:`~entropy_select.core.Selection` with exactly K output tokens (a list of them for a
    list of videos); a ``[B, T, H, W, D]`` batch gives batched fields.
    """

    #: registry name, set by subclasses
    name: str = ""
    #: True for selectors whose output tokens are computed (merged) from the features and which
    #: therefore run :meth:`select` with autograd on; their scores are detached by the assembler
    #: (:func:`~entropy_select.core.selection.assemble_selection`). Pure selectors choose
    #: without autograd and gather the output tokens from the input afterwards, so the tokens
    #: still carry gradient.
    merges: bool = False

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
        if x.requires_grad and not self.merges:
            # Choosing is not differentiable: no graph for the scores (DivPrune's would hold
            # N² distances); the kept rows are gathered from ``x`` and carry its gradient.
            with torch.no_grad():
                selection = self.select(x.detach(), K)
            flat = x.reshape(x.shape[0], T * H * W, x.shape[-1])  # [B, N, D]
            selection = dataclasses.replace(
                selection, tokens=gather_tokens(flat, selection.keep_index)
            )
        else:
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


# ---------------------------------------------------------------------------------------------
# Helpers shared by the baselines. Each is vectorised over the batch and never syncs the host.
# ---------------------------------------------------------------------------------------------


def topk_mask(scores: torch.Tensor, budget: int) -> torch.Tensor:
    """The ``budget`` highest scores of the last dimension as a mask; ties go to the lower index.

    One stable sort (the SPEC's tie rule, so that every selector breaks ties the same way).

    Shapes:
        scores: [..., N]  ->  [..., N] bool with exactly ``budget`` True
    """
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)[..., :budget]
    return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(
        -1, order, True
    )


def apportion(target: torch.Tensor, budget: int, cap: int) -> torch.Tensor:
    """Integer budgets near real ``target`` values, each ``<= cap``, summing to ``budget``.

    Every frame owns ``cap`` unit slots; slot ``s`` of frame ``f`` has priority ``target_f − s``
    and the ``budget`` highest-priority slots win (ties: lower frame). This is the largest-
    remainder rounding of ``target`` when no cap binds, and water-fills past frames that are full.

    Args:
        target: real budgets (any sum; only their order and fractions matter).
        budget: K, ``0 <= K <= T·cap``.
        cap: the most a frame can hold (``m``).

    Shapes:
        target: [B, T]  ->  [B, T] int64
    """
    Bsz, T = target.shape
    slot = torch.arange(cap, device=target.device, dtype=torch.float64)
    priority = target.to(torch.float64).unsqueeze(-1) - slot  # [B, T, cap]
    keep = topk_mask(priority.reshape(Bsz, T * cap), budget)
    return keep.view(Bsz, T, cap).sum(-1)


def even_split(budget: int, frames: int, device: torch.device | None = None) -> torch.Tensor:
    """``B_f = floor((f+1)·K/T) − floor(f·K/T)``: K spread evenly, the extra tokens spaced out.

    Shapes:
        -> [T] int64 summing to ``budget``
    """
    f = torch.arange(frames + 1, device=device)
    edges = f * budget // frames
    return edges[1:] - edges[:-1]


def lattice_shape(height: int, width: int, count: int) -> tuple[int, int]:
    """A ``rows × cols`` lattice with ``rows·cols >= count`` and the frame's aspect ratio.

    ``rows ≈ sqrt(count·H/W)``, ``cols = ceil(count/rows)``, both capped by the grid.
    """
    if count <= 0:
        return 0, 0
    rows = min(height, max(1, round(math.sqrt(count * height / width))))
    cols = min(width, -(-count // rows))
    rows = min(height, -(-count // cols))
    cols = min(width, -(-count // rows))
    assert rows * cols >= count, (height, width, count, rows, cols)
    return rows, cols


def lattice_mask(
    height: int, width: int, count: int, device: torch.device | None = None
) -> torch.Tensor:
    """``count`` positions of an ``H×W`` frame on a regular lattice (raster order), as a mask.

    The lattice of :func:`lattice_shape` puts its points at the centres of equal strips
    (row ``floor((a + ½)·H/rows)``); when it has more points than ``count``, every
    ``rows·cols/count``-th point (again centred) is kept, so the pattern stays spread out.

    Shapes:
        -> [H*W] bool with ``count`` True
    """
    mask = torch.zeros(height * width, dtype=torch.bool, device=device)
    if count <= 0:
        return mask
    rows, cols = lattice_shape(height, width, count)
    r = (2 * torch.arange(rows, device=device) + 1) * height // (2 * rows)
    c = (2 * torch.arange(cols, device=device) + 1) * width // (2 * cols)
    points = (r[:, None] * width + c[None, :]).reshape(-1)  # [rows*cols] raster order
    pick = (2 * torch.arange(count, device=device) + 1) * (rows * cols) // (2 * count)
    return mask.index_fill_(0, points[pick], True)


def normalize_tokens(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``x / max(‖x‖₂, eps)`` along the last dimension (a zero token stays zero; SPEC §1.1)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def merge_mean(
    flat: torch.Tensor, assignment: torch.Tensor, budget: int, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The (weighted) mean of the input tokens assigned to each output slot.

    Computed in float32 (float64 for float64 input), returned in the input dtype.

    Args:
        flat: the video's tokens.
        assignment: output slot of every token, -1 where it was dropped.
        budget: K, the number of slots (each must receive at least one token).
        weight: optional non-negative weight of every token (default 1).

    Shapes:
        flat: [B, N, D], assignment: [B, N], weight: [B, N]  ->  [B, K, D]
    """
    Bsz, _, D = flat.shape
    cd = compute_dtype(flat.dtype)
    w = (
        torch.ones(assignment.shape, dtype=cd, device=flat.device)
        if weight is None
        else weight.to(cd)
    )
    w = torch.where(assignment >= 0, w, torch.zeros_like(w))
    slot = assignment.clamp_min(0)
    total = torch.zeros(Bsz, budget, D, dtype=cd, device=flat.device)
    total.scatter_add_(1, slot.unsqueeze(-1).expand(-1, -1, D), flat.to(cd) * w.unsqueeze(-1))
    mass = torch.zeros(Bsz, budget, dtype=cd, device=flat.device).scatter_add_(1, slot, w)
    return (total / mass.clamp_min(torch.finfo(cd).tiny).unsqueeze(-1)).to(flat.dtype)


def slot_of_kept(keep_flat: torch.Tensor) -> torch.Tensor:
    """The output slot (rank in ascending position order) of every kept position.

    Shapes:
        keep_flat: [B, N] bool  ->  [B, N] int64 (meaningful where ``keep_flat``)
    """
    return keep_flat.long().cumsum(-1) - 1

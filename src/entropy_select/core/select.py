"""The ENTROPY-SELECT reference pipeline (paper §3, SPEC §1-7): scores, budgets, selection.

The entry point users call, ``es.select_tokens`` (input checks, lists and batches, and the
``impl=`` dispatch to the fast paths), lives one layer up in
:mod:`entropy_select.selectors.entropy_select`; core imports nothing above itself.
"""

from __future__ import annotations

from typing import Any

import torch

from .allocation import allocate_frame_budget
from .causal import normalize_gradient, online_frame_budget, scoped
from .checks import compute_dtype
from .config import EntropySelectConfig
from .context import context_pool, frame_rarity
from .entropy import entropy_term, local_window_entropy, minmax_normalize
from .fusion import fuse_cells
from .gradient import spatial_gradient_magnitude
from .grid import grid_cells, grid_quota_topk
from .selection import Selection, assemble_selection, gather_tokens, mask_to_index

__all__ = [
    "select_reference",
    "select_from_scores",
    "mask_to_index",
    "gather_tokens",
    "merge_tokens",
    "fused_scores",
    "combine_scores",
    "plan_frame_budget",
]


def merge_tokens(
    x: torch.Tensor, assignment: torch.Tensor, weights: torch.Tensor, K: int, *, plain: bool
) -> torch.Tensor:
    """The ``K`` output tokens of a merging selection: ``Σ w·x / Σ w`` over the input tokens
    assigned to each output slot (a kept token alone in its slot comes out as it is).

    One ``index_add_`` over the tokens in order (for a fused cell or context run, the same
    sequence of adds as summing the cell's members), the dropped tokens (``assignment = -1``)
    going to a discarded spare row; sync-free. ``plain``: every weight is 0 or 1, so nothing is
    multiplied.

    Shapes:
        x: [B, N, D]; assignment: [B, N] int64 in [-1, K); weights: [B, N]  ->  [B, K, D]
    """
    Bsz, N, D = x.shape
    cd = compute_dtype(x.dtype)
    base = torch.arange(Bsz, device=x.device).unsqueeze(-1) * K  # [B, 1]
    target = torch.where(assignment >= 0, assignment + base, Bsz * K).reshape(-1)  # [B·N]
    rows = x.reshape(Bsz * N, D).to(cd)
    w = weights.reshape(-1).to(cd)  # [B·N]
    sums = torch.zeros(Bsz * K + 1, D, dtype=cd, device=x.device)
    sums.index_add_(0, target, rows if plain else rows * w.unsqueeze(-1))
    norm = torch.zeros(Bsz * K + 1, dtype=cd, device=x.device).index_add_(0, target, w)
    tokens = sums[:-1].div_(norm[:-1].clamp_min(torch.finfo(cd).tiny).unsqueeze(-1))  # [B·K, D]
    return tokens.view(Bsz, K, D).to(x.dtype)


def combine_scores(
    entropy: torch.Tensor,
    gradient: torch.Tensor,
    config: EntropySelectConfig,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """The score ``S`` from ``Ĥ`` and ``Ĝ``: the one combiner every implementation calls.

    ``S = α·term(Ĥ) + (1 − α)·Ĝ`` (SPEC §3; ``term`` per ``entropy_mode``), and with
    ``rarity = β > 0``: ``S = (1 − β)·S + β·minmax(R)``, ``R`` the frame rarity of
    :func:`~entropy_select.core.context.frame_rarity` (needs ``features``). Every min-max here
    (and ``Ĝ``'s, :func:`~entropy_select.core.causal.normalize_gradient`) spans the video, or each
    frame with ``minmax_scope="frame"`` (causal: what a stream computes).

    Shapes:
        entropy, gradient: [B, T, H, W]; features: [B, T, H, W, D]  ->  [B, T, H, W]
    """
    a = config.alpha
    score = a * scoped(entropy_term, entropy, config, config.entropy_mode) + (1 - a) * gradient
    if config.rarity > 0:
        if features is None:
            raise ValueError("rarity > 0 needs the features")
        rare = scoped(minmax_normalize, frame_rarity(features), config).to(score.dtype)
        score = (1 - config.rarity) * score + config.rarity * rare
    return score


def fused_scores(
    features: torch.Tensor, config: EntropySelectConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(S, Ĥ, Ĝ)`` of SPEC §1-3 with the reference primitives.

    Shapes:
        features: [B, T, H, W, D]  ->  three [B, T, H, W]
    """
    entropy = local_window_entropy(
        features, config.spatial_window, config.temporal_window, config.past_window, config.tau
    )
    gradient = normalize_gradient(spatial_gradient_magnitude(features), config)  # Ĝ, SPEC §2
    return combine_scores(entropy, gradient, config, features), entropy, gradient


def plan_frame_budget(
    score: torch.Tensor,
    cfg: EntropySelectConfig,
    budget: int | None = None,
    frame_budget: torch.Tensor | None = None,
    retention: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Frame budgets and ``K``: explicit ``frame_budget`` (checked by the caller), the online rule
    (``cfg.frame_budget_rule == "online"``, rate ``retention``) or Eq. 4's softmax with ``budget``.

    Shapes:
        score: [B, T, H, W]; frame_budget: [B, T]  ->  [B, T] int64, K
    """
    if frame_budget is not None:
        return frame_budget, int(budget)
    if cfg.frame_budget_rule == "online":
        fb = online_frame_budget(score, retention, cfg)  # [B, T]
        totals = fb.sum(-1)
        if int(totals.max()) != int(totals.min()):  # one host sync: K is data-dependent here
            raise ValueError(
                f'frame_budget_rule="online" gives these videos different totals '
                f"({totals.tolist()}): a batched selection keeps one K; select them one at a "
                "time or as a list"
            )
        return fb, int(totals[0])
    fb = allocate_frame_budget(
        score, budget, cfg.top_q, cfg.alloc_tau, cfg.min_frame_tokens, cfg.max_frame_tokens
    )
    return fb, budget


def select_reference(
    x: torch.Tensor, cfg: EntropySelectConfig, scores_fn=None, **plan: Any
) -> Selection:
    """The reference pipeline on a checked batch ``[B, T, H, W, D]``: scores, budgets, selection.

    ``scores_fn``: a twin of :func:`fused_scores` (e.g. the CPU fast path's; default the
    reference's); ``plan``: the arguments of :func:`plan_frame_budget`. The public entry point,
    with input checks and the ``impl=`` dispatch, is
    :func:`entropy_select.selectors.entropy_select.select_tokens` (``es.select_tokens``).

    Shapes:
        x: [B, T, H, W, D]  ->  a batched Selection
    """
    # Choosing is not differentiable: scores and budgets are computed without autograd, on the
    # detached features; the output tokens are gathered (or fused) from ``x`` itself, so they carry
    # gradient to the inputs they came from.
    with torch.no_grad():
        score, entropy, gradient = (scores_fn or fused_scores)(x.detach(), cfg)
        frame_budget, K = plan_frame_budget(score, cfg, **plan)  # [B, T]
    return select_from_scores(x, K, cfg, score, entropy, gradient, frame_budget)


def select_from_scores(
    x: torch.Tensor,
    K: int,
    cfg: EntropySelectConfig,
    score: torch.Tensor,
    entropy: torch.Tensor,
    gradient: torch.Tensor,
    frame_budget: torch.Tensor,
    merge: bool | None = None,
) -> Selection:
    """SPEC §5-7 from scores and frame budgets: grid quotas (or fusion), the sort, the outputs.

    The :class:`Selection` is built by the one assembler,
    :func:`~entropy_select.core.selection.assemble_selection`.

    ``merge``: apply grid fusion or context pooling, as configured (default: when ``K < N``; a
    stream decides per frame what the offline selector decides for the whole video).

    Shapes:
        x: [B, T, H, W, D]; score, entropy, gradient: [B, T, H, W]; frame_budget: [B, T]
    """
    Bsz, T, H, W, D = x.shape
    m = H * W
    flat_x = x.reshape(Bsz, T * m, D)  # [B, N, D]
    # A pure selection leaves keep_index and tokens to the assembler; merging sets all four.
    assignment = weights = keep_index = tokens = None
    # K = N keeps every token as it is: nothing is dropped, so nothing is merged (SPEC §6 would
    # still fuse min(c, B_f/2) cells of each frame; see docs/algorithm.md, "Deviations").
    if merge is None:
        merge = K < T * m
    if cfg.context_share > 0 and merge:
        ctx = context_pool(
            x, score, frame_budget, cfg.grid, cfg.coverage, cfg.context_share, tokens=False
        )
        keep = ctx.keep_mask
        keep_flat = keep.flatten(-3)  # [B, N]
        keep_index = mask_to_index(keep_flat, K)  # [B, K]
        frame = torch.arange(T, device=x.device).repeat_interleave(m)  # [N]
        group = frame * m + ctx.cell.reshape(Bsz, T * m).clamp_min(0)  # [B, N] run over the video
        absorbed = ctx.absorbed.flatten(-3)
        assignment = _merge_assignment(
            keep_flat, ctx.anchor_mask.flatten(-3), absorbed, group, T * m
        )
        weights = (assignment >= 0).to(score.dtype)
        tokens = merge_tokens(flat_x, assignment, weights, K, plain=True)  # [B, K, D]
    elif cfg.grid_fusion and merge:
        fused = fuse_cells(
            x,
            score,
            frame_budget,
            cfg.grid,
            cfg.coverage,
            fusion_grid=cfg.fusion_grid,
            fusion_share=cfg.fusion_share,
            fusion_weight=cfg.fusion_weight,
            tokens=False,
        )
        keep = fused.keep_mask
        keep_index = mask_to_index(keep.flatten(-3), K)  # [B, K]
        ncell = grid_cells(H, W, cfg.grid if cfg.fusion_grid is None else cfg.fusion_grid)[1]
        frame = torch.arange(T, device=x.device).repeat_interleave(m)  # [N]
        group = (frame * ncell + fused.cell.repeat(T)).expand(Bsz, -1)  # [B, N] cell over video
        assignment = _merge_assignment(
            keep.flatten(-3),
            fused.anchor_mask.flatten(-3),
            fused.absorbed.flatten(-3),
            group,
            T * ncell,
        )
        absorbed = fused.absorbed.flatten(-3)  # [B, N]
        weights = torch.where(absorbed, fused.weight.flatten(-3), (assignment >= 0).to(score.dtype))
        plain = cfg.fusion_weight == "mean"  # weights 0 or 1
        tokens = merge_tokens(flat_x, assignment, weights, K, plain=plain)  # [B, K, D]
    else:
        keep = grid_quota_topk(score, frame_budget, cfg.grid, cfg.coverage)
    return assemble_selection(
        x,
        keep,
        score,
        K,
        keep_index=keep_index,
        tokens=tokens,
        frame_budget=frame_budget,
        entropy=entropy,
        gradient=gradient,
        assignment=assignment,
        weights=weights,
    )


def _merge_assignment(
    keep_flat: torch.Tensor,
    anchor: torch.Tensor,
    absorbed: torch.Tensor,
    group: torch.Tensor,
    num_groups: int,
) -> torch.Tensor:
    """Output slot of every input token when groups are merged into their anchor (-1: dropped).

    Kept tokens own the slot of their position; absorbed tokens take the slot of their group's
    anchor (one anchor a group).

    Shapes:
        keep_flat, anchor, absorbed: [B, N] bool; group: [B, N] int64 in [0, num_groups)
        ->  [B, N] int64
    """
    Bsz = keep_flat.shape[0]
    slot = keep_flat.long().cumsum(-1) - 1  # slot of each kept position
    anchor_slot = torch.where(anchor, slot, torch.full_like(slot, -1))
    group_slot = torch.full((Bsz, num_groups), -1, dtype=torch.long, device=slot.device)
    group_slot = group_slot.scatter_reduce(1, group, anchor_slot, reduce="amax")
    out = torch.where(keep_flat, slot, torch.full_like(slot, -1))
    return torch.where(absorbed & ~keep_flat, group_slot.gather(1, group), out)

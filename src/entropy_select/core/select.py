"""``select_tokens``: the whole ENTROPY-SELECT pipeline (paper §3, SPEC §1-7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .allocation import allocate_frame_budget
from .causal import check_frame_budget, normalize_gradient, online_frame_budget, scoped
from .checks import check_features, check_video_list, resolve_budget
from .config import EntropySelectConfig
from .context import context_pool, frame_rarity
from .entropy import entropy_term, local_window_entropy, minmax_normalize
from .fusion import fuse_cells
from .gradient import spatial_gradient_magnitude
from .grid import grid_quota_topk
from .selection import Selection

__all__ = [
    "select_tokens",
    "mask_to_index",
    "gather_tokens",
    "fused_scores",
    "combine_scores",
    "plan_frame_budget",
    "IMPLS",
]

IMPLS = ("auto", "reference", "triton", "cpu")


def mask_to_index(mask: torch.Tensor, budget: int) -> torch.Tensor:
    """The ``budget`` True positions of a flattened mask, ascending, by one stable sort (no sync).

    Shapes:
        mask: [..., N] bool with exactly ``budget`` True  ->  [..., budget] int64
    """
    return torch.argsort((~mask).to(torch.uint8), dim=-1, stable=True)[..., :budget]


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` of each batch item (advanced indexing: much faster on CPU than ``gather``
    with an expanded index, and sync-free).

    Shapes:
        x: [B, N, D], index: [B, K]  ->  [B, K, D]
    """
    batch = torch.arange(x.shape[0], device=x.device).unsqueeze(-1)  # [B, 1]
    return x[batch, index]


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


def select_tokens(
    features: torch.Tensor | Sequence[torch.Tensor],
    retention: float | None = None,
    budget: int | None = None,
    config: EntropySelectConfig | None = None,
    *,
    impl: str = "auto",
    validate: bool = True,
    frame_budget: torch.Tensor | None = None,
    **options: Any,
) -> Selection | list[Selection]:
    """Select ``K`` of a video's ``N`` visual tokens with ENTROPY-SELECT.

    Args:
        features: one video ``[T, H, W, D]``, a batch of equal-shape videos ``[B, T, H, W, D]``
            (each result equals that video's alone), or a list of ``[T_i, H_i, W_i, D]`` videos
            (returns a list). Any float dtype, any device; results on the input's device.
        retention: ``r`` in (0, 1]; ``K = clamp(floor(r·N + 1e-9), 1, N)``. Or give ``budget``.
        budget: ``K`` in [1, N]. Exactly one of ``retention`` and ``budget``.
        config: hyper-parameters (default :class:`EntropySelectConfig()`, the library's
            default; ``EntropySelectConfig.paper()`` for the paper's).
        impl: ``"reference"`` (pure torch), ``"triton"`` (GPU kernels; raises if they cannot
            run), ``"cpu"`` (the CPU fast path of :mod:`entropy_select.kernels.cpu`; raises for a
            non-CPU input) or ``"auto"`` (Triton on CUDA when available, the CPU fast path on
            CPU, else reference).
        validate: check for NaN/inf (one host synchronisation). Turn off for CUDA-graph capture.
        frame_budget: explicit per-frame budgets instead of Eq. 4: an integer tensor ``[T]`` (or
            ``[B, T]`` with equal totals), each in ``[0, H·W]``, summing to ``K``; then give
            neither ``retention`` nor ``budget``. With ``config=stream.config`` this reproduces a
            :class:`~entropy_select.streaming.StreamingSelector` frame by frame. (Reading ``K``
            off the tensor is one host synchronisation.)
        **options: config fields overriding ``config`` (``tau=0.1``); strings are parsed.

    Returns:
        A :class:`Selection` (a list of them for a list input).

    Shapes:
        features: [T, H, W, D] -> keep_index [K], tokens [K, D], scores [T, H, W], frame_budget [T]
        features: [B, T, H, W, D] -> the same with a leading B.
    """
    cfg = config if config is not None else EntropySelectConfig()
    if not isinstance(cfg, EntropySelectConfig):
        raise TypeError(f"config must be an EntropySelectConfig, got {type(cfg).__name__}")
    if options:
        cfg = EntropySelectConfig.from_kwargs(cfg, **options)
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}; got {impl!r}")
    if isinstance(features, (list, tuple)):
        if frame_budget is not None:
            raise ValueError("frame_budget= takes one video or a batch, not a list of videos")
        videos = check_video_list(features) if validate else list(features)
        return [select_tokens(v, retention, budget, cfg, impl=impl, validate=False) for v in videos]
    check_features(features, finite=validate)
    squeeze = features.dim() == 4
    x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
    _, T, H, W, _ = x.shape
    if frame_budget is not None:
        if retention is not None or budget is not None:
            raise ValueError("give frame_budget= alone: it sets K, so no retention= or budget=")
        fb = check_frame_budget(frame_budget, x.shape[0], T, H * W).to(x.device)
        plan = {"frame_budget": fb, "budget": int(fb[0].sum())}
    elif cfg.frame_budget_rule == "online":
        if retention is None or budget is not None:
            raise ValueError(
                'frame_budget_rule="online" takes retention= (the rule\'s rate; K = Σ B_f <= '
                "ceil(r·N)), not budget="
            )
        resolve_budget(T * H * W, retention, None)  # checks the ratio
        plan = {"retention": retention}
    else:
        plan = {"budget": resolve_budget(T * H * W, retention, budget)}
    resolved = _resolve_impl(impl, x)
    if resolved == "triton":
        from ..kernels import select_tokens_triton

        selection = select_tokens_triton(x, plan.pop("budget", None), cfg, **plan)
    elif resolved == "cpu":
        from ..kernels.cpu import fused_scores_cpu

        selection = _select_reference(x, cfg, fused_scores_cpu, **plan)
    else:
        selection = _select_reference(x, cfg, **plan)
    return selection.unbatched() if squeeze else selection


def _resolve_impl(impl: str, x: torch.Tensor) -> str:
    if impl == "reference":
        return "reference"
    if impl == "cpu":
        from ..kernels.cpu import cpu_available

        ok, why = cpu_available(x)
        if not ok:
            raise RuntimeError(f'impl="cpu" cannot run here: {why}')
        return "cpu"
    from ..kernels import triton_available

    ok, why = triton_available(x)
    if impl == "triton" and not ok:
        raise RuntimeError(f'impl="triton" cannot run here: {why}')
    if ok:
        return "triton"
    return "cpu" if x.device.type == "cpu" else "reference"


def _select_reference(
    x: torch.Tensor, cfg: EntropySelectConfig, scores_fn=None, **plan: Any
) -> Selection:
    """The reference pipeline on a batch ``[B, T, H, W, D]`` (``scores_fn``: a twin of
    :func:`fused_scores`, e.g. the CPU fast path's; default the reference's; ``plan``: the
    arguments of :func:`plan_frame_budget`)."""
    # Choosing is not differentiable: scores and budgets are computed without autograd, on the
    # detached features; the output tokens are gathered (or fused) from ``x`` itself, so they carry
    # gradient to the inputs they came from.
    with torch.no_grad():
        score, entropy, gradient = (scores_fn or fused_scores)(x.detach(), cfg)
        frame_budget, K = plan_frame_budget(score, cfg, **plan)  # [B, T]
    return assemble_selection(x, K, cfg, score, entropy, gradient, frame_budget)


def assemble_selection(
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

    ``merge``: apply grid fusion or context pooling, as configured (default: when ``K < N``; a
    stream decides per frame what the offline selector decides for the whole video).

    Shapes:
        x: [B, T, H, W, D]; score, entropy, gradient: [B, T, H, W]; frame_budget: [B, T]
    """
    Bsz, T, H, W, D = x.shape
    m = H * W
    flat_x = x.reshape(Bsz, T * m, D)  # [B, N, D]
    assignment = weights = None
    # K = N keeps every token as it is: nothing is dropped, so nothing is merged (SPEC §6 would
    # still fuse min(c, B_f/2) cells of each frame; see docs/algorithm.md, "Deviations").
    if merge is None:
        merge = K < T * m
    if cfg.context_share > 0 and merge:
        ctx = context_pool(x, score, frame_budget, cfg.grid, cfg.coverage, cfg.context_share)
        keep = ctx.keep_mask
        keep_flat = keep.flatten(-3)  # [B, N]
        keep_index = mask_to_index(keep_flat, K)  # [B, K]
        tokens = gather_tokens(flat_x, keep_index)  # [B, K, D]
        frame = torch.arange(T, device=x.device).repeat_interleave(m)  # [N]
        group = frame * m + ctx.cell.reshape(Bsz, T * m).clamp_min(0)  # [B, N] run over the video
        cell_flat = ctx.cell_tokens.reshape(Bsz, T * m, D)  # [B, T*m runs, D]
        ctx_vals = gather_tokens(cell_flat, group.gather(1, keep_index))  # [B, K, D]
        is_anchor = ctx.anchor_mask.flatten(-3).gather(1, keep_index)  # [B, K]
        tokens = torch.where(is_anchor.unsqueeze(-1), ctx_vals.to(tokens.dtype), tokens)
        absorbed = ctx.absorbed.flatten(-3)
        assignment = _merge_assignment(
            keep_flat, ctx.anchor_mask.flatten(-3), absorbed, group, T * m
        )
        weights = (assignment >= 0).to(score.dtype)
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
        )
        keep = fused.keep_mask
        keep_index = mask_to_index(keep.flatten(-3), K)  # [B, K]
        tokens = gather_tokens(flat_x, keep_index)  # [B, K, D]
        ncell = fused.cell_tokens.shape[-2]
        cell_flat = fused.cell_tokens.reshape(Bsz, T * ncell, D)  # [B, T*c, D]
        slot_cell = (keep_index // m) * ncell + fused.cell[keep_index % m]  # [B, K]
        fused_vals = gather_tokens(cell_flat, slot_cell)  # [B, K, D]
        is_anchor = fused.anchor_mask.flatten(-3).gather(1, keep_index)  # [B, K]
        tokens = torch.where(is_anchor.unsqueeze(-1), fused_vals.to(tokens.dtype), tokens)
        ncell = fused.cell_tokens.shape[-2]
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
    else:
        keep = grid_quota_topk(score, frame_budget, cfg.grid, cfg.coverage)
        keep_index = mask_to_index(keep.flatten(-3), K)  # [B, K]
        tokens = gather_tokens(flat_x, keep_index)  # [B, K, D]
    return Selection(
        keep_index=keep_index,
        tokens=tokens,
        scores=score,
        frame_budget=frame_budget,
        keep_mask=keep,
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

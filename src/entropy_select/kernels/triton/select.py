"""``select_tokens_triton``: the ENTROPY-SELECT pipeline on GPU in 3-5 launches, no host sync.

1. The band kernel and its finish pass (:mod:`.window_entropy`): ``Ĥ`` and the raw ``G`` in one
   pass over the features, and each video's extremes of both (for the min-max of SPEC §2-3).
2. ``_score_kernel`` (:mod:`.scores`): ``Ĝ``, the entropy term, ``S`` and the frame saliency.
   With per-video extremes (every preset) and a grid of up to 4 programs a multiprocessor
   (:func:`.scores.finish_scores_fits`: 64 frames of 14x14 on an H100 or H200), the finish pass
   and this kernel are one launch, ``_finish_score_kernel``, whose frames wait for its finish
   blocks; the library's cached graphs keep the two launches (``_one_finish``).
3. ``_budget_kernel`` (:mod:`.scores`): Eq. 4's frame budgets (SPEC §4). Videos of up to
   ``FUSED_BUDGET_FRAMES`` (64) frames, 48 in grid fusion, skip it: the frame kernel computes
   them. So a 16-frame video of any preset is three launches.
4. ``_frame_select_kernel`` (:mod:`.frame_select`): grid quotas, grid fusion or context pooling,
   the sorted ``keep_index``, the merge assignment and weights, and the output tokens.

No ``.item()``, no ``.tolist()`` and no data-dependent shape, so for a fixed shape and ``K`` the
whole call can be captured in a CUDA graph (``select_tokens(..., validate=False)``; see also
:mod:`entropy_select.kernels.graphs`). Options the kernels do not cover (``rarity > 0``, the
online budget rule, more than :data:`~.frame_select.MAX_FUSED_CELLS` fused cells, and merging
selections whose tokens must carry gradient) run the core's torch code for those steps, as
before; the result is the same.
"""

from __future__ import annotations

import torch

from ...core.causal import normalize_gradient
from ...core.config import EntropySelectConfig
from ...core.select import combine_scores, plan_frame_budget, select_from_scores
from ...core.selection import Selection, assemble_selection, gather_tokens
from .frame_select import (
    FUSED_BUDGET_FRAMES,
    MAX_FUSED_CELLS,
    MAX_SORT_TOKENS,
    frame_select_triton,
)
from .scores import (
    budget_args,
    finish_scores_fits,
    finish_scores_triton,
    frame_budget_triton,
    scores_triton,
)
from .window_entropy import band_partials_triton, window_entropy_and_gradient_triton

__all__ = [
    "select_tokens_triton",
    "reads_features_in_kernels",
    "fused_scores_triton",
    "merge_mode",
    "frame_select_options",
    "scores_fusable",
]


def scores_fusable(config: EntropySelectConfig) -> bool:
    """Whether the score kernel covers this config (the rarity term is torch code)."""
    return config.rarity == 0


def reads_features_in_kernels(config: EntropySelectConfig, H: int, W: int) -> bool:
    """Whether :func:`select_tokens_triton` reads the features of a call without autograd in its
    kernels only (the band kernel and the frame kernel), so that they can read them through an
    address holder (``_x_address``); False where torch code reads them too (the rarity term,
    more fused cells than the frame kernel ranks)."""
    return scores_fusable(config) and merge_mode(config, H, W) is not None


def merge_mode(config: EntropySelectConfig, H: int, W: int) -> str | None:
    """The frame kernel's mode for this config (None: the kernel does not cover it)."""
    if config.context_share > 0:
        return "context"
    if config.grid_fusion:
        g = config.grid if config.fusion_grid is None else config.fusion_grid
        return "fusion" if min(g, H) * min(g, W) <= MAX_FUSED_CELLS else None
    return "select"


def frame_mode(config: EntropySelectConfig, budget: int, tokens: int, H: int, W: int) -> str | None:
    """The frame kernel's mode for ``K = budget`` of ``tokens`` a video: ``"select"`` where K
    keeps every token as it is (nothing merged), else :func:`merge_mode` (None: not covered)."""
    return merge_mode(config, H, W) if budget < tokens else "select"


#: On by default: videos of up to ``FUSED_BUDGET_FRAMES`` frames (:data:`FUSION_BUDGET_FRAMES`
#: in grid fusion) get their Eq. 4 budgets from the frame kernel (``_budget_from`` of
#: :func:`.frame_select.frame_select_triton`) instead of the budget kernel's launch;
#: ``FUSE_BUDGET[0] = False`` launches the budget kernel (benchmarks, tests).
FUSE_BUDGET = [True]
#: Grid fusion's frame kernel takes its own budgets up to 48 frames only: they cost its
#: registers 168 -> 239 (sm_90, ``frame_registers_cpu.py --fused-budget``), and on an H200 the
#: default preset ran 4-5% slower in a graph at 64 frames, within -5% to +3% at 16, 24, 32 and
#: 48 frames, and eager (one launch fewer) 0.75-1.00x at 24-48 (``quick_gpu.py --part budget
#: --budget-frames 24,32,48 --presets default``, benchmarks/NOTES_gpu.md Rounds 13-14); select
#: and context modes gained up to 14% at 64 frames.
FUSION_BUDGET_FRAMES = 48


def fuses_budget(T: int, m: int, mode: str | None) -> bool:
    """Whether the frame kernel computes the budgets of a ``T``-frame video of ``m``-token frames
    in ``mode`` (:data:`FUSE_BUDGET`; the sorted kernel, up to ``FUSED_BUDGET_FRAMES`` frames,
    :data:`FUSION_BUDGET_FRAMES` in ``"fusion"``)."""
    limit = FUSION_BUDGET_FRAMES if mode == "fusion" else FUSED_BUDGET_FRAMES
    return FUSE_BUDGET[0] and mode is not None and T <= limit and m <= MAX_SORT_TOKENS


def frame_select_options(config: EntropySelectConfig, mode: str) -> dict:
    """The config's keyword arguments of
    :func:`~entropy_select.kernels.triton.frame_select.frame_select_triton` in ``mode``."""
    return {
        "grid": config.grid,
        "coverage": config.coverage,
        "mode": mode,
        "fusion_grid": config.fusion_grid,
        "share": config.context_share if mode == "context" else config.fusion_share,
        "weight": config.fusion_weight,
    }


def fused_scores_triton(
    x: torch.Tensor, config: EntropySelectConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(S, Ĥ, Ĝ)`` of SPEC §1-3: the twin of :func:`entropy_select.core.select.fused_scores`.

    Shapes:
        x: [B, T, H, W, D]  ->  three [B, T, H, W] float32
    """
    if scores_fusable(config):
        score, entropy, gradient, _ = _scores(x, config)
        return score, entropy, gradient
    entropy, grad = window_entropy_and_gradient_triton(
        x, config.spatial_window, config.temporal_window, config.past_window, config.tau
    )
    gradient = normalize_gradient(grad, config)  # Ĝ over each video or frame (SPEC §2)
    return combine_scores(entropy, gradient, config, x), entropy, gradient


def _scores(
    x: torch.Tensor,
    config: EntropySelectConfig,
    x_address: torch.Tensor | None = None,
    squeeze: bool = False,
    one_finish: bool = True,
):
    """``(S, Ĥ, Ĝ, S̄)`` through the window, finish and score kernels (``x_address``: the band
    kernel reads the features at the address it holds; ``squeeze``: ``x`` is a batch of one
    whose maps come without their ``B``, ``[T, H, W]`` and ``S̄`` ``[T]``; ``one_finish``: the
    finish pass and the score kernel in one launch where :func:`.scores.finish_scores_fits`)."""
    if (
        one_finish
        and config.minmax_scope == "video"
        and finish_scores_fits(x.shape[0], x.shape[1], x.shape[2] * x.shape[3], x.device)
    ):  # the finish pass and the score kernel in one launch (three launches, not four)
        counted = torch.empty(x.shape[0] + 1, 4, dtype=torch.int32, device=x.device)
        partial, grad_gram = band_partials_triton(
            x, config.spatial_window, config.temporal_window, config.past_window, counted,
            x_address,
        )  # fmt: skip
        return finish_scores_triton(partial, counted, x.shape, config, squeeze, grad_gram)
    minmax = None
    if config.minmax_scope == "video":
        minmax = torch.empty(x.shape[0], 4, dtype=torch.int32, device=x.device)
    entropy, grad = window_entropy_and_gradient_triton(
        x,
        config.spatial_window,
        config.temporal_window,
        config.past_window,
        config.tau,
        minmax=minmax,
        _x_address=x_address,
        _squeeze=squeeze,
    )
    score, gradient, saliency = scores_triton(entropy, grad, minmax, config)
    return score, entropy, gradient, saliency


def select_tokens_triton(
    x: torch.Tensor,
    budget: int | None,
    config: EntropySelectConfig,
    frame_budget: torch.Tensor | None = None,
    retention: float | None = None,
    *,
    squeeze: bool = False,
    _x_address: torch.Tensor | None = None,
    _out_address: torch.Tensor | None = None,
    _one_finish: bool = True,
) -> Selection:
    """Select ``K = budget`` tokens of each video of a batch (SPEC §1-7) on the GPU.

    Args:
        x: features, float16/bfloat16/float32, any strides, CUDA (or CPU under TRITON_INTERPRET=1).
        budget: K, a Python int in [1, T·H·W] (already resolved by the caller; None with the
            online rule, which sets it).
        config: the hyper-parameters.
        frame_budget: explicit checked budgets ``[B, T]`` summing to ``budget`` (or None).
        retention: the online rule's rate (``config.frame_budget_rule == "online"``).
        squeeze: ``x`` is a batch of one made from a ``[T, H, W, D]`` video: the Selection may
            come unbatched (``keep_index [K]``, ...), its fields allocated so rather than viewed
            (the eager call's host time is its latency); where a path needs the batch, it
            comes batched as without it (the caller unbatches what has a leading ``B``).
        _x_address: private (:mod:`.graphs`): a 1-element int64 tensor on ``x``'s device holding
            the address, a multiple of 16 bytes, of features laid out like ``x`` (its shape,
            strides and dtype); the kernels read the features there when they run, not at
            ``x``, so a CUDA graph captured with it reads whatever the holder points at on each
            replay. Only for configs that :func:`reads_features_in_kernels` covers and calls
            without autograd (else ``ValueError``).
        _out_address: private (:mod:`.graphs`), with ``_x_address``: a 1-element int64 tensor
            holding the address, a multiple of 16 bytes, of a contiguous ``[B, K, D]`` tensor of
            ``x``'s dtype that the frame kernel writes the output tokens into when it runs;
            the returned ``tokens`` is then a one-element stand-in expanded to that shape.
        _one_finish: private (:mod:`.graphs`): False launches the finish pass and the score
            kernel apart (in the library's cached graphs, where a launch costs no host time and
            the one launch ran 1-3% slower on an H200: benchmarks/NOTES_gpu.md, Round 14).

    Returns:
        A batched :class:`Selection` equal to the reference's on tie-free inputs.

    Shapes:
        x: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], scores [B, T, H, W], ...
    """
    if x.dim() != 5:
        raise ValueError(f"x must be [B, T, H, W, D], got {tuple(x.shape)}")
    if x.is_cuda and x.get_device() != torch.cuda.current_device():
        # Triton launches on the current device: make it x's (a model on cuda:1)
        with torch.cuda.device(x.device):
            return select_tokens_triton(
                x, budget, config, frame_budget, retention, squeeze=squeeze,
                _x_address=_x_address, _out_address=_out_address, _one_finish=_one_finish,
            )  # fmt: skip
    Bsz, T, H, W, D = x.shape
    m = H * W
    if _x_address is not None:
        _check_address(_x_address, x, config)
    if _out_address is not None:
        if _x_address is None:
            raise ValueError("_out_address is only taken with _x_address")
        _check_address(_out_address, x, config, "_out_address")
    autograd = x.requires_grad and torch.is_grad_enabled()
    # Scores, budgets and indices without autograd (choosing is not differentiable); tokens that
    # must carry gradient to the inputs are gathered (or merged) from ``x`` by torch below. One
    # no_grad block (the eager path's latency is its host time); the kernels read ``x``'s
    # address only, so ``x`` needs no detached view.
    # A batch of one, unbatched from its first allocation, where every step below takes the
    # kernels' path (the fused scores, the softmax budgets, the frame kernel, no autograd).
    squeeze = (
        squeeze and Bsz == 1 and not autograd and frame_budget is None and budget is not None
        and config.frame_budget_rule == "softmax" and scores_fusable(config)
        and frame_mode(config, budget, T * m, H, W) is not None
    )  # fmt: skip
    with torch.no_grad():
        if scores_fusable(config):
            score, entropy, gradient, saliency = _scores(
                x, config, _x_address, squeeze, _one_finish
            )
        else:
            score, entropy, gradient = fused_scores_triton(x, config)
            saliency = None
        softmax = (
            frame_budget is None and config.frame_budget_rule == "softmax" and saliency is not None
        )
        if not softmax:  # explicit budgets, the online rule (which sets K), or the rarity term
            frame_budget, budget = plan_frame_budget(
                score, config, budget, frame_budget, retention
            )  # [B, T]
        mode = frame_mode(config, budget, T * m, H, W)
        in_kernel = mode is not None and not (autograd and mode != "select")
        budget_from = None
        if softmax and in_kernel and fuses_budget(T, m, mode):
            # the frame kernel computes Eq. 4's budgets itself: one launch fewer
            budget_from = (saliency, budget_args(T, budget, m, config))
            frame_budget = torch.empty(*saliency.shape, dtype=torch.int64, device=x.device)
        elif softmax:
            frame_budget = frame_budget_triton(saliency, budget, m, config)  # [B, T]
        if in_kernel:
            keep, keep_index, tokens, assignment, weights = frame_select_triton(
                score,
                frame_budget,
                budget,
                features=None if autograd else x,
                _x_address=_x_address,
                _out_address=_out_address,
                _budget_from=budget_from,
                **frame_select_options(config, mode),
            )
    if not in_kernel:
        return select_from_scores(x, budget, config, score, entropy, gradient, frame_budget)
    if autograd:
        tokens = gather_tokens(x.reshape(Bsz, T * m, D), keep_index)  # [B, K, D]
    return assemble_selection(
        x,
        keep,
        score,
        budget,
        keep_index=keep_index,
        tokens=tokens,
        frame_budget=frame_budget,
        entropy=entropy,
        gradient=gradient,
        assignment=assignment,
        weights=weights,
    )


def _check_address(
    holder: torch.Tensor, x: torch.Tensor, config: EntropySelectConfig, name: str = "_x_address"
) -> None:
    """Raise ``ValueError`` unless ``holder`` can stand for an address in this call."""
    if holder.dtype != torch.int64 or holder.numel() != 1 or holder.device != x.device:
        raise ValueError(
            f"{name} must be one int64 on {x.device}, got {tuple(holder.shape)} "
            f"{holder.dtype} on {holder.device}"
        )
    if torch.is_grad_enabled() and x.requires_grad:
        raise ValueError(f"{name}: autograd gathers the tokens from x itself")
    if not reads_features_in_kernels(config, x.shape[2], x.shape[3]):
        raise ValueError(f"{name}: this config reads the features outside the kernels")

"""``select_tokens_triton``: the ENTROPY-SELECT pipeline on GPU without a host synchronisation.

The fused kernel of :mod:`.window_entropy` gives ``Ĥ`` and ``G`` in one pass over the features;
the rest (min-max of ``G``, the fusion of SPEC §3, frame budgets of §4, grid quotas of §5, the
final sort of §7) reuses the core's batched tensor code, which has no ``.item()``, no
``.tolist()`` and no data-dependent branch, so for a fixed shape and ``K`` the whole call can be
captured in a CUDA graph (``select_tokens(..., validate=False)``).
"""

from __future__ import annotations

import torch

from ...core.causal import normalize_gradient
from ...core.config import EntropySelectConfig
from ...core.select import combine_scores, plan_frame_budget, select_from_scores
from ...core.selection import Selection, assemble_selection
from .frame_select import grid_select_triton
from .window_entropy import window_entropy_and_gradient_triton

__all__ = ["select_tokens_triton", "fused_scores_triton"]


def fused_scores_triton(
    x: torch.Tensor, config: EntropySelectConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(S, Ĥ, Ĝ)`` of SPEC §1-3: the twin of :func:`entropy_select.core.select.fused_scores`.

    Shapes:
        x: [B, T, H, W, D]  ->  three [B, T, H, W] float32
    """
    entropy, grad = window_entropy_and_gradient_triton(
        x, config.spatial_window, config.temporal_window, config.past_window, config.tau
    )
    gradient = normalize_gradient(grad, config)  # Ĝ over each video or frame (SPEC §2)
    return combine_scores(entropy, gradient, config, x), entropy, gradient


def select_tokens_triton(
    x: torch.Tensor,
    budget: int | None,
    config: EntropySelectConfig,
    frame_budget: torch.Tensor | None = None,
    retention: float | None = None,
) -> Selection:
    """Select ``K = budget`` tokens of each video of a batch (SPEC §1-7) on the GPU.

    Args:
        x: features, float16/bfloat16/float32, any strides, CUDA (or CPU under TRITON_INTERPRET=1).
        budget: K, a Python int in [1, T·H·W] (already resolved by the caller; None with the
            online rule, which sets it).
        config: the hyper-parameters.
        frame_budget: explicit checked budgets ``[B, T]`` summing to ``budget`` (or None).
        retention: the online rule's rate (``config.frame_budget_rule == "online"``).

    Returns:
        A batched :class:`Selection` equal to the reference's on tie-free inputs.

    Shapes:
        x: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], scores [B, T, H, W], ...
    """
    if x.dim() != 5:
        raise ValueError(f"x must be [B, T, H, W, D], got {tuple(x.shape)}")
    # Scores, budgets and indices without autograd (choosing is not differentiable); the output
    # tokens come from ``x`` itself and carry gradient to the inputs they came from.
    with torch.no_grad():
        score, entropy, gradient = fused_scores_triton(x.detach(), config)
        frame_budget, budget = plan_frame_budget(
            score, config, budget, frame_budget, retention
        )  # [B, T]
    merges = config.grid_fusion or config.context_share > 0
    if merges and budget < score[0].numel():  # SPEC §6 (and context) stay on the core's code
        return select_from_scores(x, budget, config, score, entropy, gradient, frame_budget)
    # SPEC §5 and §7 in one kernel: grid quotas, per-frame top-B_f, the sorted keep_index.
    with torch.no_grad():
        keep, keep_index = grid_select_triton(
            score, frame_budget, budget, config.grid, config.coverage
        )
    return assemble_selection(
        x,
        keep,
        score,
        budget,
        keep_index=keep_index,
        frame_budget=frame_budget,
        entropy=entropy,
        gradient=gradient,
    )

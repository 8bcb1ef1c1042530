"""Quality metrics for a token selection, with a real ImageNet head as the task.

No video LLM can run here, so the evaluation asks what a selection preserves of signals that are
real: a pretrained encoder's features and its own classifier. Every metric compares what the
output tokens give with what all tokens give; 1 (or 0 for KL) means nothing was lost.

1. **Task agreement** (:func:`task_agreement`): per frame, the classifier applied to the mean of
   the frame's output tokens vs to the mean of all the frame's tokens (the encoder's own global
   average pooling): top-1 agreement and ``KL(p_all ‖ p_kept)``, averaged over frames. A frame that
   keeps no token is read from the mean of all output tokens of the video (what a model would
   still see).
2. **Coverage** (:func:`coverage`): the mean, over ALL input tokens, of the maximum cosine
   similarity to an output token.
3. **Attention readout** (:func:`attention_readout`): the classifier's rows as queries, softmax
   attention pooling (scaled by ``1/sqrt(D)``) over the output tokens vs over all tokens; the
   cosine of the two readouts, averaged over queries — a stand-in for an LLM's queries reading
   visual tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["task_agreement", "coverage", "attention_readout", "evaluate_selection"]


def _frame_of(keep_index: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    return keep_index // tokens_per_frame


@torch.no_grad()
def task_agreement(
    features: torch.Tensor,
    tokens: torch.Tensor,
    keep_index: torch.Tensor,
    head: torch.nn.Module,
) -> dict[str, float]:
    """Top-1 agreement and KL divergence of the classifier on kept vs all tokens, per frame.

    Args:
        features: all tokens of one video.
        tokens: the selection's output tokens (merged ones included), anchored at keep_index.
        keep_index: flat indices of the output tokens.
        head: maps pooled features ``[F, D]`` to logits ``[F, classes]``.

    Shapes:
        features: [T, H, W, D]; tokens: [K, D]; keep_index: [K]
    """
    T, H, W, D = features.shape
    x = features.reshape(T, H * W, D).float()
    full = x.mean(1)  # [T, D]
    frame = _frame_of(keep_index, H * W)  # [K]
    sums = torch.zeros(T, D).index_add_(0, frame, tokens.float())
    counts = torch.zeros(T).index_add_(0, frame, torch.ones(len(frame)))
    video_mean = tokens.float().mean(0, keepdim=True).expand(T, D)
    kept = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], video_mean)
    log_p_all = F.log_softmax(head(full).float(), -1)
    log_p_kept = F.log_softmax(head(kept).float(), -1)
    agree = (log_p_all.argmax(-1) == log_p_kept.argmax(-1)).float().mean()
    kl = F.kl_div(log_p_kept, log_p_all, log_target=True, reduction="none").sum(-1).mean()
    # KL >= 0; float rounding can give -1e-9 where the two distributions are equal
    return {"top1_agreement": float(agree), "kl": max(float(kl), 0.0)}


@torch.no_grad()
def coverage(features: torch.Tensor, tokens: torch.Tensor, chunk: int = 4096) -> float:
    """Mean over all input tokens of the max cosine similarity to an output token.

    Shapes:
        features: [..., D] (all tokens); tokens: [K, D]
    """
    x = F.normalize(features.reshape(-1, features.shape[-1]).float(), dim=-1)
    y = F.normalize(tokens.float(), dim=-1)
    best = torch.cat([(x[i : i + chunk] @ y.T).amax(-1) for i in range(0, len(x), chunk)])
    return float(best.mean())


@torch.no_grad()
def attention_readout(features: torch.Tensor, tokens: torch.Tensor, queries: torch.Tensor) -> float:
    """Cosine between attention readouts over the output tokens and over all tokens.

    ``readout(Q, X) = softmax(Q·Xᵀ/√D)·X``, one row per query; the score is the mean over queries
    of ``cos(readout(Q, kept), readout(Q, all))``.

    Shapes:
        features: [..., D]; tokens: [K, D]; queries: [Q, D]
    """
    x = features.reshape(-1, features.shape[-1]).float()
    y = tokens.float()
    q = queries.float()
    scale = x.shape[-1] ** -0.5
    full = torch.softmax(q @ x.T * scale, -1) @ x  # [Q, D]
    kept = torch.softmax(q @ y.T * scale, -1) @ y
    return float(F.cosine_similarity(full, kept, dim=-1).mean())


@torch.no_grad()
def evaluate_selection(
    features: torch.Tensor, selection, head: torch.nn.Linear
) -> dict[str, float]:
    """All metrics of one selection of one video; ``head`` is the ImageNet classifier.

    Shapes:
        features: [T, H, W, D]; selection.tokens: [K, D]; head.weight: [classes, D]
    """
    out = task_agreement(features, selection.tokens, selection.keep_index, head)
    out["coverage"] = coverage(features, selection.tokens)
    out["readout_cosine"] = attention_readout(features, selection.tokens, head.weight)
    return out

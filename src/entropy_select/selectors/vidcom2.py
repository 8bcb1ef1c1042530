"""``vidcom2``: Video Compression Commander — frame-adaptive budgets, keep the outlier tokens.

Reimplemented from VidCom² (Liu et al., 2025, "Video Compression Commander: Plug-and-Play
Inference Acceleration for Video Large Language Models", EMNLP 2025, §3): frames that differ
more from the whole video get a larger share of the budget (frame uniqueness through a
temperature-0.01 softmax), and inside each frame the tokens least similar to the video's and the
frame's mean token are kept. Similarities are multi-scale Gaussian kernels on the
lowest-variance half of the channels of the L2-normalised features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core.checks import compute_dtype
from ..core.grid import rank_within
from ..core.selection import Selection, assemble_selection
from .base import Selector, apportion, normalize_tokens

__all__ = ["VidCom2"]


class VidCom2(Selector):
    """VidCom²'s token selection, made exact-K.

    1. Keep the ``floor(channel_ratio·D)`` channels (at least one) with the lowest variance over
       the video's tokens (ties: lower channel); L2-normalise every token on them.
    2. ``v = Σ_σ exp(−‖x̂ − μ_video‖² / 2σ)`` and ``f = Σ_σ exp(−‖x̂ − μ_frame‖² / 2σ)`` over
       ``scales`` (the multi-scale Gaussian similarities to the video's and the frame's mean
       normalised token).
    3. Frame uniqueness ``u_f = −mean_tokens v``; ``p = softmax(u / temperature)``; frame f's
       target share is ``K/T · (1 + p_f − 1/T)`` (VidCom²'s ``base·(1 + p − mean p)``, which
       sums to K). Targets are rounded to integers summing to exactly K with each frame capped at
       ``H·W`` (:func:`~.base.apportion`); VidCom²'s "at least one per frame" is dropped, since
       ``K < T`` must still give K tokens.
    4. In each frame keep its ``B_f`` tokens with the lowest ``v + f`` (ties: lower index).

    Args:
        channel_ratio: share of channels kept for scoring, in (0, 1] (VidCom²: 0.5).
        temperature: frame-softmax temperature, > 0 (VidCom²: 0.01).
        scales: Gaussian bandwidths σ, all > 0 (VidCom²: 2^-3 … 2^1).

    Scores: ``−(v + f)`` (higher = more unique; within each frame the kept tokens hold the
    ``B_f`` largest).

    Cost: flat in retention — O(N·D) for the statistics plus one sort per frame.

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K]
    """

    name = "vidcom2"

    def __init__(
        self,
        channel_ratio: float = 0.5,
        temperature: float = 0.01,
        scales: Sequence[float] = (0.125, 0.25, 0.5, 1.0, 2.0),
    ) -> None:
        if not 0 < channel_ratio <= 1:
            raise ValueError(f"channel_ratio must be in (0, 1], got {channel_ratio}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        scales = tuple(float(s) for s in scales)
        if not scales or min(scales) <= 0:
            raise ValueError(
                f"scales must be a non-empty sequence of positive numbers, got {scales}"
            )
        self.channel_ratio = float(channel_ratio)
        self.temperature = float(temperature)
        self.scales = scales

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, D = features.shape
        m = H * W
        x = features.to(compute_dtype(features.dtype)).reshape(Bsz, T * m, D)  # [B, N, D]
        keep_ch = max(1, int(D * self.channel_ratio))
        variance = x.var(dim=1, unbiased=False)  # [B, D]
        channels = torch.argsort(variance, dim=-1, stable=True)[:, :keep_ch]  # lowest variance
        x = x.gather(2, channels.unsqueeze(1).expand(-1, T * m, -1))
        xn = normalize_tokens(x).reshape(Bsz, T, m, keep_ch)  # [B, T, m, c]
        video_mean = xn.mean(dim=(1, 2), keepdim=True)
        frame_mean = xn.mean(dim=2, keepdim=True)
        v = self._gaussian(xn, video_mean)  # [B, T, m]
        f = self._gaussian(xn, frame_mean)
        uniqueness = -v.mean(-1)  # [B, T]
        p = torch.softmax((uniqueness - uniqueness.amax(-1, keepdim=True)) / self.temperature, -1)
        target = budget / T * (1 + p.to(torch.float64) - 1 / T)
        frame_budget = apportion(target, budget, m)  # [B, T]
        score = -(v + f)
        keep = rank_within(score) < frame_budget.unsqueeze(-1)  # [B, T, m]
        return assemble_selection(features, keep, score.view(Bsz, T, H, W), budget)

    def _gaussian(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        dist = (x - center).pow(2).sum(-1)
        return sum(torch.exp(-dist / (2 * s)) for s in self.scales)

    def __repr__(self) -> str:
        return (
            f"VidCom2(channel_ratio={self.channel_ratio}, temperature={self.temperature}, "
            f"scales={self.scales})"
        )

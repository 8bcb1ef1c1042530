"""ENTROPY-SELECT behind the selector interface, with named presets."""

from __future__ import annotations

from typing import Any

import torch

from ..core.config import EntropySelectConfig
from ..core.select import select_tokens
from ..core.selection import Selection
from .base import Selector

__all__ = ["EntropySelect", "PRESETS"]

#: ``paper``: the paper's equations and values as SPEC pins them. ``default``: the library's
#: default, chosen on the detail-and-gist benchmark (docs/choosing-the-default.md).
#: ``balanced``: three quarters of the budget pooled into context summaries.
PRESETS: dict[str, EntropySelectConfig] = {
    "paper": EntropySelectConfig.paper(),
    "default": EntropySelectConfig(),
    "balanced": EntropySelectConfig.balanced(),
}


class EntropySelect(Selector):
    """ENTROPY-SELECT (this library's reference; the paper's §3).

    Args:
        preset: ``"default"``, ``"paper"`` or ``"balanced"``.
        impl: ``"auto"``, ``"reference"`` or ``"triton"`` (see :func:`select_tokens`).
        **options: :class:`EntropySelectConfig` fields overriding the preset.
    """

    name = "entropy_select"
    merges = True  # select_tokens handles autograd itself (grid fusion merges)

    def __init__(self, preset: str = "default", impl: str = "auto", **options: Any) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.preset = preset
        self.impl = impl
        self.config = EntropySelectConfig.from_kwargs(PRESETS[preset], **options)

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        return select_tokens(
            features, budget=budget, config=self.config, impl=self.impl, validate=False
        )

    def __repr__(self) -> str:
        return f"EntropySelect(preset={self.preset!r}, impl={self.impl!r}, config={self.config})"

"""The ENTROPY-SELECT variant study: which score works best, measured by the quality benchmark.

SPEC's "measured property" says the paper's entropy term barely varies at ``τ = 1`` and is high in
flat regions rather than on boundaries. This study compares the paper's score with the variants
SPEC names: min-max normalised ``Ĥ``, ``1 − Ĥ`` (and its min-max form), ``τ ∈ {0.05, 0.1, 1}``,
``α ∈ {0, 0.3, 0.5, 0.7, 1}``, then grid fusion and the temporal window on and off.

Stage 1 is the full grid over (entropy_mode, τ, α) — with duplicates removed: at ``α = 0`` the
entropy term is unused, so one variant stands for all. Stage 2 toggles grid fusion and the temporal
window (``temporal_window = 1``) on the paper's config and on stage 1's winner.
"""

from __future__ import annotations

import itertools

from ..core.config import ENTROPY_MODES, EntropySelectConfig

__all__ = ["stage1_variants", "stage2_variants", "variant_label"]

TAUS = (0.05, 0.1, 1.0)
ALPHAS = (0.0, 0.3, 0.5, 0.7, 1.0)


def variant_label(options: dict) -> str:
    """A short, stable label: ``paper`` for the paper's config, else the ``key=value`` changes."""
    default = EntropySelectConfig.paper()
    diff = {k: v for k, v in options.items() if getattr(default, k) != v}
    if not diff:
        return "paper"
    return ",".join(f"{k}={v}" for k, v in sorted(diff.items()))


def stage1_variants() -> dict[str, dict]:
    """Every (entropy_mode, τ, α) combination, deduplicated; the paper's config first."""
    out: dict[str, dict] = {"paper": {}}
    for mode, tau, alpha in itertools.product(ENTROPY_MODES, TAUS, ALPHAS):
        if alpha == 0.0:  # the entropy term has no weight: one gradient-only variant
            options = {"alpha": 0.0}
        else:
            options = {"entropy_mode": mode, "tau": tau, "alpha": alpha}
        out.setdefault(variant_label(options), options)
    return out


def stage2_variants(best: dict) -> dict[str, dict]:
    """Grid fusion and the temporal window toggled on the paper's config and on ``best``."""
    out: dict[str, dict] = {}
    for base in ({}, dict(best)):
        for fusion, temporal in itertools.product((False, True), (3, 1)):
            options = dict(base)
            if fusion:
                options["grid_fusion"] = True
            if temporal == 1:
                options["temporal_window"] = 1
            out.setdefault(variant_label(options), options)
    return out

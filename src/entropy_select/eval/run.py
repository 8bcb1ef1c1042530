"""Run the quality benchmark end to end: features, selectors, metrics, reports."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .quality import RETENTIONS, load_clip_features, mean_rank, run_quality, summarize, write_report
from .variants import stage1_variants, stage2_variants

__all__ = ["run_benchmark", "default_selectors"]


def default_selectors(names: Sequence[str] | None = None) -> dict:
    """Label -> selector for the comparison: every registered one (ours as two presets)."""
    from .. import selectors

    names = list(names) if names else selectors.available()
    out = {}
    for name in names:
        if name == "entropy_select":
            out["entropy_select:paper"] = selectors.get(name, preset="paper", impl="reference")
            out["entropy_select:default"] = selectors.get(name, preset="default", impl="reference")
        else:
            out[name] = selectors.get(name)
    return out


def run_benchmark(
    out_dir: str | os.PathLike,
    study: str = "selectors",
    selectors: Sequence[str] | None = None,
    retentions: Sequence[float] = RETENTIONS,
    frames: int = 16,
    encoder: str = "mobilenet_v2",
    cache: bool | str | os.PathLike = True,
    progress: bool = True,
) -> dict[str, Path]:
    """Run ``study`` (``selectors``, ``variants`` or ``all``); write its reports to ``out_dir``."""
    from .. import __version__
    from .. import selectors as registry

    if study not in ("selectors", "variants", "all"):
        raise ValueError(f"study must be selectors, variants or all; got {study!r}")
    features, enc = load_clip_features(
        frames=frames, encoder=encoder, cache=cache, progress=progress
    )
    head = enc.model.classifier[1]
    meta = {
        "entropy_select": __version__,
        "frames": frames,
        "encoder": enc.cache_key,
        "clips": {k: list(v.shape) for k, v in features.items()},
        "retentions": list(retentions),
    }
    paths: dict[str, Path] = {}
    if study in ("selectors", "all"):
        rows = run_quality(features, default_selectors(selectors), head, retentions, progress)
        for kind, p in write_report(rows, out_dir, meta, "quality_selectors").items():
            paths[f"selectors_{kind}"] = p
    if study in ("variants", "all"):

        def build(variants: dict) -> dict:
            return {
                label: registry.get("entropy_select", preset="paper", impl="reference", **opts)
                for label, opts in variants.items()
            }

        stage1 = stage1_variants()
        rows1 = run_quality(features, build(stage1), head, retentions, progress)
        ranks1 = mean_rank(summarize(rows1))
        best = min(ranks1, key=ranks1.get)
        stage2 = stage2_variants(stage1[best])
        rows2 = run_quality(features, build(stage2), head, retentions, progress)
        meta2 = dict(meta, stage1_best=best, stage1_best_options=stage1[best])
        for kind, p in write_report(rows1, out_dir, meta, "variants_stage1").items():
            paths[f"stage1_{kind}"] = p
        for kind, p in write_report(rows2, out_dir, meta2, "variants_stage2").items():
            paths[f"stage2_{kind}"] = p
    return paths

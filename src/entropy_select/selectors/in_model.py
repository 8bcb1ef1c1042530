"""The registry of in-model selectors: baselines that need signals from inside the video LLM.

FastV ranks visual tokens by the language model's own attention, DyCoke's second stage prunes
the KV cache while decoding, VisionZip reads the vision encoder's attention: none can run on
visual features alone, so neither is a
:class:`~entropy_select.selectors.Selector`. They are patches of a loaded model
(``es.patch(model, selector="fastv", retention=0.5, layer=2)``), implemented by the adapters
layer; this module only *describes* them (plain data, no import of the layer above), so that
``selectors.get``, the adapters, the CLI and the lmms-eval plugin all read one table.

Adding one (VisionZip, ...) is one entry of :data:`IN_MODEL`: its runtime module (which must
define ``install(model, state, **options)``), its declared options, the model types it supports
and, if it has one, the feature-level selector it runs before the language model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InModelSelector", "IN_MODEL", "in_model_names", "in_model_error"]

#: every adapter model type (``entropy_select.adapters``); repeated here as plain names
_ALL_TYPES = ("llava_onevision", "qwen2_5_vl", "qwen3_vl", "internvl")


@dataclass(frozen=True)
class InModelSelector:
    """One in-model selector.

    Attributes:
        name: the ``selector=`` name.
        runtime: the module (in ``entropy_select.adapters``) whose ``install`` patches a model.
        options: ``option -> (default, annotation)``, parsed by ``core.options.convert_option``
            exactly like a feature selector's keyword options.
        model_types: the adapter model types it supports (others raise, listing these).
        feature_stage: a registered feature-level selector run before the language model with
            the patch's ``retention``/``budget`` (DyCoke's temporal merging), or None.
        example: the ``es.patch`` call shown in error messages.
        paper: the paper it reimplements.
        summary: what it reads from the model, in a few words (``adapters.supported()``).
    """

    name: str
    runtime: str
    options: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    model_types: tuple[str, ...] = _ALL_TYPES
    feature_stage: str | None = None
    example: str = ""
    paper: str = ""
    summary: str = ""


IN_MODEL: dict[str, InModelSelector] = {
    "fastv": InModelSelector(
        name="fastv",
        runtime="entropy_select.adapters.fastv",
        # K = 2: FastV's paper default (its HF demo uses 3)
        options={"layer": (2, int)},
        example='es.patch(model, selector="fastv", retention=0.5, layer=2)',
        paper="Chen et al., An Image is Worth 1/2 Tokens After Layer 2 (FastV), ECCV 2024",
        summary="the last prompt token's attention in LLM layer K-1; layers >= K see the kept",
    ),
    "dycoke": InModelSelector(
        name="dycoke",
        runtime="entropy_select.adapters.dycoke",
        options={
            "layer": (3, int),  # L = 3: DyCoke's default decode-pruning layer
            "decode_retention": (0.3, float),  # keep 1 - p with p = 0.7 (DyCoke's setting)
            "threshold": (0.9, float),  # re-choose when the attention cosine drops below 0.9
        },
        feature_stage="dycoke_ttm",
        example='es.patch(model, selector="dycoke", retention=0.35, layer=3)',
        paper="Tao et al., DyCoke: Dynamic Compression of Tokens for Fast Video LLMs, CVPR 2025",
        summary="dycoke_ttm before the LLM; decode steps attend to the current token's top video "
        "tokens from layer L",
    ),
    "visionzip": InModelSelector(
        name="visionzip",
        runtime="entropy_select.adapters.visionzip",
        options={
            "contextual_share": (10 / 64, float),  # ρ: 10 of 64, the paper's 54 + 10
            "layer": (None, "int | None"),  # None: the layer the features come from
        },
        example='es.patch(model, selector="visionzip", retention=0.35)',
        paper="Yang et al., VisionZip: Longer is Better but Not Necessary in VLMs, CVPR 2025",
        summary="dominant + contextual tokens by the vision encoder's attention",
    ),
}


def in_model_names() -> list[str]:
    """The registered in-model selector names, sorted."""
    return sorted(IN_MODEL)


def in_model_error(name: str) -> str:
    """The message for an in-model selector asked for without a model."""
    entry = IN_MODEL[name]
    return (
        f"selector {name!r} ({entry.summary}) is an in-model selector: it needs the model, not "
        f"only its features, so it cannot be built on its own. "
        f"Patch a model instead: import entropy_select as es; {entry.example} "
        f"(supported model types: {', '.join(entry.model_types)}; options: "
        f"{', '.join(entry.options) or 'none'})"
    )

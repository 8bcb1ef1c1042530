"""Hugging Face adapters: make a loaded video LLM see K visual tokens per video instead of N.

    import entropy_select as es
    model = es.patch(model, retention=0.35)              # selector="entropy_select" by default
    out = model.generate(**inputs, max_new_tokens=32)    # inputs straight from the processor
    es.unpatch(model)
    with es.compressed(model, retention=0.1, selector="entropy_select", tau=0.1):
        model(**inputs)

One file per Hugging Face ``config.model_type`` (``llava_onevision``, ``qwen2_5_vl``,
``qwen3_vl``, ``internvl``), each filling one :class:`AdapterSpec` (``_contract``) with what is
specific to its model; one shared pipeline (``_prepare``) runs them all. The patch touches the
model INSTANCE only (see ``_patching``); the selection happens where the paper puts it (§3,
after the vision encoder and projector, before the language model), on each video's
post-projector token grid; images pass through untouched.

Importing this package needs torch only; ``transformers`` is checked when a model is patched.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import torch

from .. import selectors
from ..core.checks import check_budget, check_retention
from ._contract import AdapterSpec
from ._patching import STATE_ATTR, AdapterState, install, remove

__all__ = [
    "patch",
    "unpatch",
    "compressed",
    "supported",
    "supported_in_model",
    "is_patched",
    "spec_for",
    "AdapterSpec",
    "TESTED_TRANSFORMERS",
]

#: model_type -> adapter module, whose ``SPEC`` is its AdapterSpec (imported on first use)
_ADAPTERS: dict[str, str] = {
    "llava_onevision": "entropy_select.adapters.llava_onevision",
    "qwen2_5_vl": "entropy_select.adapters.qwen2_5_vl",
    "qwen3_vl": "entropy_select.adapters.qwen3_vl",
    "internvl": "entropy_select.adapters.internvl",
}
#: transformers versions the test-suite ran against (CPU, tiny random configs)
TESTED_TRANSFORMERS: tuple[str, ...] = ("5.17.0", "5.24.0")
#: the accepted major version: the seams used (get_video_features, get_rope_index, generate's
#: position_ids bookkeeping) are the 5.x ones
_SUPPORTED_MAJOR = 5


def supported() -> dict[str, dict[str, Any]]:
    """The supported model types, with the transformers versions they were tested with.

    Returns:
        ``{model_type: {"transformers": ">=5,<6", "tested": (versions...), "notes": str,
        "in_model": {selector: how it reads the model}}}``: ``in_model`` lists the in-model
        selectors (FastV, DyCoke, VisionZip) the type supports; :func:`supported_in_model`
        gives their options.
    """
    notes = {
        "llava_onevision": "also LLaVA-Video checkpoints of this class; 1-D RoPE, newline kept",
        "qwen2_5_vl": "M-RoPE positions gathered from the unpruned prompt",
        "qwen3_vl": "M-RoPE gathered; DeepStack features pruned with the same indices; "
        "fastv needs layer >= the DeepStack levels (3 in the released models)",
        "internvl": "videos are frames in pixel_values: pass video_frame_ranges=[(start, stop)] "
        "(also for fastv/dycoke, which find the video by them)",
    }
    from ._inmodel import model_notes

    return {
        name: {
            "transformers": ">=5,<6",
            "tested": TESTED_TRANSFORMERS,
            "notes": notes[name]
            + "".join(f"; {sel}: {how}" for sel, how in model_notes(name).items()),
            "in_model": model_notes(name),
        }
        for name in _ADAPTERS
    }


def supported_in_model() -> dict[str, dict[str, Any]]:
    """Which in-model selectors (FastV, DyCoke, ...) each model type supports, and their options.

    Returns:
        ``{model_type: {selector: {"options": {option: default}, "feature_stage": str | None}}}``
        for every adapter model type (an empty dict: none supported).
    """
    from ..selectors.in_model import IN_MODEL

    return {
        model_type: {
            name: {
                "options": {k: default for k, (default, _) in entry.options.items()},
                "feature_stage": entry.feature_stage,
            }
            for name, entry in sorted(IN_MODEL.items())
            if model_type in entry.model_types
        }
        for model_type in _ADAPTERS
    }


def _in_model_parts(
    model_type: str, selector: str, options: dict[str, Any]
) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """``(feature stage, its options, the runtime's options)`` of an in-model selector, checked.

    Options are split between the runtime (declared in the registry) and the feature stage
    (its selector's own options), each parsed by ``core.options.convert_option``.
    """
    from ..core.options import convert_option
    from ..selectors.in_model import IN_MODEL

    entry = IN_MODEL[selector]
    if model_type not in entry.model_types:
        raise ValueError(
            f"selector {selector!r} does not support model_type {model_type!r}; "
            f"supported: {', '.join(entry.model_types)}"
        )
    stage_declared = selectors.selector_options(entry.feature_stage) if entry.feature_stage else {}
    runtime, stage = {}, {}
    for key, value in options.items():
        if key in entry.options:
            runtime[key] = convert_option(key, value, *entry.options[key])
        elif key in stage_declared:
            stage[key] = value  # selectors.get parses it
        else:
            valid = sorted(set(entry.options) | set(stage_declared))
            raise ValueError(
                f"unknown option {key!r} for selector {selector!r}; valid options are: "
                f"{', '.join(valid) or 'none'}"
            )
    return entry.feature_stage, stage, runtime


def spec_for(model_type: str) -> AdapterSpec:
    """The :class:`AdapterSpec` of a supported ``model_type`` (imports its model file).

    Raises:
        ValueError: an unsupported model type; the message lists the supported ones.
    """
    if model_type not in _ADAPTERS:
        raise ValueError(
            f"no ENTROPY-SELECT adapter for model_type {model_type!r}; "
            f"supported: {', '.join(sorted(_ADAPTERS))}"
        )
    return importlib.import_module(_ADAPTERS[model_type]).SPEC


def _check_transformers() -> str:
    from ..io import require

    transformers = require("transformers", "hf", "patching Hugging Face models")
    version = transformers.__version__
    major = int(version.split(".")[0])
    if major != _SUPPORTED_MAJOR:
        raise RuntimeError(
            f"entropy_select.adapters supports transformers {_SUPPORTED_MAJOR}.x "
            f"(tested: {', '.join(TESTED_TRANSFORMERS)}); found {version}"
        )
    return version


def is_patched(model: torch.nn.Module) -> bool:
    """Whether ``model`` carries an ENTROPY-SELECT patch."""
    return STATE_ATTR in getattr(model, "__dict__", {})


def patch(
    model: torch.nn.Module,
    retention: float | None = 0.35,
    selector: str = "entropy_select",
    *,
    budget: int | None = None,
    **selector_options: Any,
) -> torch.nn.Module:
    """Patch a Hugging Face video LLM instance so each video keeps ``K`` of its ``N`` tokens.

    Patching again replaces the previous patch (so the retention or selector can change between
    calls); :func:`unpatch` restores the instance exactly.

    Args:
        model: a ``*ForConditionalGeneration`` instance whose ``config.model_type`` is one of
            :func:`supported`.
        retention: ``r`` in (0, 1]; each video keeps ``K = clamp(floor(r·N), 1, N)`` tokens.
        selector: any registered selector name (``entropy_select.selectors.available()``), or
            an in-model selector (``selectors.in_model_names()``: ``"fastv"`` prunes inside the
            language model at layer ``layer``; ``"dycoke"`` merges frames before it and prunes
            the attended cache while decoding; ``"visionzip"`` reads the vision tower's
            attention; see ``docs/in_model.md``).
        budget: instead of ``retention``: ``K`` per video (pass ``retention=None``).
        **selector_options: the selector's options (e.g. ``preset="paper"``, ``tau=0.1``;
            ``layer=2`` for FastV).

    Returns:
        The same model object, patched.

    Raises:
        ValueError: an unsupported model type (the message lists the supported ones), an unknown
            selector, or a bad retention/budget.
        RuntimeError: an unsupported transformers version.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if not model_type:
        raise ValueError(
            f"{type(model).__name__} is not a supported Hugging Face model: es.patch needs a "
            f"video LLM instance whose config.model_type is one of "
            f"{', '.join(sorted(_ADAPTERS))} (see es.adapters.supported())"
        )
    if model_type not in _ADAPTERS:
        raise ValueError(
            f"no ENTROPY-SELECT adapter for model_type {model_type!r} "
            f"({type(model).__name__}); supported: {', '.join(sorted(_ADAPTERS))}"
        )
    if budget is not None:
        retention, budget = None, check_budget(budget)  # per video; N is known at each call
    elif retention is not None:
        retention = check_retention(retention)
    _check_transformers()
    adapter = spec_for(model_type)
    adapter.check_model(model)
    in_model = selector in selectors.in_model_names()
    if in_model:
        stage, stage_options, runtime_options = _in_model_parts(
            model_type, selector, selector_options
        )
        feature_selector = selectors.get(stage, **stage_options) if stage else None
        selector_options = {**runtime_options, **stage_options}  # parsed values (layer=2)
    else:
        feature_selector = selectors.get(selector, **selector_options)
    state = AdapterState(
        adapter=adapter,
        selector=feature_selector,
        selector_name=selector,
        selector_options=dict(selector_options),
        retention=retention,
        budget=budget,
    )
    if in_model:  # before removing the old patch: a bad value leaves the model as it was
        from . import _inmodel

        runtime = _inmodel.install(model, state, selector, runtime_options)
    remove(model)  # idempotent: a second patch replaces the first (tomesd's apply_patch)
    if in_model:
        state.in_model = runtime
    install(model, state)
    return model


def unpatch(model: torch.nn.Module) -> torch.nn.Module:
    """Remove the patch and return the model.

    On a model that is not patched (never patched, already unpatched, or not a supported model at
    all) this is a silent no-op, so cleanup code can call it unconditionally.
    """
    remove(model)
    return model


@contextlib.contextmanager
def compressed(
    model: torch.nn.Module,
    retention: float | None = 0.35,
    selector: str = "entropy_select",
    *,
    budget: int | None = None,
    **selector_options: Any,
) -> Iterator[torch.nn.Module]:
    """Patch ``model`` for the duration of a ``with`` block, then restore its previous state.

    A model that was already patched gets its previous patch (and settings) back on exit.
    """
    previous: AdapterState | None = model.__dict__.get(STATE_ATTR)
    patch(model, retention, selector, budget=budget, **selector_options)
    try:
        yield model
    finally:
        remove(model)
        if previous is not None:
            patch(
                model,
                previous.retention,
                previous.selector_name,
                budget=previous.budget,
                **previous.selector_options,
            )

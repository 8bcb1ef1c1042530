"""lmms-eval plugin: lmms-eval's own video LLM wrappers, with ENTROPY-SELECT applied after loading.

lmms-eval (0.7.3) discovers external models through the Python entry-point group
``lmms_eval.models``: at ``import lmms_eval.models`` its ``ModelRegistryV2`` loads every entry
point of that group and registers the ``ModelManifest`` objects it yields (a manifest, an iterable
of them, or a callable returning either). This module's :func:`manifests` is that payload::

    [project.entry-points."lmms_eval.models"]
    entropy_select = "entropy_select.integrations.lmms_eval:manifests"

Registered model ids (each a subclass of the lmms-eval class named, built on first use):

- ``llava_onevision_es`` (alias ``llava_hf_es``): ``lmms_eval.models.simple.llava_hf.LlavaHf``,
  model_type ``llava_onevision``;
- ``qwen2_5_vl_es``: ``lmms_eval.models.{chat,simple}.qwen2_5_vl.Qwen2_5_VL``, ``qwen2_5_vl``;
- ``qwen3_vl_es``: ``lmms_eval.models.{chat,simple}.qwen3_vl.Qwen3_VL``, ``qwen3_vl``.

``llava_onevision_es`` registers the *simple* ``llava_hf`` class only: lmms-eval's chat variant
hands video paths to the Hugging Face processor, which ignores ``max_frames_num``, whereas the
simple one samples exactly ``max_frames_num`` frames with decord (the paper uses 16). The Qwen ids
register both, like lmms-eval does (chat by default, ``--force_simple`` for the other); their
frame count is ``max_num_frames``. lmms-eval's ``llava_onevision`` (the LLaVA-NeXT codebase, not
transformers) is not wrapped: the adapters patch transformers models.

Compression options come from ``--model_args`` and nothing else. Keys starting with ``es_`` are
ours; they are split off and validated before any weight is loaded, and every other key goes to
the wrapped class unchanged:

- ``es_retention``: the fraction r in (0, 1] of each video's visual tokens to keep
  (K = clamp(floor(r·N), 1, N), paper §3); or ``es_budget``: K per video. Exactly one is required.
- ``es_selector``: a registered selector (default ``entropy_select``; see
  ``entropy_select.selectors.available()``), or an in-model one (``fastv``, ``dycoke``,
  ``visionzip``; see
  ``entropy_select.selectors.in_model_names()`` and ``docs/in_model.md``).
- ``es_<option>``: an option of that selector, e.g. for ``entropy_select`` ``es_preset``,
  ``es_impl``, ``es_cuda_graph`` (``auto``, the default: a cached CUDA graph per repeated input
  shape, about one input's worth of GPU memory each; ``false`` turns it off) and every
  :class:`~entropy_select.EntropySelectConfig` field (``es_tau``,
  ``es_alpha``, ``es_spatial_window``, ``es_grid``, ...); for ``fastv`` ``es_layer``; for
  ``dycoke`` ``es_layer``, ``es_decode_retention``, ``es_threshold``; for ``visionzip``
  ``es_contextual_share``, ``es_layer``.

An unknown ``es_`` key raises ``ValueError`` listing the valid ones. Example::

    python -m lmms_eval --model llava_onevision_es \\
        --model_args pretrained=llava-hf/llava-onevision-qwen2-7b-ov-hf,max_frames_num=16,\\
    attn_implementation=sdpa,device=cuda:0,device_map=cuda:0,es_retention=0.35 \\
        --tasks mvbench --batch_size 1 --log_samples --output_path results

Its baseline is ``--model llava_hf --force_simple`` (the class ``llava_onevision_es`` wraps).
Once loaded, the model's effective configuration goes to lmms-eval's log (INFO) and each
``generate`` call's prefill to lmms-eval's usage metrics (the results JSON's ``usage`` block).

Importing this module needs neither lmms-eval nor transformers; both are imported when a manifest
or a wrapped class is requested.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.checks import check_budget, check_retention
from ..core.options import convert_option, to_float, to_int

__all__ = [
    "CompressionArgs",
    "MODELS",
    "PREFIX",
    "apply_compression",
    "effective_config",
    "manifests",
    "parse_compression_args",
    "split_model_args",
    "valid_keys",
]

_log = logging.getLogger(__name__)

#: the prefix that marks our keys in ``--model_args``
PREFIX = "es_"
#: our own keys (the selector's options are added per selector)
_OWN_KEYS = ("retention", "budget", "selector")
_DEFAULT_SELECTOR = "entropy_select"


@dataclass(frozen=True)
class _Wrapped:
    """One registered model id: the lmms-eval classes it wraps and the model types it accepts."""

    simple: str | None  # "module.Class" of lmms-eval's simple class
    chat: str | None  # "module.Class" of lmms-eval's chat class
    model_types: tuple[str, ...]  # accepted Hugging Face config.model_type values
    aliases: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)  # our defaults for wrapped kwargs


#: model id -> what it wraps (lmms-eval 0.7.3 class paths)
MODELS: dict[str, _Wrapped] = {
    "llava_onevision_es": _Wrapped(
        simple="lmms_eval.models.simple.llava_hf.LlavaHf",
        chat=None,  # the chat class ignores max_frames_num (see the module docstring)
        model_types=("llava_onevision",),
        aliases=("llava_hf_es",),
        # llava_hf defaults to LLaVA-1.5 (an image model we do not patch): default to the
        # LLaVA-OneVision-7B checkpoint of the paper's Table 2 instead
        defaults={"pretrained": "llava-hf/llava-onevision-qwen2-7b-ov-hf"},
    ),
    "qwen2_5_vl_es": _Wrapped(
        simple="lmms_eval.models.simple.qwen2_5_vl.Qwen2_5_VL",
        chat="lmms_eval.models.chat.qwen2_5_vl.Qwen2_5_VL",
        model_types=("qwen2_5_vl",),
    ),
    "qwen3_vl_es": _Wrapped(
        simple="lmms_eval.models.simple.qwen3_vl.Qwen3_VL",
        chat="lmms_eval.models.chat.qwen3_vl.Qwen3_VL",
        model_types=("qwen3_vl",),
    ),
}

#: our class names (attributes of this module, built lazily) -> (model id, "simple" | "chat")
_CLASSES: dict[str, tuple[str, str]] = {
    "LlavaOneVisionES": ("llava_onevision_es", "simple"),
    "Qwen2_5_VL_ES": ("qwen2_5_vl_es", "simple"),
    "Qwen2_5_VL_ES_Chat": ("qwen2_5_vl_es", "chat"),
    "Qwen3_VL_ES": ("qwen3_vl_es", "simple"),
    "Qwen3_VL_ES_Chat": ("qwen3_vl_es", "chat"),
}
_BUILT: dict[str, type] = {}


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompressionArgs:
    """The validated ``es_*`` keys of one ``--model_args`` string.

    Attributes:
        retention: kept fraction in (0, 1], or None when ``budget`` is given.
        budget: kept tokens per video, or None when ``retention`` is given.
        selector: a registered selector name.
        options: the selector's options, converted to their types (``es_`` prefix removed).
    """

    retention: float | None
    budget: int | None
    selector: str
    options: Mapping[str, Any]

    def patch_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``entropy_select.patch(model, **kwargs)``."""
        return {
            "retention": self.retention,
            "budget": self.budget,
            "selector": self.selector,
            **self.options,
        }


def _known_selectors() -> list[str]:
    """Feature selectors and in-model ones (FastV, DyCoke): every valid ``es_selector``."""
    from .. import selectors

    return selectors.available() + selectors.in_model_names()


def _check_selector(selector: Any) -> None:
    if not isinstance(selector, str) or selector not in _known_selectors():
        raise ValueError(
            f"{PREFIX}selector={selector!r} is not a registered selector; "
            f"available: {', '.join(_known_selectors())}"
        )


def _selector_options(selector: str) -> dict[str, tuple[Any, Any]]:
    """The options a selector accepts (:func:`entropy_select.selectors.selector_options`)."""
    from .. import selectors

    _check_selector(selector)
    return selectors.selector_options(selector)


def _validate(selector: str, options: dict[str, Any]) -> None:
    """Build the selector once (its feature stage, for an in-model one) to check the values."""
    from .. import selectors
    from ..selectors.in_model import IN_MODEL

    entry = IN_MODEL.get(selector)
    if entry is None:
        selectors.get(selector, **options)
        return
    from ..adapters import _inmodel  # what can be checked without the model (ranges)

    _inmodel.check_options(selector, {k: v for k, v in options.items() if k in entry.options})
    if entry.feature_stage is not None:
        staged = {k: v for k, v in options.items() if k not in entry.options}
        selectors.get(entry.feature_stage, **staged)


def valid_keys(selector: str = _DEFAULT_SELECTOR) -> list[str]:
    """Every ``es_*`` key ``--model_args`` accepts with this selector, sorted.

    Args:
        selector: a registered selector name.

    Returns:
        ``["es_alpha", "es_budget", ...]``.
    """
    names = set(_OWN_KEYS) | set(_selector_options(selector))
    return sorted(PREFIX + n for n in names)


def split_model_args(model_args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split parsed ``--model_args`` into our ``es_*`` keys (prefix removed) and the rest.

    Args:
        model_args: the keyword arguments lmms-eval passes to the model class.

    Returns:
        ``(ours, rest)``: ``ours`` maps ``"retention"``, ``"tau"``, ... to the raw values; ``rest``
        is everything else, for the wrapped class.
    """
    ours = {k[len(PREFIX) :]: v for k, v in model_args.items() if k.startswith(PREFIX)}
    rest = {k: v for k, v in model_args.items() if not k.startswith(PREFIX)}
    return ours, rest


def parse_compression_args(ours: Mapping[str, Any]) -> CompressionArgs:
    """Validate and convert our keys (``es_`` prefix removed) into :class:`CompressionArgs`.

    The selector is built once here, so a bad option value fails before any weight is loaded.

    Args:
        ours: raw values, as strings or as lmms-eval's ``simple_parse_args_string`` converted them.

    Returns:
        The validated arguments.

    Raises:
        ValueError: an unknown key (the message lists the valid ones), a missing or doubled
            retention/budget, an unknown selector or a bad value.
    """

    selector = ours.get("selector", _DEFAULT_SELECTOR)
    options = _selector_options(selector)
    unknown = sorted(set(ours) - set(_OWN_KEYS) - set(options))
    if unknown:
        raise ValueError(
            f"unknown ENTROPY-SELECT key(s) in --model_args: "
            f"{', '.join(PREFIX + k for k in unknown)}; valid keys with {PREFIX}selector="
            f"{selector} are: {', '.join(valid_keys(selector))}"
        )
    has_r, has_k = ours.get("retention") is not None, ours.get("budget") is not None
    if has_r == has_k:
        raise ValueError(
            f"give exactly one of {PREFIX}retention (fraction of visual tokens kept, in (0, 1]) "
            f"and {PREFIX}budget (tokens kept per video) in --model_args"
        )
    retention = budget = None
    if has_r:
        retention = to_float(PREFIX + "retention", ours["retention"])
        retention = check_retention(retention, PREFIX + "retention")
    else:
        budget = check_budget(to_int(PREFIX + "budget", ours["budget"]), name=PREFIX + "budget")
    converted = {
        k: convert_option(PREFIX + k, v, *options[k]) for k, v in ours.items() if k not in _OWN_KEYS
    }
    try:
        _validate(selector, converted)  # the selector validates its own values
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad {PREFIX}* option for selector {selector!r}: {err}") from None
    return CompressionArgs(retention, budget, selector, converted)


def apply_compression(model: Any, args: CompressionArgs) -> Any:
    """Patch a loaded Hugging Face model with ``entropy_select.patch`` (imported here, lazily).

    Args:
        model: the ``*ForConditionalGeneration`` instance the wrapped lmms-eval class loaded.
        args: validated compression arguments.

    Returns:
        The patched model (the same object).
    """
    from .. import adapters  # the lazy import keeps this module light; tests may replace patch

    return adapters.patch(model, **args.patch_kwargs())


def effective_config(model: Any) -> dict[str, Any]:
    """What a patched model will do: selector, retention or budget, and every resolved option.

    Args:
        model: a model patched by :func:`apply_compression`.

    Returns:
        ``{"entropy_select_version", "selector", "retention", "budget", "options", "config"}``:
        ``options`` as given, ``config`` the selector's full resolved configuration (defaults and
        preset included) when it has a dataclass config, else its ``repr``.
    """
    from .. import __version__
    from ..adapters import _patching

    state = model.__dict__[_patching.STATE_ATTR]
    config = getattr(state.selector, "config", None)
    resolved = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None
    from .. import selectors

    if state.selector_name in selectors.in_model_names():  # every declared option, defaulted
        declared = selectors.selector_options(state.selector_name)
        resolved = {k: state.selector_options.get(k, d) for k, (d, _) in declared.items()}
    for name in ("preset", "impl"):  # selector-level settings beside its config dataclass
        if resolved is not None and hasattr(state.selector, name):
            resolved[name] = getattr(state.selector, name)
    return {
        "entropy_select_version": __version__,
        "selector": state.selector_name,
        "retention": state.retention,
        "budget": state.budget,
        "options": dict(state.selector_options),
        "config": resolved if resolved is not None else repr(state.selector),
    }


def _describe(config: Mapping[str, Any]) -> str:
    amount = (
        f"retention={config['retention']}"
        if config["retention"] is not None
        else f"budget={config['budget']} tokens per video"
    )
    return f"selector={config['selector']}, {amount}, config={config['config']}"


def _eval_logger() -> Any:
    """lmms-eval's logger (loguru's, which its CLI prints at ``--verbosity``, INFO by default)."""
    try:
        from loguru import logger
    except ImportError:  # not inside lmms-eval: the stdlib logger, with loguru-style braces
        return _BraceLogger(_log)
    return logger


class _BraceLogger:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def info(self, message: str, *args: Any) -> None:
        self._log.info(message.format(*args))

    def debug(self, message: str, *args: Any) -> None:
        self._log.debug(message.format(*args))


def _record_prefill_usage(model: Any) -> None:
    """Report each ``generate`` call's prefill to lmms-eval's usage metrics (``results["usage"]``).

    lmms-eval's ``usage_metrics.log_usage`` sums per-call ``input_tokens``/``output_tokens``
    into the ``usage`` block of its results JSON (``total``, ``by_task``) and its CLI prints the
    total. Here ``input_tokens`` is what the language model actually prefilled: the prompt's real
    (unpadded) tokens minus the visual tokens the selector dropped; ``output_tokens`` the new
    tokens of each row (padding after an early end of sequence included). The wrapper sits on the
    patched instance's ``generate`` and goes away with :func:`entropy_select.unpatch`.
    """
    from ..adapters import _patching

    try:
        from lmms_eval.models.model_utils.usage_metrics import log_usage
    except ImportError:
        return  # lmms-eval without usage metrics: nothing to report to
    state = model.__dict__[_patching.STATE_ATTR]
    patched_generate = model.generate
    name = f"entropy_select:{getattr(model.config, 'model_type', '?')}"

    def generate(*args: Any, **kwargs: Any) -> Any:
        prompt = args[0] if args else kwargs.get("input_ids")
        mask = kwargs.get("attention_mask")
        state.last = None
        output = patched_generate(*args, **kwargs)
        if prompt is None or not hasattr(output, "shape"):
            return output
        real = mask.bool() if mask is not None else prompt.new_ones(prompt.shape, dtype=bool)
        prefill = int(real.sum())
        last = state.last
        if last is not None and last["keep"].shape == real.shape:
            prefill = int((real & last["keep"]).sum())
        new = (output.shape[1] - prompt.shape[1]) * prompt.shape[0]
        log_usage(model_name=name, input_tokens=prefill, output_tokens=int(new))
        _eval_logger().debug(
            "entropy-select: prefill {} of {} prompt tokens", prefill, int(real.sum())
        )
        return output

    state.set_attr(model, "generate", generate)


# --------------------------------------------------------------------------------------------
# Classes and manifests
# --------------------------------------------------------------------------------------------


def _import_class(path: str) -> type:
    import importlib

    module_name, cls_name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), cls_name)


def _check_model_type(model_id: str, wrapped: _Wrapped, rest: Mapping[str, Any]) -> None:
    """Read the checkpoint's config (cheap) and refuse a model type the id does not patch."""
    from ..io import require

    transformers = require("transformers", "hf", "the lmms-eval plugin")
    kwargs = {k: rest[k] for k in ("revision", "trust_remote_code") if k in rest}
    config = transformers.AutoConfig.from_pretrained(rest["pretrained"], **kwargs)
    model_type = getattr(config, "model_type", None)
    if model_type not in wrapped.model_types:
        raise ValueError(
            f"--model {model_id} patches model_type {', '.join(wrapped.model_types)}; "
            f"{rest['pretrained']} is {model_type!r}"
        )


def _build(class_name: str) -> type:
    """Subclass lmms-eval's class so that construction splits our keys and patches the model."""
    model_id, variant = _CLASSES[class_name]
    wrapped = MODELS[model_id]
    base = _import_class(wrapped.simple if variant == "simple" else wrapped.chat)

    def __init__(self, **model_args: Any) -> None:
        ours, rest = split_model_args(model_args)
        args = parse_compression_args(ours)  # fails before any weight is loaded
        rest = {**wrapped.defaults, **rest}
        if "pretrained" in rest:
            _check_model_type(model_id, wrapped, rest)
        base.__init__(self, **rest)
        self.es_args = args
        apply_compression(self.model, args)  # self.model: lmms-eval's unwrapped HF model
        self.es_config = effective_config(self.model)
        _record_prefill_usage(self.model)
        _eval_logger().info(
            "entropy-select {}: --model {} ({}) patched the loaded {} with {}",
            self.es_config["entropy_select_version"],
            model_id,
            class_name,
            type(self.model).__name__,
            _describe(self.es_config),
        )

    doc = (
        f"lmms-eval's ``{base.__module__}.{base.__qualname__}`` with ENTROPY-SELECT applied "
        f"after loading (model id ``{model_id}``; see :mod:`{__name__}`)."
    )
    cls = type(class_name, (base,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})
    cls.__qualname__ = class_name
    return cls


def __getattr__(name: str) -> type:
    # lmms-eval resolves "entropy_select.integrations.lmms_eval.<Class>" with getattr: build the
    # subclass on first use, so importing this module never imports lmms-eval's model modules
    if name in _CLASSES:
        if name not in _BUILT:
            _BUILT[name] = _build(name)
        return _BUILT[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def manifests() -> list:
    """The ``lmms_eval.models`` entry-point payload: one ``ModelManifest`` per model id.

    Returns:
        ``list[lmms_eval.models.registry_v2.ModelManifest]``.
    """
    from ..io import require

    registry = require("lmms_eval.models.registry_v2", "lmms", "the lmms-eval plugin")
    by_id: dict[str, dict[str, str]] = {}
    for class_name, (model_id, variant) in _CLASSES.items():
        by_id.setdefault(model_id, {})[f"{variant}_class_path"] = f"{__name__}.{class_name}"
    return [
        registry.ModelManifest(model_id=model_id, aliases=MODELS[model_id].aliases, **paths)
        for model_id, paths in by_id.items()
    ]

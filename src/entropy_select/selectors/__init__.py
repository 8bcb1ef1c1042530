"""Every token selector behind one interface: ``get(name, **options)(features, budget=K)``.

Names map to ``module:Class`` paths and are imported on first use, so listing them is cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from typing import Any

from ..core.options import convert_option
from .base import Selector
from .in_model import IN_MODEL, in_model_error, in_model_names

__all__ = [
    "Selector",
    "available",
    "get",
    "in_model_names",
    "options_of",
    "register",
    "selector_options",
]

_REGISTRY: dict[str, str] = {
    "entropy_select": "entropy_select.selectors.entropy_select:EntropySelect",
    "uniform": "entropy_select.selectors.uniform:Uniform",
    "random": "entropy_select.selectors.random_select:RandomSelect",
    "pooling": "entropy_select.selectors.pooling:Pooling",
    "evs": "entropy_select.selectors.evs:EVS",
    "vidcom2": "entropy_select.selectors.vidcom2:VidCom2",
    "dycoke_ttm": "entropy_select.selectors.dycoke_ttm:DyCokeTTM",
    "scissor": "entropy_select.selectors.scissor:Scissor",
    "divprune": "entropy_select.selectors.divprune:DivPrune",
    "tome": "entropy_select.selectors.tome:ToMe",
}


def register(name: str, target: str) -> None:
    """Register a selector class under ``name`` (``target`` is ``"module:Class"``)."""
    if name in _REGISTRY and _REGISTRY[name] != target:
        raise ValueError(f"selector {name!r} is already registered as {_REGISTRY[name]}")
    _REGISTRY[name] = target


def available() -> list[str]:
    """The registered selector names, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **options: Any) -> Selector:
    """A selector instance by name; ``options`` go to its constructor.

    Every option is checked against the selector's declared options
    (:func:`selector_options`) and string values are parsed to their declared type by the
    library's one option parser (:func:`entropy_select.core.options.convert_option`), so
    ``get("random", seed="3")`` (a CLI's ``--set seed=3``) equals ``get("random", seed=3)``.

    Raises:
        ValueError: an unknown name (the message lists the registered ones), an in-model selector
            such as ``"fastv"`` (the message shows how to patch a model with it), an unknown
            option (the message lists the valid ones) or a value that does not parse.
    """
    cls = _class(name)
    declared = selector_options(name)
    unknown = sorted(set(options) - set(declared))
    if unknown:
        listed = ", ".join(declared) if declared else "none"
        raise ValueError(
            f"unknown option(s) for selector {name!r}: {', '.join(unknown)}; "
            f"valid options are: {listed}"
        )
    converted = {k: convert_option(k, v, *declared[k]) for k, v in options.items()}
    return cls(**converted)


def _class(name: str) -> type:
    if name in IN_MODEL:  # FastV, DyCoke: patches of a model, not feature selectors
        raise ValueError(in_model_error(name))
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown selector {name!r}; available: {', '.join(available())} "
            f"(in-model, through es.patch: {', '.join(in_model_names())})"
        )
    module_name, cls_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def selector_options(name: str) -> dict[str, tuple[Any, Any]]:
    """The keyword options selector ``name`` takes: ``{option: (default, annotation)}``.

    Read from the class's ``__init__`` signature; a selector that forwards ``**options`` into a
    config dataclass (its ``config_class``; ENTROPY-SELECT: ``EntropySelectConfig``) contributes
    that dataclass's fields. An in-model selector (``in_model_names()``) takes its declared
    options (``selectors.in_model.IN_MODEL``) and those of its feature stage.
    """
    if name in IN_MODEL:
        entry = IN_MODEL[name]
        stage = selector_options(entry.feature_stage) if entry.feature_stage else {}
        return {**dict(entry.options), **stage}
    cls = _class(name)
    found: dict[str, tuple[Any, Any]] = {}
    if cls.__init__ is object.__init__:
        return found
    hints = typing.get_type_hints(cls.__init__)
    forwards = False
    for pname, p in list(inspect.signature(cls.__init__).parameters.items())[1:]:  # drop self
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            forwards = True
            continue
        found[pname] = (p.default, hints.get(pname, p.annotation))
    config = getattr(cls, "config_class", None)
    if forwards and config is not None and dataclasses.is_dataclass(config):
        config_hints = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            found.setdefault(f.name, (f.default, config_hints.get(f.name, f.type)))
    return found


def options_of(cls: type) -> list[str] | None:
    """The option names of a registered selector class (None for an unregistered class)."""
    for name, target in _REGISTRY.items():
        module_name, cls_name = target.split(":")
        if cls.__module__ == module_name and cls.__name__ == cls_name:
            return list(selector_options(name))
    return None

"""Every token selector behind one interface: ``get(name, **options)(features, budget=K)``.

Names map to ``module:Class`` paths and are imported on first use, so listing them is cheap.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from .base import Selector

__all__ = ["Selector", "available", "get", "options_of", "register"]

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
    """A selector instance by name; ``options`` go to its constructor (validated there).

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown selector {name!r}; available: {', '.join(available())}")
    module_name, cls_name = _REGISTRY[name].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    valid = options_of(cls)
    unknown = sorted(set(options) - set(valid)) if valid is not None else []
    if unknown:
        listed = ", ".join(valid) if valid else "none"
        raise ValueError(
            f"unknown option(s) for selector {name!r}: {', '.join(unknown)}; "
            f"valid options are: {listed}"
        )
    return cls(**options)


def options_of(cls: type) -> list[str] | None:
    """The keyword options a selector class takes (None: it forwards ``**options``, which it
    validates itself, e.g. ENTROPY-SELECT's config fields)."""
    if cls.__init__ is object.__init__:
        return []
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds]

"""Every token selector behind one interface: ``get(name, **options)(features, budget=K)``.

Names map to ``module:Class`` paths and are imported on first use, so listing them is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Selector

__all__ = ["Selector", "available", "get", "register"]

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
    return cls(**options)

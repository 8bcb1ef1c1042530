"""entropy-select: training-free visual token selection for video LLMs (ENTROPY-SELECT).

Importing this package needs torch only; every other dependency is an optional extra, imported
where it is used.
"""

from . import core
from .core import EntropySelectConfig, Selection
from .streaming import FrameSelection, StreamingSelector

__version__ = "0.1.0"

__all__ = [
    "EntropySelectConfig",
    "FrameSelection",
    "Selection",
    "StreamingSelector",
    "core",
    "select_tokens",
    "patch",
    "unpatch",
    "compressed",
    "adapters",
    "selectors",
    "__version__",
]

#: names served lazily, ``name -> (submodule, attribute or None for the submodule itself)``, so
#: that ``import entropy_select`` stays light and torch-only
_LAZY = {
    "select_tokens": ("selectors.entropy_select", "select_tokens"),
    "patch": ("adapters", "patch"),
    "unpatch": ("adapters", "unpatch"),
    "compressed": ("adapters", "compressed"),
    "adapters": ("adapters", None),
    "selectors": ("selectors", None),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        submodule, attribute = _LAZY[name]
        module = importlib.import_module(f".{submodule}", __name__)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value  # later lookups skip this hook (~3 µs a call of es.select_tokens)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

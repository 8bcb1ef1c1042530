"""entropy-select: training-free visual token selection for video LLMs (ENTROPY-SELECT).

Importing this package needs torch only; every other dependency is an optional extra, imported
where it is used.
"""

from . import core
from .core import EntropySelectConfig, Selection, select_tokens
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
    "__version__",
]

#: names served lazily from a submodule, so ``import entropy_select`` stays torch-only
_LAZY = {"patch": "adapters", "unpatch": "adapters", "compressed": "adapters", "adapters": None}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(".adapters", __name__)
        return module if _LAZY[name] is None else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

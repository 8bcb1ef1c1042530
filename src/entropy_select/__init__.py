"""entropy-select: training-free visual token selection for video LLMs (ENTROPY-SELECT).

Importing this package needs torch only; every other dependency is an optional extra, imported
where it is used.
"""

from . import core
from .core import EntropySelectConfig, Selection, select_tokens

__version__ = "0.1.0"

__all__ = ["EntropySelectConfig", "Selection", "core", "select_tokens", "__version__"]

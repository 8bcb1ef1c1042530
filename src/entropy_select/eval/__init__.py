"""Quality evaluation on real clips with a real encoder (see ``entropy-select eval``)."""

from .metrics import attention_readout, coverage, evaluate_selection, task_agreement

__all__ = ["attention_readout", "coverage", "evaluate_selection", "task_agreement"]

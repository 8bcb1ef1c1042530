"""Optional fast paths (Triton GPU kernels), imported lazily; ``core`` is their contract."""

from __future__ import annotations

import torch

__all__ = ["triton_available", "select_tokens_triton"]


def triton_available(x: torch.Tensor | None = None) -> tuple[bool, str]:
    """Whether the Triton path can run on ``x`` (and why not)."""
    if x is not None and x.device.type != "cuda":
        return False, f"the input is on {x.device.type}, the Triton kernels need a CUDA tensor"
    if not torch.cuda.is_available():
        return False, "no CUDA device is available"
    try:
        import triton  # noqa: F401
    except ImportError:
        return False, "triton is not installed (pip install 'entropy-select[triton]')"
    return False, "the Triton kernels are not built yet in this version"


def select_tokens_triton(x: torch.Tensor, budget: int, config) -> object:
    """Placeholder: raises until the Triton kernels land."""
    raise RuntimeError("the Triton kernels are not available in this version")

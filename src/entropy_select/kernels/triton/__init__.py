"""Triton kernels of ENTROPY-SELECT (importing this module imports triton)."""

from .select import select_tokens_triton
from .window_entropy import (
    local_window_entropy_triton,
    spatial_gradient_magnitude_triton,
    window_entropy_and_gradient_triton,
)

__all__ = [
    "local_window_entropy_triton",
    "select_tokens_triton",
    "spatial_gradient_magnitude_triton",
    "window_entropy_and_gradient_triton",
]

"""Optional fast paths, imported lazily; ``core`` is their contract.

- :mod:`.triton` — GPU kernels (window entropy + gradient fused, SPEC §1-2) and
  :func:`select_tokens_triton`, the whole selection without a host synchronisation.

"""

from __future__ import annotations

import os

import torch

__all__ = ["triton_available", "select_tokens_triton"]

_TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_available(x: torch.Tensor | None = None) -> tuple[bool, str]:
    """Whether the Triton path can run on ``x`` (and why not).

    CUDA tensors of float16/bfloat16/float32 qualify when Triton imports. CPU tensors qualify only
    under Triton's interpreter (``TRITON_INTERPRET=1``, slow; for tests). float64 inputs stay on the
    reference, which computes in float64 (the kernels accumulate in float32).
    """
    interp = _interpreting()
    if x is not None and x.device.type != "cuda" and not (interp and x.device.type == "cpu"):
        return False, f"the input is on {x.device.type}, the Triton kernels need a CUDA tensor"
    if x is not None and x.dtype not in _TRITON_DTYPES:
        return False, f"the Triton kernels take float16/bfloat16/float32, not {x.dtype}"
    if not interp and not torch.cuda.is_available():
        return False, "no CUDA device is available"
    try:
        import triton  # noqa: F401
    except ImportError:
        return False, "triton is not installed (pip install 'entropy-select[triton]')"
    return True, ""


def select_tokens_triton(x: torch.Tensor, budget: int | None, config, **plan) -> object:
    """ENTROPY-SELECT on a batch with the Triton kernels (:mod:`.triton.select`).

    Shapes:
        x: [B, T, H, W, D]  ->  batched Selection with K = budget (``squeeze=True`` and B = 1:
        possibly unbatched, see :func:`.triton.select.select_tokens_triton`)
    """
    from .triton.select import select_tokens_triton as _impl

    return _impl(x, budget, config, **plan)

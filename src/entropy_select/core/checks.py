"""Input checks shared by every entry point: shapes, dtypes, finiteness and the budget K."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

__all__ = [
    "check_budget",
    "check_features",
    "check_rank",
    "check_retention",
    "compute_dtype",
    "resolve_budget",
]


def check_features(
    features: object, name: str = "features", *, finite: bool = True
) -> torch.Tensor:
    """Check one ``[T, H, W, D]`` video or a ``[B, T, H, W, D]`` batch and return it.

    Raises:
        TypeError: not a tensor, or not a floating-point dtype.
        ValueError: wrong rank, an empty dimension, or NaN/inf values (counted).
    """
    if not isinstance(features, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [T, H, W, D] or [B, T, H, W, D] "
            f"(or a list of [T, H, W, D] tensors), got {type(features).__name__}"
        )
    if not features.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {features.dtype}")
    if features.dim() not in (4, 5):
        raise ValueError(
            f"{name} must have shape [T, H, W, D] or [B, T, H, W, D], "
            f"got {features.dim()} dimensions {tuple(features.shape)}"
        )
    if features.numel() == 0:
        raise ValueError(f"{name} has an empty dimension: shape {tuple(features.shape)}")
    if finite:
        check_finite(features, name)
    return features


def check_rank(features: torch.Tensor, name: str = "features") -> None:
    """Raise ``ValueError`` unless ``features`` is ``[T, H, W, D]`` or ``[B, T, H, W, D]``."""
    if features.dim() not in (4, 5):
        raise ValueError(
            f"{name} must be [T, H, W, D] or [B, T, H, W, D], got {tuple(features.shape)}"
        )


def finite_flag(tensor: torch.Tensor) -> torch.Tensor:
    """A 0-d tensor, on ``tensor``'s device, that says whether every value is finite (no host
    sync); :func:`check_finite` reads it.

    On CUDA, ``max |x|`` in float (``vector_norm(x, inf)``): finite exactly when every value is
    (NaN propagates, an inf is the maximum), and one reduction kernel with one output, where the
    bool below is four launches and five allocations (host time an eager call pays,
    ``benchmarks/NOTES_gpu.md``). Elsewhere a bool, True when every value is finite: the minimum
    and maximum are finite exactly when every value is, one reduction pass with no ``[N, D]``
    temporaries (``isfinite(x).all()`` costs ~10x more on the CPU, and the CPU's
    ``vector_norm(x, inf)`` ~30x more than ``aminmax`` for bfloat16).
    """
    tensor = tensor.detach()
    if tensor.is_cuda:
        return torch.linalg.vector_norm(tensor, float("inf"))
    low, high = torch.aminmax(tensor)
    return torch.isfinite(low) & torch.isfinite(high)


def _finite(flag: torch.Tensor) -> bool:
    """What :func:`finite_flag`'s tensor says (one host sync): a bool, or a finite ``max |x|``."""
    if flag.dtype == torch.bool:
        return bool(flag)
    return math.isfinite(float(flag))


def check_finite(tensor: torch.Tensor, name: str, flag: torch.Tensor | None = None) -> None:
    """Raise ``ValueError`` counting the NaN and inf values of ``tensor`` (one host sync).

    ``flag``: :func:`finite_flag` of ``tensor`` computed earlier (a caller that launched it
    before its own synchronisation reads it here without waiting); by default computed now.
    Counting happens only on failure.
    """
    if _finite(finite_flag(tensor) if flag is None else flag):
        return
    nan = int(torch.isnan(tensor).sum())
    inf = int(torch.isinf(tensor).sum())
    raise ValueError(f"{name} contains {nan} NaN and {inf} inf values (of {tensor.numel()})")


def check_retention(retention: object, name: str = "retention") -> float:
    """``retention`` as a float, if it is a ratio in (0, 1]: the one check of every entry point.

    ``select_tokens``, every selector, ``es.patch``, :class:`StreamingSelector`, the lmms-eval
    plugin (``es_retention``) and the CLI (``--retention``, ``--retentions``) all call this, so a
    bad value gets the same message wherever it is given. ``name`` is how the caller spells it.

    Raises:
        TypeError: not a real number (a bool, a string, a tensor, None).
        ValueError: outside (0, 1], or NaN.
    """
    if isinstance(retention, bool) or not isinstance(retention, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1], got {_describe(retention)}")
    value = float(retention)
    if not 0.0 < value <= 1.0:  # NaN fails this too
        raise ValueError(f"{name} must be in (0, 1], got {retention}")
    return value


def check_budget(budget: object, num_tokens: int | None = None, name: str = "budget") -> int:
    """``budget`` as an int, if it is a token count in [1, N] (``N = num_tokens``; no upper bound
    when it is None, e.g. before the video is seen): the one check of every entry point.

    An integer tensor of one element counts as its value.

    Raises:
        TypeError: not an integer (a bool, a float, a string, None).
        ValueError: below 1, or above ``num_tokens``.
    """
    if (
        isinstance(budget, torch.Tensor)
        and budget.numel() == 1
        and not budget.is_floating_point()
        and budget.dtype != torch.bool
    ):
        budget = int(budget)
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(budget)}")
    value = int(budget)
    if num_tokens is None:
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    elif not 1 <= value <= num_tokens:
        raise ValueError(f"{name} must be in [1, N={num_tokens}], got {value}")
    return value


def resolve_budget(num_tokens: int, retention: float | None, budget: int | None) -> int:
    """The exact token budget K from either a retention ratio or a budget (SPEC, Notation).

    ``K = clamp(floor(r·N + 1e-9), 1, N)`` for a retention ``r`` in (0, 1]; the values are
    checked by :func:`check_retention` and :func:`check_budget`.

    Raises:
        ValueError: both or neither given, retention outside (0, 1], budget outside [1, N].
        TypeError: a non-integer budget or non-numeric retention.
    """
    if (retention is None) == (budget is None):
        raise ValueError(
            "give exactly one of retention= (a ratio in (0, 1]) or budget= (a count K)"
        )
    if budget is not None:
        return check_budget(budget, num_tokens)
    r = check_retention(retention)
    return min(max(math.floor(r * num_tokens + 1e-9), 1), num_tokens)


def _describe(value: object) -> str:
    """A short description of a bad value: its repr for small scalars, else its type."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return repr(value)
    return type(value).__name__


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (half precision is upcast; SPEC, Notation)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_video_list(videos: Sequence[object], name: str = "features") -> list[torch.Tensor]:
    """Check a list of ``[T_i, H_i, W_i, D]`` videos (all with the same D)."""
    if len(videos) == 0:
        raise ValueError(f"{name} is an empty list: give at least one video")
    out = []
    for i, video in enumerate(videos):
        video = check_features(video, f"{name}[{i}]")
        if video.dim() != 4:
            raise ValueError(f"{name}[{i}] must have shape [T, H, W, D], got {tuple(video.shape)}")
        out.append(video)
    dims = {v.shape[-1] for v in out}
    if len(dims) > 1:
        raise ValueError(f"all videos in {name} must share D, got {sorted(dims)}")
    return out

"""Spatial-gradient saliency (paper §3.3, Eq. 3; SPEC §2)."""

from __future__ import annotations

import torch

from .checks import check_rank, compute_dtype
from .entropy import DEFAULT_CHUNK_ELEMENTS, minmax_normalize

__all__ = ["spatial_gradient_magnitude", "normalized_gradient"]


def _axis_sq_norm(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``‖∂x/∂dim‖²`` over channels: central differences inside, one-sided at the two edges.

    This is ``torch.gradient(x, dim=dim)`` with unit spacing (0 where the axis has length 1),
    reduced over the last (channel) dim.

    Shapes:
        x: [..., H, W, D] with dim in (-2, -3)  ->  [..., H, W]
    """
    size = x.shape[dim]
    out_dim = dim + 1  # the same axis once channels are summed (dim is negative)
    out_shape = x.shape[:-1]
    if size < 2:
        return x.new_zeros(out_shape)
    first = (x.narrow(dim, 1, 1) - x.narrow(dim, 0, 1)).square().sum(-1)
    last = (x.narrow(dim, size - 1, 1) - x.narrow(dim, size - 2, 1)).square().sum(-1)
    if size == 2:
        return torch.cat([first, last], dim=out_dim)
    inner = ((x.narrow(dim, 2, size - 2) - x.narrow(dim, 0, size - 2)) * 0.5).square().sum(-1)
    return torch.cat([first, inner, last], dim=out_dim)


def spatial_gradient_magnitude(
    features: torch.Tensor, *, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> torch.Tensor:
    """Raw gradient magnitude ``G = sqrt(‖∇x‖² + ‖∇y‖²)`` of every token (Eq. 3).

    Computed on the raw (un-normalised) features of each frame, along W (∇x) and H (∇y); the video
    is processed in chunks of frames to bound memory.

    Returns:
        G >= 0, float64 for float64 input, float32 otherwise.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W]
    """
    check_rank(features)
    dtype = compute_dtype(features.dtype)
    T, H, W, D = features.shape[-4:]
    lead = features.shape[:-4]
    batch = 1
    for s in lead:
        batch *= s
    flat = features.reshape(batch * T, H, W, D)  # [B*T, H, W, D]
    frames_per_chunk = max(1, chunk_elements // max(1, H * W * D))
    out = torch.empty(batch * T, H, W, dtype=dtype, device=features.device)
    for f0 in range(0, batch * T, frames_per_chunk):
        x = flat[f0 : f0 + frames_per_chunk].to(dtype)
        out[f0 : f0 + frames_per_chunk] = (_axis_sq_norm(x, -2) + _axis_sq_norm(x, -3)).sqrt()
    return out.view(*lead, T, H, W)


def normalized_gradient(features: torch.Tensor, **kwargs) -> torch.Tensor:
    """``Ĝ``: :func:`spatial_gradient_magnitude` min-max normalised over each whole video (SPEC §2).

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W]
    """
    return minmax_normalize(spatial_gradient_magnitude(features, **kwargs))

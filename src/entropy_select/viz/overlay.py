"""Mapping the token grid back onto frame pixels, and the kept-token overlay (no matplotlib).

Token (i, j) of an ``H × W`` grid covers rows ``[⌊i·h/H⌋, ⌊(i+1)·h/H⌋)`` and columns
``[⌊j·w/W⌋, ⌊(j+1)·w/W⌋)`` of the ``h × w`` region the encoder saw
(:func:`entropy_select.encoders.fit_aspect`): the cells tile the region exactly, whatever its
size, because the encoder resized that region (not a padded or cropped copy) to its input.
"""

from __future__ import annotations

import torch

__all__ = ["DROP_SHADE", "cell_edges", "overlay_keep", "upsample_grid"]

#: dropped tokens are drawn as ``frame·(1 − a) + colour·a`` with (colour, a) below
DROP_SHADE = ((18, 20, 28), 0.62)


def cell_edges(pixels: int, cells: int) -> torch.Tensor:
    """Pixel boundaries of ``cells`` equal cells over ``pixels`` pixels (``cells + 1`` values).

    Shapes:
        -> [cells + 1] int64, from 0 to ``pixels``
    """
    if cells < 1 or pixels < cells:
        raise ValueError(f"cannot lay {cells} cells over {pixels} pixels")
    return torch.arange(cells + 1, dtype=torch.int64) * pixels // cells


def upsample_grid(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-cell upsampling of a per-token map to pixels, with :func:`cell_edges` cells.

    Shapes:
        grid: [H, W] -> [size[0], size[1]] (same dtype)
    """
    H, W = grid.shape
    h, w = size
    rows = torch.bucketize(torch.arange(h), cell_edges(h, H)[1:], right=True)  # [h] cell row
    cols = torch.bucketize(torch.arange(w), cell_edges(w, W)[1:], right=True)  # [w] cell column
    return grid[rows][:, cols]


def overlay_keep(frame: torch.Tensor, keep_mask: torch.Tensor, shade=DROP_SHADE) -> torch.Tensor:
    """The frame with dropped tokens shaded dark and kept tokens untouched.

    Args:
        frame: uint8 RGB image, the region the token grid covers.
        keep_mask: bool, True where the token is kept.
        shade: (RGB colour, opacity) painted over dropped tokens.

    Returns:
        uint8 RGB image: kept-token pixels equal ``frame``; dropped ones are
        ``round(frame·(1 − a) + colour·a)``.

    Shapes:
        frame: [h, w, 3] uint8, keep_mask: [H, W] bool -> [h, w, 3] uint8
    """
    if frame.dim() != 3 or frame.shape[-1] != 3 or frame.dtype != torch.uint8:
        raise ValueError(f"frame must be uint8 [h, w, 3], got {frame.dtype} {tuple(frame.shape)}")
    if keep_mask.dim() != 2 or keep_mask.dtype != torch.bool:
        raise ValueError(
            f"keep_mask must be bool [H, W], got {keep_mask.dtype} {tuple(keep_mask.shape)}"
        )
    colour, alpha = shade
    keep = upsample_grid(keep_mask, tuple(frame.shape[:2]))[..., None]  # [h, w, 1]
    dimmed = frame.float() * (1 - alpha) + torch.tensor(colour, dtype=torch.float32) * alpha
    return torch.where(keep, frame, dimmed.round().clamp(0, 255).to(torch.uint8))

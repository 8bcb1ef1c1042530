"""The encoder interface: uint8 video frames in, a ``[T, H, W, D]`` grid of patch features out.

ENTROPY-SELECT works on the visual tokens of any vision encoder (paper §3.1: "architecture
agnostic"); an :class:`Encoder` turns sampled frames into that token grid. Subclasses implement
:meth:`Encoder.forward_pixels`; the base class resizes frames to the encoder's square input,
batches them, shows a progress bar and returns features on the CPU.

Aspect ratio: encoders take square inputs (448×448 by default). ``aspect="stretch"`` (default,
as LLaVA-OneVision's video processor does) resizes the whole frame, so every pixel is seen and
token (i, j) covers the (i, j) cell of a ``H × W`` grid laid over the original frame;
``"crop"`` takes the centred square first (the sides are lost); ``"pad"`` letterboxes the frame
into a square with black bars (some tokens then see only padding). :func:`fit_aspect` returns
the region the grid covers, at the original resolution, which the figures draw on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..io import require

__all__ = ["ASPECT_MODES", "Encoder", "fit_aspect", "resize_frames"]

ASPECT_MODES = ("stretch", "crop", "pad")


def fit_aspect(frames: torch.Tensor, aspect: str = "stretch") -> torch.Tensor:
    """The part of each frame the token grid covers, at the frame's own resolution.

    Args:
        frames: uint8 RGB frames.
        aspect: ``"stretch"`` (the whole frame), ``"crop"`` (centred square) or ``"pad"``
            (the frame centred in a black square).

    Returns:
        uint8 frames ``[F, h, w, 3]``: the input for ``"stretch"``, a square otherwise.

    Shapes:
        frames: [F, H, W, 3] -> [F, h, w, 3]
    """
    if aspect not in ASPECT_MODES:
        raise ValueError(f"aspect must be one of {', '.join(ASPECT_MODES)}, got {aspect!r}")
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape [F, H, W, 3], got {tuple(frames.shape)}")
    _, H, W, _ = frames.shape
    if aspect == "stretch" or H == W:
        return frames
    side = min(H, W) if aspect == "crop" else max(H, W)
    if aspect == "crop":
        top, left = (H - side) // 2, (W - side) // 2
        return frames[:, top : top + side, left : left + side]
    out = frames.new_zeros(frames.shape[0], side, side, 3)
    top, left = (side - H) // 2, (side - W) // 2
    out[:, top : top + H, left : left + W] = frames
    return out


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 frames to ``size`` (bilinear, antialiased) as float RGB in [0, 1], NCHW.

    Shapes:
        frames: [F, H, W, 3] uint8 -> [F, 3, size[0], size[1]] float32
    """
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)  # [F, 3, H, W]
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.clamp_(0.0, 1.0)


class Encoder:
    """Base class of frame encoders producing a ``[T, H, W, D]`` token grid.

    Subclasses set :attr:`name`, :attr:`input_size`, :attr:`grid`, :attr:`dim`, :attr:`mean`,
    :attr:`std` and implement :meth:`forward_pixels`.
    """

    #: the name used in ``get_encoder`` and in cache keys (include the weights' identity)
    name: str = ""
    #: (height, width) of the encoder's input in pixels
    input_size: tuple[int, int] = (448, 448)
    #: (H, W) token grid per frame for ``input_size``
    grid: tuple[int, int] = (14, 14)
    #: D, channels per token
    dim: int = 0
    #: per-channel RGB normalisation applied to pixels in [0, 1]
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def forward_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Features of a batch of normalised images.

        Shapes:
            pixels: [B, 3, input_size[0], input_size[1]] float32 -> [B, H, W, D] float32
        """
        raise NotImplementedError

    @property
    def cache_key(self) -> str:
        """What identifies this encoder's output in the feature cache."""
        return f"{self.name}@{self.input_size[0]}x{self.input_size[1]}"

    def preprocess(self, frames: torch.Tensor, aspect: str = "stretch") -> torch.Tensor:
        """uint8 RGB frames to the encoder's normalised input.

        Shapes:
            frames: [F, H, W, 3] uint8 -> [F, 3, input_size[0], input_size[1]] float32
        """
        x = resize_frames(fit_aspect(frames, aspect), self.input_size)
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std

    def encode(
        self,
        frames: torch.Tensor,
        *,
        aspect: str = "stretch",
        batch_size: int = 8,
        progress: bool = False,
    ) -> torch.Tensor:
        """Encode video frames into a token grid, ``batch_size`` frames at a time.

        Args:
            frames: uint8 RGB frames (a :class:`~entropy_select.video.VideoClip`'s ``frames``).
            aspect: how non-square frames become square (see the module docstring).
            batch_size: frames per forward pass.
            progress: show a tqdm progress bar (needs tqdm).

        Returns:
            float32 features on the CPU.

        Shapes:
            frames: [T, h, w, 3] uint8 -> [T, H, W, D] with (H, W) = :attr:`grid`
        """
        if not isinstance(frames, torch.Tensor) or frames.dtype != torch.uint8:
            raise TypeError("frames must be a uint8 torch.Tensor of shape [T, H, W, 3]")
        if frames.dim() != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
            raise ValueError(
                f"frames must have shape [T, H, W, 3] with T >= 1, got {tuple(frames.shape)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        T = frames.shape[0]
        steps = range(0, T, batch_size)
        if progress:
            tqdm = require("tqdm", "video", "the progress bar")
            bar = tqdm.tqdm(total=T, desc=f"encoding ({self.name})", unit="frame", leave=False)
        out = []
        with torch.inference_mode():
            for start in steps:
                pixels = self.preprocess(frames[start : start + batch_size], aspect)
                out.append(self.forward_pixels(pixels).float().cpu())  # [b, H, W, D]
                if progress:
                    bar.update(pixels.shape[0])
        if progress:
            bar.close()
        return torch.cat(out).contiguous()  # [T, H, W, D]

    def __repr__(self) -> str:
        H, W = self.grid
        return f"{type(self).__name__}({self.cache_key}, grid={H}x{W}, dim={self.dim})"

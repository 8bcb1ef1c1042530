"""Writing a video of the kept tokens, frame by frame (PyAV; no matplotlib).

:func:`outline_keep` draws one frame (dropped tokens shaded, kept ones outlined);
:class:`VideoWriter` encodes frames as they come to mp4 (H.264, or MPEG-4 Part 2 where the PyAV
build has no H.264 encoder) or to an animated GIF.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..io import require
from .overlay import DROP_SHADE, cell_edges, overlay_keep

__all__ = ["OUTLINE", "VIDEO_FORMATS", "VideoWriter", "outline_keep", "video_format"]

#: colour of the outline drawn around kept tokens
OUTLINE = (255, 214, 0)
#: file suffix -> container format
VIDEO_FORMATS = {".mp4": "mp4", ".gif": "gif"}


def video_format(path: str | os.PathLike) -> str:
    """The container of an output path from its suffix (``.mp4`` or ``.gif``).

    Raises:
        ValueError: another suffix (the message lists the supported ones).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise ValueError(
            f"cannot write {path}: the video output must end in "
            f"{' or '.join(VIDEO_FORMATS)} (got {suffix or 'no suffix'!r})"
        )
    return VIDEO_FORMATS[suffix]


def outline_keep(
    frame: torch.Tensor, keep_mask: torch.Tensor, colour=OUTLINE, shade=DROP_SHADE
) -> torch.Tensor:
    """The frame with dropped tokens shaded and a 1-pixel outline around every kept token.

    Shapes:
        frame: [h, w, 3] uint8, keep_mask: [H, W] bool  ->  [h, w, 3] uint8
    """
    out = overlay_keep(frame, keep_mask, shade)  # validates both arguments
    h, w = frame.shape[:2]
    H, W = keep_mask.shape
    rows, cols = cell_edges(h, H), cell_edges(w, W)
    row_cell = torch.bucketize(torch.arange(h), rows[1:], right=True)  # [h] cell row of a pixel
    col_cell = torch.bucketize(torch.arange(w), cols[1:], right=True)  # [w]
    r = torch.arange(h)
    c = torch.arange(w)
    row_edge = (r == rows[row_cell]) | (r == rows[row_cell + 1] - 1)  # first/last row of a cell
    col_edge = (c == cols[col_cell]) | (c == cols[col_cell + 1] - 1)
    kept = keep_mask[row_cell][:, col_cell]  # [h, w] pixel lies in a kept token
    border = kept & (row_edge[:, None] | col_edge[None, :])
    return torch.where(border[..., None], torch.tensor(colour, dtype=torch.uint8), out)


class VideoWriter:
    """Encode RGB frames one at a time to an mp4 or GIF file with PyAV.

    Args:
        path: the file to write (any name: the format is given explicitly, so a temporary name
            from :class:`entropy_select.io.atomic_path` works).
        fmt: ``"mp4"`` or ``"gif"``.
        fps: frames per second of the output.

    Frames must all have the first frame's size; mp4 frames are cropped to even sizes (H.264 with
    4:2:0 chroma needs them). Call :meth:`close` to finish the file.
    """

    def __init__(self, path: str | os.PathLike, fmt: str, fps: float) -> None:
        if fmt not in VIDEO_FORMATS.values():
            raise ValueError(f"fmt must be mp4 or gif, got {fmt!r}")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.av = require("av", "video", "writing videos")
        self.fmt = fmt
        self.fps = fps
        self.container = self.av.open(str(path), mode="w", format=fmt)
        self.stream = None
        self.frames = 0

    def _open_stream(self, h: int, w: int) -> None:
        from fractions import Fraction

        rate = Fraction(self.fps).limit_denominator(1000)
        if self.fmt == "gif":
            stream = self.container.add_stream("gif", rate=rate)
            stream.pix_fmt = "rgb8"
        else:
            codec = "libx264"
            try:
                self.av.codec.Codec(codec, "w")
            except Exception:  # a PyAV build without x264
                codec = "mpeg4"
            stream = self.container.add_stream(codec, rate=rate)
            stream.pix_fmt = "yuv420p"
            h, w = h - h % 2, w - w % 2
        stream.height, stream.width = h, w
        self.stream = stream

    def add(self, frame: torch.Tensor) -> None:
        """Encode one frame. Shapes: frame [h, w, 3] uint8."""
        if frame.dim() != 3 or frame.shape[-1] != 3 or frame.dtype != torch.uint8:
            raise ValueError(
                f"frame must be uint8 [h, w, 3], got {frame.dtype} {tuple(frame.shape)}"
            )
        if self.stream is None:
            self._open_stream(frame.shape[0], frame.shape[1])
        frame = frame[: self.stream.height, : self.stream.width].contiguous()
        vf = self.av.VideoFrame.from_ndarray(frame.numpy(), format="rgb24")
        for packet in self.stream.encode(vf):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()

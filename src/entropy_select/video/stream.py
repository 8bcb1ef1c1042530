"""Decoding a video one frame at a time (PyAV), for streaming selection.

:func:`read_video` holds the sampled frames of a whole clip; :func:`iter_frames` yields them one by
one as the decoder produces them, so memory stays at one frame whatever the video's length.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import torch

from .reader import _open, check_path

__all__ = ["iter_frames", "video_info"]


def video_info(path: str | os.PathLike) -> tuple[float, tuple[int, int]]:
    """``(native fps, (height, width))`` of a video's first stream (fps 0.0 when unknown).

    Raises:
        FileNotFoundError: no such file. ValueError: not a video.
    """
    path = check_path(path)
    _, container = _open(path)
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return (float(rate) if rate else 0.0), (stream.height, stream.width)


def iter_frames(
    path: str | os.PathLike, fps: float | None = None, max_frames: int | None = None
) -> Iterator[tuple[int, float, torch.Tensor]]:
    """Yield ``(frame number, seconds from the first frame, RGB frame)`` as frames are decoded.

    Args:
        path: any file FFmpeg reads.
        fps: keep one frame every ``1/fps`` seconds of the video's own rate (frames
            ``round(k·native_fps/fps)``, as :func:`~entropy_select.video.sample_indices`);
            None keeps every frame.
        max_frames: stop after this many yielded frames (None: the whole video).

    Raises:
        FileNotFoundError: no such file. ValueError: not a video, a corrupt stream, a video with no
        frames, bad ``fps``/``max_frames``, or fps sampling of a video without a frame rate.

    Shapes:
        yields frames [H, W, 3] uint8
    """
    path = check_path(path)
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive integer, got {max_frames!r}")
    av, container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        native = float(rate) if rate else 0.0
        if fps is not None and not native > 0:
            raise ValueError(
                f"{path} does not state its frame rate, so --fps sampling is impossible"
            )
        step = native / fps if fps is not None else 1.0
        n, k, yielded, t0 = 0, 0, 0, None
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else float("nan")
                t0 = t if t0 is None else t0
                if fps is None or n == int(round(k * step)):
                    k += 1
                    yielded += 1
                    rgb = torch.from_numpy(frame.to_ndarray(format="rgb24"))  # [H, W, 3]
                    yield n, t - t0, rgb
                    if max_frames is not None and yielded >= max_frames:
                        return
                    while fps is not None and int(round(k * step)) <= n:  # step < 1: skip dupes
                        k += 1
                n += 1
        except av.FFmpegError as err:
            raise ValueError(f"corrupt video stream in {path} (after {n} frames): {err}") from None
    if n == 0:
        raise ValueError(f"{path} is a zero-length video: no frame decodes")

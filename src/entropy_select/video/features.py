"""Video file → sampled frames → cached ``[T, H, W, D]`` encoder features, in one call."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

from ..encoders import Encoder, FeatureCache, get_encoder
from .reader import VideoClip, read_video

__all__ = ["VideoFeatures", "video_features"]


@dataclass(frozen=True)
class VideoFeatures:
    """Features of one video's sampled frames, and how they were obtained.

    Shapes:
        features: [T, H, W, D] float32 (T = clip.num_frames, (H, W) = encoder.grid)
    """

    clip: VideoClip
    features: torch.Tensor
    encoder: Encoder
    aspect: str
    cached: bool  # True when the features came from the cache (no encoding ran)
    seconds: dict[str, float] = field(default_factory=dict)  # "decode", "encode" wall times
    cache_file: str | None = None  # the cache entry read or written (None: no cache)


def video_features(
    video: str | os.PathLike | VideoClip,
    encoder: str | Encoder = "mobilenet_v2",
    *,
    frames: int | None = 16,
    fps: float | None = None,
    aspect: str = "stretch",
    cache: bool | str | os.PathLike | FeatureCache = True,
    batch_size: int = 8,
    progress: bool = False,
    strict: bool = False,
) -> VideoFeatures:
    """Decode a video, encode its sampled frames, and cache the features on disk.

    Args:
        video: a video file (decoded with :func:`read_video`) or an already decoded clip.
        encoder: an encoder name (``"mobilenet_v2"``, ``"hf:<id or path>"``) or instance.
        frames, fps: frame sampling, as in :func:`read_video`.
        aspect: ``"stretch"``, ``"crop"`` or ``"pad"`` (see :mod:`entropy_select.encoders.base`).
        cache: True (the default directory), False (no cache), a directory or a FeatureCache.
        batch_size: frames per encoder forward pass.
        progress: show a progress bar while encoding.
        strict: fail on a video that looks truncated instead of warning (see :func:`read_video`).

    Returns:
        :class:`VideoFeatures`; ``cached`` tells whether the encoder was skipped.

    Shapes:
        video [F frames] -> features [F, H, W, D]
    """
    t0 = time.perf_counter()
    if isinstance(video, VideoClip):
        clip = video
    else:
        clip = read_video(video, frames=frames, fps=fps, strict=strict)
    t1 = time.perf_counter()
    enc = get_encoder(encoder)
    store = None
    if cache is not False:
        store = (
            cache
            if isinstance(cache, FeatureCache)
            else FeatureCache(None if cache is True else cache)
        )
    key = (
        FeatureCache.key(clip.path, clip.indices.tolist(), enc.cache_key, aspect) if store else None
    )
    features = store.load(key) if store else None
    expected = (clip.num_frames, *enc.grid, enc.dim)
    cached = features is not None and tuple(features.shape) == expected
    if not cached:
        features = enc.encode(clip.frames, aspect=aspect, batch_size=batch_size, progress=progress)
        if store:
            store.save(
                key,
                features,
                {
                    "video": clip.path,
                    "indices": clip.indices.tolist(),
                    "encoder": enc.cache_key,
                    "aspect": aspect,
                },
            )
    t2 = time.perf_counter()
    seconds = {"decode": t1 - t0, "encode": t2 - t1}
    entry = str(store.path(key)) if store else None
    return VideoFeatures(clip, features, enc, aspect, cached, seconds, entry)

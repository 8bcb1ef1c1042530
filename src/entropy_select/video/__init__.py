"""Real video in: decoding with PyAV, and features of sampled frames from a pluggable encoder.

``read_video`` samples frames (uint8 ``[F, H, W, 3]`` plus timestamps); ``video_features`` runs an
:mod:`entropy_select.encoders` encoder over them with an on-disk cache. PyAV, numpy and
safetensors are imported only when used (``pip install 'entropy-select[video]'``).
"""

from .features import VideoFeatures, video_features
from .reader import (
    TruncatedVideoWarning,
    VideoClip,
    read_video,
    sample_indices,
    sample_video_path,
)

__all__ = [
    "TruncatedVideoWarning",
    "VideoClip",
    "VideoFeatures",
    "read_video",
    "sample_indices",
    "sample_video_path",
    "video_features",
]

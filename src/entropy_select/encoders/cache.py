"""On-disk cache of encoded video features (safetensors), so a second run skips encoding.

An entry is keyed by the video file (resolved path, size in bytes and modification time in
nanoseconds: editing or replacing the file invalidates it), the sampled frame numbers, the
encoder (its :attr:`~entropy_select.encoders.Encoder.cache_key`) and the aspect mode. Entries are
written atomically, so an interrupted run never leaves a half-written file that a later run
would trust. The directory is ``$ENTROPY_SELECT_CACHE`` if set, else
``~/.cache/entropy_select``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..io import require, save_tensors

__all__ = ["FeatureCache", "default_cache_dir", "CACHE_ENV"]

CACHE_ENV = "ENTROPY_SELECT_CACHE"
_FORMAT = 1  # bump when the stored layout or the meaning of a key changes


def default_cache_dir() -> Path:
    """``$ENTROPY_SELECT_CACHE`` if set and non-empty, else ``~/.cache/entropy_select``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "entropy_select"


class FeatureCache:
    """A directory of ``<key>.safetensors`` feature files.

    Args:
        directory: where entries live (default :func:`default_cache_dir`); created on first write.
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = (
            Path(directory).expanduser() if directory is not None else default_cache_dir()
        )

    @staticmethod
    def key(video: str | os.PathLike, indices: Sequence[int], encoder_key: str, aspect: str) -> str:
        """A hex digest identifying (video file version, frame numbers, encoder, aspect mode)."""
        path = Path(video).resolve()
        stat = path.stat()
        ident = {
            "format": _FORMAT,
            "path": str(path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "indices": [int(i) for i in indices],
            "encoder": encoder_key,
            "aspect": aspect,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.safetensors"

    def load(self, key: str) -> torch.Tensor | None:
        """The cached features for ``key``, or None when absent or unreadable (then re-encoded)."""
        path = self.path(key)
        if not path.is_file():
            return None
        st = require("safetensors.torch", "io", "reading the feature cache")
        try:
            return st.load_file(str(path))["features"]
        except Exception:  # a damaged entry is a miss, and the next save replaces it
            return None

    def save(self, key: str, features: torch.Tensor, meta: dict | None = None) -> Path:
        """Write ``features`` under ``key`` atomically; ``meta`` is stored as JSON metadata."""
        metadata = {"meta": json.dumps(meta or {}, sort_keys=True)}
        return save_tensors(self.path(key), {"features": features}, metadata=metadata)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.directory)!r})"

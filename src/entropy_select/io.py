"""Reading feature files and writing results atomically (safetensors, .npy; never pickle)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = ["require", "load_features", "save_tensors", "atomic_path", "output_dir"]


def require(module: str, extra: str, purpose: str = ""):
    """Import an optional dependency, or raise ImportError naming the pip extra that brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = f" for {purpose}" if purpose else ""
        raise ImportError(
            f"{module} is needed{what} but is not installed: pip install 'entropy-select[{extra}]'"
        ) from err


def load_features(path: str | os.PathLike, key: str | None = None) -> torch.Tensor:
    """Load a feature tensor from ``.safetensors`` (tensor ``key``, or the only one) or ``.npy``.

    ``.npy`` files are read with ``allow_pickle=False``.

    Raises:
        FileNotFoundError: no such file. ValueError: an unsupported suffix, a missing or ambiguous
        key, or a file that cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such feature file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        st = require("safetensors.torch", "io", "reading .safetensors files")
        try:
            tensors = st.load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"cannot read {path} as safetensors: {err}") from None
        if key is None:
            if len(tensors) != 1:
                raise ValueError(
                    f"{path} holds {len(tensors)} tensors ({', '.join(sorted(tensors))}); "
                    "name one with --key"
                )
            return next(iter(tensors.values()))
        if key not in tensors:
            raise ValueError(f"{path} has no tensor {key!r}; it has {', '.join(sorted(tensors))}")
        return tensors[key]
    if suffix == ".npy":
        np = require("numpy", "io", "reading .npy files")
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"cannot read {path} as .npy without pickle: {err}") from None
        return torch.from_numpy(np.ascontiguousarray(array))
    raise ValueError(f"unsupported feature file {path}: use .safetensors or .npy")


class atomic_path:
    """Context manager giving a temporary path beside ``path``, renamed onto it only on success.

    On any failure (inside the block, or the final rename itself) the temporary file is removed,
    so nothing half-written and no hidden ``.NAME.*.tmp`` file is left behind.

    Raises:
        ValueError: ``path`` is an existing directory, or its parent exists and is not one.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a directory; give a file name to write")
        output_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            # mkstemp creates 0600 files; give the result the mode a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise


def output_dir(path: str | os.PathLike, create: bool = True) -> Path:
    """Create the output directory ``path`` (and its parents) if needed, and return it.

    With ``create=False`` only the check runs (commands call it before any work, so a bad path
    fails at once and leaves nothing behind).

    Raises:
        ValueError: ``path`` or one of its parents exists but is not a directory (a one-line
        message, instead of ``FileExistsError``/``NotADirectoryError`` tracebacks).
    """
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is" if p == path else f"(a parent of {path}) is"
                raise ValueError(f"{p} {what} a file, not a directory; choose another output path")
            break
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write tensors to a ``.safetensors`` file atomically (nothing half-written on failure)."""
    st = require("safetensors.torch", "io", "writing .safetensors files")
    path = Path(path)
    with atomic_path(path) as tmp:
        st.save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
            str(tmp),
            metadata=dict(metadata) if metadata else None,
        )
    return path

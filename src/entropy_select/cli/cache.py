"""``entropy-select cache [--info | --clear]``: where the feature cache is, its size; emptying it.

``demo``, ``compare`` and ``eval`` keep encoded video features in ``$ENTROPY_SELECT_CACHE`` or
``~/.cache/entropy_select`` (``--cache-dir`` elsewhere), one ``<key>.safetensors`` file per
(video version, sampled frames, encoder, aspect mode). ``--clear`` deletes those entries (and
temporary files an interrupted write left), nothing else, and the directory if it is then empty.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

# FeatureCache entries: 32 hex digits; atomic_path's temporaries: ".<name>.<random>.tmp"
_ENTRY = re.compile(r"[0-9a-f]{32}\.safetensors")
_TEMP = re.compile(r"\.[0-9a-f]{32}\.safetensors\..+\.tmp")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cache",
        help="show where the feature cache is and its size, or clear it",
        description="The feature cache of demo, compare and eval: $ENTROPY_SELECT_CACHE, else "
        "~/.cache/entropy_select. Without an option, the same as --info.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--info", action="store_true", help="directory, entries and size")
    what.add_argument("--clear", action="store_true", help="delete every cached entry")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="the cache directory (default $ENTROPY_SELECT_CACHE or ~/.cache/entropy_select)",
    )
    p.set_defaults(func=run)


def cache_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The cache's entries and leftover temporary files in ``directory`` (sorted lists)."""
    if not directory.is_dir():
        return [], []
    names = sorted(p for p in directory.iterdir() if p.is_file())
    return (
        [p for p in names if _ENTRY.fullmatch(p.name)],
        [p for p in names if _TEMP.fullmatch(p.name)],
    )


def _megabytes(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def run(args: argparse.Namespace) -> int:
    from ..encoders import FeatureCache

    directory = FeatureCache(args.cache_dir).directory
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory} is a file, not a cache directory")
    entries, temps = cache_files(directory)
    if not args.clear:
        state = "" if directory.is_dir() else " (does not exist yet)"
        print(f"feature cache: {directory}{state}")
        print(f"{_count(entries)}, {_megabytes(entries + temps):.1f} MB")
        if entries or temps:
            where = f" --cache-dir {args.cache_dir}" if args.cache_dir else ""
            print(f"clear it with: entropy-select cache --clear{where}")
        return 0
    size = _megabytes(entries + temps)
    for path in entries + temps:
        path.unlink(missing_ok=True)
    if directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()  # only when nothing but cache files was in it
    print(f"cleared {_count(entries)} ({size:.1f} MB) from {directory}")
    return 0


def _count(entries: list[Path]) -> str:
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"

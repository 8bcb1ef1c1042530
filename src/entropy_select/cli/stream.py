"""``entropy-select stream VIDEO``: streaming selection, one frame at a time, as it decodes.

Decodes the video frame by frame (PyAV), encodes each frame with the encoder (default: ImageNet
MobileNetV2, 14×14 tokens), pushes it through :class:`~entropy_select.StreamingSelector` and shows
a progress bar with the per-frame selection latency. Writes:

- ``--json`` (default ``stream.json`` in ``--out``): per-frame budgets, tokens emitted so far and
  timings, plus a summary;
- ``--video-out``: the video with dropped tokens shaded and kept tokens outlined, as mp4 (PyAV) or,
  for a ``.gif`` name, an animated GIF.

Every file is written through :class:`entropy_select.io.atomic_path`: nothing half-written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import time
from pathlib import Path

from ._common import add_options_argument, add_quiet_argument
from ._video_args import add_encoder_arguments, add_video_path_argument


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stream",
        help="streaming selection: frames in as they decode, kept tokens out per frame",
        description="Run ENTROPY-SELECT as a stream over a video: each frame is decoded, encoded "
        "and selected as it arrives, with memory that does not grow with the video. Writes "
        "per-frame budgets and timings (JSON) and optionally a video of the kept tokens.",
    )
    add_video_path_argument(p)
    rate = p.add_mutually_exclusive_group()
    rate.add_argument(
        "--retention",
        type=float,
        default=None,
        help="rate r in (0, 1]: tokens emitted never exceed ceil(r * tokens seen) (default 0.25)",
    )
    rate.add_argument("--tokens-per-frame", type=int, default=None, help="a fixed budget per frame")
    p.add_argument(
        "--budget",
        choices=("adaptive", "fixed"),
        default=None,
        help="with --retention: saliency-adaptive budgets with banking (default) or a fixed rate",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="keep one frame every 1/FPS seconds (default: every frame)",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    add_encoder_arguments(p)
    p.add_argument("--out", default="entropy_select_stream", help="output directory")
    p.add_argument("--json", default=None, help="JSON path (default: OUT/stream.json)")
    p.add_argument(
        "--video-out",
        default=None,
        help="write the video with the kept tokens outlined: NAME.mp4, or NAME.gif for a GIF",
    )
    add_options_argument(p)
    add_quiet_argument(p)  # --no-progress: its hidden, deprecated old name
    p.set_defaults(func=run)


def _check_output(path: Path, what: str) -> None:
    """Fail before any work if ``path`` cannot be written (a directory there, a file as parent)."""
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; give a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write {what} {path}: {parent} is not a directory")
            break


def run(args: argparse.Namespace) -> int:
    from ..core.checks import check_budget, check_retention
    from ..encoders import fit_aspect, get_encoder
    from ..io import atomic_path, require
    from ..streaming import StreamingSelector
    from ..video import sample_video_path
    from ..video.stream import iter_frames, video_info
    from .select import parse_options

    # Everything that can be checked is checked before decoding a single frame.
    if args.tokens_per_frame is None and args.retention is None:
        args.retention = 0.25
    if args.retention is not None:
        check_retention(args.retention, "--retention")
    else:
        check_budget(args.tokens_per_frame, name="--tokens-per-frame")
    stream = StreamingSelector(
        retention=args.retention,
        tokens_per_frame=args.tokens_per_frame,
        budget=args.budget,
        **parse_options(args.options),
    )
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}")
    json_path = Path(args.json) if args.json else Path(args.out) / "stream.json"
    _check_output(json_path, "--json")
    writer_fmt = None
    if args.video_out is not None:
        from ..viz.video_out import video_format

        writer_fmt = video_format(args.video_out)
        _check_output(Path(args.video_out), "--video-out")
        require("av", "video", "writing videos")
    video = Path(args.video) if args.video is not None else sample_video_path()
    native_fps, (height, width) = video_info(video)
    options = {}
    if args.input_size is not None:
        if args.encoder != "mobilenet_v2":
            raise ValueError("--input-size applies to the mobilenet_v2 encoder only")
        options["input_size"] = args.input_size
    encoder = get_encoder(args.encoder, **options)
    bar = None
    if not args.quiet:
        tqdm = require("tqdm", "video", "the progress bar")
        bar = tqdm.tqdm(desc=f"streaming {video.name}", unit="frame", leave=False)

    rows, start = [], time.perf_counter()
    with contextlib.ExitStack() as stack:
        writer = None
        if writer_fmt is not None:
            from ..viz.video_out import VideoWriter, outline_keep

            tmp = stack.enter_context(atomic_path(args.video_out))
            out_fps = args.fps or native_fps or 25.0
            writer = VideoWriter(tmp, writer_fmt, out_fps)
            stack.callback(writer.close)  # closed (and flushed) before the rename, also on error
        if bar is not None:
            stack.callback(bar.close)
        decode_start = time.perf_counter()
        for index, seconds, rgb in iter_frames(video, args.fps, args.max_frames):
            t_decode = time.perf_counter() - decode_start
            t0 = time.perf_counter()
            features = encoder.encode(rgb[None], aspect=args.aspect)[0]  # [H, W, D]
            t1 = time.perf_counter()
            out = stream.push(features)
            t2 = time.perf_counter()
            rows.append(
                {
                    "frame": index,
                    "time_s": round(float(seconds), 4),
                    "budget": out.budget,
                    "emitted": out.emitted,
                    "seen": out.seen,
                    "decode_ms": round(1000 * t_decode, 3),
                    "encode_ms": round(1000 * (t1 - t0), 3),
                    "select_ms": round(1000 * (t2 - t1), 3),
                }
            )
            if writer is not None:
                region = fit_aspect(rgb[None], args.aspect)[0]  # the pixels the grid covers
                writer.add(outline_keep(region, out.keep_mask))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(select=f"{1000 * (t2 - t1):.1f} ms", kept=out.budget)
            decode_start = time.perf_counter()
    wall = time.perf_counter() - start
    if not rows:  # pragma: no cover - iter_frames raises for a video without frames
        raise ValueError(f"{video} gave no frames")

    H, W = features.shape[:2]
    select_ms = [r["select_ms"] for r in rows]
    summary = {
        "video": str(video),
        "video_fps": native_fps,
        "video_size": [height, width],
        "sample_fps": args.fps,
        "frames": len(rows),
        "encoder": encoder.cache_key,
        "aspect": args.aspect,
        "grid": [H, W, int(features.shape[-1])],
        "retention": args.retention,
        "tokens_per_frame": args.tokens_per_frame,
        "budget_mode": stream.budget_mode,
        "config": dataclasses.asdict(stream.config),
        "N": rows[-1]["seen"],
        "K": rows[-1]["emitted"],
        "achieved_retention": rows[-1]["emitted"] / rows[-1]["seen"],
        "state_bytes": stream.state_bytes,
        "select_ms": {
            "median": statistics.median(select_ms),
            "p90": sorted(select_ms)[int(0.9 * (len(select_ms) - 1))],
            "max": max(select_ms),
            "first": select_ms[0],
        },
        "encode_ms_median": statistics.median(r["encode_ms"] for r in rows),
        "wall_s": round(wall, 3),
        "video_out": args.video_out,
        "per_frame": rows,
    }
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    s = summary["select_ms"]
    print(
        f"{video.name}: {len(rows)} frames, {H}x{W} tokens each ({encoder.name}); emitted "
        f"K={summary['K']} of N={summary['N']} ({100 * summary['achieved_retention']:.1f}%), "
        f"state {summary['state_bytes'] / 1024:.0f} KiB"
    )
    print(
        f"selection per frame: median {s['median']:.2f} ms, p90 {s['p90']:.2f} ms "
        f"(encoder median {summary['encode_ms_median']:.0f} ms)"
    )
    if args.video_out is not None:
        print(f"wrote {args.video_out}")
    print(f"wrote {json_path}")
    return 0

"""Shared helpers for the benchmark scripts: metadata and timing (see benchmarks/README.md)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def metadata(device: str = "cpu") -> dict:
    """Commit, versions and machine of this run."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    info = {
        "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["device_name"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def time_cpu(fn: Callable[[], object], warmup: int = 2, repeat: int = 7) -> dict:
    """Wall-clock seconds of ``fn`` on the CPU: median, min, max over ``repeat`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeat": repeat,
    }


def time_cpu_interleaved(
    fns: dict[str, Callable[[], object]],
    warmup: int = 1,
    repeat: int = 7,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, dict]:
    """Like :func:`time_cpu` for several variants, run round-robin so that machine noise falls
    on every variant alike (their ratio is what is compared). ``clock``: wall clock by default;
    ``time.process_time`` gives the CPU time of this process, which time spent waiting for a
    core does not inflate (meaningful with one torch thread)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            start = clock()
            fn()
            times[key].append(clock() - start)
    return {
        k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "repeat": repeat}
        for k, v in times.items()
    }


def write_json(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def dev_needle_videos(encoder, videos: int, cache: str | os.PathLike | None = None) -> list:
    """The DEV part's needle videos (``entropy_select.eval.detail``), optionally cached in a file
    (a few hundred MB for 40 videos): the scripts that choose on dev share them."""
    from entropy_select.eval import detail

    path = Path(cache) if cache else None
    if path is not None and path.is_file():
        return torch.load(path, weights_only=False)
    lib = detail.needle_library(encoder)
    vids = detail.build_needle_videos("dev", encoder, lib, videos=videos, progress=False)
    if path is not None:
        torch.save(vids, path)
    return vids


def dev_round(
    vids: list,
    encoder,
    sels: dict,
    candidates: dict,
    out: str | os.PathLike,
    name: str,
    start: float,
    controls: bool = False,
) -> None:
    """One exploratory round on the DEV part: needle recall and the four gist metrics of every
    selector (and, with ``controls``, the gist controls), written to ``out/name.{json,md}``."""
    from entropy_select.eval import detail
    from entropy_select.eval.controls import CONTROLS
    from entropy_select.eval.quality import mean_rank, run_quality, summarize

    rows = detail.evaluate_needles(vids, sels, encoder.classify, progress=False)
    det = detail.summarize_detail(rows)
    clips = {}
    for v in vids:
        clips.setdefault(v.clip, v.clean)
    gsels = dict(sels, **CONTROLS) if controls else sels
    gist = summarize(run_quality(clips, gsels, encoder.head(), (0.1, 0.25, 0.35, 0.5), False))
    payload = {
        "seconds": time.perf_counter() - start,
        "threads": torch.get_num_threads(),
        "candidates": candidates,
        "detail": det,
        "gist": gist,
        "gist_mean_rank": mean_rank(gist),
    }
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    lines = dev_round_table(det, gist)
    (path / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def dev_round_table(det: dict, gist: dict) -> list[str]:
    """Markdown rows: recall [95% CI] per retention, and the gist metrics at 25 / 35 / 50%."""
    rs = list(next(iter(det.values())))
    head = " | gist r=0.25 / 0.35 / 0.5 (top1/KL/cov/readout) |"
    lines = ["| selector | " + " | ".join(f"recall r={r}" for r in rs) + head]
    lines.append("|---" * (len(rs) + 2) + "|")
    for s in gist:
        if s in det:
            rec = " | ".join("{:.2f} [{:.2f},{:.2f}]".format(*det[s][r]["recall"]) for r in rs)
        else:
            rec = " | ".join("–" for _ in rs)
        g = " ; ".join(
            "{top1_agreement:.3f}/{kl:.3f}/{coverage:.3f}/{readout_cosine:.4f}".format(**gist[s][r])
            for r in ("0.25", "0.35", "0.5")
        )
        lines.append(f"| {s} | {rec} | {g} |")
    return lines

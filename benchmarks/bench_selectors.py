"""Time every registered selector on the same inputs across retention ratios.

Usage (from the repository root):

    PYTHONPATH=src python benchmarks/bench_selectors.py                 # CPU, all selectors
    PYTHONPATH=src python benchmarks/bench_selectors.py --device cuda   # on the GPU machine

For each selector, frame count (16, 64) and retention (0.05, 0.1, 0.25, 0.35, 0.5) it times
``selector(features, retention=r, validate=False)`` on one ``[T, 14, 14, 1152]`` float32 video
(LLaVA-OneVision's pooled SigLIP grid), after one warm-up call per selector and frame count,
repeating until ``--repeats`` runs or ``--max-seconds`` of measured time (at least one run).
CPU times use ``time.perf_counter``; CUDA times use CUDA events around the call (after a
synchronisation). It reports the median (and min/max) per cell and, per selector and frame
count, the max/min ratio of the medians across retention — how much the method's cost moves
with the retention ratio.

Inputs (``--inputs``): ``structured`` (default) mixes 32 random prototype vectors with
smooth, spatiotemporally correlated weights plus noise, so tokens form coherent regions as
real features do; ``gaussian`` is i.i.d. noise (cosines ≈ 0 everywhere: the worst case for
graph-based methods such as ``scissor``). Same seed, same inputs for every selector.

Writes ``benchmarks/results/selectors_<device>.json`` (with metadata: commit, torch version,
device, CPU count, threads) and ``selectors_<device>.png``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from entropy_select import selectors  # noqa: E402

RETENTIONS = (0.05, 0.1, 0.25, 0.35, 0.5)


def structured_features(frames: int, height: int, width: int, dim: int, seed: int) -> torch.Tensor:
    """Smoothly varying mixtures of 32 prototypes plus noise: coherent regions, soft boundaries.

    Shapes:
        -> [T, H, W, D] float32
    """
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(32, dim, generator=g)
    coarse = torch.randn(1, 32, max(2, frames // 4), 4, 4, generator=g)
    field = F.interpolate(coarse, size=(frames, height, width), mode="trilinear")[0]  # [P,T,H,W]
    weight = torch.softmax(6 * field, dim=0)
    noise = torch.randn(frames, height, width, dim, generator=g)
    return torch.einsum("pthw,pd->thwd", weight, protos) + 0.3 * noise


def gaussian_features(frames: int, height: int, width: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(frames, height, width, dim, generator=g)


def time_call(fn, device: torch.device) -> float:
    """Seconds for one call of ``fn``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def metadata(device: torch.device, args: argparse.Namespace) -> dict:
    def git(*cmd: str) -> str:
        try:
            out = subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10
            )
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    meta = {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "inputs": args.inputs,
        "grid": [14, 14],
        "dim": args.dim,
        "dtype": "float32",
        "seed": args.seed,
        "warmup": "one call per selector and frame count",
        "repeats": args.repeats,
        "max_seconds_per_cell": args.max_seconds,
        "validate": False,
    }
    return meta


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    make = structured_features if args.inputs == "structured" else gaussian_features
    names = args.methods or selectors.available()
    rows, summary = [], []
    for frames in args.frames:
        x = make(frames, 14, 14, args.dim, args.seed).to(device)
        for name in names:
            sel = selectors.get(name)
            sel(x, retention=args.retention[0], validate=False)  # warm-up
            medians = {}
            for r in args.retention:
                times: list[float] = []
                while len(times) < args.repeats and (not times or sum(times) < args.max_seconds):
                    call = lambda sel=sel, x=x, r=r: sel(x, retention=r, validate=False)  # noqa: E731
                    times.append(time_call(call, device))
                med = statistics.median(times)
                medians[r] = med
                N = frames * 14 * 14
                rows.append(
                    {
                        "method": name,
                        "frames": frames,
                        "retention": r,
                        "budget": min(max(int(r * N + 1e-9), 1), N),
                        "median_ms": med * 1e3,
                        "min_ms": min(times) * 1e3,
                        "max_ms": max(times) * 1e3,
                        "runs": len(times),
                        "times_ms": [t * 1e3 for t in times],
                    }
                )
                print(
                    f"{name:15s} T={frames:3d} r={r:<5} {med * 1e3:10.1f} ms  ({len(times)} runs)",
                    flush=True,
                )
            ratio = max(medians.values()) / min(medians.values())
            summary.append(
                {
                    "method": name,
                    "frames": frames,
                    "max_over_min": ratio,
                    "slowest_retention": max(medians, key=medians.get),
                    "fastest_retention": min(medians, key=medians.get),
                }
            )
            print(f"{name:15s} T={frames:3d} max/min across retention: {ratio:.2f}", flush=True)
    return {"metadata": metadata(device, args), "results": rows, "retention_ratio": summary}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["results"]
    frames = sorted({r["frames"] for r in rows})
    methods = sorted({r["method"] for r in rows})
    ratio = {(s["method"], s["frames"]): s["max_over_min"] for s in report["retention_ratio"]}
    cmap = plt.get_cmap("tab10")
    markers = "osD^vP*Xh<>"
    fig, axes = plt.subplots(1, len(frames), figsize=(7.2 * len(frames), 6.2), squeeze=False)
    for ax, T in zip(axes[0], frames, strict=True):
        for i, name in enumerate(methods):
            pts = sorted(
                (r["retention"], r["median_ms"])
                for r in rows
                if r["method"] == name and r["frames"] == T
            )
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            style = "--" if ratio[(name, T)] >= 1.5 else "-"  # the same rule for every method
            ax.plot(
                xs,
                ys,
                style,
                marker=markers[i % len(markers)],
                color=cmap(i % 10),
                lw=2.6 if name == "entropy_select" else 1.6,
                label=f"{name} (max/min {ratio[(name, T)]:.2f})",
            )
        ax.set_yscale("log")
        ax.set_xticks([r for r in RETENTIONS])
        ax.set_xlabel("retention ratio")
        ax.set_ylabel("median time per video [ms], log scale")
        ax.set_title(f"{T} frames × 14×14 tokens × {report['metadata']['dim']} ch")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8.5, loc="upper left", bbox_to_anchor=(0, -0.12), ncol=2, frameon=False)
    meta = report["metadata"]
    where = (
        meta["device_name"]
        if meta["device"].startswith("cuda")
        else f"{meta['device_name']}, {meta['cpu_count']} cores, {meta['torch_threads']} threads"
    )
    fig.suptitle(
        f"Selector cost vs retention on {meta['device']} ({where}), torch {meta['torch']}, "
        f"{meta['inputs']} inputs, commit {meta['commit'][:8]}"
        + (" (dirty)" if meta["dirty"] else "")
        + "\ndashed: max/min of the medians across retention >= 1.5",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--frames", type=int, nargs="+", default=[16, 64])
    p.add_argument("--retention", type=float, nargs="+", default=list(RETENTIONS))
    p.add_argument("--methods", nargs="+", default=None, help="default: every registered selector")
    p.add_argument("--dim", type=int, default=1152)
    p.add_argument("--inputs", choices=("structured", "gaussian"), default="structured")
    p.add_argument("--repeats", type=int, default=5, help="most runs per cell (default 5)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="stop repeating a cell once its runs took this long (default 20)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--tag", default=None, help="file suffix (default: the device type)")
    p.add_argument(
        "--plot-only",
        type=Path,
        default=None,
        help="redraw the PNG next to an existing JSON report and exit",
    )
    args = p.parse_args(argv)
    if args.plot_only is not None:
        report = json.loads(args.plot_only.read_text())
        plot(report, args.plot_only.with_suffix(".png"))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda needs a CUDA GPU")
    report = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = args.tag or torch.device(args.device).type
    json_path = args.out / f"selectors_{tag}.json"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    try:
        plot(report, args.out / f"selectors_{tag}.png")
    except ImportError:
        print("matplotlib missing: no plot (pip install 'entropy-select[viz]')", file=sys.stderr)
    print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

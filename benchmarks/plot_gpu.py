"""Plot ``gpu_bench.json`` (from bench_gpu.py): latency vs retention, and latency vs frames.

python benchmarks/plot_gpu.py benchmarks/results/gpu_h100.json benchmarks/results/gpu_h100.png
"""

from __future__ import annotations

import json
import sys


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = [s for s in results["shapes"] if "runs" in s]
    fig, axes = plt.subplots(1, len(shapes) + 1, figsize=(5 * (len(shapes) + 1), 4))
    for ax, rec in zip(axes, shapes):
        for method in sorted({r["method"] for r in rec["runs"]}):
            rows = [r for r in rec["runs"] if r["method"] == method and "best_us" in r]
            if rows:
                ax.plot(
                    [r["retention"] for r in rows], [r["best_us"] for r in rows], "o-", label=method
                )
        ax.set_yscale("log")
        ax.set_xlabel("retention")
        ax.set_ylabel("latency (µs, median)")
        ax.set_title(f"{rec['name']} {rec['shape']} {rec['dtype'].replace('torch.', '')}")
        ax.legend(fontsize=7)
    ax = axes[-1]
    frames = results.get("frames", [])
    if frames:
        ts = [f["T"] for f in frames]
        ax.plot(ts, [f["eager"]["median_us"] for f in frames], "o-", label="triton eager")
        gr = [(f["T"], f["graph"]["median_us"]) for f in frames if isinstance(f["graph"], dict)]
        if gr:
            ax.plot(*zip(*gr), "s-", label="triton CUDA graph")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frames T (14x14x1152 bf16, r=0.25)")
        ax.set_ylabel("latency (µs)")
        ax.set_title("latency vs frames (slope 1 on log-log = linear)")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"{results['meta']['device']}, torch {results['meta']['torch']}, "
        f"triton {results['meta']['triton']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        plot(json.load(fh), sys.argv[2])

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
    fig, axes = plt.subplots(1, len(shapes) + 1, figsize=(5.2 * (len(shapes) + 1), 4.8))
    methods = sorted({r["method"] for rec in shapes for r in rec["runs"]})
    cmap = plt.get_cmap("tab20")
    style = {m: (cmap(i % 20), "osD^v<>ph*X"[i % 11]) for i, m in enumerate(methods)}
    for ax, rec in zip(axes, shapes, strict=False):
        for method in methods:
            rows = [r for r in rec["runs"] if r["method"] == method and "best_us" in r]
            if not rows:
                continue
            ours = method.startswith("entropy_select")
            color, marker = style[method]
            ax.plot(
                [r["retention"] for r in rows],
                [r["best_us"] for r in rows],
                marker=marker,
                ms=4,
                lw=2.6 if ours else 1.2,
                color="black" if method == "entropy_select[triton]" else color,
                label=method,
            )
        ax.set_yscale("log")
        ax.set_xlabel("retention")
        ax.set_ylabel("latency (µs, median)")
        ax.set_title(
            f"{rec['name']} {rec['shape']} {rec['dtype'].replace('torch.', '')}", fontsize=9
        )
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8,
               frameon=False)  # fmt: skip
    ax = axes[-1]
    frames = results.get("frames", [])
    if frames:
        ts = [f["T"] for f in frames]
        ax.plot(ts, [f["eager"]["median_us"] for f in frames], "o-", label="triton eager")
        gr = [(f["T"], f["graph"]["median_us"]) for f in frames if isinstance(f["graph"], dict)]
        if gr:
            ax.plot(*zip(*gr, strict=True), "s-", label="triton CUDA graph")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frames T (14x14x1152 bf16, r=0.25)")
        ax.set_ylabel("latency (µs)")
        ax.set_title("latency vs frames (slope 1 on log-log = linear)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(
        f"{results['meta']['device']}, torch {results['meta']['torch']}, "
        f"triton {results['meta']['triton']} — ours in a CUDA graph (black), baselines eager"
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        plot(json.load(fh), sys.argv[2])

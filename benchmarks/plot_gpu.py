"""Plot ``gpu_bench.json`` (from bench_gpu.py): latency vs retention per shape, and latency vs
frames when the run measured it.

    cd benchmarks && python plot_gpu.py results/gpu_h200_auto.json results/gpu_h200_auto.png

Each of our presets has one colour and up to three lines: eager (``cuda_graph=False``, dashed),
the library's cached graph replayed (``cuda_graph="auto"``, the default, solid) and the whole call
inside the caller's own CUDA graph (dotted). Other methods are grey, eager.
"""

from __future__ import annotations

import json
import re
import sys

MODES = {"eager": ("--", "eager (cuda_graph=False)"), "auto": ("-", 'cached graph ("auto")'),
         "graph": (":", "in the caller's CUDA graph")}  # fmt: skip


def _preset(method: str) -> str | None:
    """``entropy_select[...,paper]`` -> ``paper``; None for another method."""
    if not method.startswith("entropy_select"):
        return None
    inner = re.search(r"\[(.*)\]", method)
    return inner.group(1).split(",")[-1] if inner else "default"


def _median(row: dict, mode: str) -> float | None:
    value = row.get(mode)
    if isinstance(value, dict) and value.get("median_us") == value.get("median_us"):  # not NaN
        return value.get("median_us")
    return None


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    shapes = [s for s in results["shapes"] if "runs" in s]
    frames = results.get("frames", [])
    panels = len(shapes) + bool(frames)
    fig, axes = plt.subplots(1, panels, figsize=(max(9, 6 * panels), 5.4), squeeze=False)
    axes = axes[0]
    presets = sorted({p for s in shapes for r in s["runs"] if (p := _preset(r["method"]))})
    colours = {p: plt.get_cmap("tab10")(i) for i, p in enumerate(presets)}
    others = sorted({r["method"] for s in shapes for r in s["runs"] if not _preset(r["method"])})
    for ax, rec in zip(axes, shapes, strict=False):
        methods = sorted({r["method"] for r in rec["runs"]})
        for method in methods:
            rows = sorted(
                (r for r in rec["runs"] if r["method"] == method), key=lambda r: r["retention"]
            )
            preset = _preset(method)
            for mode, (line, _) in MODES.items():
                points = [(r["retention"], _median(r, mode)) for r in rows]
                points = [(x, y) for x, y in points if y is not None]
                if not points or (preset is None and mode != "eager"):
                    continue
                ax.plot(
                    *zip(*points, strict=True),
                    line,
                    marker="o",
                    ms=3,
                    lw=2.2 if preset else 1.2,
                    color=colours[preset] if preset else "0.55",
                )
            if preset is None and rows:
                r = rows[-1]
                y = _median(r, "eager")
                if y is not None:
                    ax.annotate(method, (r["retention"], y), fontsize=7, color="0.35",
                                xytext=(-4, 4), textcoords="offset points", ha="right")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("retention")
        ax.set_ylabel("latency (µs, median)")
        ax.set_title(
            f"{rec['name']} {rec['shape']} {rec['dtype'].replace('torch.', '')}", fontsize=9
        )
        ax.grid(alpha=0.3, which="both")
    if frames:
        ax = axes[-1]
        ts = [f["T"] for f in frames]
        ax.plot(ts, [f["eager"]["median_us"] for f in frames], "o--", label="eager")
        gr = [(f["T"], f["graph"]["median_us"]) for f in frames if isinstance(f["graph"], dict)]
        if gr:
            ax.plot(*zip(*gr, strict=True), "s:", label="in a CUDA graph")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frames T (14x14x1152 bf16, r=0.25)")
        ax.set_ylabel("latency (µs)")
        ax.set_title("latency vs frames (slope 1 on log-log = linear)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], color=colours[p], lw=2.2, label=p) for p in presets]
    handles += [Line2D([], [], color="k", ls=line, label=text) for line, text in MODES.values()]
    if others:
        handles.append(Line2D([], [], color="0.55", lw=1.2, label="other methods (eager)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)  # fmt: skip
    fig.suptitle(
        f"{results['meta']['device']}, torch {results['meta']['torch']}, "
        f"triton {results['meta']['triton']}: ENTROPY-SELECT presets by execution mode",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        plot(json.load(fh), sys.argv[2])

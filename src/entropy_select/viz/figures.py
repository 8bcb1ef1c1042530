"""The paper's pictures: the Fig.-6 panel, the Fig.-5 strip, and a side-by-side comparison.

Figures are built as ``matplotlib.figure.Figure`` objects (no pyplot, no global backend), so
they render headless and in parallel; :func:`save_figure` writes them atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ..core.selection import Selection
from ..io import atomic_path, require
from .overlay import cell_edges, overlay_keep

__all__ = [
    "choose_frames",
    "compare_figure",
    "fused_mask",
    "panel_figure",
    "score_formula",
    "save_figure",
    "strip_figure",
]

_KEEP_EDGE = "#ffd166"  # outline of the kept-token area on the overlays
_BAR = "#3a86ff"


def _mpl():
    require("matplotlib", "viz", "drawing figures")
    from matplotlib.figure import Figure

    return Figure


def choose_frames(selection: Selection, count: int = 3) -> list[int]:
    """Frames worth showing: the largest and smallest budgets, then evenly spread ones; sorted.

    Returns:
        Up to ``count`` distinct frame numbers, increasing.
    """
    budget = selection.frame_budget.tolist()
    T = len(budget)
    if count >= T:
        return list(range(T))
    order = sorted(range(T), key=lambda t: (-budget[t], t))
    picked = [order[0], order[-1]][:count]
    spread = [int((k + 0.5) * T / count) for k in range(count)]
    for t in spread:
        if len(picked) >= count:
            break
        if t not in picked:
            picked.append(t)
    for t in range(T):  # only when the spread positions collide with the extremes
        if len(picked) >= count:
            break
        if t not in picked:
            picked.append(t)
    return sorted(picked)


def _image_axes(ax, image, title: str | None = None, fontsize: int = 9) -> None:
    ax.imshow(image, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def _outline_kept(
    ax, keep: torch.Tensor, size: tuple[int, int], colour: str = _KEEP_EDGE, width: float = 0.6
) -> None:
    """Thin lines where kept tokens meet dropped ones, so the kept area reads at a glance."""
    H, W = keep.shape
    rows, cols = cell_edges(size[0], H).tolist(), cell_edges(size[1], W).tolist()
    segments = []
    # plain Python lists: indexing tensors cell by cell costs seconds for a 16-frame strip
    padded = torch.nn.functional.pad(keep[None].float(), (1, 1, 1, 1))[0].bool().tolist()
    for i in range(H):
        for j in range(W):
            if not padded[i + 1][j + 1]:
                continue
            y0, y1, x0, x1 = rows[i] - 0.5, rows[i + 1] - 0.5, cols[j] - 0.5, cols[j + 1] - 0.5
            if not padded[i][j + 1]:
                segments.append([(x0, y0), (x1, y0)])
            if not padded[i + 2][j + 1]:
                segments.append([(x0, y1), (x1, y1)])
            if not padded[i + 1][j]:
                segments.append([(x0, y0), (x0, y1)])
            if not padded[i + 1][j + 2]:
                segments.append([(x1, y0), (x1, y1)])
    if segments:
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(segments, colors=colour, linewidths=width, alpha=0.9))


def _overlay_axes(
    ax, frame: torch.Tensor, keep: torch.Tensor, title: str | None = None, fontsize=9
):
    _image_axes(ax, overlay_keep(frame, keep).numpy(), title, fontsize)
    ax.images[-1].set_interpolation("nearest")
    _outline_kept(ax, keep, tuple(frame.shape[:2]))


def _map_axes(ax, grid: torch.Tensor, size: tuple[int, int], vmin: float, vmax: float, cmap: str):
    h, w = size
    im = ax.imshow(
        grid.numpy(),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
        extent=(-0.5, w - 0.5, h - 0.5, -0.5),
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _time_label(t: int, timestamps: torch.Tensor | None, indices: torch.Tensor | None) -> str:
    parts = [f"frame {t}"]
    if timestamps is not None:
        parts.append(f"{float(timestamps[t]):.2f} s")
    return " · ".join(parts)


_ENTROPY_TERM = {
    "paper": "Ĥ",
    "minmax": "mm(Ĥ)",
    "complement": "(1−Ĥ)",
    "complement_minmax": "(1−mm(Ĥ))",
}
_FUSED_EDGE = "#00e5ff"  # outline of output tokens that are merged cell summaries


def score_formula(config) -> str:
    """The score that actually ran, as text: ``S = 0.5·Ĥ + 0.5·Ĝ`` (terms of weight 0 left out)."""
    a = float(config.alpha)
    term = _ENTROPY_TERM.get(config.entropy_mode, config.entropy_mode)
    if a == 1:
        return f"S = {term}"
    if a == 0:
        return "S = Ĝ"
    return f"S = {a:g}·{term} + {1 - a:g}·Ĝ"


def fused_mask(selection: Selection) -> torch.Tensor | None:
    """Positions whose output token is a merge of several inputs (None for pure selections).

    Shapes:
        -> [T, H, W] bool
    """
    if selection.assignment is None:
        return None
    a = selection.assignment
    members = torch.bincount(a[a >= 0], minlength=selection.budget)  # [K]
    flat = torch.zeros(selection.keep_mask.numel(), dtype=torch.bool, device=a.device)
    flat[selection.keep_index] = members > 1
    return flat.view_as(selection.keep_mask)


def panel_figure(
    frames: torch.Tensor,
    selection: Selection,
    frame_ids: Sequence[int] | None = None,
    *,
    timestamps: torch.Tensor | None = None,
    title: str | None = None,
    config=None,
):
    """The paper's Fig. 6 for chosen frames: frame, Ĥ, Ĝ, fused score S, kept tokens.

    One row per frame; the colour scale of each map column is shared by all rows (the video's
    own range, printed on the colour bar), so rows compare. Selectors without entropy/gradient
    terms get the frame, score and kept-token columns only. With ``config``, column (d) is
    titled with the score that ran (its formula and α) and a term of weight 0 is greyed out and
    marked unused. Output tokens that are merged summaries (grid fusion, merging selectors) are
    outlined in cyan in column (e), apart from the kept tokens (yellow).

    Args:
        frames: uint8 frames, the region the token grid covers (``fit_aspect`` of the clip).
        selection: the single-video selection over those frames.
        frame_ids: frames to show (default :func:`choose_frames`).
        timestamps: seconds of each frame, for the row labels.
        title: figure title.
        config: the :class:`~entropy_select.EntropySelectConfig` that made ``selection``.

    Returns:
        a ``matplotlib.figure.Figure``.

    Shapes:
        frames: [T, h, w, 3] uint8; selection fields [T, H, W]
    """
    Figure = _mpl()
    from matplotlib import ticker

    T, h, w, _ = frames.shape
    frame_ids = list(frame_ids) if frame_ids is not None else choose_frames(selection)
    alpha = None if config is None else float(config.alpha)
    unused = {"(b)": alpha == 0, "(c)": alpha == 1}
    columns = [("(a) frame", None, None)]
    if selection.entropy is not None:
        columns.append(("(b) local entropy Ĥ (Eq. 2)", selection.entropy, "magma"))
    if selection.gradient is not None:
        columns.append(("(c) gradient saliency Ĝ (Eq. 3)", selection.gradient, "viridis"))
    score_name = "(d) fused score S" if config is None else f"(d) {score_formula(config)}"
    columns.append((score_name, selection.scores, "inferno"))
    fused = fused_mask(selection)
    kept_name = "(e) kept tokens" if fused is None else "(e) kept; cyan: merged"
    columns.append((kept_name, None, None))
    rows, cols = len(frame_ids), len(columns)
    cell_w = 3.0
    cell_h = cell_w * h / w
    fig = Figure(figsize=(cell_w * cols + 0.8, cell_h * rows + 1.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for c, (name, grid, cmap) in enumerate(columns):
        off = unused.get(name[:3], False)
        axes[0, c].set_title(
            name + ("\nweight 0: not used" if off else ""),
            fontsize=10,
            fontweight="bold",
            color="0.55" if off else "black",
        )
        if grid is None:
            continue
        lo, hi = float(grid.min()), float(grid.max())
        if hi <= lo:
            hi = lo + 1e-6
        for r, t in enumerate(frame_ids):
            im = _map_axes(axes[r, c], grid[t].float(), (h, w), lo, hi, "Greys" if off else cmap)
            if off:
                im.set_alpha(0.35)
        bar = fig.colorbar(im, ax=axes[:, c].tolist(), location="bottom", shrink=0.9, aspect=25)
        bar.ax.tick_params(labelsize=7)
        span = hi - lo
        bar.formatter = ticker.FormatStrFormatter("%.4f" if span < 0.05 else "%.2f")
        bar.locator = ticker.MaxNLocator(4)
        bar.update_ticks()
    K, N = selection.budget, selection.num_tokens
    for r, t in enumerate(frame_ids):
        _image_axes(axes[r, 0], frames[t].numpy())
        axes[r, 0].set_ylabel(_time_label(t, timestamps, None), fontsize=9)
        kept = int(selection.frame_budget[t])
        _overlay_axes(axes[r, -1], frames[t], selection.keep_mask[t])
        if fused is not None and bool(fused[t].any()):
            _outline_kept(axes[r, -1], fused[t], (h, w), colour=_FUSED_EDGE, width=1.4)
        axes[r, -1].text(
            0.02,
            0.96,
            f"{kept} tokens",
            transform=axes[r, -1].transAxes,
            fontsize=8,
            va="top",
            color="white",
            bbox=dict(fc="black", alpha=0.6, lw=0, pad=1.5),
        )
    fig.suptitle(
        title or f"ENTROPY-SELECT: kept {K} of {N} tokens ({100 * K / N:.0f}%)", fontsize=12
    )
    return fig


def strip_figure(
    frames: torch.Tensor,
    selection: Selection,
    *,
    timestamps: torch.Tensor | None = None,
    columns: int | None = None,
    title: str | None = None,
):
    """The paper's Fig. 5: every sampled frame with its kept tokens, and the per-frame budgets.

    Returns:
        a ``matplotlib.figure.Figure``: a grid of overlays (``columns`` per row) above a chart
        of ``frame_budget``: one stem per frame from the uniform share ``K/T`` (dashed) to its
        budget, labelled with the budget. The y-axis spans the budgets (and ``K/T``), not 0 to
        the maximum, so budgets of 66–79 differ visibly; stems, not bars, because a bar's length
        would claim a zero baseline the axis no longer shows.

    Shapes:
        frames: [T, h, w, 3] uint8; selection fields [T, H, W]
    """
    Figure = _mpl()
    T, h, w, _ = frames.shape
    if columns is None:  # wide frames: 4 per row so each stays legible; square ones: 8
        columns = 4 if w > 1.6 * h else 8
    ncols = min(columns, T)
    nrows = -(-T // ncols)
    cell_w = 3.4 if w > 1.6 * h else 2.2
    cell_h = cell_w * h / w + 0.35
    fig = Figure(figsize=(cell_w * ncols, cell_h * nrows + 2.4), layout="constrained")
    spec = fig.add_gridspec(nrows + 1, ncols, height_ratios=[cell_h] * nrows + [2.2])
    budget = selection.frame_budget.tolist()
    for t in range(T):
        ax = fig.add_subplot(spec[t // ncols, t % ncols])
        label = f"#{t}" + (f" · {float(timestamps[t]):.1f}s" if timestamps is not None else "")
        _overlay_axes(ax, frames[t], selection.keep_mask[t], f"{label} · B={budget[t]}", fontsize=9)
    ax = fig.add_subplot(spec[nrows, :])
    _budget_stems(ax, budget, selection.budget)
    ax.set_xticks(range(T))
    ax.set_xticklabels([f"#{t}" for t in range(T)], fontsize=8)
    ax.set_ylabel("tokens kept", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    zoomed = ax.get_ylim()[0] > 0
    ax.set_title(
        "per-frame budget $B_f$ (Eq. 4), drawn from the uniform share $K/T$"
        + ("; the axis does not start at 0" if zoomed else ""),
        fontsize=10,
    )
    K, N = selection.budget, selection.num_tokens
    fig.suptitle(title or f"kept {K} of {N} tokens ({100 * K / N:.0f}%), {T} frames", fontsize=11)
    return fig


def _budget_stems(ax, budget: list[int], K: int) -> None:
    """Per-frame budgets as stems from the uniform share ``K/T``, on an axis zoomed to them."""
    T = len(budget)
    share = K / T
    colours = [_BAR if b >= share else "#fb5607" for b in budget]
    ax.vlines(range(T), share, budget, colors=colours, lw=2.5)
    ax.scatter(range(T), budget, color=colours, s=22, zorder=3)
    for t, b in enumerate(budget):
        above = b >= share
        ax.annotate(
            str(b),
            (t, b),
            xytext=(0, 4 if above else -4),
            textcoords="offset points",
            ha="center",
            va="bottom" if above else "top",
            fontsize=8,
        )
    ax.axhline(share, color="0.35", ls="--", lw=1, label=f"uniform share K/T = {share:.1f}")
    lo, hi = min(min(budget), share), max(max(budget), share)
    pad = 0.2 * (hi - lo) + 1.5
    ax.set_ylim(max(0.0, lo - pad), hi + pad)
    ax.legend(fontsize=8, loc="upper right", frameon=False)


def compare_figure(
    frames: torch.Tensor,
    selections: Mapping[str, Selection],
    frame_ids: Sequence[int],
    *,
    timestamps: torch.Tensor | None = None,
    notes: Mapping[str, str] | None = None,
    title: str | None = None,
):
    """Several selectors' choices side by side: one row per selector, one column per frame,
    plus each selector's per-frame budgets as bars.

    Args:
        frames: uint8 frames the grids cover.
        selections: label → single-video Selection (same video, same K).
        frame_ids: frames to show.
        timestamps: seconds per frame, for the column titles.
        notes: label → extra text under the label (e.g. the median time taken).
        title: figure title.

    Returns:
        a ``matplotlib.figure.Figure``. Each row's budget bars have their own y-scale (read
        its tick labels), so a selector that puts many tokens on one frame does not flatten
        the other rows.

    Shapes:
        frames: [T, h, w, 3] uint8; each selection's fields [T, H, W]
    """
    Figure = _mpl()
    T, h, w, _ = frames.shape
    rows, cols = len(selections), len(frame_ids) + 1
    cell_w = 2.6
    cell_h = cell_w * h / w
    fig = Figure(figsize=(cell_w * cols + 1.2, cell_h * rows + 1.0), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, width_ratios=[1] * (cols - 1) + [1.3])
    for r, (label, sel) in enumerate(selections.items()):
        for c, t in enumerate(frame_ids):
            head = None
            if r == 0:
                head = f"frame {t}" + (
                    f" · {float(timestamps[t]):.1f}s" if timestamps is not None else ""
                )
            _overlay_axes(axes[r, c], frames[t], sel.keep_mask[t], head)
            axes[r, c].text(
                0.02,
                0.96,
                f"{int(sel.frame_budget[t])}",
                transform=axes[r, c].transAxes,
                fontsize=8,
                va="top",
                color="white",
                bbox=dict(fc="black", alpha=0.6, lw=0, pad=1.5),
            )
        note = f"\n{notes[label]}" if notes and label in notes else ""
        merges = "\n(merges tokens)" if sel.assignment is not None else ""
        name = label.replace(":", "\n")  # "name:key=v" specs read better one option a line
        axes[r, 0].set_ylabel(
            f"{name}{note}{merges}", fontsize=9, rotation=0, ha="right", va="center", labelpad=6
        )
        ax = axes[r, -1]
        colours = ["#ff006e" if t in frame_ids else _BAR for t in range(T)]
        ax.bar(range(T), sel.frame_budget.tolist(), color=colours, width=0.8)
        # each row its own scale: one selector's spike (EVS keeps every token of frame 0) must
        # not flatten the others' bars; the tick labels give each row's values
        ax.set_ylim(0, int(sel.frame_budget.max()) * 1.1 + 1)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        if r == 0:
            ax.set_title("tokens per frame\n(each row its own scale)", fontsize=9)
        if r == rows - 1:
            ax.set_xlabel("frame (pink: shown)", fontsize=8)
    any_sel = next(iter(selections.values()))
    K, N = any_sel.budget, any_sel.num_tokens
    fig.suptitle(title or f"{K} of {N} tokens kept ({100 * K / N:.0f}%)", fontsize=11)
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically (nothing half-written on failure)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path

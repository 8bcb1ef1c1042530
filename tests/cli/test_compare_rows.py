"""The ``compare`` figure draws each selector's OWN selection in its row (issue 17).

Checked on the figure's pixels: every overlay of row ``r`` equals the frame shaded outside the
keep mask of selector ``r`` — both for :func:`compare_figure` and end to end through the CLI.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("matplotlib")

from entropy_select import selectors  # noqa: E402
from entropy_select.viz.overlay import overlay_keep  # noqa: E402


def _overlays(fig, rows: int, cols: int):
    """The overlay image of each (row, frame column) of a compare figure, in row-major order."""
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == rows * cols
    return [images[r * cols : (r + 1) * cols] for r in range(rows)]


def _check_rows(fig, frames, results, shown):
    grid = _overlays(fig, len(results), len(shown))
    masks = [sel.keep_mask for sel in results.values()]
    for r, mask in enumerate(masks):
        for c, t in enumerate(shown):
            expected = overlay_keep(frames[t], mask[t])
            assert torch.equal(torch.from_numpy(grid[r][c]), expected), (r, t)
    # the selections differ on the shown frames, so a row drawing another's mask would fail
    for a in range(len(masks)):
        for b in range(a + 1, len(masks)):
            assert any(not torch.equal(masks[a][t], masks[b][t]) for t in shown), (a, b)


def test_compare_figure_rows_show_their_own_selection():
    from entropy_select.viz import compare_figure

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 6, 8, 16, generator=g)
    frames = torch.randint(0, 256, (4, 30, 40, 3), generator=g, dtype=torch.uint8)
    results = {
        name: selectors.get(name)(feats, retention=0.25)
        for name in ("entropy_select", "uniform", "random")
    }
    shown = [0, 3]
    fig = compare_figure(frames, results, shown)
    _check_rows(fig, frames, results, shown)


def test_compare_cli_rows_show_their_own_selection(tmp_path, monkeypatch):
    pytest.importorskip("av")
    video = pytest.importorskip("entropy_select.video")
    try:
        clip = str(video.sample_video_path("carphone_pristine.mp4"))
    except ImportError as err:
        pytest.skip(str(err))
    from entropy_select import viz
    from entropy_select.cli import main

    seen = {}
    real = viz.compare_figure

    def spy(frames, results, shown, **kwargs):
        fig = real(frames, results, shown, **kwargs)
        seen.update(frames=frames, results=dict(results), shown=list(shown), fig=fig)
        return fig

    monkeypatch.setattr(viz, "compare_figure", spy)
    args = ["compare", clip, "--selectors", "entropy_select,uniform,random", "--retention", "0.2"]
    args += ["--frames", "4", "--input-size", "128", "--dpi", "40", "--quiet"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert list(seen["results"]) == ["entropy_select", "uniform", "random"]
    _check_rows(seen["fig"], seen["frames"], seen["results"], seen["shown"])

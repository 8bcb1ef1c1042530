import dataclasses

import pytest
import torch

import entropy_select as es
from entropy_select.core.selection import Selection
from entropy_select.viz import DROP_SHADE, cell_edges, choose_frames, overlay_keep, upsample_grid


def _frames(T=3, h=37, w=53):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (T, h, w, 3), dtype=torch.uint8, generator=g)


def _selection(T=3, H=5, W=7, retention=0.3):
    x = torch.randn(T, H, W, 16, generator=torch.Generator().manual_seed(1))
    return es.select_tokens(x, retention=retention)


def test_cells_tile_the_frame():
    e = cell_edges(37, 5)
    assert e.tolist() == [0, 7, 14, 22, 29, 37]
    grid = torch.arange(35).reshape(5, 7)
    up = upsample_grid(grid, (37, 53))
    assert up.shape == (37, 53)
    rows, cols = cell_edges(37, 5), cell_edges(53, 7)
    for i in range(5):
        for j in range(7):
            block = up[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            assert block.numel() > 0 and bool((block == grid[i, j]).all())
    with pytest.raises(ValueError):
        cell_edges(3, 5)


def test_overlay_pixels_follow_keep_mask():
    frame = _frames(1)[0]
    keep = torch.rand(5, 7, generator=torch.Generator().manual_seed(2)) > 0.5
    out = overlay_keep(frame, keep)
    colour, alpha = DROP_SHADE
    shaded = (frame.float() * (1 - alpha) + torch.tensor(colour) * alpha).round().to(torch.uint8)
    rows, cols = cell_edges(37, 5), cell_edges(53, 7)
    for i in range(5):
        for j in range(7):
            sl = (slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
            want = frame[sl] if keep[i, j] else shaded[sl]
            assert torch.equal(out[sl], want), (i, j)
    assert not torch.equal(out, frame)  # something was shaded
    with pytest.raises(ValueError, match="uint8"):
        overlay_keep(frame.float(), keep)
    with pytest.raises(ValueError, match="bool"):
        overlay_keep(frame, keep.int())


def test_choose_frames_includes_extremes():
    sel = _selection(T=6)
    ids = choose_frames(sel, 3)
    b = sel.frame_budget
    assert len(ids) == 3 and ids == sorted(set(ids))
    assert int(b.argmax()) in ids and (b[ids].min() == b.min())
    assert choose_frames(sel, 10) == list(range(6))


def _overlay_images(fig):
    """The RGB arrays drawn by imshow on the figure's axes, in axes order."""
    return [im.get_array() for ax in fig.axes for im in ax.images if im.get_array().ndim == 3]


def test_strip_draws_each_frame_with_its_own_mask(tmp_path):
    pytest.importorskip("matplotlib")
    from entropy_select.viz import save_figure, strip_figure

    frames, sel = _frames(), _selection()
    fig = strip_figure(frames, sel, timestamps=torch.tensor([0.0, 0.5, 1.0]))
    images = _overlay_images(fig)
    assert len(images) == 3
    for t, img in enumerate(images):
        kept_px = upsample_grid(sel.keep_mask[t], (37, 53))
        same = torch.from_numpy(img == frames[t].numpy()).all(-1)
        assert torch.equal(same[kept_px], torch.ones_like(same[kept_px]))
        assert not same[~kept_px].all()
    path = save_figure(fig, tmp_path / "strip.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_panel_columns_and_overlay(tmp_path):
    pytest.importorskip("matplotlib")
    from entropy_select.viz import panel_figure, save_figure

    frames, sel = _frames(), _selection()
    fig = panel_figure(frames, sel, [0, 2])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:5] == [
        "(a) frame",
        "(b) local entropy Ĥ (Eq. 2)",
        "(c) gradient saliency Ĝ (Eq. 3)",
        "(d) fused score S",
        "(e) kept tokens" if sel.assignment is None else "(e) kept; cyan: merged",
    ]
    images = _overlay_images(fig)  # rows: frame, overlay for frames 0 and 2
    assert torch.equal(torch.from_numpy(images[0]), frames[0])
    assert torch.equal(torch.from_numpy(images[1]), overlay_keep(frames[0], sel.keep_mask[0]))
    assert torch.equal(torch.from_numpy(images[3]), overlay_keep(frames[2], sel.keep_mask[2]))
    save_figure(fig, tmp_path / "panel.png")
    # a selector without entropy/gradient terms gets frame, score and kept tokens only
    plain = Selection(sel.keep_index, sel.tokens, sel.scores, sel.frame_budget, sel.keep_mask)
    fig = panel_figure(frames, plain, [1])
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == [
        "(a) frame",
        "(d) fused score S",
        "(e) kept tokens",
    ]


def test_compare_rows_per_selector(tmp_path):
    pytest.importorskip("matplotlib")
    from entropy_select.viz import compare_figure, save_figure

    frames = _frames()
    a, b = _selection(retention=0.3), _selection(retention=0.3)
    fig = compare_figure(frames, {"a": a, "b:tau=0.1": b}, [0, 2], notes={"a": "1 ms"})
    images = _overlay_images(fig)
    assert len(images) == 4
    assert torch.equal(torch.from_numpy(images[3]), overlay_keep(frames[2], b.keep_mask[2]))
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    # the library default merges tokens (grid fusion), and the row label says so
    assert labels[:2] == ["a\n1 ms\n(merges tokens)", "b\ntau=0.1\n(merges tokens)"]
    save_figure(fig, tmp_path / "compare.png")


def test_panel_names_the_score_that_ran_and_greys_unused_terms():
    pytest.importorskip("matplotlib")
    import entropy_select as es
    from entropy_select.viz import panel_figure
    from entropy_select.viz.figures import fused_mask, score_formula

    frames = _frames()
    x = torch.randn(3, 4, 5, 8, generator=torch.Generator().manual_seed(1))
    for cfg, formula in (
        (es.EntropySelectConfig.paper(), "S = 0.5·Ĥ + 0.5·Ĝ"),
        (es.EntropySelectConfig(), "S = 0.5·(1−mm(Ĥ)) + 0.5·Ĝ"),
        (es.EntropySelectConfig(alpha=1.0), "S = (1−mm(Ĥ))"),
    ):
        assert score_formula(cfg) == formula
        sel = es.select_tokens(x, retention=0.4, config=cfg)
        fig = panel_figure(frames, sel, [0, 2], config=cfg)
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert titles[3] == f"(d) {formula}"
        assert ("not used" in titles[2]) == (cfg.alpha == 1.0)  # Ĝ column greyed at alpha = 1
        fused = fused_mask(sel)
        assert (fused is None) == (sel.assignment is None)
        if fused is not None:  # exactly the slots that merge several inputs
            sizes = torch.bincount(sel.assignment[sel.assignment >= 0], minlength=sel.budget)
            assert int(fused.sum()) == int((sizes > 1).sum())


def _with_budgets(budget):
    """A 16-frame selection whose frame_budget is ``budget`` (the masks keep their own)."""
    T = len(budget)
    sel = _selection(T=T, H=14, W=14, retention=0.35)
    return dataclasses.replace(sel, frame_budget=torch.tensor(budget))


def _budget_axes(fig):
    return next(ax for ax in fig.axes if ax.get_title().startswith("per-frame budget"))


def test_strip_budget_axis_makes_small_differences_visible():
    pytest.importorskip("matplotlib")
    from entropy_select.viz import strip_figure

    budget = [69, 69, 66, 67, 69, 67, 67, 69, 68, 67, 68, 79, 67, 68, 70, 67]  # the demo's
    fig = strip_figure(_frames(16, 20, 47), _with_budgets(budget))
    ax = _budget_axes(fig)
    lo, hi = ax.get_ylim()
    assert 0 < lo <= 66 and hi >= 79
    assert (79 - 66) / (hi - lo) > 0.5  # the spread fills most of the axis (0..94: 0.14)
    assert "does not start at 0" in ax.get_title()  # and the title says so
    assert not ax.patches  # stems, not bars: no bar length claims a zero baseline
    labels = [t.get_text() for t in ax.texts]
    assert labels == [str(b) for b in budget]
    share = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(share) == 1 and share[0].get_ydata()[0] == pytest.approx(sum(budget) / 16)


def test_strip_budget_axis_keeps_zero_when_budgets_reach_it():
    pytest.importorskip("matplotlib")
    from entropy_select.viz import strip_figure

    budget = [0, 40, 3, 90] * 4
    ax = _budget_axes(strip_figure(_frames(16, 20, 47), _with_budgets(budget)))
    assert ax.get_ylim()[0] == 0 and "does not start at 0" not in ax.get_title()


def test_compare_rows_have_their_own_budget_scale():
    pytest.importorskip("matplotlib")
    from entropy_select.viz import compare_figure

    spike = [195] + [8] * 15  # EVS-like: everything in frame 0
    flat = [20, 21] * 8
    fig = compare_figure(
        _frames(16, 20, 47), {"evs": _with_budgets(spike), "flat": _with_budgets(flat)}, [0, 5]
    )
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 2
    assert bars[0].get_ylim()[1] >= 195 and bars[1].get_ylim()[1] < 30  # not 0..215 for both
    assert "own scale" in bars[0].get_title()

"""The detail family's pieces: needle cells, pasting, survival, merged logits, planning."""

from __future__ import annotations

import torch

import entropy_select as es
from entropy_select import selectors
from entropy_select.eval import detail


def test_needle_cells_use_the_coverage_threshold():
    # a 32 px needle at (16, 16) covers four cells by a quarter each: all count
    assert detail.needle_cells(16, 16, 32, grid=14) == [0, 1, 14, 15]
    # shifted by 1 px: the top-left cell is covered by 15x15 = 22% < 25%
    assert detail.needle_cells(17, 17, 32, grid=14) == [15]
    # aligned: exactly one cell
    assert detail.needle_cells(64, 96, 32, grid=14) == [2 * 14 + 3]
    assert len(detail.needle_cells(0, 0, 96, grid=14)) == 9


def test_paste_hard_and_feathered():
    frame = torch.zeros(64, 64, 3, dtype=torch.uint8)
    img = torch.full((16, 16, 3), 200, dtype=torch.uint8)
    hard = frame.clone()
    detail._paste(hard, img, 8, 10, feather=False)
    assert int(hard[8:24, 10:26].min()) == 200 and int(hard.sum()) == 200 * 16 * 16 * 3
    soft = frame.clone()
    detail._paste(soft, img, 8, 10, feather=True)
    assert int(soft[16, 18, 0]) == 200  # the centre is the needle
    assert 0 < int(soft[8, 18, 0]) < 200  # the edge is blended


def test_plans_never_overlap_in_a_frame_and_are_seeded():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = detail._plan_video(g1, 16, 448, 5, 5, 0)
    b = detail._plan_video(g2, 16, 448, 5, 5, 0)
    assert a == b and len(a) == 10
    assert {p["kind"] for p in a} == {"flash", "event"}
    for i, p in enumerate(a):
        assert (len(p["frames"]) == 1) == (p["kind"] == "flash")
        for q in a[i + 1 :]:
            if set(p["frames"]) & set(q["frames"]):
                assert not detail._overlaps(p["box"], [q["box"]])


def test_survival_pure_and_merged():
    x = torch.randn(2, 4, 4, 8, generator=torch.Generator().manual_seed(0))
    sel = selectors.get("uniform")(x, retention=0.25)
    alive = detail.survival(sel, 32)
    assert torch.equal(alive, sel.keep_mask.flatten())
    merged = es.select_tokens(x, retention=0.25)  # default: fusion merges dropped tokens
    alive = detail.survival(merged, 32)
    a = merged.assignment
    sizes = torch.bincount(a[a >= 0], minlength=merged.budget)
    for i in range(32):  # plain means: a token survives iff it is alone or one of two
        expected = bool(a[i] >= 0) and 1 / int(sizes[a[i]]) >= 0.5 if a[i] >= 0 else False
        assert bool(alive[i]) == expected


def test_output_logits_of_merged_tokens_equal_the_head_of_the_merged_token():
    x = torch.randn(2, 4, 4, 8, generator=torch.Generator().manual_seed(1))
    head = torch.nn.Linear(8, 5)
    sel = es.select_tokens(x, retention=0.3)
    with torch.no_grad():
        via_inputs = detail.output_logits(sel, head(x.reshape(-1, 8)))
        direct = head(sel.tokens)
    torch.testing.assert_close(via_inputs, direct, rtol=1e-5, atol=1e-5)


def test_bootstrap_interval_contains_the_mean():
    mean, lo, hi = detail.bootstrap_ci([0.0, 1.0] * 50)
    assert mean == 0.5 and lo < 0.5 < hi
    assert detail.bootstrap_ci([1.0, 1.0]) == (1.0, 1.0, 1.0)


def test_split_never_shares_a_scene():
    fake = [
        detail.Needle(src, (0, 0, 1), 1, 0.9, torch.zeros(1, 1, 3, dtype=torch.uint8))
        for src in ("a.png", "b.png", "moto_left.png", "moto_right.png", "c.png")
    ]
    dev = {n.source for n in detail.split_needles(fake, "dev")}
    test = {n.source for n in detail.split_needles(fake, "test")}
    assert not dev & test and dev | test == {n.source for n in fake}
    assert {"moto_left.png", "moto_right.png"} <= dev or {"moto_left.png", "moto_right.png"} <= test

import torch

from entropy_select import selectors
from entropy_select.selectors.dycoke_ttm import reference_frames


def test_reference_frames_follow_dycoke_pairs_and_groups_of_four():
    assert reference_frames(9) == [-1, 0, 0, 2, -1, 4, 4, 6, -1]


def test_dycoke_keeps_anchors_whole_and_the_changed_tokens():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 3, 6, generator=g).repeat(4, 1, 1, 1)
    x = x + 1e-3 * torch.randn(4, 3, 3, 6, generator=g)
    x[1, 1, 1] = torch.randn(6, generator=g)  # differs from frame 0 at (1, 1)
    x[3, 0, 2] = torch.randn(6, generator=g)  # differs from frame 2 at (0, 2)
    x[2, 2, 0] = torch.randn(6, generator=g)  # differs from frame 0 at (2, 0)
    sel = selectors.get("dycoke_ttm")(x, budget=9 + 3)
    assert sel.frame_budget.tolist() == [9, 1, 1, 1]
    assert sel.keep_index.tolist() == list(range(9)) + [9 + 4, 18 + 6, 27 + 2]


def test_dycoke_below_its_floor_keeps_only_anchor_frames():
    x = torch.randn(8, 4, 4, 3)
    sel = selectors.get("dycoke_ttm")(x, budget=8)
    assert sel.frame_budget.tolist() == [4, 0, 0, 0, 4, 0, 0, 0]

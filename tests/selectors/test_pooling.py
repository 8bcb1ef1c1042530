import torch
import torch.nn.functional as F

from entropy_select import selectors
from entropy_select.selectors.pooling import bin_layout, pooled_shape


def test_pooling_equals_adaptive_avg_pool3d_when_the_shape_is_exact():
    x = torch.randn(3, 6, 4, 5, dtype=torch.float64)
    sel = selectors.get("pooling")(x, budget=3 * 3 * 2)  # pooled shape (3, 3, 2)
    assert pooled_shape(3, 6, 4, 18) == (3, 3, 2)
    ref = F.adaptive_avg_pool3d(x.permute(3, 0, 1, 2), (3, 3, 2)).permute(1, 2, 3, 0).reshape(18, 5)
    torch.testing.assert_close(sel.tokens, ref)
    # anchors: the lower-middle token of every 2x2 bin
    assert sel.keep_mask[0].nonzero().tolist() == [[0, 0], [0, 2], [2, 0], [2, 2], [4, 0], [4, 2]]


def test_pooling_trims_the_flattest_bins():
    x = torch.randn(1, 4, 4, 3, dtype=torch.float64)
    x[0, :2, :2] = 1.0  # the top-left 2x2 bin is constant: zero spread
    sel = selectors.get("pooling")(x, budget=3)  # lattice 2x2 = 4 bins, one dropped
    assert sel.assignment.view(4, 4)[:2, :2].eq(-1).all()
    assert sel.keep_mask[0, :2, :2].sum() == 0 and int(sel.keep_mask.sum()) == 3


def test_pooling_averages_frames_when_budget_is_below_frame_count():
    x = torch.randn(6, 2, 2, 3, dtype=torch.float64)
    sel = selectors.get("pooling")(x, budget=3)
    assert pooled_shape(6, 2, 2, 3) == (3, 1, 1)
    torch.testing.assert_close(sel.tokens, x.reshape(3, 2, 4, 3).mean((1, 2)))


def test_bin_layout_partitions_uneven_lengths():
    owner, anchor = bin_layout(7, 3)
    assert owner.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert anchor.tolist() == [1, 3, 5]

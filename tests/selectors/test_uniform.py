import torch

from entropy_select import selectors
from entropy_select.selectors.base import even_split, lattice_mask


def test_uniform_4x4_keeps_the_centred_stride_2_lattice():
    x = torch.randn(1, 4, 4, 3)
    sel = selectors.get("uniform")(x, budget=4)
    assert sel.keep_index.tolist() == [5, 7, 13, 15]  # (1,1) (1,3) (3,1) (3,3)


def test_uniform_is_spatially_regular_and_content_blind():
    a, b = torch.randn(2, 8, 8, 4), torch.randn(2, 8, 8, 4) * 5
    sa = selectors.get("uniform")(a, budget=32)
    assert torch.equal(sa.keep_index, selectors.get("uniform")(b, budget=32).keep_index)
    mask = sa.keep_mask[0]
    rows, cols = mask.nonzero().unbind(1)
    assert rows.unique().tolist() == [1, 3, 5, 7] and cols.unique().tolist() == [1, 3, 5, 7]
    assert torch.equal(sa.keep_mask[0], sa.keep_mask[1])


def test_uniform_spreads_extra_tokens_over_frames():
    assert even_split(2, 4).tolist() == [0, 1, 0, 1]
    assert even_split(10, 4).tolist() == [2, 3, 2, 3]
    sel = selectors.get("uniform")(torch.randn(4, 3, 3, 2), budget=2)
    assert sel.frame_budget.tolist() == [0, 1, 0, 1]
    assert sel.keep_index.tolist() == [9 + 4, 27 + 4]  # frame centres


def test_lattice_mask_counts_every_size():
    for h, w in [(1, 1), (2, 3), (5, 7), (14, 14)]:
        for k in range(h * w + 1):
            assert int(lattice_mask(h, w, k).sum()) == k

"""The pieces of the in-model selectors on hand-made tensors: ranking, choosing, gathering."""

from __future__ import annotations

import pytest
import torch

from entropy_select.adapters._inmodel import gather_mask, gather_seq, mask_keys
from entropy_select.adapters.dycoke import choose
from entropy_select.adapters.fastv import keep_top
from entropy_select.core.checks import resolve_budget


def test_keep_top_keeps_text_and_each_videos_top_r_ties_to_the_lower_index():
    scores = torch.tensor([[0.0, 0.3, 0.3, 0.1, 0.9, 0.5, 0.5, 0.0]])
    video = torch.tensor([[-1, 0, 0, 0, -1, 1, 1, 1]])
    keep, budgets = keep_top(scores, video, lambda n: resolve_budget(n, 0.5, None))
    assert budgets == {0: 1, 1: 1}
    # video 0: 0.3 twice -> the lower index (1); video 1: 0.5 twice -> index 5
    assert keep.tolist() == [[True, True, False, False, True, True, False, False]]


def test_choose_takes_each_rows_budget_ties_to_the_lower_index():
    scores = torch.tensor([[0.2, 0.2, 0.1, 0.9], [0.5, 0.1, 0.7, 0.7]])
    video = torch.tensor([[True, True, True, False], [False, True, True, True]])
    chosen = choose(scores, video, torch.tensor([2, 1]))
    assert chosen.tolist() == [[True, True, False, False], [False, False, True, False]]
    assert not choose(scores, torch.zeros_like(video), torch.tensor([0, 0])).any()


def test_gathers_keep_order_and_batch_layout():
    t = torch.arange(2 * 5 * 3).reshape(2, 5, 3)
    cols = torch.tensor([[0, 2, 4], [1, 3, 4]])
    assert torch.equal(gather_seq(t, cols, 0), torch.stack([t[0, [0, 2, 4]], t[1, [1, 3, 4]]]))
    mrope = torch.arange(3 * 1 * 5).reshape(3, 1, 5)  # batch 1 broadcast over 2 rows
    assert gather_seq(mrope, cols, 1).shape == (3, 2, 3)
    mask = torch.rand(1, 1, 5, 5) > 0.5
    out = gather_mask(mask, cols, cols)
    assert torch.equal(out[1, 0], mask[0, 0][[1, 3, 4]][:, [1, 3, 4]])
    pad = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert gather_mask(pad, None, cols).tolist() == [[0, 1, 1], [1, 1, 1]]
    assert gather_mask(None, cols, cols) is None
    with pytest.raises(NotImplementedError, match="2-D or 4-D"):
        gather_mask(torch.ones(2, 5, 5), cols, cols)


def test_mask_keys_keeps_the_masks_kind():
    allowed = torch.tensor([[True, False, True]])
    boolean = mask_keys(None, allowed, 1, "sdpa", torch.float32)
    assert boolean.dtype == torch.bool and boolean.tolist() == [[[[True, False, True]]]]
    additive = mask_keys(None, allowed, 1, "eager", torch.float32)
    assert additive[0, 0, 0, 1] == torch.finfo(torch.float32).min and additive[0, 0, 0, 0] == 0
    existing = torch.tensor([[[[True, True, False]]]])
    assert mask_keys(existing, allowed, 1, "sdpa", torch.float32).tolist() == [
        [[[True, False, False]]]
    ]

"""``select_videos``, the adapters' one call into the selector: a video alone is selected from its
own grid (no stacked copy of its features; the selection comes unbatched), videos of one shape
in one batched call, and every selection is what the stacked call gave before."""

from __future__ import annotations

import pytest
import torch
from selection_fields import assert_fields_equal

import entropy_select as es
from entropy_select.adapters._prepare import select_videos
from entropy_select.selectors.entropy_select import EntropySelect


class _Recording(EntropySelect):
    """ENTROPY-SELECT (reference) that records the features of each call."""

    def __init__(self):
        super().__init__(preset="default", impl="reference")
        self.calls: list[torch.Tensor] = []

    def __call__(self, features, retention=None, budget=None, *, validate=True):
        self.calls.append(features)
        return super().__call__(features, retention, budget, validate=validate)


class _State:
    def __init__(self, selector):
        self.selector = selector

    def budget_for(self, num_tokens: int) -> int:
        return 20


@pytest.mark.parametrize("deferred", [None, []])
def test_a_video_alone_is_its_own_grid_and_equal_shapes_are_one_call(deferred):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, 3, 4, 5, 8, generator=g)  # two videos of one shape, as views of one
    alone = torch.randn(2, 6, 5, 8, generator=g)  # another shape: a video alone
    grids = [base[0], alone, base[1]]
    selector = _Recording()
    out = select_videos(_State(selector), grids, deferred)
    assert len(selector.calls) == 2  # one call for the two of one shape, one for the other
    assert selector.calls[0].shape == (2, 3, 4, 5, 8)  # stacked
    assert selector.calls[1] is alone  # as it is: no copy
    # what the stacked call gave before, video by video: the same, field by field (a batch of
    # one equals the video alone exactly; a batch of two, its videos up to rounding in the scores)
    stacked = es.select_tokens(base, budget=20, impl="reference")
    before = [
        stacked.video(0),
        es.select_tokens(torch.stack([alone]), budget=20, impl="reference").video(0),
        stacked.video(1),
    ]
    for selection, want in zip(out, before, strict=True):
        assert selection.keep_index.shape == (20,)  # unbatched, as before
        assert_fields_equal(selection, want)
    assert_fields_equal(out[1], es.select_tokens(alone, budget=20, impl="reference"))
    if deferred is not None:  # the NaN/inf checks of both calls, for after the next sync
        assert len(deferred) == 2
        for check in deferred:
            check()


def test_a_lone_video_not_16_byte_aligned_is_still_copied():
    """A grid one element into its allocation (not 16-byte aligned) is stacked as before, so that
    the GPU path always reads an aligned copy (its kernels for unaligned addresses round
    differently in the last bits)."""
    x = torch.randn(2 * 6 * 5 * 8 + 1, generator=torch.Generator().manual_seed(1))[1:]
    grid = x.view(2, 6, 5, 8)
    assert grid.data_ptr() % 16 != 0
    selector = _Recording()
    (selection,) = select_videos(_State(selector), [grid])
    assert selector.calls[0].shape == (1, 2, 6, 5, 8)  # the stacked copy
    assert_fields_equal(selection, es.select_tokens(grid, budget=20, impl="reference"))

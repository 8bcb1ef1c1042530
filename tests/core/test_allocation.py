import pytest
import torch

from entropy_select.core import allocate_frame_budget, budget_bounds, frame_saliency

from . import oracle


def scores(T, H, W, seed=0):
    return torch.rand(T, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("T,H,W", [(6, 3, 4), (2, 2, 2), (9, 1, 3), (1, 4, 4), (5, 5, 5)])
@pytest.mark.parametrize("tau", [0.1, 0.02, 5.0])
def test_matches_iterative_oracle_for_every_budget(T, H, W, tau):
    s = scores(T, H, W, seed=T * 7 + H)
    for K in range(1, T * H * W + 1):
        for bmin, bmax in [(4, None), (0, None), (2, 3), (1, 1)]:
            got = allocate_frame_budget(s, K, 0.3, tau, bmin, bmax).tolist()
            assert got == oracle.allocate(s, K, 0.3, tau, bmin, bmax), (K, bmin, bmax)


def test_bounds_and_sum():
    s = scores(8, 4, 4)
    for K in (1, 7, 8, 33, 100, 128):
        b = allocate_frame_budget(s, K)
        lo, hi = budget_bounds(K, 8, 16, 4, None)
        assert int(b.sum()) == K and b.min() >= lo and b.max() <= hi


def test_salient_frame_gets_more():
    s = scores(4, 4, 4) * 0.1
    s[2] += 0.5
    b = allocate_frame_budget(s, 24, min_frame_tokens=1)
    assert int(b.argmax()) == 2


def test_ties_go_to_lower_frame_when_adding():
    # Equal weights: floor(K/3) = 1 each; SPEC §4.5 gives every extra token to the largest w,
    # ties to the lower frame, until that frame is full (no round robin): frame 0 takes both.
    s = torch.zeros(3, 2, 2)
    assert allocate_frame_budget(s, 5, min_frame_tokens=0).tolist() == [3, 1, 1]
    assert allocate_frame_budget(s, 2, min_frame_tokens=0).tolist() == [2, 0, 0]


def test_removal_takes_from_smallest_weight_ties_to_higher_frame():
    # w ∝ (e^3, e^2, e^2, 1): floor(30·w) = (16, 6, 6, 0); B_min = 4 lifts frame 3 to 4, so two
    # tokens must go: frames 1 and 2 tie at the smallest weight above lo, the higher frame gives
    # first, and keeps giving while it is the tie-winner above lo.
    s = torch.tensor([0.3, 0.2, 0.2, 0.0]).view(4, 1, 1).expand(4, 4, 4)
    assert allocate_frame_budget(s, 30, min_frame_tokens=4).tolist() == [16, 6, 4, 4]
    assert oracle.allocate(s.double(), 30, bmin=4) == [16, 6, 4, 4]


def test_single_frame_and_batch():
    assert allocate_frame_budget(scores(1, 3, 3), 5).tolist() == [5]
    s = torch.stack([scores(5, 3, 3, seed=i) for i in range(3)])
    b = allocate_frame_budget(s, 17)
    for i in range(3):
        assert b[i].tolist() == allocate_frame_budget(s[i], 17).tolist()


def test_frame_saliency_is_top_q_mean():
    s = torch.arange(10.0).view(1, 2, 5)
    assert float(frame_saliency(s, 0.3)) == pytest.approx((9 + 8 + 7) / 3)
    assert float(frame_saliency(s, 1.0)) == pytest.approx(4.5)


def test_bad_budget():
    with pytest.raises(ValueError, match="budget"):
        allocate_frame_budget(scores(2, 2, 2), 9)

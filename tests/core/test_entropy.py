import math

import pytest
import torch

from entropy_select.core import entropy_term, local_window_entropy, neighbour_offsets

from . import oracle


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_neighbour_count_is_eq1():
    assert len(neighbour_offsets(5, 3, 3)) == (25 - 1) + 2 * 9
    assert len(neighbour_offsets(3, 1, 3)) == 8
    assert (0, 0, 0) not in neighbour_offsets(5, 3, 3)
    assert (1, 0, 0) in neighbour_offsets(5, 3, 3)  # the same position in the past is included


@pytest.mark.parametrize(
    "shape,k,kt,kp,tau",
    [
        ((3, 5, 6, 7), 5, 3, 3, 1.0),
        ((4, 4, 3, 5), 3, 2, 1, 0.1),
        ((1, 3, 3, 4), 5, 3, 3, 0.5),  # T=1, grid smaller than the window
        ((5, 2, 7, 3), 7, 4, 5, 2.0),  # windows wider than the grid
        ((2, 1, 1, 3), 5, 3, 3, 1.0),  # a single token per frame
    ],
)
def test_matches_naive_oracle(shape, k, kt, kp, tau):
    x = rand(*shape)
    got = local_window_entropy(x, k, kt, kp, tau)
    want = oracle.entropy(x, k, kt, kp, tau)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_float32_close_to_float64_oracle():
    x = rand(3, 5, 5, 16)
    got = local_window_entropy(x.float(), tau=0.1)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), oracle.entropy(x, tau=0.1), rtol=0, atol=1e-5)


def test_constant_video_is_one_where_two_or_more_neighbours():
    x = torch.ones(3, 4, 4, 8, dtype=torch.float64)
    h = local_window_entropy(x)
    assert torch.allclose(h, torch.ones_like(h), atol=1e-12)
    # T=1, H=1, W=2: one neighbour each -> 0; H=W=1: no neighbour -> 0.
    assert local_window_entropy(torch.ones(1, 1, 2, 4)).eq(0).all()
    assert local_window_entropy(torch.ones(1, 1, 1, 4)).eq(0).all()


def test_zero_tokens_are_valid_and_uniform():
    x = torch.zeros(2, 3, 3, 4)
    h = local_window_entropy(x)
    assert torch.isfinite(h).all() and torch.allclose(h, torch.ones_like(h))


def test_boundary_token_has_lower_entropy_than_homogeneous_region():
    # SPEC "measured property": equal similarities maximise H; a mixed neighbourhood lowers it.
    x = torch.zeros(1, 5, 6, 2, dtype=torch.float64)
    x[..., :3, 0] = 1.0
    x[..., 3:, 1] = 1.0
    h = local_window_entropy(x, 3, 1, 3, tau=0.2)
    assert h[0, 2, 2] < h[0, 2, 0]


def test_chunking_does_not_change_the_result():
    x = rand(7, 5, 4, 6)
    whole = local_window_entropy(x)
    chunked = local_window_entropy(x, chunk_elements=1)  # one frame per chunk
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-14)


def test_batch_equals_single_and_noncontiguous():
    x = rand(2, 4, 5, 6, 8)
    batched = local_window_entropy(x)
    for b in range(2):
        torch.testing.assert_close(batched[b], local_window_entropy(x[b]), rtol=0, atol=1e-12)
    xt = rand(4, 8, 6, 5).permute(0, 3, 2, 1)  # [4, 5, 6, 8] non-contiguous
    torch.testing.assert_close(local_window_entropy(xt), local_window_entropy(xt.contiguous()))


def test_half_precision_is_upcast():
    x = rand(2, 4, 4, 8).to(torch.bfloat16)
    h = local_window_entropy(x)
    assert h.dtype == torch.float32
    torch.testing.assert_close(h, local_window_entropy(x.float()))


def test_entropy_in_unit_interval_and_low_tau_spreads():
    x = rand(4, 6, 6, 32)
    h1, h01 = local_window_entropy(x, tau=1.0), local_window_entropy(x, tau=0.1)
    assert h1.min() >= 0 and h1.max() <= 1
    assert (h01.max() - h01.min()) > (h1.max() - h1.min())


def test_entropy_modes():
    h = torch.tensor([[[0.2, 0.6], [0.4, 1.0]]])
    assert torch.equal(entropy_term(h, "paper"), h)
    mm = entropy_term(h, "minmax")
    assert math.isclose(float(mm.min()), 0.0) and math.isclose(float(mm.max()), 1.0)
    torch.testing.assert_close(entropy_term(h, "complement"), 1 - h)
    torch.testing.assert_close(entropy_term(h, "complement_minmax"), 1 - mm)
    with pytest.raises(ValueError, match="entropy_mode"):
        entropy_term(h, "nope")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"spatial_window": 4}, "spatial_window"),
        ({"past_window": 0}, "past_window"),
        ({"temporal_window": 0}, "temporal_window"),
        ({"tau": 0.0}, "tau"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        local_window_entropy(torch.ones(2, 3, 3, 4), **kwargs)


def test_bad_rank():
    with pytest.raises(ValueError, match="features"):
        local_window_entropy(torch.ones(3, 3, 4))

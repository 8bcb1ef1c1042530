import torch

from entropy_select.core import normalized_gradient, spatial_gradient_magnitude

from . import oracle


def test_matches_torch_gradient_and_oracle():
    x = torch.randn(3, 5, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    gy, gx = torch.gradient(x, dim=(1, 2))
    want = (gx.square().sum(-1) + gy.square().sum(-1)).sqrt()
    torch.testing.assert_close(spatial_gradient_magnitude(x), want, rtol=0, atol=1e-12)
    torch.testing.assert_close(normalized_gradient(x), oracle.gradient(x), rtol=0, atol=1e-12)


def test_degenerate_axes():
    x = torch.randn(2, 1, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(normalized_gradient(x), oracle.gradient(x), rtol=0, atol=1e-12)
    x = torch.randn(2, 4, 1, 3, dtype=torch.float64)
    torch.testing.assert_close(normalized_gradient(x), oracle.gradient(x), rtol=0, atol=1e-12)
    assert spatial_gradient_magnitude(torch.randn(1, 1, 1, 3)).eq(0).all()
    x = torch.randn(1, 2, 2, 3, dtype=torch.float64)  # size-2 axes: one-sided differences only
    torch.testing.assert_close(normalized_gradient(x), oracle.gradient(x), rtol=0, atol=1e-12)


def test_constant_video_has_zero_gradient():
    g = normalized_gradient(torch.full((2, 4, 4, 3), 7.0))
    assert g.eq(0).all()


def test_two_region_frame_peaks_on_boundary():
    x = torch.zeros(1, 6, 8, 4)
    x[:, :, 4:] = 1.0  # left half 0, right half 1: the boundary is between columns 3 and 4
    g = normalized_gradient(x)[0]
    assert torch.all(g[:, 3] == 1) and torch.all(g[:, 4] == 1)
    assert torch.all(g[:, :3] == 0) and torch.all(g[:, 5:] == 0)


def test_minmax_over_whole_video_and_per_batch_item():
    x = torch.randn(2, 3, 4, 4, 5, generator=torch.Generator().manual_seed(2))
    g = normalized_gradient(x)
    for b in range(2):
        torch.testing.assert_close(g[b], normalized_gradient(x[b]))
        assert float(g[b].min()) == 0 and float(g[b].max()) == 1


def test_chunked_equals_whole():
    x = torch.randn(5, 4, 4, 3)
    torch.testing.assert_close(
        spatial_gradient_magnitude(x, chunk_elements=1), spatial_gradient_magnitude(x)
    )

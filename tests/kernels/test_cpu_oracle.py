"""The CPU fast path against the float64 loop oracle (``tests/core/oracle.py``), not the reference.

The fast path imports neighbour offsets, window checks, the normalisation and the entropy term
from the reference, so CPU-vs-reference parity cannot see a fault in those: here every expected
value comes from the oracle, which shares no code with ``src/``.
"""

from __future__ import annotations

import pytest
import torch
from core import oracle
from core.strategies import MODES, configs, videos
from hypothesis import given, settings

import entropy_select as es
from entropy_select.kernels.cpu import (
    fused_scores_cpu,
    local_window_entropy_cpu,
    spatial_gradient_magnitude_cpu,
)

WINDOWS = [(5, 3, 3, 1.0), (3, 1, 1, 0.1), (7, 4, 5, 0.5), (1, 2, 3, 1.0), (3, 2, 1, 0.05)]


def _x(shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("chunk", [1, 1 << 23])
def test_window_entropy_equals_oracle(window, chunk):
    x = _x((4, 5, 7, 6), 1)
    x[1, 2:4, 3:6] = x[1, 2, 3].clone()  # a constant region
    x[2, 0, :3] = 0  # zero tokens
    out = local_window_entropy_cpu(x, *window, chunk_elements=chunk)
    torch.testing.assert_close(out, oracle.entropy(x, *window), rtol=0, atol=1e-12)


def test_window_entropy_of_a_batch_equals_oracle_per_video():
    x = _x((2, 3, 4, 5, 3), 2)
    out = local_window_entropy_cpu(x, 3, 2, 3, 0.5)
    for b in range(2):
        torch.testing.assert_close(out[b], oracle.entropy(x[b], 3, 2, 3, 0.5), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 5, 7, 4), (2, 1, 6, 3), (2, 6, 1, 3), (1, 1, 1, 2)])
@pytest.mark.parametrize("chunk", [1, 1 << 20])
def test_gradient_magnitude_equals_oracle(shape, chunk):
    x = _x(shape, 3)
    out = spatial_gradient_magnitude_cpu(x, chunk_elements=chunk)
    torch.testing.assert_close(out, oracle.gradient_magnitude(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_fused_scores_equal_oracle_for_every_mode(mode, alpha):
    x = _x((3, 5, 6, 8), 4)
    cfg = es.EntropySelectConfig(alpha=alpha, entropy_mode=mode, tau=0.1)
    score, entropy, gradient = fused_scores_cpu(x[None], cfg)
    s, h, g = oracle.score(x, cfg)
    torch.testing.assert_close(entropy[0], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(gradient[0], g, rtol=0, atol=1e-12)
    torch.testing.assert_close(score[0], s, rtol=0, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(videos(), configs())
def test_cpu_scores_equal_oracle_on_user_like_inputs(x, cfg):
    """Ties, constant regions, zero vectors, fp16/bf16 and D up to 1152, every entropy_mode."""
    tol = 1e-9 if x.dtype == torch.float64 else 2e-4
    score, entropy, gradient = fused_scores_cpu(x[None], cfg)
    s, h, g = oracle.score(x.double(), cfg)
    torch.testing.assert_close(entropy[0].double(), h, rtol=0, atol=tol)
    torch.testing.assert_close(gradient[0].double(), g, rtol=0, atol=10 * tol)
    span = float(h.max() - h.min())
    if "minmax" in cfg.entropy_mode and cfg.alpha > 0:
        if span < 1e3 * tol:  # min-max of a constant-up-to-rounding Ĥ is noise
            return
        tol = tol / span
    torch.testing.assert_close(score[0].double(), s, rtol=0, atol=10 * tol)


@pytest.mark.parametrize("rows", [1, 2, 3, 6])
def test_every_block_height_equals_oracle(rows):
    """Gram blocks of R token rows (R a divisor of H): the same Ĥ for every R, chunked or not."""
    x = _x((5, 6, 7, 5), 5)
    expected = oracle.entropy(x, 5, 3, 3, 0.5)
    for chunk in (1, 1 << 23):
        out = local_window_entropy_cpu(x, 5, 3, 3, 0.5, chunk_elements=chunk, rows_per_block=rows)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_block_height_must_divide_the_grid():
    with pytest.raises(ValueError, match="rows_per_block"):
        local_window_entropy_cpu(_x((2, 6, 7, 5)), rows_per_block=4)

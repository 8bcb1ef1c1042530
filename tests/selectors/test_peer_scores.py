"""Baselines' scores against loops written from their docstrings (the papers' formulas), and a
scale invariance every selector has (issue 17: mutation testing found these unguarded)."""

from __future__ import annotations

import math

import pytest
import torch

from entropy_select import selectors
from entropy_select.selectors.dycoke_ttm import reference_frames


def _video(shape=(6, 3, 4, 8), seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _cos(a, b):
    return float(a @ b) / max(float(a.norm()), 1e-12) / max(float(b.norm()), 1e-12)


def test_dycoke_scores_are_one_minus_cosine_to_the_reference_frame():
    x = _video()
    T, H, W, _ = x.shape
    sel = selectors.get("dycoke_ttm")(x, budget=T * H * W // 2)
    ref = reference_frames(T)
    for t in range(T):
        if ref[t] < 0:
            continue
        for i in range(H):
            for j in range(W):
                expected = 1 - _cos(x[t, i, j], x[ref[t], i, j])
                assert math.isclose(float(sel.scores[t, i, j]), expected, abs_tol=1e-12)


@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_vidcom2_scores_follow_the_gaussian_similarities(ratio):
    x = _video((4, 3, 3, 6), 1)
    T, H, W, D = x.shape
    scales = (0.125, 0.25, 0.5, 1.0, 2.0)
    sel = selectors.get("vidcom2", channel_ratio=ratio)(x, budget=10)
    tokens = [x[t, i, j] for t in range(T) for i in range(H) for j in range(W)]
    n = len(tokens)
    var = []
    for c in range(D):
        mean = sum(float(v[c]) for v in tokens) / n
        var.append(sum((float(v[c]) - mean) ** 2 for v in tokens) / n)
    channels = sorted(range(D), key=lambda c: (var[c], c))[: max(1, int(D * ratio))]
    xn = []
    for v in tokens:
        w = torch.stack([v[c] for c in channels])
        xn.append(w / max(float(w.norm()), 1e-12))
    video_mean = sum(xn) / n

    def gauss(a, mu):
        d = float(((a - mu) ** 2).sum())
        return sum(math.exp(-d / (2 * s)) for s in scales)

    m = H * W
    for t in range(T):
        frame = xn[t * m : (t + 1) * m]
        frame_mean = sum(frame) / m
        for p in range(m):
            expected = -(gauss(frame[p], video_mean) + gauss(frame[p], frame_mean))
            got = float(sel.scores[t, p // W, p % W])
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (t, p)


@pytest.mark.parametrize("name", selectors.available())
@pytest.mark.parametrize("power", [-12, 6])
def test_every_selector_ignores_a_global_scale(name, power):
    """Multiplying every feature by 2^p (exact in floating point) keeps the same tokens: all our
    selectors compare directions or relative magnitudes. Small scales catch clamps that assume
    norms near 1."""
    x = _video((5, 4, 6, 8), 2)
    for K in (3, 40, 120):
        a = selectors.get(name)(x, budget=K)
        b = selectors.get(name)(x * 2.0**power, budget=K)
        assert torch.equal(a.keep_index, b.keep_index), K
        torch.testing.assert_close(b.tokens, a.tokens * 2.0**power)


@pytest.mark.parametrize(("H", "W"), [(1, 1), (3, 7), (4, 4)])
def test_lattice_mask_gives_exactly_count_points(H, W):
    from entropy_select.selectors.base import lattice_mask

    for count in range(H * W + 1):  # 0 included: an empty frame, not an error
        assert int(lattice_mask(H, W, count).sum()) == count

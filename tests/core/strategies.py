"""Hypothesis strategies for features that users actually pass, not just i.i.d. Gaussians.

Drawn on top of a seeded Gaussian video: exact ties (values rounded to a few levels), constant
regions (a box of tokens sharing one vector), zero vectors, repeated frames, half precision
(float16/bfloat16) and realistic channel counts (D up to 1152, SigLIP's width) on small grids.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import entropy_select as es

DTYPES = (torch.float64, torch.float64, torch.float32, torch.float16, torch.bfloat16)
WIDE_D = (1, 2, 3, 5, 8, 16, 64, 1152)
MODES = ("paper", "minmax", "complement", "complement_minmax")


@st.composite
def videos(draw, max_t=4, max_hw=6, dims=WIDE_D, dtypes=DTYPES, max_tokens=72):
    """A ``[T, H, W, D]`` video with ties, constant regions and zero vectors (each drawn)."""
    T = draw(st.integers(1, max_t))
    H = draw(st.integers(1, max_hw))
    W = draw(st.integers(1, max(1, min(max_hw, max_tokens // (T * H)))))
    D = draw(st.sampled_from(dims))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(T, H, W, D, dtype=torch.float64, generator=gen)
    if draw(st.booleans()):  # exact ties: a few levels only
        x = torch.round(x * 2) / 2
    for _ in range(draw(st.integers(0, 2))):  # constant regions
        t0, i0, j0 = (draw(st.integers(0, n - 1)) for n in (T, H, W))
        t1, i1, j1 = (draw(st.integers(a + 1, n)) for a, n in ((t0, T), (i0, H), (j0, W)))
        x[t0:t1, i0:i1, j0:j1] = x[t0, i0, j0].clone()
    if draw(st.booleans()):  # zero vectors
        zero = torch.rand(T, H, W, generator=gen) < draw(st.sampled_from([0.1, 0.5, 1.0]))
        x[zero] = 0
    if T > 1 and draw(st.booleans()):  # a repeated frame
        t = draw(st.integers(1, T - 1))
        x[t] = x[t - 1]
    return x.to(draw(st.sampled_from(dtypes)))


@st.composite
def configs(draw, fusion=None):
    """An EntropySelectConfig over every field that changes the choice (every entropy_mode)."""
    return es.EntropySelectConfig(
        spatial_window=draw(st.sampled_from([1, 3, 5])),
        temporal_window=draw(st.integers(1, 3)),
        past_window=draw(st.sampled_from([1, 3])),
        tau=draw(st.sampled_from([0.05, 0.1, 1.0])),
        alpha=draw(st.sampled_from([0.0, 0.5, 1.0])),
        top_q=draw(st.sampled_from([0.3, 1.0])),
        min_frame_tokens=draw(st.integers(0, 5)),
        max_frame_tokens=draw(st.one_of(st.none(), st.integers(1, 8))),
        grid=draw(st.integers(1, 4)),
        coverage=draw(st.sampled_from([0.0, 0.5, 1.0])),
        grid_fusion=draw(st.booleans()) if fusion is None else fusion,
        entropy_mode=draw(st.sampled_from(MODES)),
    )


@st.composite
def tied_scores(draw, T, H, W, levels=(0.0, 0.125, 0.25, 0.5, 1.0)):
    """``[T, H, W]`` float64 scores from a few dyadic levels: many exact ties, constant regions,
    and sums that are exact in float64 (so the oracle and the library order cells identically)."""
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    lv = torch.tensor(draw(st.lists(st.sampled_from(levels), min_size=1, max_size=3)))
    s = lv[torch.randint(len(lv), (T, H, W), generator=gen)].double()
    if draw(st.booleans()):
        s[:, : max(1, H // 2)] = lv[0]
    return s

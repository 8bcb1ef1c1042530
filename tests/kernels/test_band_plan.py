"""The window (band) kernel's launch plan and code options (``BAND_TUNING``), on the CPU.

The plan's choices are plain Python (``window_entropy._band_plan``, ``_video_band_plan``); the
options' outputs are checked against the reference under Triton's interpreter. The GPU parity of
every option is ``test_triton_parity.py::test_window_entropy_and_gradient_match_float64``.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from interpreted import run_interpreted

pytest.importorskip("triton")

from entropy_select.kernels.triton import window_entropy as we  # noqa: E402

CUDA = torch.device("cuda")  # a device object only: nothing here touches a GPU
PAPER = (5, 3, 3)


@pytest.mark.parametrize(
    ("rows", "split", "tiles"),
    [
        (312, True, (256, 64)),  # 64 tokens at 14x14: two tiles of 320 rows, not 512
        (328, True, (256, 128)),  # 64 tokens at 16x16
        (320, True, (256, 64)),  # 32 tokens at 27x27
        (216, True, (256, 0)),  # 32 tokens at 14x14: 128 + 128 is no fewer than 256
        (416, True, (512, 0)),  # 256 + 256 neither
        (312, False, (512, 0)),
        (20, True, (32, 0)),
        (3, True, (16, 0)),  # a dot needs 16 rows
    ],
)
def test_band_tiles_split_only_where_two_powers_of_two_are_fewer_rows(rows, split, tiles):
    assert we._band_tiles(rows, split) == tiles
    nr, nr_b = tiles
    assert nr + nr_b >= rows


def test_rows_of_a_tile_follow_the_windows():
    # 64 + 2·(2·14 + 2) in the frame, then two past frames of 64 + 2·(14 + 1)
    assert we._band_rows_count(64, 14, *PAPER) == 64 + 60 + 2 * 94
    assert we._band_rows_count(32, 27, *PAPER) == 320
    assert we._band_rows_count(16, 5, 1, 1, 1) == 16


@pytest.mark.parametrize(
    ("programs", "chunks", "splits"),
    # the fastest of 1-3 slices at each shape the H200 timed (benchmarks/NOTES_gpu.md, Round 12):
    # 16 / 32 / 64 frames of 14x14x3584 (49 / 98 / 196 tiles of 64, 56 chunks), 1,024 frames of
    # 14x14x1152 (3,136 tiles, 18 chunks), 16 frames of 16x16x3584 (64 tiles)
    [(49, 56, 2), (98, 56, 1), (196, 56, 2), (3136, 18, 1), (64, 56, 2)],
)
def test_wide_splits_pick_the_measured_fastest(programs, chunks, splits):
    assert we._wide_splits(programs, chunks, 132) == splits


def test_wide_splits_stay_within_the_chunks():
    assert we._wide_splits(1, 1, 132) == 1
    assert we._wide_splits(1, 3, 132) == 3
    assert all(
        1 <= we._wide_splits(p, c, 132) <= min(c, 8) for p in (1, 7, 500) for c in (1, 9, 56)
    )


@pytest.fixture
def sms(monkeypatch):
    """132 multiprocessors on a "cuda" device, without a GPU."""
    monkeypatch.setattr(we, "_sm_count", lambda device: 132)


def _plan(shape, device=CUDA, wide=True, split=True, itemsize=2, block_m=None):
    T, H, W, D = shape
    return we._band_plan(
        1, T * H * W, D, W, itemsize, device, *PAPER, 64, block_m, None, None, split, wide
    )


@pytest.mark.parametrize(
    ("shape", "block_m", "nr", "nr_b", "splits"),
    [
        ((16, 14, 14, 3584), 64, 256, 64, 2),
        ((64, 14, 14, 3584), 64, 256, 64, 2),
        ((1024, 14, 14, 1152), 64, 256, 64, 1),
        ((16, 16, 16, 3584), 64, 256, 128, 2),
        ((16, 27, 27, 1152), 32, 256, 64, 1),  # 64 tokens would need 512 rows: 32, split
    ],
)
def test_the_plan_takes_wide_tiles_where_their_rows_fit(sms, shape, block_m, nr, nr_b, splits):
    plan = _plan(shape)
    assert (plan[0], plan[2], plan[8], plan[6]) == (block_m, nr, nr_b, splits)


def test_wide_tiles_only_on_a_gpu_and_when_asked(sms):
    assert _plan((16, 14, 14, 3584), device=torch.device("cpu"))[0] == 32
    assert _plan((16, 14, 14, 3584), wide=False)[0] == 32
    assert _plan((16, 14, 14, 3584), block_m=16)[0] == 16  # an explicit geometry wins


@pytest.mark.parametrize("itemsize", [2, 4])
@pytest.mark.parametrize("split", [False, True])
def test_channels_a_step_are_a_power_of_two_within_64_kb(sms, itemsize, split):
    for W in range(1, 41):
        block_m, block_d, nr, *_, nr_b = _plan((4, 6, W, 512), split=split, itemsize=itemsize)
        assert block_d & (block_d - 1) == 0 and 16 <= block_d <= 64, (W, block_d)
        assert (nr + nr_b) * block_d * itemsize <= 64 << 10 or block_d == 16, (W, block_d)
    # float32 at 64 tokens, 14x14: 320 rows of 4 bytes hold 51 channels in 64 KB, so 32
    assert _plan((16, 14, 14, 3584), itemsize=4)[1] == 32


@pytest.mark.parametrize(
    ("limit", "shape", "stages"),
    [
        (232448, (16, 14, 14, 3584), 3),  # H100 / H200: 227 KB
        (232448, (16, 40, 40, 1152), 3),
        (166912, (16, 14, 14, 3584), 3),  # A100: 163 KB
        (166912, (16, 16, 16, 3584), 2),  # 3 x 448 rows x 64 x 2 bytes = 168 KB
        (101376, (16, 14, 14, 3584), 2),  # RTX 4090, L4, L40S, A10: 99 KB
        (None, (16, 40, 40, 1152), 3),  # the interpreter: no limit
    ],
)
def test_three_stages_only_where_they_fit_the_shared_memory(sms, monkeypatch, limit, shape, stages):
    """Three stages of the band tiles (Round 12) would not fit a 99 KB GPU's shared memory at
    14x14 (Triton's OutOfResources); there the plan takes two, as before."""
    monkeypatch.setattr(we, "_shared_memory", lambda device: limit)
    we._video_band_plan.cache_clear()  # plans are cached per shape, not per limit
    x = torch.empty(1, *shape, dtype=torch.bfloat16)
    plan = we._video_band_plan(
        x.shape, x.stride(), x.dtype, CUDA, *PAPER, None, None, None, None, None, False, False
    )
    we._video_band_plan.cache_clear()
    assert plan[3].kwargs["num_stages"] == stages
    if limit is not None:  # more stages than fit fall back to two; two are never cut
        assert we._stages(4, 10**6, 64, 2, CUDA) == 2 == we._stages(2, 10**6, 64, 2, CUDA)


def _kwargs(x, tune=()):
    x = x.unsqueeze(0)
    plan = we._video_band_plan(
        x.shape, x.stride(), x.dtype, x.device, *PAPER, None, None, None, None, None, False,
        False, tune,
    )  # fmt: skip
    return plan[3].kwargs


def test_the_options_reach_the_kernel_and_all_off_is_round_11s_kernel():
    x = torch.empty(4, 14, 14, 256)
    on = _kwargs(x)
    assert on["GRAD2D"] and on["EVEN_D"] and on["GRAD_GRAM"] and on["num_stages"] == 3
    assert "NR_B" not in on  # 32 tokens at 14x14 on the CPU: one tile of 256 is as tight
    off = _kwargs(x, tuple((name, False) for name in we.BAND_TUNING))
    assert not {"GRAD2D", "EVEN_D", "NR_B", "GRAD_GRAM"} & set(off) and off["num_stages"] == 2
    assert "EVEN_D" not in _kwargs(torch.empty(4, 14, 14, 250))  # 250 = 3·64 + 58
    assert _kwargs(torch.empty(2, 27, 27, 64))["NR_B"] == 64


@pytest.mark.parametrize(
    ("windows", "gram"),
    [((5, 3, 3), True), ((7, 1, 1), True), ((3, 3, 3), False), ((1, 1, 1), False)],
)
def test_the_gradient_comes_from_the_dots_only_where_the_window_holds_them(windows, gram):
    """``grad_gram`` needs the dots of offsets (0, ±2) and (±2, 0): a spatial window of 5 or
    more; smaller windows keep the band kernel's gradient loads, and the plan says which the
    finish pass must take."""
    x = torch.empty(1, 4, 6, 6, 32)
    plan = we._video_band_plan(
        x.shape, x.stride(), x.dtype, x.device, *windows, None, None, None, None, None, False,
        False,
    )  # fmt: skip
    assert plan[4] is gram and plan[3].kwargs.get("GRAD_GRAM", False) is gram


def test_an_unknown_option_is_refused():
    x = torch.empty(2, 5, 5, 16)
    with pytest.raises(ValueError, match="unknown band kernel tuning 'off32'"):
        we.window_entropy_and_gradient_triton(x, tune={"off32": True})


_INTERP_OPTIONS = textwrap.dedent(
    """
    import itertools, torch
    from entropy_select.core.entropy import local_window_entropy
    from entropy_select.core.gradient import spatial_gradient_magnitude
    from entropy_select.kernels.triton import window_entropy as we
    torch.manual_seed(0)
    cases = [  # (features, windows, tokens a program, a second tile expected)
        (torch.randn(2, 3, 3, 4, 40)[..., ::2], (5, 3, 3), 16, True),  # D = 20: a channel mask
        (torch.randn(1, 3, 4, 3, 32).transpose(2, 3), (5, 3, 3), None, True),  # no FLAT
        (torch.randn(2, 3, 3, 5, 18), (7, 4, 5), 16, True),
        (torch.randn(1, 3, 3, 4, 16), (1, 1, 1), 16, False),
        (torch.randn(1, 2, 14, 14, 32), (5, 3, 3), 64, True),  # the wide tile: 256 + 64 rows
    ]
    for x, win, bm, two in cases:
        ref_e = local_window_entropy(x.double(), *win)
        ref_g = spatial_gradient_magnitude(x.double())
        tunes = [dict(zip(["split_tile", "even_d", "grad2d"], combo))
                 for combo in itertools.product([False, True], repeat=3)]
        for tune in tunes + [{"grad_gram": False}, {"grad_gram": False, "grad2d": False}]:
            tune = {"split_tile": True, "even_d": True, "grad2d": True, **tune}
            seen = []
            site_call = we.Site.__call__
            we.Site.__call__ = lambda site, *a: (seen.append(site.kwargs), site_call(site, *a))[1]
            try:
                e, g = we.window_entropy_and_gradient_triton(x, *win, block_m=bm, block_d=16,
                                                             tune=tune)
            finally:
                we.Site.__call__ = site_call
            assert ("NR_B" in seen[0]) == (two and tune["split_tile"]), (x.shape, tune, seen[0])
            gram = tune.get("grad_gram", True) and win[0] >= 5  # the band and finish kernels
            assert seen[0].get("GRAD_GRAM", False) == gram == seen[1].get("GRAD_GRAM", False)
            assert (e.double() - ref_e).abs().max() < 1e-5, (x.shape, win, tune)
            assert (g.double() - ref_g).abs().max() < 1e-5, (x.shape, win, tune)
    print("ok")
    """
)


_INTERP_GRAD_GRAM = textwrap.dedent(
    """
    import torch
    from entropy_select.core.gradient import spatial_gradient_magnitude
    from entropy_select.kernels.triton import window_entropy as we
    torch.manual_seed(0)
    for shape in [(1, 2, 1, 7, 16), (1, 2, 6, 1, 16), (1, 2, 2, 2, 16), (1, 1, 1, 1, 8),
                  (2, 3, 3, 5, 24), (1, 2, 14, 14, 32)]:  # a row, a column, 2x2, one token
        x = torch.randn(*shape)
        ref = spatial_gradient_magnitude(x.double())
        for win in [(5, 3, 3), (7, 2, 3)]:
            _, g = we.window_entropy_and_gradient_triton(x, *win)
            _, loads = we.window_entropy_and_gradient_triton(x, *win, tune={"grad_gram": False})
            scale = max(1.0, ref.abs().max().item())
            assert (g.double() - ref).abs().max() < 2e-6 * scale, (shape, win)
            assert (g - loads).abs().max() < 2e-6 * scale, (shape, win)
    # identical neighbours: ‖a‖² + ‖b‖² − 2⟨a, b⟩ of equal vectors is the same dots in the same
    # order, so exactly 0, as the reference's difference is: a frame of one colour, and the
    # top rows of a frame (a letterbox bar) whose neighbours up to row 3 are one vector
    for dtype in (torch.float32, torch.float16):
        x = torch.randn(2, 3, 1, 1, 16).to(dtype).expand(2, 3, 5, 6, 16).contiguous()
        _, g = we.window_entropy_and_gradient_triton(x)
        assert torch.equal(g, torch.zeros_like(g)), (dtype, g.abs().max())
        x = torch.randn(1, 3, 6, 7, 16).to(dtype)
        x[:, :, :4] = x[:, :, :1, :1]
        _, g = we.window_entropy_and_gradient_triton(x)
        assert torch.equal(g[:, :, :3], torch.zeros_like(g[:, :, :3])), g[:, :, :3].abs().max()
        assert (g[:, :, 3:] > 0).all()
    print("ok")
    """
)


def test_the_gradient_from_the_dots_equals_the_reference_under_the_interpreter():
    """``grad_gram`` (the default): the finish pass's ``‖a‖² + ‖b‖² − 2⟨a, b⟩`` equals the
    reference's gradient and the band kernel's own (loads) within float32 rounding, at the frame
    edges' one-sided differences, single rows, columns and tokens, and is exactly 0 between
    identical tokens (a flat frame, a letterbox bar), as the reference is."""
    run_interpreted(_INTERP_GRAD_GRAM)


def test_every_option_equals_the_reference_under_the_interpreter():
    """Each combination of the kernel's code options (a second tile, no channel mask, the
    elementwise gradient sums) against the float64 reference, with the second tile checked to
    be used where it should be."""
    run_interpreted(_INTERP_OPTIONS)

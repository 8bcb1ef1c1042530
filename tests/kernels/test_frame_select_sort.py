"""The frame kernel's orders by sorts (``algo="sort"``) against the pairwise kernel it replaced
and against the core (SPEC §5-7): exact ties (lower index first), negative scores, ``-0.0`` next
to ``0.0``, every mode, ``m`` not a power of two, ``m = 1``, a 27x27 frame, ``K = 1`` and ``K = N``.

Under the Triton interpreter in a fresh process on CPU (the flag is read when triton is
imported); the same checks on a GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from interpreted import run_interpreted, run_interpreted_side_by_side

pytest.importorskip("triton")

MODES = [("select", "mean"), ("fusion", "mean"), ("fusion", "score"), ("context", "mean")]


def _scores(kind: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(*shape, generator=g)
    if kind == "ties":  # a handful of distinct values
        s = (s * 4).round() / 4
    elif kind == "negative":
        s = -(s * 3).round() - 0.5 * (s > 0.9)
    elif kind == "signed_zero":  # -0.0 and 0.0 compare equal: ties by index
        s = (s * 3).round() - 1
        flip = torch.rand(*shape, generator=g) < 0.5
        s = torch.where(flip & (s == 0), torch.tensor(-0.0), s)
        s.view(-1)[0], s.view(-1)[-1] = 0.0, -0.0  # both, even in a tiny frame
    return s


def merged_reference(x, keep_index, assignment, weights):
    """The output tokens in float64 from the kernel's own assignment and weights: each slot's
    ``Σ w·x / Σ w`` (a kept token alone, weight 1), and for the rounding bound each slot's
    ``Σ |w·x| / Σ w``, ``Σ |w| / Σ w`` and member count."""
    B, K = keep_index.shape
    D = x.shape[-1]
    xs = x.reshape(B, -1, D).double()
    num = torch.zeros(B, K + 1, D, dtype=torch.float64)
    mag = torch.zeros(B, K + 1, D, dtype=torch.float64)
    den = torch.zeros(B, K + 1, dtype=torch.float64)
    wmag = torch.zeros(B, K + 1, dtype=torch.float64)
    cnt = torch.zeros(B, K + 1, dtype=torch.float64)
    for b in range(B):
        slot = torch.where(assignment[b] >= 0, assignment[b], K).cpu()
        w = weights[b].double().cpu()
        num[b].index_add_(0, slot, w[:, None] * xs[b].cpu())
        mag[b].index_add_(0, slot, (w[:, None] * xs[b].cpu()).abs())
        den[b].index_add_(0, slot, w)
        wmag[b].index_add_(0, slot, w.abs())
        cnt[b].index_add_(0, slot, torch.ones_like(w))
    den = den[:, :K, None]
    return num[:, :K] / den, mag[:, :K] / den, wmag[:, :K, None] / den, cnt[:, :K, None]


def assert_merged_tokens_close(tokens, x, keep_index, assignment, weights, what=""):
    """Tokens within the rounding of a float32 weighted mean stored in their dtype: ``|t − ref|
    <= u·|ref| + (n + 3)·2⁻²⁴·(Σ|w·x| + |ref|·Σ|w|)/Σw`` against the float64 mean ``ref`` of the
    same members (``u``: the output dtype's unit roundoff, 2⁻⁸ for bfloat16; ``n``: the slot's
    member count). A float32 sum of ``n`` terms in any order errs by at most
    ``(n − 1)·2⁻²⁴·Σ|terms|``: the two sums, then the division and the product add a few
    units. Both token paths (gathered and scanned) must meet it, in whatever order they sum.
    (Triton's interpreter converts float32 to bfloat16 by truncation: ``u`` doubles there.)"""
    ref, mag, wmag, cnt = merged_reference(x, keep_index, assignment, weights)
    u = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}[tokens.dtype]
    if tokens.device.type == "cpu" and tokens.dtype == torch.bfloat16:
        u *= 2
    bound = u * ref.abs() + (cnt + 3) * 2.0**-24 * (mag + ref.abs() * wmag)
    err = (tokens.double().cpu() - ref).abs()
    assert (err <= bound).all(), (what, float((err - bound).max()), float(err.max()))


def check_against_pairwise_and_core(
    shape, kinds, device="cpu", dtype=torch.float32, fusion_grid=3, share=0.5, strided=False,
    **geometry,
) -> int:  # fmt: skip
    """Every output of the sorted kernel equals the pairwise kernel's (its tokens through the
    scan exactly; gathered merged tokens within the rounding of the sum's order), and the keep
    mask and index equal the core's; returns how many cases ran."""
    from entropy_select.core.allocation import allocate_frame_budget
    from entropy_select.core.grid import grid_quota_topk
    from entropy_select.core.select import mask_to_index
    from entropy_select.kernels.triton.frame_select import frame_select_triton

    B, T, H, W = shape
    N = T * H * W
    x = torch.randn(B, T, H, W, 24, generator=torch.Generator().manual_seed(5)).to(device, dtype)
    if strided:  # strided in H, W and D
        x = torch.randn(B, T, W, H, 48, generator=torch.Generator().manual_seed(5))
        x = x.to(device, dtype).transpose(2, 3)[..., ::2]
    # Triton's interpreter multiplies bfloat16 operands of tl.dot as their raw 16-bit integers
    # (seen with triton 3.9), so the scanned merged tokens are checked on the GPU only
    interpreter_bf16 = device == "cpu" and dtype == torch.bfloat16
    cases = 0
    for seed, kind in enumerate(kinds):
        s = _scores(kind, shape, seed).to(device)
        for K in sorted({1, max(1, N // 3), N}):
            fb = allocate_frame_budget(s.abs(), K)
            for mode, weight in MODES:
                kw = dict(mode=mode, weight=weight, features=x, fusion_grid=fusion_grid)
                kw.update(share=share, **geometry)
                new = frame_select_triton(s, fb, K, algo="sort", **kw)
                scan = frame_select_triton(s, fb, K, algo="sort", token_output="scan", **kw)
                old = frame_select_triton(s, fb, K, algo="pairwise", **kw)
                names = ("keep", "index", "tokens", "assign", "weights")
                what = (shape, kind, K, mode, weight, dtype)
                for name, a, c, b in zip(names, new, scan, old, strict=True):
                    assert (a is None) == (b is None) and (c is None) == (b is None)
                    if name == "tokens" and mode == "select":  # copies: exact
                        assert torch.equal(a, b) and torch.equal(c, b), what
                    elif name == "tokens" and device != "cpu":  # another compiled kernel
                        tol = 1e-6 * float(x.float().abs().max())
                        torch.testing.assert_close(c, b, atol=tol, rtol=1e-6)
                    elif name != "tokens":
                        assert a is None or torch.equal(a, b), (what, name)
                        assert c is None or torch.equal(c, b), (what, name)
                    elif not interpreter_bf16:
                        assert torch.equal(c, b), what
                if mode != "select":
                    for tokens in (new[2],) if interpreter_bf16 else (new[2], scan[2]):
                        assert_merged_tokens_close(tokens, x, *new[1:2], *new[3:], what=what)
                if mode == "select":
                    ref = grid_quota_topk(s, fb, 4, 0.5)
                    assert torch.equal(new[0], ref), (shape, kind, K)
                    assert torch.equal(new[1], mask_to_index(ref.flatten(-3), K))
                cases += 1
    return cases


_HEADER = """
import sys
sys.path.insert(0, {here!r})
import torch
from test_frame_select_sort import check_against_pairwise_and_core
n = 0
"""
# The interpreter's checks in four parts that run side by side (one Python each; together
# they took 443 s on one core of the 2-core CI-like machine).
_PARTS = [
    """
for shape in [(2, 2, 5, 7), (1, 3, 1, 1), (1, 1, 1, 3)]:
    n += check_against_pairwise_and_core(shape, ["ties", "negative", "signed_zero", "rand"])
""",
    """
n += check_against_pairwise_and_core((1, 1, 27, 27), ["signed_zero"])  # ties, too
n += check_against_pairwise_and_core(  # gathers of one row a group (block_j < block_g)
    (1, 2, 5, 7), ["ties"], block_i=16, block_j=16, splits=3, block_g=64, num_warps=2
)
""",
    # merged tokens gathered: bfloat16; one fused cell (every absorbed token one group, uneven
    # context runs); nothing merged (share 0.01: no merged slot) and every slot merged (share
    # 1); fusion_grid = grid; many lanes a group (block_j 128, 16 groups a tile)
    """
n += check_against_pairwise_and_core((2, 2, 6, 7), ["ties", "rand"], dtype=torch.bfloat16)
n += check_against_pairwise_and_core((1, 2, 9, 7), ["ties"], fusion_grid=1, share=0.7)
""",
    """
n += check_against_pairwise_and_core((1, 2, 6, 5), ["rand"], share=0.01)
n += check_against_pairwise_and_core((1, 2, 6, 5), ["negative"], share=1.0, fusion_grid=4)
n += check_against_pairwise_and_core((1, 1, 12, 11), ["rand"], block_j=128, block_g=16)
n += check_against_pairwise_and_core((1, 2, 5, 6), ["rand"], strided=True, splits=2)
""",
]


def test_sorted_frame_kernel_equals_pairwise_and_core_under_the_interpreter():
    header = _HEADER.format(here=str(Path(__file__).resolve().parent))
    codes = [header + part + 'print("ok", n)\n' for part in _PARTS]
    run_interpreted_side_by_side(codes, timeout=900)


_NAN = """
import torch
from entropy_select.core.allocation import allocate_frame_budget
from entropy_select.core.grid import grid_quota_topk
from entropy_select.kernels.triton.frame_select import frame_select_triton
s = (torch.rand(1, 2, 6, 5) * 4).round() / 4
s[0, 0, 1, 1] = s[0, 0, 3, 2] = s[0, 1, 0, 0] = float("nan")
fb = torch.tensor([[6, 9]])
for mode in ("select", "fusion", "context"):
    keep, idx, _, assign, _ = frame_select_triton(s, fb, 15, mode=mode)
    assert keep.flatten(2).sum(-1).tolist() == [[6, 9]], (mode, keep)
    assert idx.unique().numel() == 15
if True:
    keep, idx, _, _, _ = frame_select_triton(s, fb, 15)
    assert torch.equal(keep, grid_quota_topk(s, fb, 4, 0.5))  # NaN first, like torch.sort
print("ok")
"""


def test_nan_scores_keep_exactly_the_budget_under_the_interpreter():
    """NaN scores (unchecked NaN features) still keep exactly ``B_f`` tokens a frame, in the
    order of a stable descending ``torch.sort`` (NaN first); the pairwise order ranked every
    NaN first at once."""
    run_interpreted(_NAN)


_EDGE_KINDS = ["ties", "negative", "signed_zero", "rand"]
_BF16 = {"dtype": torch.bfloat16}
# (shape, kinds, options, budgets a shape): the default launch geometry on the edge cases, then
# the gathered tokens in bfloat16 (scanned ones too: the interpreter cannot check them), strided
# features, one fused cell, gathers of 16 groups x 8 lanes. One case a test, so that xdist
# spreads them (together they ran past a 440 s limit on one worker).
_GPU_CASES = {
    "edges_2x3x5x7": ((2, 3, 5, 7), _EDGE_KINDS, {}, 3),
    "edges_1x1x1x1": ((1, 1, 1, 1), _EDGE_KINDS, {}, 1),  # N = 1: one budget
    "edges_1x16x14x14": ((1, 16, 14, 14), _EDGE_KINDS, {}, 3),
    "bf16_2x4x14x14": ((2, 4, 14, 14), ["ties", "rand"], _BF16, 3),
    "bf16_strided_27x27": ((1, 3, 27, 27), ["rand"], {"strided": True, **_BF16}, 3),
    "bf16_one_fused_cell": ((1, 2, 9, 7), ["ties"], {"fusion_grid": 1, **_BF16}, 3),
    "bf16_block_g16": ((1, 2, 14, 14), ["rand"], {"block_g": 16, **_BF16}, 3),
}


@pytest.mark.cuda
@pytest.mark.slow  # ~60 s each on an H200, warm cache: scripts/device_check.sh runs them apart
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("case", list(_GPU_CASES))
def test_sorted_frame_kernel_equals_pairwise_and_core_on_the_gpu(case):
    """The sorted kernel against the pairwise kernel and the core on the GPU
    (``benchmarks/profile_frame.py`` checks every geometry's outputs against the pairwise
    kernel's on 14x14 and 27x27 frames)."""
    shape, kinds, options, budgets = _GPU_CASES[case]
    n = check_against_pairwise_and_core(shape, kinds, device="cuda", **options)
    assert n == budgets * len(kinds) * len(MODES)


def test_token_output_option_is_checked():
    from entropy_select.kernels.triton.frame_select import frame_select_triton

    s = torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match="token_output"):
        frame_select_triton(s, torch.tensor([[5]]), 5, token_output="dense")


def test_context_pooling_tile_follows_the_groups_a_frame(monkeypatch):
    """Context pooling's gathered output takes tiles of 16 / 32 / 64 groups by the mean groups
    a frame (``context_share · K / T``; measured, ``context_block_g``); an explicit ``block_g``,
    the scanned output and the other modes keep theirs."""
    from entropy_select.kernels.triton import frame_select as fs

    assert [fs.context_block_g(g) for g in (0.5, 7.4, 16, 16.5, 32, 33, 73.5)] == [
        16, 16, 16, 32, 32, 64, 64,
    ]  # fmt: skip
    seen = []
    monkeypatch.setattr(
        fs.Site, "__call__", lambda site, grid, *a: seen.append(site.kwargs["BLOCK_G"])
    )
    T, H, W = 4, 14, 14
    s = torch.rand(1, T, H, W)
    x = torch.randn(1, T, H, W, 8)
    for K, opts, want in [
        (40, {}, 16),  # 0.75 · 40 / 4 = 7.5 groups a frame
        (100, {}, 32),  # 18.75
        (300, {}, 64),  # 56.25
        (40, {"block_g": 64}, 64),
        (40, {"token_output": "scan"}, 64),
    ]:
        fb = torch.full((1, T), K // T, dtype=torch.int64)
        fs.frame_select_triton(s, fb, K, mode="context", share=0.75, features=x, **opts)
        assert seen.pop() == want, (K, opts)
    fs.frame_select_triton(s, torch.full((1, T), 10), 40, mode="fusion", features=x)
    assert seen.pop() == 16  # 4x4 fused cells fit one tile of 16


def test_flat_frames_address_tokens_without_division(monkeypatch):
    """``FLAT_HW`` (a token's offset ``tok·sxw``, no division by ``W``) is on exactly where the
    frame's rows follow each other at the token stride (``sxh = W·sxw``: contiguous features,
    a channel-strided view of them); transposed frames keep the row/column offsets. Parity with
    the core for both is ``check_against_pairwise_and_core``'s (dense and ``strided=True``)."""
    from entropy_select.kernels.triton import frame_select as fs

    seen = []
    monkeypatch.setattr(fs.Site, "__call__", lambda site, grid, *a: seen.append(site.kwargs))
    s = torch.rand(1, 2, 5, 6)
    fb = torch.full((1, 2), 4, dtype=torch.int64)
    base = torch.randn(1, 2, 5, 6, 16)
    layouts = {
        "contiguous": (base, True),
        "channel-strided": (base[..., ::2], True),
        "transposed": (torch.randn(1, 2, 6, 5, 8).transpose(2, 3), False),
    }
    for name, (x, flat) in layouts.items():
        fs.frame_select_triton(s, fb, 8, features=x)
        assert seen.pop().get("FLAT_HW", False) is flat, name
    fs.frame_select_triton(s, fb, 8)  # no features: no tokens to address
    assert "FLAT_HW" not in seen.pop()

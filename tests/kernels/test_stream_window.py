"""The streaming window kernel (``stream_window_entropy_and_gradient_triton``): the last frame's
``Ĥ`` and ``G`` of a window whose past frames sit in a ring buffer equal the offline kernel's on
the stacked window and the float64 reference. On a GPU (``cuda`` marker) and under Triton's
interpreter on the CPU (float32 and float16; the interpreter's bfloat16 dot is not exact enough
to judge, see the GPU test for bfloat16)."""

from __future__ import annotations

import pytest
import torch
from interpreted import run_interpreted

pytest.importorskip("triton")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# (T, H, W, D, spatial, temporal, past): odd sizes, a window wider than the frame, K_t = 1
CASES = [
    (5, 4, 5, 16, 5, 3, 3),
    (6, 3, 7, 20, 3, 4, 1),
    (4, 5, 4, 24, 5, 1, 3),
    (5, 2, 3, 40, 5, 2, 3),
]

_CHECK = """
import torch
from entropy_select.core.entropy import local_window_entropy
from entropy_select.core.gradient import spatial_gradient_magnitude
from entropy_select.kernels.triton.window_entropy import (
    stream_window_entropy_and_gradient_triton as stream_kernel,
    window_entropy_and_gradient_triton as offline_kernel,
)

def check(device, dtypes, cases):
    torch.manual_seed(0)
    for T, H, W, D, ks, kt, kp in cases:
        for dtype in dtypes:
            B, S = 2, max(kt - 1, 1)
            x = torch.randn(B, T, H, W, D, device=device).to(dtype)
            ring = torch.full((B, S, H, W, D), float("nan"), device=device, dtype=dtype)
            head = S - 1
            for t in range(T):
                held = min(t, kt - 1)
                frame = x[:, t].transpose(1, 2).contiguous().transpose(1, 2)  # strided
                past = ring if held else None
                e, g, n = stream_kernel(frame, past, head, held, ks, kt, kp, 0.7)
                assert n.tolist() == [0] * B, n  # the ring's stale slots (NaN) are not read
                lo = t - held
                ef, gf = offline_kernel(x[:, lo : t + 1], ks, kt, kp, 0.7)
                assert e.shape == g.shape == (B, 1, H, W)
                atol = 3e-6 if dtype == torch.float32 else 1e-5
                torch.testing.assert_close(e[:, 0], ef[:, -1], atol=atol, rtol=0)
                torch.testing.assert_close(g[:, 0], gf[:, -1], atol=1e-5, rtol=1e-5)
                ref = local_window_entropy(x[:, lo : t + 1].double(), ks, kt, kp, 0.7)[:, -1]
                err = (e[:, 0].double() - ref).abs().max().item()
                assert err < (1e-5 if dtype == torch.float32 else 2e-3), err
                gref = spatial_gradient_magnitude(x[:, t : t + 1].double())[:, 0]
                torch.testing.assert_close(g[:, 0].double(), gref, atol=1e-3, rtol=1e-2)
                if kt > 1:  # the ring's next slot takes this frame (stale slots hold NaN)
                    head = (head + 1) % S
                    ring[:, head] = x[:, t]
            bad = x[:, -1].clone()  # NaN/inf counted per stream, wherever they sit
            bad[0, 0, 0, 0] = float("nan")
            bad[0, H - 1, W - 1, D - 1] = float("inf")
            bad[1, H // 2, 0, D // 2] = -float("inf")
            n = stream_kernel(bad, None, 0, 0, ks, kt, kp, 0.7)[2]
            assert n.tolist() == [2, 1], n
"""


def test_stream_window_kernel_under_the_interpreter():
    script = _CHECK + f"\ncheck('cpu', [torch.float32, torch.float16], {CASES!r})\nprint('ok')\n"
    run_interpreted(script)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", [*CASES, (4, 14, 14, 1152, 5, 3, 3), (3, 27, 27, 256, 5, 3, 3)])
def test_stream_window_kernel_on_cuda(case, dtype):
    # one case and dtype a test: all 18 in one test (a compile each) did not finish in 300 s
    scope: dict = {}
    exec(_CHECK, scope)
    scope["check"]("cuda", [dtype], [case])


def test_stream_window_kernel_checks_its_ring():
    from entropy_select.kernels.triton.window_entropy import (
        stream_window_entropy_and_gradient_triton as stream_kernel,
    )

    frame = torch.randn(1, 3, 4, 8)
    with pytest.raises(ValueError, match="held must be in"):
        stream_kernel(frame, None, 0, 1)
    with pytest.raises(ValueError, match="held must be in"):
        stream_kernel(frame, torch.randn(1, 2, 3, 4, 8), 0, 3, temporal_window=3)
    with pytest.raises(ValueError, match="does not hold frames like"):
        stream_kernel(frame, torch.randn(1, 2, 3, 5, 8), 0, 1)

"""The research variants of the window kernel, kept in ``benchmarks/window_variants.py``.

They are not part of the package (the library runs only the "band" kernel); these tests keep the
profiling scripts honest: every variant the scripts time still returns the library's ``(Ĥ, G)``.
The CPU case runs under ``TRITON_INTERPRET=1`` in a fresh process.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from interpreted import run_interpreted

pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_package_holds_only_the_band_kernel():
    source = (ROOT / "src/entropy_select/kernels/triton/window_entropy.py").read_text()
    assert "_window_band_kernel" in source
    assert "_window_gram_kernel" not in source and "_window_dots_kernel" not in source
    assert "_window_tma_kernel" not in source
    from entropy_select.kernels.triton import window_entropy_and_gradient_triton

    assert "variant" not in inspect.signature(window_entropy_and_gradient_triton).parameters


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("variant", ["gram", "dots"])
@pytest.mark.parametrize("shape", [(1, 7, 13, 27, 40), (2, 3, 2, 3, 129)])
def test_variants_match_the_library_kernel(variant, shape):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from window_variants import window_entropy_and_gradient_variant
    finally:
        sys.path.remove(str(BENCHMARKS))
    from entropy_select.kernels.triton import window_entropy_and_gradient_triton

    x = torch.randn(*shape, device="cuda")
    ent, grad = window_entropy_and_gradient_variant(x, variant=variant)
    ref_ent, ref_grad = window_entropy_and_gradient_triton(x)
    assert (ent - ref_ent).abs().max().item() < 1e-5
    assert (grad - ref_grad).abs().max().item() < 1e-4 * ref_grad.abs().max().item()


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", [(1, 7, 13, 27, 40), (2, 3, 14, 14, 64), (1, 5, 16, 16, 48)])
@pytest.mark.parametrize("persistent", [True, False])
@pytest.mark.parametrize("one_box", [True, False])
def test_tma_variant_matches_the_library_kernel(dtype, shape, persistent, one_box):
    if torch.cuda.get_device_capability() < (9, 0):
        pytest.skip("bulk tensor copies need a Hopper GPU or later")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from window_variants import window_entropy_and_gradient_variant
    finally:
        sys.path.remove(str(BENCHMARKS))
    from entropy_select.kernels.triton import window_entropy_and_gradient_triton

    x = torch.randn(*shape, device="cuda", dtype=dtype)
    ent, grad = window_entropy_and_gradient_variant(
        x, variant="tma", persistent=persistent, one_box=one_box
    )
    ref_ent, ref_grad = window_entropy_and_gradient_triton(x)
    assert (ent - ref_ent).abs().max().item() < 1e-5
    assert (grad - ref_grad).abs().max().item() < 1e-4 * ref_grad.abs().max().item()


_INTERP_SCRIPT = textwrap.dedent(
    """
    import torch
    from entropy_select.core.entropy import local_window_entropy
    from entropy_select.core.gradient import spatial_gradient_magnitude
    from window_variants import window_entropy_and_gradient_variant
    torch.manual_seed(0)
    x = torch.randn(2, 3, 3, 4, 20)[..., ::2]  # rows span frames and videos; non-contiguous D
    ent, grad = window_entropy_and_gradient_variant(x, 5, 3, 3, variant="gram")
    assert (ent.double() - local_window_entropy(x.double())).abs().max() < 1e-5
    assert (grad.double() - spatial_gradient_magnitude(x.double())).abs().max() < 1e-5
    # "tma": the bulk-copy boxes' out-of-bounds rows (before the video, past it, the next
    # video's) must read 0, as the band kernel's masks do; three programs walk the tiles
    y = torch.randn(2, 3, 6, 7, 32, dtype=torch.float16)
    ref_ent = local_window_entropy(y.double())
    ref_grad = spatial_gradient_magnitude(y.double())
    for one_box in (True, False):
        ent, grad = window_entropy_and_gradient_variant(
            y, 5, 3, 3, variant="tma", persistent=3, one_box=one_box
        )
        assert (ent.double() - ref_ent).abs().max() < 1e-3, one_box
        assert (grad.double() - ref_grad).abs().max() < 1e-3 * ref_grad.abs().max(), one_box
    try:
        window_entropy_and_gradient_variant(y[..., :4], variant="tma")
    except ValueError as err:
        assert "16 bytes" in str(err), err
    else:
        raise AssertionError("rows of 8 bytes must raise")
    try:
        window_entropy_and_gradient_variant(x, variant="nope")
    except ValueError as err:
        assert "band, gram, dots, tma" in str(err), err
    else:
        raise AssertionError("an unknown variant must raise")
    print("ok")
    """
)


def test_gram_and_tma_variants_under_the_interpreter_on_cpu():
    run_interpreted(_INTERP_SCRIPT, paths=[BENCHMARKS])

"""NaN and inf are refused, naming the bad video, for single, batched and list inputs of every
selector (issue 17: only one single-tensor NaN test existed)."""

from __future__ import annotations

import pytest
import torch

import entropy_select as es
from entropy_select import selectors

BAD = [("nan", float("nan")), ("inf", float("inf")), ("-inf", float("-inf"))]


def _videos(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 4, 5, 8, generator=g), torch.randn(2, 4, 4, 8, generator=g)]


def _message(kind):
    return "1 NaN and 0 inf" if kind == "nan" else "0 NaN and 1 inf"


@pytest.mark.parametrize("name", selectors.available())
@pytest.mark.parametrize(("kind", "value"), BAD)
@pytest.mark.parametrize("where", [0, 1])
def test_list_input_with_a_non_finite_video(name, kind, value, where):
    videos = _videos()
    videos[where][1, 2, 3, 4] = value
    with pytest.raises(ValueError, match=rf"features\[{where}\] contains {_message(kind)}"):
        selectors.get(name)(videos, retention=0.5)


@pytest.mark.parametrize("name", selectors.available())
@pytest.mark.parametrize(("kind", "value"), BAD)
def test_batch_input_with_a_non_finite_video(name, kind, value):
    batch = torch.randn(3, 2, 4, 4, 8, generator=torch.Generator().manual_seed(1))
    batch[2, 1, 0, 0, 7] = value  # only the last video of the batch
    with pytest.raises(ValueError, match=_message(kind)):
        selectors.get(name)(batch, retention=0.5)


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_select_tokens_list_and_batch(impl):
    videos = _videos()
    videos[1][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"features\[1\] contains 1 NaN"):
        es.select_tokens(videos, retention=0.5, impl=impl)
    batch = torch.stack([_videos(2)[0], _videos(3)[0]])
    batch[1, 2, 3, 4, 5] = float("inf")
    with pytest.raises(ValueError, match="0 NaN and 1 inf"):
        es.select_tokens(batch, retention=0.5, impl=impl)
    # validate=False skips the check (CUDA-graph capture): no error, by the caller's choice
    es.select_tokens(batch, retention=0.5, impl=impl, validate=False)


def test_check_finite_reads_both_kinds_of_flag():
    """:func:`finite_flag` gives a bool on the CPU and ``max |x|`` on CUDA: :func:`check_finite`
    reads either, and counts from the tensor itself."""
    from entropy_select.core.checks import check_finite, finite_flag

    x = torch.randn(2, 3, 4, 5)
    assert finite_flag(x).dtype == torch.bool and bool(finite_flag(x))
    check_finite(x, "features", torch.tensor(3.5))  # a finite magnitude: no error
    check_finite(x, "features", torch.tensor(True))
    x[1, 2, 3, 4] = float("inf")
    for flag in (torch.tensor(float("inf")), torch.tensor(float("nan")), finite_flag(x)):
        with pytest.raises(ValueError, match="features contains 0 NaN and 1 inf"):
            check_finite(x, "features", flag)
    for dtype in (torch.float16, torch.bfloat16):  # a low-precision flag
        with pytest.raises(ValueError, match="0 NaN and 1 inf"):
            check_finite(x, "features", torch.tensor(float("inf"), dtype=dtype))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_cuda_finite_flag_sees_every_nan_and_inf(dtype):
    """The CUDA flag (one ``vector_norm(x, inf)``) is finite exactly when every value is: NaN
    and +-inf anywhere (first, middle, last element) make it non-finite, the dtype's largest
    finite values do not."""
    from entropy_select.core.checks import _finite, finite_flag

    x = torch.randn(2, 5, 6, 7, 48, device="cuda").to(dtype)
    big = torch.finfo(dtype).max
    x[0, 0, 0, 0, :2] = torch.tensor([big, -big])
    flag = finite_flag(x)
    assert flag.is_cuda and flag.dim() == 0 and _finite(flag)
    for where in ((0, 0, 0, 0, 0), (1, 2, 3, 4, 17), (1, 4, 5, 6, 47)):
        for value in (float("nan"), float("inf"), float("-inf")):
            y = x.clone()
            y[where] = value
            assert not _finite(finite_flag(y)), (where, value)
            assert not _finite(finite_flag(y.transpose(1, 4))), (where, value)  # strided

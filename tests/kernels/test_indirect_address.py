"""The ``X_INDIRECT`` kernels (a cached CUDA graph's replays, ``kernels/triton/graphs.py``) read
the features at the address a one-element int64 holder gives, and give bit-identical results to
the direct launch on the same features: the band kernel (with and without the per-video
extremes), the frame kernel's token output in every mode and token path (sorted kernel gathering
or scanning, pairwise kernel), and the whole ``select_tokens_triton`` for every preset; bfloat16
and float32; dense, channel-strided and permuted layouts. With ``OUT_INDIRECT`` as well (a second
holder), the frame kernel writes the same tokens at the address that holder gives.

Each indirect call gets a decoy, zeros laid out like the features, as its ``x``: it gives the
shape, strides and dtype only, so a kernel that read ``x`` instead of the holder's address
would give the decoy's selection. Under the Triton interpreter in a fresh process on CPU (the
flag is read when triton is imported); the same checks on a GPU.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from interpreted import run_interpreted
from selection_fields import assert_fields_equal

import entropy_select as es

pytest.importorskip("triton")

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def holder_of(t: torch.Tensor) -> torch.Tensor:
    """A holder of ``t``'s address, on ``t``'s device."""
    assert t.data_ptr() % 16 == 0, "the X_INDIRECT kernels take 16-byte aligned addresses"
    return torch.tensor([t.data_ptr()], dtype=torch.int64, device=t.device)


DTYPES = (torch.bfloat16, torch.float32)
LAYOUTS = ("dense", "gaps", "permuted")


def layouts(dtype: torch.dtype, device: str = "cpu", shape=(1, 3, 5, 6, 16), names=LAYOUTS):
    """``{name: (features, decoy)}``: the same random features in three layouts (``names`` of
    them), each with zeros laid out alike (same shape and strides, another address)."""
    B, T, H, W, D = shape
    g = torch.Generator().manual_seed(3)
    base = torch.randn(B, T, H, W, 2 * D, generator=g).to(device=device, dtype=dtype)
    perm = torch.randn(B, D, H, W, T, generator=g).to(device=device, dtype=dtype)
    every = {
        "dense": (base[..., :D].contiguous(), torch.zeros(shape, dtype=dtype, device=device)),
        "gaps": (base[..., ::2], torch.zeros_like(base)[..., ::2]),  # channel stride 2
        "permuted": (perm.permute(0, 4, 2, 3, 1), torch.zeros_like(perm).permute(0, 4, 2, 3, 1)),
    }
    return {name: every[name] for name in names}


def check_window(device: str = "cpu", dtypes=DTYPES, names=LAYOUTS) -> None:
    from entropy_select.kernels.triton.window_entropy import (
        window_entropy_and_gradient_triton as window,
    )

    for dtype in dtypes:
        for name, (x, decoy) in layouts(dtype, device, names=names).items():
            for minmax in (False, True):
                mm = [torch.empty(x.shape[0], 4, dtype=torch.int32, device=device) for _ in "ab"]
                want = window(x, minmax=mm[0] if minmax else None)
                got = window(decoy, minmax=mm[1] if minmax else None, _x_address=holder_of(x))
                what = (dtype, name, minmax)
                assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True)), what
                assert not minmax or torch.equal(mm[0], mm[1]), what


def check_frame(device: str = "cpu", dtypes=DTYPES, names=LAYOUTS, paths=None) -> None:
    from entropy_select.kernels.triton.frame_select import frame_select_triton

    g = torch.Generator().manual_seed(4)
    scores = torch.rand(1, 3, 5, 6, generator=g).to(device)
    budget = torch.tensor([[7, 9, 8]], device=device)
    paths = paths or [("sort", "gather"), ("sort", "scan"), ("pairwise", "scan")]
    for dtype in dtypes:
        for name, (x, decoy) in layouts(dtype, device, names=names).items():
            for mode in ("select", "fusion", "context"):
                for algo, token_output in paths:
                    kw = dict(mode=mode, algo=algo, token_output=token_output, fusion_grid=2)
                    want = frame_select_triton(scores, budget, 24, features=x, **kw)
                    got = frame_select_triton(
                        scores, budget, 24, features=decoy, _x_address=holder_of(x), **kw
                    )
                    for a, b in zip(want, got, strict=True):
                        assert (a is None and b is None) or torch.equal(a, b), (dtype, name, kw)
                    assert want[2].abs().sum() > 0  # the features' tokens, not the decoy's
                    out = torch.full_like(want[2], float("nan"))  # the tokens' own tensor
                    both = frame_select_triton(
                        scores, budget, 24, features=decoy, _x_address=holder_of(x),
                        _out_address=holder_of(out), **kw,
                    )  # fmt: skip
                    assert torch.equal(out, want[2]), (dtype, name, kw)  # written there
                    assert both[2].shape == want[2].shape and both[2].stride()[1:] == (0, 0)
                    for a, b in zip(want[:2] + want[3:], both[:2] + both[3:], strict=True):
                        assert (a is None and b is None) or torch.equal(a, b), (dtype, name, kw)


def check_select(device: str = "cpu", dtypes=DTYPES, names=LAYOUTS) -> None:
    from entropy_select.kernels.triton.select import select_tokens_triton
    from entropy_select.selectors.entropy_select import PRESETS

    for dtype in dtypes:
        for name, (x, decoy) in layouts(dtype, device, names=names).items():
            for preset, cfg in PRESETS.items():
                want = select_tokens_triton(x, 30, cfg)
                got = select_tokens_triton(decoy, 30, cfg, _x_address=holder_of(x))
                out = torch.full_like(want.tokens, float("nan"))
                both = select_tokens_triton(
                    decoy, 30, cfg, _x_address=holder_of(x), _out_address=holder_of(out)
                )
                both = dataclasses.replace(both, tokens=out)  # written at the 2nd holder's address
                for sel in (got, both):
                    assert_fields_equal(sel, want, (dtype, name, preset))


_SCRIPT = """
from test_indirect_address import check_{part}
check_{part}()
print("ok")
"""


@pytest.mark.parametrize("part", ["window", "frame", "select"])
def test_indirect_address_equals_direct_under_the_interpreter(part):
    from pathlib import Path

    run_interpreted(_SCRIPT.format(part=part), timeout=900, paths=[Path(__file__).parent])


def test_a_holder_for_a_config_read_outside_the_kernels_raises():
    """``_x_address`` where torch code would read ``x`` itself (the rarity term) is refused,
    never silently read at ``x``; so is a holder that is not one int64."""
    from entropy_select.kernels.triton.select import select_tokens_triton

    x = torch.randn(1, 3, 5, 6, 16)
    with pytest.raises(ValueError, match="outside the kernels"):
        select_tokens_triton(x, 30, es.EntropySelectConfig(rarity=0.5), _x_address=holder_of(x))
    with pytest.raises(ValueError, match="one int64"):
        select_tokens_triton(x, 30, es.EntropySelectConfig(), _x_address=torch.zeros(2))
    with pytest.raises(ValueError, match="only taken with _x_address"):
        select_tokens_triton(x, 30, es.EntropySelectConfig(), _out_address=holder_of(x))
    with pytest.raises(ValueError, match="_out_address must be one int64"):
        select_tokens_triton(
            x, 30, es.EntropySelectConfig(), _x_address=holder_of(x), _out_address=torch.zeros(1)
        )


@cuda
@pytest.mark.cuda
def test_indirect_address_equals_direct_on_the_gpu():
    """The interpreter's checks on the GPU, fewer of them (each variant compiles): bfloat16,
    dense and channel-strided features, the sorted kernel's gathered tokens (the default).
    ``test_triton_parity.py::test_cached_graph_reads_each_input_where_it_is`` runs the whole
    selection both ways through the cache."""
    quick = {"dtypes": (torch.bfloat16,), "names": ("dense", "gaps")}
    check_window("cuda", **quick)
    check_frame("cuda", paths=[("sort", "gather")], **quick)

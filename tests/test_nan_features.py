"""NaN/inf features: every path of ENTROPY-SELECT still selects K distinct valid tokens when the
check is off (``validate=False``), and a patched model raises the check's error, with nothing
written, when its vision tower produces them.

The adapters rely on the first: they run the selector unchecked and read the NaN/inf flag at
their next host synchronisation (``adapters/_prepare.select_videos``), so that on a GPU the
selector does not wait for the vision tower.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from interpreted import run_interpreted_side_by_side

import entropy_select as es

PRESETS = {
    "default": es.EntropySelectConfig(),
    "paper": es.EntropySelectConfig.paper(),
    "balanced": es.EntropySelectConfig.balanced(),
}


def _poisoned(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 6, 7, 16, generator=g)
    x[0, 1, 2, 3, 5] = float("nan")
    x[1, 2, :, :, 0] = float("inf")  # a whole frame
    x[1, 0, 0, 0] = float("-inf")
    return x


def _assert_valid(out, K: int, N: int) -> None:
    assert out.keep_index.shape[-1] == K
    for row in out.keep_index:
        assert int(row.min()) >= 0 and int(row.max()) < N
        assert row.unique().numel() == K and torch.equal(row, row.sort().values)
    assert out.keep_mask.flatten(1).sum(1).tolist() == [K] * out.keep_index.shape[0]
    assert out.frame_budget.sum(1).tolist() == [K] * out.keep_index.shape[0]


@pytest.mark.parametrize("impl", ["reference", "cpu"])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_unchecked_nan_features_still_give_k_valid_tokens(impl, preset):
    x = _poisoned()
    N = 4 * 6 * 7
    for r in (0.05, 0.3, 0.8):
        out = es.select_tokens(x, retention=r, impl=impl, config=PRESETS[preset], validate=False)
        _assert_valid(out, max(1, int(r * N)), N)


_TRITON = """
import torch, entropy_select as es, sys
sys.path.insert(0, {here!r})
from test_nan_features import PRESETS, _assert_valid, _poisoned
x = _poisoned()
for name, cfg in PRESETS.items():
    if name != {preset!r}:
        continue
    for r in (0.05, 0.3, 0.8):
        out = es.select_tokens(x, retention=r, impl="triton", config=cfg, validate=False)
        _assert_valid(out, max(1, int(r * 168)), 168)
    # validate=True: the check runs after the launches and raises the entry check's error
    try:
        es.select_tokens(x, retention=0.3, impl="reference", config=cfg)
    except ValueError as err:
        want = str(err)
    try:
        es.select_tokens(x, retention=0.3, impl="triton", config=cfg)
        raise AssertionError("no error")
    except ValueError as err:
        assert str(err) == want, (str(err), want)
    clean = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    a = es.select_tokens(clean, retention=0.3, impl="triton", config=cfg)
    b = es.select_tokens(clean, retention=0.3, impl="triton", config=cfg, validate=False)
    assert torch.equal(a.keep_index, b.keep_index) and torch.equal(a.tokens, b.tokens)
print("ok")
"""


def test_unchecked_nan_features_on_the_triton_path_under_the_interpreter():
    pytest.importorskip("triton")
    here = str(Path(__file__).resolve().parent)  # one preset a Python, side by side
    codes = [_TRITON.format(here=here, preset=name) for name in PRESETS]
    run_interpreted_side_by_side(codes, timeout=600)


def test_validate_on_the_triton_path_checks_after_the_launches(monkeypatch):
    """On the Triton path the NaN check's flag is read after the selection was launched (one
    synchronisation at the end, no wait before the first kernel); other paths check first. The
    error is the same either way."""
    import entropy_select.kernels as kernels
    from entropy_select.core.select import select_reference
    from entropy_select.selectors import entropy_select as es_mod

    order = []

    def launched(x, K, cfg, squeeze=False, **plan):  # select_tokens_triton's signature
        order.append("launched")
        return select_reference(x, cfg, budget=K, **plan)

    monkeypatch.setattr(es_mod, "_resolve_impl", lambda impl, x: impl)
    monkeypatch.setattr(kernels, "select_tokens_triton", launched)
    monkeypatch.setattr(es_mod, "_graphable", lambda x, cfg, plan: False)
    x = _poisoned()
    with pytest.raises(ValueError) as want:
        es.select_tokens(x, retention=0.3, impl="reference")
    assert order == []  # the reference path checks before any work
    with pytest.raises(ValueError) as err:
        es.select_tokens(x, retention=0.3, impl="triton")
    assert order == ["launched"] and str(err.value) == str(want.value)
    assert "NaN" in str(err.value)
    es.select_tokens(x, retention=0.3, impl="triton", validate=False)  # no check: no error
    clean = torch.randn(2, 4, 6, 7, 16)
    out = es.select_tokens(clean, retention=0.3, impl="triton")
    assert torch.equal(
        out.keep_index, select_reference(clean, es.EntropySelectConfig(), budget=50).keep_index
    )

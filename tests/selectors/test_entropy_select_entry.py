"""``EntropySelect`` has one entry path: calling it is ``select_tokens`` with its config and impl,
so the entry checks run once, and every ``select_tokens`` feature works through the selector."""

from __future__ import annotations

import pytest
import torch

import entropy_select as es
from entropy_select import selectors
from entropy_select.selectors import base, entropy_select


def _video(shape=(4, 3, 5, 6), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _count(monkeypatch, module, name, calls):
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


@pytest.mark.parametrize("batched", [False, True])
def test_entry_checks_run_once(monkeypatch, batched):
    calls: list[str] = []
    for module in (base, entropy_select):  # wherever the selector path could call them
        for name in ("check_features", "resolve_budget"):
            if hasattr(module, name):
                _count(monkeypatch, module, name, calls)
    x = _video() if not batched else torch.stack([_video(seed=1), _video(seed=2)])
    sel = selectors.get("entropy_select")(x, retention=0.3)
    assert sorted(calls) == ["check_features", "resolve_budget"]
    want = es.select_tokens(x, retention=0.3)
    assert torch.equal(sel.keep_index, want.keep_index) and torch.equal(sel.tokens, want.tokens)


def test_list_input_checks_each_video_once(monkeypatch):
    calls: list[str] = []
    _count(monkeypatch, entropy_select, "check_video_list", calls)
    _count(monkeypatch, entropy_select, "check_features", calls)
    videos = [_video(), _video((2, 3, 3, 6), seed=3)]
    out = selectors.get("entropy_select", preset="paper")(videos, budget=5)
    assert [s.budget for s in out] == [5, 5]
    # the list is checked once (it checks each video); the per-video calls skip the NaN scan
    assert calls.count("check_video_list") == 1


def test_online_rule_works_through_the_selector():
    """frame_budget_rule="online" takes retention= as its rate: through the selector too (the
    old path turned retention into a budget first and then refused it)."""
    x = _video((6, 4, 4, 8))
    sel = selectors.get("entropy_select", frame_budget_rule="online")(x, retention=0.3)
    want = es.select_tokens(x, retention=0.3, frame_budget_rule="online")
    assert torch.equal(sel.keep_index, want.keep_index)
    assert torch.equal(sel.frame_budget, want.frame_budget)


def test_select_is_the_dispatch_without_entry_checks(monkeypatch):
    """``select`` (the batch method of the Selector interface) calls no entry check at all."""
    calls: list[str] = []
    for name in ("check_features", "resolve_budget", "check_video_list"):
        _count(monkeypatch, entropy_select, name, calls)
    x = _video()[None]
    sel = selectors.get("entropy_select").select(x, 7)
    assert calls == [] and sel.keep_index.shape == (1, 7)
    assert torch.equal(sel.keep_index, es.select_tokens(x, budget=7).keep_index)


def test_bad_impl_fails_at_construction():
    with pytest.raises(ValueError, match="impl must be one of"):
        selectors.get("entropy_select", impl="cuda")


def test_validate_false_skips_the_nan_scan():
    x = _video()
    x[0, 0, 0, 0] = float("nan")
    select = selectors.get("entropy_select", impl="reference")
    with pytest.raises(ValueError, match="NaN"):
        select(x, retention=0.5)
    assert select(x, retention=0.5, validate=False).budget == int(0.5 * x[..., 0].numel())

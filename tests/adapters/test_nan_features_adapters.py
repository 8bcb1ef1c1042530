"""A patched model whose vision tower produces NaN features raises the selector's NaN error, and
the patch keeps no trace of the failed call (the adapters read the NaN flag after selecting,
``adapters/_prepare.select_videos``)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, inputs_for  # noqa: E402

import entropy_select as es  # noqa: E402


@pytest.mark.parametrize("selector", ["entropy_select", "tome"])
@pytest.mark.parametrize("model_type", list(BUILDERS))
def test_nan_features_raise_and_leave_no_trace(model_type, selector):
    model = es.patch(BUILDERS[model_type](), retention=0.5, selector=selector)
    x = inputs_for(model_type)
    good = model(**x).logits
    state = model._entropy_select
    last = state.last
    key = "pixel_values" if model_type == "internvl" else "pixel_values_videos"
    bad = dict(x, **{key: x[key].contiguous().clone()})
    bad[key].view(-1)[:64] = float("nan")
    with pytest.raises(ValueError, match=r"features contains \d+ NaN"):
        model(**bad)
    assert state.last is last and not state.pending  # nothing of the failed call was kept
    assert torch.equal(model(**x).logits, good)

"""``unpatch`` puts back every attribute of the model and of all its submodules (issue 11).

Compares each module's ``__dict__`` before ``patch`` and after ``unpatch`` (keys, and values by
identity, or by equality for plain values; the parameter, buffer, submodule and hook tables
entry by entry), after a compressed forward AND a compressed generate, for all four adapters.
For the Qwen models the unpatched model first runs once, so that ``rope_deltas`` holds a tensor
the patch must give back (a patch that assigns ``inner.rope_deltas`` directly fails here).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, inputs_for, strip_es  # noqa: E402

import entropy_select as es  # noqa: E402
from entropy_select.adapters import STATE_ATTR  # noqa: E402


def _snapshot(model: torch.nn.Module) -> dict[str, dict]:
    """Every module's ``__dict__``: values as they are, dict-valued tables copied one level."""
    return {
        name: {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in module.__dict__.items()}
        for name, module in model.named_modules(remove_duplicate=False)
    }


def _same(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False  # a tensor must be the very same object
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are different values
        return False


def _differences(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    out = []
    if before.keys() != after.keys():
        out.append(f"modules: {sorted(before.keys() ^ after.keys())}")
    for name in before.keys() & after.keys():
        b, a = before[name], after[name]
        for key in b.keys() ^ a.keys():
            out.append(f"{name or '<model>'}.{key}: {'added' if key in a else 'removed'}")
        for key in b.keys() & a.keys():
            if not _same(b[key], a[key]):
                out.append(f"{name or '<model>'}.{key}: changed")
    return sorted(out)


@pytest.mark.parametrize("model_type", tuple(BUILDERS))
def test_unpatch_restores_every_attribute_after_forward_and_generate(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    with torch.no_grad():
        model(**strip_es(kwargs))  # the model's own state (Qwen: rope_deltas) is now set
    inner = model.model
    if model_type.startswith("qwen"):
        assert isinstance(inner.__dict__.get("rope_deltas"), torch.Tensor)
    before = _snapshot(model)
    es.patch(model, retention=0.25)
    with torch.no_grad():
        model(**kwargs)
        model.generate(**kwargs, max_new_tokens=2, do_sample=False)
    state = model.__dict__[STATE_ATTR]
    assert state.last["short_length"] < state.last["prompt_length"]  # it did compress
    if model_type.startswith("qwen"):  # the patch shifted rope_deltas by the dropped tokens
        assert not torch.equal(inner.rope_deltas, before["model"]["rope_deltas"])
    es.unpatch(model)
    assert _differences(before, _snapshot(model)) == []
    if model_type.startswith("qwen"):
        assert inner.__dict__["rope_deltas"] is before["model"]["rope_deltas"]


def test_every_write_goes_through_the_state():
    """A patch records every instance attribute it writes; unpatch removes what was not there."""
    model = BUILDERS["qwen2_5_vl"]()
    kwargs = inputs_for("qwen2_5_vl")
    model.model.__dict__.pop("rope_deltas", None)  # as if the model never ran
    es.patch(model, retention=0.25)
    with torch.no_grad():
        model(**kwargs)
    saved = {name for _, name, _ in model.__dict__[STATE_ATTR].saved.values()}
    assert {"forward", "generate", "get_video_features", "rope_deltas"} <= saved
    es.unpatch(model)
    assert "rope_deltas" not in model.model.__dict__


def test_each_model_file_fills_the_contract():
    import dataclasses
    import importlib

    from entropy_select.adapters import AdapterSpec, spec_for

    for name in es.adapters.supported():
        spec = spec_for(name)
        assert isinstance(spec, AdapterSpec) and spec.model_type == name
        assert importlib.import_module(f"entropy_select.adapters.{name}").SPEC is spec
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.hook = "forward"  # type: ignore[misc]
    with pytest.raises(ValueError, match="supported: internvl, llava_onevision"):
        spec_for("llama")

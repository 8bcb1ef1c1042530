"""What the lmms-eval plugin records about a patched model; needs transformers, not lmms-eval.

``effective_config`` (logged when lmms-eval loads the model) and the per-``generate`` prefill
report to lmms-eval's usage metrics, on a tiny random LLaVA-OneVision fed real video frames.
lmms-eval's ``log_usage`` is replaced by a recorder (the module path is the one the plugin
imports); ``test_lmms_eval_cli.py`` checks the same numbers through lmms-eval itself.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters"))

import adapter_models as tiny  # noqa: E402

import entropy_select as es  # noqa: E402
from entropy_select.integrations import lmms_eval as plugin  # noqa: E402


@pytest.fixture
def usage(monkeypatch):
    """Stand in lmms-eval's ``usage_metrics.log_usage``; returns the recorded calls."""
    calls = []
    names = ["lmms_eval", "lmms_eval.models", "lmms_eval.models.model_utils"]
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    metrics = types.ModuleType("lmms_eval.models.model_utils.usage_metrics")
    metrics.log_usage = lambda **kwargs: calls.append(kwargs)
    monkeypatch.setitem(sys.modules, metrics.__name__, metrics)
    return calls


def test_effective_config_resolves_defaults_and_preset():
    model = tiny.llava_onevision()
    es.patch(model, retention=0.35, preset="paper", tau=0.5)
    config = plugin.effective_config(model)
    assert (config["selector"], config["retention"], config["budget"]) == (
        "entropy_select",
        0.35,
        None,
    )
    assert config["options"] == {"preset": "paper", "tau": 0.5}
    assert config["config"]["tau"] == 0.5 and config["config"]["preset"] == "paper"
    assert config["config"]["spatial_window"] == 5  # a default, not given
    assert config["entropy_select_version"] == es.__version__
    es.patch(model, retention=None, budget=10, selector="tome")
    config = plugin.effective_config(model)
    assert (config["selector"], config["retention"], config["budget"]) == ("tome", None, 10)
    assert "budget=10 tokens per video" in plugin._describe(config)


def test_each_generate_reports_its_real_prefill(usage):
    model = tiny.llava_onevision()
    inputs = tiny.llava_inputs(num_frames=4)
    n = tiny.num_visual("llava_onevision", inputs)
    length = inputs["input_ids"].shape[1]
    es.patch(model, retention=0.35)
    plugin._record_prefill_usage(model)
    out = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    k = int(0.35 * n)
    assert out.shape[1] == length + 3
    assert usage == [
        {"model_name": "entropy_select:llava_onevision", "input_tokens": length - (n - k),
         "output_tokens": 3}
    ]  # fmt: skip
    # a text-only call is reported too, with nothing dropped
    text = {"input_ids": inputs["input_ids"][:, :3]}
    model.generate(**text, max_new_tokens=2, min_new_tokens=2, do_sample=False)
    assert usage[-1]["input_tokens"] == 3 and usage[-1]["output_tokens"] == 2
    # unpatching removes the report with the patch
    es.unpatch(model)
    assert "generate" not in model.__dict__
    model.generate(**tiny.strip_es(inputs), max_new_tokens=1, do_sample=False)
    assert len(usage) == 2

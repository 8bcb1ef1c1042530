"""The lmms-eval plugin against the real lmms-eval package (0.7.3).

Skipped where lmms-eval is absent (the default CI install: lmms-eval requires torchvision, which
does not import beside the CPU-only torch). ``scripts/ci_lmms_eval.sh`` builds a separate
environment (the registry's torch + torchvision, the ``lmms`` extra) and runs this file and
``test_lmms_eval_cli.py``, which goes through lmms-eval's command line with real processors.

What is real here: lmms-eval's registry and entry-point loading, its argument parser, its model
classes and their ``from_pretrained`` calls on tiny random checkpoints saved to disk. What is not:
``AutoProcessor`` inside lmms-eval's model modules is replaced by a tokenizer-only stand-in that
records the call (the processors are not what construction checks; the CLI test uses the real
ones). ``entropy_select.patch`` is the real one when ``entropy_select.adapters`` exists.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

pytest.importorskip("lmms_eval")
transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import tiny_vlms  # noqa: E402  (the tiny configs, shared with the CLI test)
from lmms_eval.models.registry_v2 import ModelManifest, ModelRegistryV2  # noqa: E402
from lmms_eval.utils import simple_parse_args_string  # noqa: E402

import entropy_select  # noqa: E402
from entropy_select.integrations import lmms_eval as plugin  # noqa: E402

ENTRY_POINT = "entropy_select = entropy_select.integrations.lmms_eval:manifests"
SRC = Path(plugin.__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- fixtures


class _Calls(list):
    """Recorded (model, kwargs) patch calls; ``real`` is the adapters module when it exists."""

    real: object = None


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A distribution on sys.path declaring our entry point, as ``pip install`` would write it."""
    info = tmp_path / "entropy_select_plugin_check-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: entropy-select-plugin-check\n")
    (info / "entry_points.txt").write_text(f"[lmms_eval.models]\n{ENTRY_POINT}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def registry(plugin_dist):
    """lmms-eval's registry built the way ``import lmms_eval.models`` builds it."""
    import lmms_eval.models as models

    return models._initialize_model_registry()


@pytest.fixture
def patch_calls(monkeypatch):
    """Record ``entropy_select.patch`` calls; call through to the real one where it exists."""
    calls = _Calls()
    if importlib.util.find_spec("entropy_select.adapters") is not None:
        import entropy_select.adapters as adapters

        real = adapters.patch

        def spy(model, **kwargs):
            calls.append((model, kwargs))
            return real(model, **kwargs)

        monkeypatch.setattr(adapters, "patch", spy)
        calls.real = adapters
    else:
        fake = types.ModuleType("entropy_select.adapters")

        def record(model, **kwargs):
            calls.append((model, kwargs))
            return model

        fake.patch = record
        monkeypatch.setitem(sys.modules, "entropy_select.adapters", fake)
        monkeypatch.setattr(entropy_select, "adapters", fake, raising=False)
        calls.real = None
    return calls


@pytest.fixture
def processors(monkeypatch):
    """Replace AutoProcessor in lmms-eval's model modules by a tokenizer-only stand-in."""
    loaded = []

    class TokenizerOnlyProcessor:
        @staticmethod
        def from_pretrained(path, **kwargs):
            loaded.append((path, kwargs))
            tokenizer = transformers.AutoTokenizer.from_pretrained(path)
            return types.SimpleNamespace(tokenizer=tokenizer)

    for name in ("llava_hf", "qwen2_5_vl", "qwen3_vl"):
        module = importlib.import_module(f"lmms_eval.models.simple.{name}")
        monkeypatch.setattr(module, "AutoProcessor", TokenizerOnlyProcessor)
    return loaded


# ---------------------------------------------------------------------------- tiny checkpoints

_SPECIALS = ["<pad>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>"]
_SPECIALS += ["<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<image>", "<video>"]


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(_SPECIALS)}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789 .,:?!'-":
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        additional_special_tokens=_SPECIALS[2:],
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """``{model_type: directory}`` of tiny random checkpoints saved with save_pretrained."""
    out = {}
    tokenizer = _tokenizer()
    for model_type, cls_name in tiny_vlms.MODEL_CLASSES.items():
        torch.manual_seed(0)
        model = getattr(transformers, cls_name)(tiny_vlms.config(model_type))
        path = tmp_path_factory.mktemp(model_type)  # no "A<digits>B" in it: Qwen3 reads it as MoE
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        out[model_type] = str(path)
    return out


# ---------------------------------------------------------------------------- registration


def test_manifests_payload_is_what_lmms_eval_accepts():
    payload = plugin.manifests()
    assert all(isinstance(m, ModelManifest) for m in payload)
    assert {m.model_id for m in payload} == set(plugin.MODELS)
    registry = ModelRegistryV2()
    for manifest in registry._coerce_payload_to_manifests(plugin.manifests):  # callable payload
        registry.register_manifest(manifest)
    assert registry.resolve("llava_hf_es").model_id == "llava_onevision_es"


def test_entry_point_is_discovered_like_lmms_eval_does(registry):
    # builtin models are still there, ours were added
    assert registry.resolve("qwen2_5_vl").class_path.startswith("lmms_eval.models.")
    for model_id in plugin.MODELS:
        assert model_id in registry.list_canonical_model_ids()
    chat = registry.resolve("qwen3_vl_es")
    assert (chat.model_type, chat.class_name) == ("chat", "Qwen3_VL_ES_Chat")
    simple = registry.resolve("qwen3_vl_es", force_simple=True)
    assert (simple.model_type, simple.class_name) == ("simple", "Qwen3_VL_ES")
    # LLaVA-OV: the simple class only (it honours max_frames_num)
    assert registry.resolve("llava_onevision_es").model_type == "simple"


@pytest.mark.parametrize(
    ("model_id", "force_simple", "base"),
    [
        ("llava_onevision_es", False, "lmms_eval.models.simple.llava_hf.LlavaHf"),
        ("qwen2_5_vl_es", False, "lmms_eval.models.chat.qwen2_5_vl.Qwen2_5_VL"),
        ("qwen2_5_vl_es", True, "lmms_eval.models.simple.qwen2_5_vl.Qwen2_5_VL"),
        ("qwen3_vl_es", False, "lmms_eval.models.chat.qwen3_vl.Qwen3_VL"),
        ("qwen3_vl_es", True, "lmms_eval.models.simple.qwen3_vl.Qwen3_VL"),
    ],
)
def test_registry_imports_and_validates_our_classes(registry, model_id, force_simple, base):
    # get_model_class checks: a subclass of lmms, is_simple consistent with chat/simple
    cls = registry.get_model_class(model_id, force_simple=force_simple)
    assert f"{cls.__mro__[1].__module__}.{cls.__mro__[1].__name__}" == base
    assert cls.__module__ == plugin.__name__


def test_import_lmms_eval_models_finds_the_plugin_in_a_fresh_process(plugin_dist):
    code = textwrap.dedent(
        """
        import lmms_eval.models as models
        path = models.get_model_manifest("qwen2_5_vl_es").chat_class_path
        print(path, "qwen3_vl_es" in models.list_available_models())
        """
    )
    env_path = f"{plugin_dist}:{SRC}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": env_path},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == [f"{plugin.__name__}.Qwen2_5_VL_ES_Chat", "True"]


def test_installed_distribution_declares_the_entry_point():
    from importlib import metadata

    try:
        dist = metadata.distribution("entropy-select")
    except metadata.PackageNotFoundError:
        pytest.skip("entropy-select is not installed in this environment")
    eps = [ep for ep in dist.entry_points if ep.group == "lmms_eval.models"]
    if not eps:
        pytest.skip("the installed entropy-select predates the lmms_eval.models entry point")
    assert [ep.value for ep in eps] == ["entropy_select.integrations.lmms_eval:manifests"]
    assert eps[0].load() is plugin.manifests


# ---------------------------------------------------------------------------- arguments


def _parse(model_args: str) -> tuple[plugin.CompressionArgs, dict]:
    ours, rest = plugin.split_model_args(simple_parse_args_string(model_args))
    return plugin.parse_compression_args(ours), rest


def test_our_keys_are_split_off_and_converted():
    args, rest = _parse(
        "pretrained=org/model,max_frames_num=16,attn_implementation=sdpa,es_retention=0.35,"
        "es_tau=1,es_alpha=0,es_grid_fusion=1,es_max_frame_tokens=none,es_preset=paper,"
        "es_spatial_window=7"
    )
    assert rest == {"pretrained": "org/model", "max_frames_num": 16, "attn_implementation": "sdpa"}
    assert (args.retention, args.budget, args.selector) == (0.35, None, "entropy_select")
    assert dict(args.options) == {
        "tau": 1.0,
        "alpha": 0.0,
        "grid_fusion": True,
        "max_frame_tokens": None,
        "preset": "paper",
        "spatial_window": 7,
    }
    assert type(args.options["tau"]) is float and type(args.options["spatial_window"]) is int
    assert args.patch_kwargs()["retention"] == 0.35


# ---------------------------------------------------------------------------- construction


_CASES = [
    ("llava_onevision_es", False, "llava_onevision", "max_frames_num"),
    ("qwen2_5_vl_es", False, "qwen2_5_vl", "max_num_frames"),
    ("qwen2_5_vl_es", True, "qwen2_5_vl", "max_num_frames"),
    ("qwen3_vl_es", False, "qwen3_vl", "max_num_frames"),
]


@pytest.mark.parametrize(("model_id", "force_simple", "model_type", "frames_key"), _CASES)
def test_construction_loads_the_wrapped_model_and_patches_it(
    registry, checkpoints, processors, patch_calls, model_id, force_simple, model_type, frames_key
):
    cls = registry.get_model_class(model_id, force_simple=force_simple)
    model_args = (
        f"pretrained={checkpoints[model_type]},device=cpu,device_map=cpu,{frames_key}=16,"
        "es_retention=0.35,es_tau=0.5,es_preset=paper"
    )
    # lmms-eval's own construction path (evaluator.simple_evaluate does exactly this)
    lm = cls.create_from_arg_string(model_args, {"batch_size": 1, "device": None})
    # the wrapped class got the rest (its __init__ asserts kwargs == {}, so no es_ key leaked)
    assert getattr(lm, frames_key) == 16
    assert processors == [(checkpoints[model_type], processors[0][1])]
    assert lm.model.config.model_type == model_type
    assert lm.model.__class__.__name__ == tiny_vlms.MODEL_CLASSES[model_type]
    # patched once, after loading, on the loaded model, with the options from --model_args
    assert len(patch_calls) == 1
    model, kwargs = patch_calls[0]
    assert model is lm.model
    assert kwargs == {
        "retention": 0.35,
        "budget": None,
        "selector": "entropy_select",
        "tau": 0.5,
        "preset": "paper",
    }
    assert lm.es_args.retention == 0.35
    if patch_calls.real is not None:
        assert patch_calls.real.is_patched(lm.model)


def test_bad_es_key_fails_before_any_weight_is_loaded(registry, processors, patch_calls):
    cls = registry.get_model_class("qwen2_5_vl_es")
    with pytest.raises(ValueError, match="unknown ENTROPY-SELECT key"):
        cls.create_from_arg_string("pretrained=/nonexistent/checkpoint,es_retention=0.5,es_x=1")
    assert processors == [] and patch_calls == []


def test_wrong_model_type_fails_before_loading(registry, checkpoints, processors, patch_calls):
    cls = registry.get_model_class("qwen3_vl_es")
    with pytest.raises(ValueError, match="qwen3_vl.*'qwen2_5_vl'"):
        cls.create_from_arg_string(
            f"pretrained={checkpoints['qwen2_5_vl']},device=cpu,device_map=cpu,es_retention=0.5"
        )
    assert processors == [] and patch_calls == []

"""``--model_args`` parsing of the lmms-eval plugin; needs neither lmms-eval nor transformers.

Values arrive here as raw strings; ``test_lmms_eval.py`` repeats the key checks with lmms-eval's
own parser (which has already turned "1" into 1 and "true" into True) where lmms-eval is installed.
"""

from __future__ import annotations

import pytest

import entropy_select
from entropy_select.integrations import lmms_eval as plugin


def _parse(model_args: str) -> tuple[plugin.CompressionArgs, dict]:
    raw = dict(item.split("=", 1) for item in model_args.split(","))
    ours, rest = plugin.split_model_args(raw)
    return plugin.parse_compression_args(ours), rest


def test_import_needs_no_lmms_eval():
    assert "MODELS" in dir(plugin) and set(plugin.MODELS) == {
        "llava_onevision_es",
        "qwen2_5_vl_es",
        "qwen3_vl_es",
    }
    with pytest.raises(AttributeError):
        plugin.NoSuchClass  # noqa: B018


def test_raw_strings_are_split_and_converted():
    args, rest = _parse("pretrained=org/m,max_frames_num=16,es_retention=0.35,es_grid_fusion=true")
    assert rest == {"pretrained": "org/m", "max_frames_num": "16"}
    assert (args.retention, dict(args.options)) == (0.35, {"grid_fusion": True})


def test_string_values_convert_like_parsed_ones():
    raw = {"retention": "0.1", "tau": "0.05", "grid_fusion": "false", "grid": "3"}
    args = plugin.parse_compression_args(raw)
    assert (args.retention, dict(args.options)) == (
        0.1,
        {"tau": 0.05, "grid_fusion": False, "grid": 3},
    )
    assert plugin.parse_compression_args({"budget": "64"}).budget == 64


def test_unknown_es_key_fails_listing_the_valid_ones():
    with pytest.raises(ValueError, match="es_tua") as err:
        _parse("pretrained=x,es_retention=0.5,es_tua=0.1")
    message = str(err.value)
    for key in ("es_retention", "es_budget", "es_selector", "es_tau", "es_alpha", "es_preset"):
        assert key in message
    assert plugin.valid_keys() == sorted(plugin.valid_keys())
    assert {"es_" + f for f in entropy_select.EntropySelectConfig.field_names()} <= set(
        plugin.valid_keys()
    )


@pytest.mark.parametrize(
    ("model_args", "match"),
    [
        ("es_tau=0.1", "exactly one of es_retention"),
        ("es_retention=0.5,es_budget=10", "exactly one of es_retention"),
        ("es_retention=0", r"es_retention must be in \(0, 1\]"),
        ("es_retention=1.5", r"es_retention must be in \(0, 1\]"),
        ("es_retention=abc", "es_retention must be a number"),
        ("es_budget=0", "es_budget must be >= 1"),
        ("es_budget=2.5", "es_budget must be an integer"),
        ("es_retention=0.5,es_grid=2.5", "es_grid must be an integer"),
        ("es_retention=0.5,es_grid_fusion=maybe", "es_grid_fusion must be a boolean"),
        ("es_retention=0.5,es_alpha=2", "alpha must be in"),
        ("es_retention=0.5,es_preset=nope", "unknown preset"),
        ("es_retention=0.5,es_selector=nope", "not a registered selector"),
    ],
)
def test_bad_values_fail(model_args, match):
    with pytest.raises(ValueError, match=match):
        _parse(model_args)


def test_every_registered_selector_is_accepted():
    for name in entropy_select.selectors.available():
        args, _ = _parse(f"es_selector={name},es_retention=0.25")
        assert args.selector == name and dict(args.options) == {}


def test_in_model_selectors_take_their_options_as_strings():
    args, _ = _parse("es_selector=fastv,es_retention=0.5,es_layer=3")
    assert (args.selector, args.retention, dict(args.options)) == ("fastv", 0.5, {"layer": 3})
    assert args.patch_kwargs() == {
        "retention": 0.5,
        "budget": None,
        "selector": "fastv",
        "layer": 3,
    }
    args, _ = _parse("es_selector=dycoke,es_retention=0.35,es_decode_retention=0.2,es_threshold=1")
    assert dict(args.options) == {"decode_retention": 0.2, "threshold": 1.0}
    assert plugin.valid_keys("fastv") == ["es_budget", "es_layer", "es_retention", "es_selector"]
    args, _ = _parse("es_selector=visionzip,es_retention=0.35,es_contextual_share=0.25")
    assert (args.selector, dict(args.options)) == ("visionzip", {"contextual_share": 0.25})


@pytest.mark.parametrize(
    ("model_args", "match"),
    [
        ("es_selector=fastv,es_retention=0.5,es_tau=0.1", "valid keys with es_selector=fastv"),
        ("es_selector=fastv,es_retention=0.5,es_layer=two", "es_layer must be an integer"),
        ("es_selector=dycoke,es_retention=0.5,es_threshold=x", "es_threshold must be a number"),
        ("es_selector=dycoke,es_retention=0.5,es_decode_retention=2", "decode_retention must be"),
        ("es_selector=fastv,es_retention=0.5,es_layer=0", "layer must be an int >= 1"),
        ("es_selector=visionzip,es_retention=0.5,es_contextual_share=2", "contextual_share"),
    ],
)
def test_bad_in_model_options_fail_before_loading(model_args, match):
    with pytest.raises(ValueError, match=match):
        _parse(model_args)

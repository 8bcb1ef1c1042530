"""Budgets are checked in one place: ``core.checks.check_retention`` and ``check_budget``.

Each entry point that takes a retention or a budget (the Python API, every selector, the stream,
``es.patch``, the lmms-eval plugin and every CLI command) is given the same bad values and must
fail with exactly the error the one check gives for that value under the name the entry point
uses, so the wording cannot drift apart again.
"""

from __future__ import annotations

import math

import pytest
import torch

import entropy_select as es
from entropy_select import selectors
from entropy_select.cli import main
from entropy_select.core.checks import check_budget, check_retention, resolve_budget
from entropy_select.integrations import lmms_eval as plugin

#: zero, negative, above one, NaN, inf, bools and a string
BAD_RETENTIONS = [0, 0.0, -0.5, 1.5, math.nan, math.inf, True, False, "0.5"]
#: zero, negative, a float, a bool and a string (N + 1 is checked where N is known)
BAD_BUDGETS = [0, -3, 2.5, True, "3"]


def _expected(check, value, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises((TypeError, ValueError)) as err:
        check(value, *args, **kwargs)
    return type(err.value), str(err.value)


def _assert_same(call, want: tuple[type, str]) -> None:
    kind, message = want
    with pytest.raises(kind) as err:
        call()
    assert str(err.value) == message


def _video(T=2, H=3, W=4, D=5):
    return torch.randn(T, H, W, D, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------------------------
# The checks themselves
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 1.0, 0.35, 1e-9])
def test_good_retentions_pass_as_floats(value):
    got = check_retention(value)
    assert got == float(value) and type(got) is float


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (0, ValueError, "retention must be in (0, 1], got 0"),
        (-0.5, ValueError, "retention must be in (0, 1], got -0.5"),
        (1.5, ValueError, "retention must be in (0, 1], got 1.5"),
        (math.nan, ValueError, "retention must be in (0, 1], got nan"),
        (math.inf, ValueError, "retention must be in (0, 1], got inf"),
        (True, TypeError, "retention must be a number in (0, 1], got True"),
        ("0.5", TypeError, "retention must be a number in (0, 1], got '0.5'"),
        (None, TypeError, "retention must be a number in (0, 1], got None"),
        (torch.tensor(0.5), TypeError, "retention must be a number in (0, 1], got Tensor"),
    ],
)
def test_bad_retentions(value, kind, message):
    assert _expected(check_retention, value) == (kind, message)


def test_retention_name_is_the_callers():
    assert _expected(check_retention, 2.0, "es_retention")[1].startswith("es_retention must be")


@pytest.mark.parametrize(
    ("value", "num_tokens", "kind", "message"),
    [
        (0, None, ValueError, "budget must be >= 1, got 0"),
        (-3, None, ValueError, "budget must be >= 1, got -3"),
        (0, 10, ValueError, "budget must be in [1, N=10], got 0"),
        (11, 10, ValueError, "budget must be in [1, N=10], got 11"),
        (2.5, None, TypeError, "budget must be an int, got 2.5"),
        (True, None, TypeError, "budget must be an int, got True"),
        ("3", None, TypeError, "budget must be an int, got '3'"),
        (torch.tensor(2.0), None, TypeError, "budget must be an int, got Tensor"),
        (torch.tensor(True), None, TypeError, "budget must be an int, got Tensor"),
    ],
)
def test_bad_budgets(value, num_tokens, kind, message):
    assert _expected(check_budget, value, num_tokens) == (kind, message)


def test_good_budgets():
    assert check_budget(10, 10) == 10 and check_budget(1) == 1
    assert check_budget(torch.tensor(4), 10) == 4 and type(check_budget(torch.tensor(4))) is int


def test_resolve_budget_uses_both_checks():
    assert resolve_budget(10, 0.35, None) == 3 and resolve_budget(10, None, 10) == 10
    assert resolve_budget(10, 0.01, None) == 1  # clamped to at least one token
    for value in BAD_RETENTIONS:
        _assert_same(lambda v=value: resolve_budget(10, v, None), _expected(check_retention, value))
    for value in [*BAD_BUDGETS, 11]:
        _assert_same(
            lambda v=value: resolve_budget(10, None, v), _expected(check_budget, value, 10)
        )


# ---------------------------------------------------------------------------------------------
# Every entry point, through the one check
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_RETENTIONS, ids=repr)
@pytest.mark.parametrize(
    "entry",
    [
        "select_tokens",
        "select_tokens_online",
        "select_tokens_list",
        "streaming",
        "patch",
        *(f"selector:{n}" for n in selectors.available()),
    ],
)
def test_python_entry_points_reject_bad_retentions(entry, value):
    x = _video()
    calls = {
        "select_tokens": lambda: es.select_tokens(x, retention=value),
        "select_tokens_online": lambda: es.select_tokens(
            x, retention=value, frame_budget_rule="online"
        ),
        "select_tokens_list": lambda: es.select_tokens([x, x[:1]], retention=value),
        "streaming": lambda: es.StreamingSelector(retention=value),
        "patch": lambda: es.patch(_fake_model(), retention=value),
    }
    if entry.startswith("selector:"):
        selector = selectors.get(entry.split(":", 1)[1])
        calls[entry] = lambda: selector(x, retention=value)
    _assert_same(calls[entry], _expected(check_retention, value))


@pytest.mark.parametrize("value", BAD_BUDGETS, ids=repr)
@pytest.mark.parametrize(
    "entry",
    ["select_tokens", "patch", "streaming", *(f"selector:{n}" for n in selectors.available())],
)
def test_python_entry_points_reject_bad_budgets(entry, value):
    x = _video()
    if entry == "patch":  # N is only known per video: checked against 1 here
        want = _expected(check_budget, value)
        call = lambda: es.patch(_fake_model(), budget=value)  # noqa: E731
    elif entry == "streaming":
        want = _expected(check_budget, value, name="tokens_per_frame")
        call = lambda: es.StreamingSelector(tokens_per_frame=value)  # noqa: E731
    elif entry == "select_tokens":
        want = _expected(check_budget, value, x[..., 0].numel())
        call = lambda: es.select_tokens(x, budget=value)  # noqa: E731
    else:
        selector = selectors.get(entry.split(":", 1)[1])
        want = _expected(check_budget, value, x[..., 0].numel())
        call = lambda: selector(x, budget=value)  # noqa: E731
    _assert_same(call, want)


def test_budget_above_n_is_rejected_where_n_is_known():
    x = _video()
    n = x[..., 0].numel()
    want = _expected(check_budget, n + 1, n)
    _assert_same(lambda: es.select_tokens(x, budget=n + 1), want)
    for name in selectors.available():
        selector = selectors.get(name)
        _assert_same(lambda s=selector: s(x, budget=n + 1), want)


def _fake_model():
    """A module that names a supported model type: es.patch checks the amount before it needs
    transformers or the model's seams."""
    model = torch.nn.Linear(2, 2)
    model.config = type("Config", (), {"model_type": "qwen2_5_vl"})()
    return model


def test_patch_rejects_before_touching_the_model():
    model = _fake_model()
    before = dict(model.__dict__)
    with pytest.raises(ValueError):
        es.patch(model, retention=0)
    assert model.__dict__ == before


@pytest.mark.parametrize("text", ["0", "-0.5", "1.5", "nan", "inf"])
def test_lmms_eval_plugin_rejects_bad_retentions(text):
    want = _expected(check_retention, float(text), "es_retention")
    _assert_same(lambda: plugin.parse_compression_args({"retention": text}), want)
    # lmms-eval's own parser may already have turned the value into a number
    _assert_same(lambda: plugin.parse_compression_args({"retention": float(text)}), want)


@pytest.mark.parametrize("value", ["abc", True])
def test_lmms_eval_plugin_rejects_non_numbers(value):
    with pytest.raises(ValueError, match="es_retention must be a number"):
        plugin.parse_compression_args({"retention": value})


@pytest.mark.parametrize("text", ["0", "-3"])
def test_lmms_eval_plugin_rejects_bad_budgets(text):
    want = _expected(check_budget, int(text), name="es_budget")
    _assert_same(lambda: plugin.parse_compression_args({"budget": text}), want)


@pytest.mark.parametrize("text", ["0", "-0.5", "1.5", "nan", "inf"])
@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["select", "missing.safetensors"], "--retention"),
        (["demo"], "--retention"),
        (["compare"], "--retention"),
        (["stream"], "--retention"),
        (["eval"], "--retentions"),
        (["eval"], "--detail-retentions"),
    ],
)
def test_cli_rejects_bad_retentions_before_any_work(tmp_path, capsys, command, flag, text):
    out = tmp_path / ("o.safetensors" if command[0] == "select" else "o")
    code = main([*command, "--out", str(out), f"{flag}={text}"])
    _, message = _expected(check_retention, float(text), flag)
    assert code == 1
    assert capsys.readouterr().err.strip() == f"entropy-select {command[0]}: error: {message}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "flag"),
    [(["select", "missing.safetensors"], "--budget"), (["stream"], "--tokens-per-frame")],
)
@pytest.mark.parametrize("text", ["0", "-3"])
def test_cli_rejects_bad_budgets_before_any_work(tmp_path, capsys, command, flag, text):
    out = tmp_path / ("o.safetensors" if command[0] == "select" else "o")
    code = main([*command, "--out", str(out), f"{flag}={text}"])
    _, message = _expected(check_budget, int(text), name=flag)
    assert code == 1
    assert capsys.readouterr().err.strip() == f"entropy-select {command[0]}: error: {message}"
    assert list(tmp_path.iterdir()) == []

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import entropy_select as es
from entropy_select.cli import main


@pytest.fixture
def features():
    return torch.randn(4, 5, 5, 8, generator=torch.Generator().manual_seed(0))


def test_select_safetensors_roundtrip(tmp_path, features, capsys):
    src, out = tmp_path / "f.safetensors", tmp_path / "o.safetensors"
    save_file({"features": features}, str(src))
    assert main(["select", str(src), "--retention", "0.35", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "K=35 of N=100" in printed and "per-frame budgets" in printed
    got = load_file(str(out))
    want = es.select_tokens(features, retention=0.35)
    assert torch.equal(got["keep_index"], want.keep_index)
    assert torch.equal(got["frame_budget"], want.frame_budget)
    torch.testing.assert_close(got["scores"], want.scores)
    with safe_open(str(out), "pt") as f:
        summary = json.loads(f.metadata()["summary"])
    assert summary["N"] == 100 and summary["K"] == 35


def test_select_npy_with_options_and_budget(tmp_path, features):
    src, out = tmp_path / "f.npy", tmp_path / "o.safetensors"
    np.save(src, features.numpy())
    args = [
        "select",
        str(src),
        "--budget",
        "10",
        "--out",
        str(out),
        "--set",
        "tau=0.1",
        "--save-tokens",
    ]
    assert main(args) == 0
    got = load_file(str(out))
    want = es.select_tokens(features, budget=10, tau=0.1)
    assert torch.equal(got["keep_index"], want.keep_index)
    assert torch.equal(got["tokens"], want.tokens)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--retention", "1.5"], "retention must be in (0, 1]"),
        (["--retention", "0.5", "--set", "nokey=1"], "unknown"),
        (["--retention", "0.5", "--set", "tau"], "KEY=VALUE"),
    ],
)
def test_errors_are_clear_and_write_nothing(tmp_path, features, capsys, argv, message):
    src, out = tmp_path / "f.safetensors", tmp_path / "o.safetensors"
    save_file({"features": features}, str(src))
    assert main(["select", str(src), "--out", str(out), *argv]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_missing_file_pickle_and_bad_shapes(tmp_path, capsys):
    out = tmp_path / "o.safetensors"
    assert (
        main(["select", str(tmp_path / "nope.npy"), "--retention", "0.5", "--out", str(out)]) == 1
    )
    assert "no such feature file" in capsys.readouterr().err
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["select", str(obj), "--retention", "0.5", "--out", str(out)]) == 1
    assert "without pickle" in capsys.readouterr().err
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((3, 4), dtype=np.float32))
    assert main(["select", str(flat), "--retention", "0.5", "--out", str(out)]) == 1
    assert "expected [T, H, W, D]" in capsys.readouterr().err
    two = tmp_path / "two.safetensors"
    save_file({"a": torch.zeros(1, 2, 2, 3), "b": torch.zeros(1)}, str(two))
    assert main(["select", str(two), "--retention", "0.5", "--out", str(out)]) == 1
    assert "name one with --key" in capsys.readouterr().err
    assert not out.exists()


def test_help_lists_select(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "select" in capsys.readouterr().out

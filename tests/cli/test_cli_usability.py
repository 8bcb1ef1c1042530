"""What a new user trips on (issue 15): output paths, help texts, the quiet flag."""

import argparse
import re

import pytest
import torch

from entropy_select.cli import build_parser, main
from entropy_select.io import atomic_path, output_dir


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # argparse wraps to the terminal width


# ---- output paths ----------------------------------------------------------------------------


def test_output_dir_that_is_a_file_is_one_line_and_leaves_nothing(tmp_path, capsys):
    pytest.importorskip("av")
    pytest.importorskip("matplotlib")
    taken = tmp_path / "taken"
    taken.write_text("mine\n")
    for command in ("demo", "compare"):
        argv = [command, "--out", str(taken), "--frames", "2", "--input-size", "64", "--no-cache"]
        assert main([*argv, "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"entropy-select {command}: error: {taken} is a file" in err
        assert taken.read_text() == "mine\n" and sorted(tmp_path.iterdir()) == [taken]
    # a parent that is a file
    assert main(["demo", "--out", str(taken / "sub"), "--no-cache", "--quiet"]) == 1
    assert f"{taken} (a parent of {taken / 'sub'}) is a file" in capsys.readouterr().err


def test_select_out_directory_is_one_line_and_leaves_nothing(tmp_path, capsys):
    st = pytest.importorskip("safetensors.torch")
    src = tmp_path / "f.safetensors"
    st.save_file({"x": torch.randn(2, 4, 4, 8)}, str(src))
    target = tmp_path / "results"
    target.mkdir()
    assert main(["select", str(src), "--retention", "0.5", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {target} is a directory" in err
    assert list(target.iterdir()) == [] and sorted(tmp_path.iterdir()) == [src, target]
    # a .safetensors-named directory goes the same way
    named = tmp_path / "kept.safetensors"
    named.mkdir()
    assert main(["select", str(src), "--retention", "0.5", "--out", str(named)]) == 1
    assert "is a directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_path_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "d"
    target.mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        with atomic_path(target):
            pass
    # the final rename itself fails: the hidden temporary file goes too
    import entropy_select.io as io

    def broken_replace(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        with atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_output_dir_checks_without_creating(tmp_path):
    assert output_dir(tmp_path / "a" / "b", create=False) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    assert output_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        output_dir(tmp_path / "f", create=False)


def test_unforeseen_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    st = pytest.importorskip("safetensors.torch")
    src = tmp_path / "f.safetensors"
    st.save_file({"x": torch.randn(2, 4, 4, 8)}, str(src))
    import entropy_select.io as io

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "replace", full_disk)
    out = tmp_path / "o.safetensors"
    assert main(["select", str(src), "--retention", "0.5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert sorted(tmp_path.iterdir()) == [src]


# ---- help and flags --------------------------------------------------------------------------


def test_every_default_is_shown_in_help(wide):
    shown = 0
    for name, sub in _subparsers(build_parser()).items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            default = action.default
            if default in (None, False, argparse.SUPPRESS) or default == []:
                continue
            if isinstance(action, argparse._HelpAction):
                continue
            assert str(default) in text, (name, action.dest, default)
            shown += 1
    assert shown >= 20
    subs = _subparsers(build_parser())
    # the ones a new user missed
    for command, option, value in [
        ("demo", "--out", "entropy_select_demo"),
        ("compare", "--retention", "0.1"),
        ("select", "--selector", "entropy_select"),
        ("demo", "--batch-size", "4"),
        ("compare", "--out", "entropy_select_compare"),
    ]:
        text = " ".join(subs[command].format_help().split())
        at = text.index(option + " ", text.index("options:"))
        assert f"(default: {value})" in text[at : at + 300], (command, option)


def test_help_has_no_doubled_defaults(wide):
    for name, sub in _subparsers(build_parser()).items():
        text = " ".join(sub.format_help().split())
        assert "(default: None)" not in text and "(default: False)" not in text, name
        # "(default 16) (default: 16)": a default in words and the formatter's both
        assert not re.search(r"\(default[ :][^)]*\) \(default:", text), name


@pytest.mark.parametrize("command", ["demo", "compare", "eval"])
def test_one_quiet_flag_and_a_hidden_deprecated_alias(command, capsys, wide):
    sub = _subparsers(build_parser())[command]
    help_text = sub.format_help()
    assert "--quiet" in help_text and "--no-progress" not in help_text
    extra = ["--out", "x"] if command == "eval" else []
    assert sub.parse_args([*extra]).quiet is False
    assert sub.parse_args([*extra, "--quiet"]).quiet is True
    capsys.readouterr()
    assert sub.parse_args([*extra, "--no-progress"]).quiet is True
    assert "--no-progress is deprecated; use --quiet" in capsys.readouterr().err

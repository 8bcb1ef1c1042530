"""``entropy-select cache``: where the feature cache is, its size, and clearing it (issue 15)."""

import re
from pathlib import Path

import pytest
import torch

from entropy_select.cli import main
from entropy_select.encoders import FeatureCache

pytest.importorskip("safetensors")


def _fill(directory: Path, count: int) -> list[Path]:
    cache = FeatureCache(directory)
    return [cache.save(f"{k:032x}", torch.zeros(2, 4, 4, 8), {"k": k}) for k in range(count)]


def test_info_on_a_missing_directory(tmp_path, capsys):
    assert main(["cache", "--cache-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert f"feature cache: {tmp_path / 'none'} (does not exist yet)" in out
    assert "0 entries, 0.0 MB" in out and not (tmp_path / "none").exists()


def test_info_counts_entries_and_size(tmp_path, capsys):
    entries = _fill(tmp_path, 3)
    size = sum(p.stat().st_size for p in entries) / 1e6
    assert main(["cache", "--info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"3 entries, {size:.1f} MB" in out
    assert f"entropy-select cache --clear --cache-dir {tmp_path}" in out


def test_clear_deletes_entries_and_leftovers_only(tmp_path, capsys):
    _fill(tmp_path, 2)
    leftover = tmp_path / f".{0:032x}.safetensors.abc123.tmp"  # an interrupted write
    leftover.write_bytes(b"x")
    mine = tmp_path / "notes.txt"  # not the cache's: kept, and so is the directory
    mine.write_text("keep me\n")
    assert main(["cache", "--clear", "--cache-dir", str(tmp_path)]) == 0
    assert "cleared 2 entries" in capsys.readouterr().out
    assert sorted(tmp_path.iterdir()) == [mine]


def test_clear_removes_an_emptied_directory_and_uses_the_environment(tmp_path, monkeypatch):
    directory = tmp_path / "es-cache"
    _fill(directory, 1)
    monkeypatch.setenv("ENTROPY_SELECT_CACHE", str(directory))
    assert main(["cache", "--clear"]) == 0
    assert not directory.exists() and tmp_path.exists()
    assert main(["cache", "--clear"]) == 0  # clearing nothing is fine


def test_a_file_as_cache_directory_and_exclusive_options(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["cache", "--cache-dir", str(tmp_path / "f")]) == 1
    assert "is a file, not a cache directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cache", "--info", "--clear"])


def test_readme_output_directories_are_git_ignored():
    root = Path(__file__).resolve().parents[2]
    ignored = set((root / ".gitignore").read_text().split())
    readme = (root / "README.md").read_text()
    outs = re.findall(r"^entropy-select \w+ .*--out (\S+)", readme, flags=re.M)  # commands
    dirs = [o for o in outs if "." not in Path(o).name]  # directories, not files like kept.st
    assert {"demo_out", "compare_out"} <= set(dirs)
    for name in dirs:
        assert f"{name}/" in ignored, name

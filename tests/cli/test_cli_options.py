"""CLI options reach what they claim to control (issue 17: mutation testing found these
unguarded): --cache-dir is where features go, --aspect is validated, compare's default frames,
timings and output directory, and the demo's figure titles and timestamps."""

from __future__ import annotations

import json

import pytest

from entropy_select.cli import main

pytest.importorskip("av")
pytest.importorskip("matplotlib")
video = pytest.importorskip("entropy_select.video")


def _fast(tmp_path, frames=4):
    return ["--frames", str(frames), "--input-size", "128", "--quiet", "--dpi", "40"] + [
        "--cache-dir",
        str(tmp_path / "cache"),
    ]


def test_cache_dir_is_where_features_are_cached(tmp_path, carphone, monkeypatch):
    monkeypatch.setenv("ENTROPY_SELECT_CACHE", str(tmp_path / "env-cache"))
    out = tmp_path / "o"
    assert main(["compare", carphone, "--out", str(out), *_fast(tmp_path)]) == 0
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 1
    assert not (tmp_path / "env-cache").exists()
    assert main(["compare", carphone, "--out", str(out), "--no-cache", *_fast(tmp_path)[:-2]]) == 0
    assert not (tmp_path / "env-cache").exists()


def test_aspect_is_validated(tmp_path, carphone, capsys):
    with pytest.raises(SystemExit) as err:
        main(["compare", carphone, "--aspect", "squash", *_fast(tmp_path)])
    assert err.value.code == 2
    assert "invalid choice: 'squash'" in capsys.readouterr().err


def test_compare_defaults_timings_and_nested_output(tmp_path, carphone):
    out = tmp_path / "a" / "b" / "c"  # created with its parents
    args = ["compare", carphone, "--selectors", "entropy_select,uniform", "--out", str(out)]
    for _ in range(2):  # and written again over an existing directory
        assert main([*args, *_fast(tmp_path, frames=8)]) == 0
    s = json.loads((out / "compare.json").read_text())
    assert s["shown_frames"] == [1, 3, 5, 7]  # 4 frames spread evenly over 8
    for row in s["selectors"]:
        assert isinstance(row["seconds"], float) and 0 <= row["seconds"] < 5


def test_demo_figures_get_titles_and_timestamps(tmp_path, carphone, monkeypatch):
    from entropy_select import viz

    seen = {}
    for name in ("panel_figure", "strip_figure"):
        real = getattr(viz, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            seen[_name] = kwargs
            return _real(*args, **kwargs)

        monkeypatch.setattr(viz, name, spy)
    assert main(["demo", carphone, "--out", str(tmp_path / "d"), *_fast(tmp_path)]) == 0
    for name in ("panel_figure", "strip_figure"):
        assert "carphone_pristine.mp4" in seen[name]["title"], name
        assert seen[name]["timestamps"] is not None and len(seen[name]["timestamps"]) == 4

import json

import pytest

from entropy_select.cli import main

pytest.importorskip("av")
pytest.importorskip("matplotlib")
video = pytest.importorskip("entropy_select.video")


def _fast(tmp_path):
    # small encoder input and few frames keep these end-to-end runs to a few seconds
    return [
        "--frames",
        "4",
        "--input-size",
        "128",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
        "--dpi",
        "40",
    ]


def test_demo_default_video_writes_everything(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), *_fast(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "bikes.mp4" in printed and f"wrote {out / 'fig6_panel.png'}" in printed
    for name in ("fig6_panel.png", "fig5_strip.png", "summary.json", "selection.safetensors"):
        assert (out / name).stat().st_size > 0
    s = json.loads((out / "summary.json").read_text())
    assert s["video"].endswith("bikes.mp4") and s["video_frames"] == 250
    assert s["grid"] == [4, 4, 4, 1280] and s["N"] == 64 and s["K"] == int(0.35 * 64)
    assert sum(s["frame_budget"]) == s["K"] and len(s["timestamps_s"]) == 4
    assert set(s["seconds"]) == {"decode", "encode", "select", "render"}
    assert s["features_from_cache"] is False
    # the first run says where the features went and how to clear them
    assert f"cached the features (0.3 MB) in {tmp_path / 'cache'}" in printed
    assert "entropy-select cache --info" in printed
    # the second run reads the cached features, and writes (and says) nothing new
    assert main(["demo", "--out", str(out), *_fast(tmp_path)]) == 0
    assert json.loads((out / "summary.json").read_text())["features_from_cache"] is True
    printed = capsys.readouterr().out
    assert "from cache" in printed and "cached the features" not in printed


def test_demo_options(tmp_path, carphone):
    out = tmp_path / "o"
    args = [
        "demo",
        carphone,
        "--out",
        str(out),
        "--retention",
        "0.5",
        "--panel-frames",
        "0,3",
        "--aspect",
        "crop",
        "--set",
        "tau=0.1",
        "--no-cache",
        *_fast(tmp_path),
    ]
    assert main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["K"] == 32 and s["panel_frames"] == [0, 3] and s["aspect"] == "crop"
    assert s["selector_options"] == {"tau": "0.1"}
    assert not (tmp_path / "cache").exists()  # --no-cache wrote nothing


@pytest.mark.parametrize(
    "extra, message",
    [
        (["/no/such/video.mp4"], "no such video file"),
        (["--encoder", "resnet"], "unknown encoder 'resnet'"),
        (["--frames", "500"], "only 250"),
        (["--panel-frames", "9"], "--panel-frames"),
        (["--set", "nonsense=1"], "nonsense"),
        (["--encoder", "hf:x", "--input-size", "64"], "--input-size"),
    ],
)
def test_demo_errors(tmp_path, capsys, extra, message):
    base = ["demo", "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    base += [] if "--frames" in extra else ["--frames", "4"]
    base += [] if "--encoder" in extra else ["--input-size", "64"]
    assert main([*base, *extra]) == 1
    err = capsys.readouterr().err
    assert "entropy-select demo: error:" in err and message in err


def test_compare_two_configurations(tmp_path, capsys, carphone):
    out = tmp_path / "cmp"
    spec = "entropy_select,entropy_select:tau=0.1:alpha=0.8"
    assert (
        main(
            [
                "compare",
                carphone,
                "--selectors",
                spec,
                "--retention",
                "0.25",
                "--repeats",
                "3",
                "--out",
                str(out),
                *_fast(tmp_path),
            ]
        )
        == 0
    )
    s = json.loads((out / "compare.json").read_text())
    assert [r["selector"] for r in s["selectors"]] == spec.split(",")
    assert all(r["K"] == 16 == sum(r["frame_budget"]) for r in s["selectors"])
    assert s["selectors"][0]["jaccard_vs_first"] == 1.0
    for row in s["selectors"]:  # the time shown is the median of the timed runs
        assert len(row["seconds_runs"]) == 3
        assert row["seconds"] == sorted(row["seconds_runs"])[1]
    assert (out / "compare.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and printed.count("(median of 3)") == 2
    # --repeats 0: no timing at all
    assert main(["compare", carphone, "--repeats", "0", "--out", str(out), *_fast(tmp_path)]) == 0
    row = json.loads((out / "compare.json").read_text())["selectors"][0]
    assert row["seconds"] is None and row["seconds_runs"] == []
    assert " ms" not in capsys.readouterr().out


def test_compare_errors(tmp_path, capsys, carphone):
    assert (
        main(
            [
                "compare",
                carphone,
                "--selectors",
                "entropy_select,nope",
                "--out",
                str(tmp_path),
                *_fast(tmp_path),
            ]
        )
        == 1
    )
    assert "unknown selector 'nope'" in capsys.readouterr().err
    assert main(["compare", carphone, "--selectors", "a,a", *_fast(tmp_path)]) == 1
    assert "twice" in capsys.readouterr().err
    assert main(["compare", carphone, "--selectors", "entropy_select:tau", *_fast(tmp_path)]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err

import json
import math

import pytest
import torch

from entropy_select.cli import main

pytest.importorskip("av")
video = pytest.importorskip("entropy_select.video")


FAST = ["--max-frames", "5", "--input-size", "128", "--quiet"]  # 4x4 tokens a frame


def test_stream_writes_json_and_mp4(tmp_path, carphone, capsys):
    out = tmp_path / "o"
    mp4 = tmp_path / "overlay.mp4"
    args = ["stream", carphone, "--retention", "0.25", "--out", str(out), "--video-out", str(mp4)]
    assert main([*args, *FAST]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {mp4}" in printed and "selection per frame: median" in printed
    s = json.loads((out / "stream.json").read_text())
    assert s["frames"] == 5 and s["grid"] == [4, 4, 1280] and s["budget_mode"] == "adaptive"
    assert s["config"]["minmax_scope"] == "frame" and s["N"] == 80
    rows = s["per_frame"]
    assert [r["frame"] for r in rows] == [0, 1, 2, 3, 4]
    for t, r in enumerate(rows):
        assert r["emitted"] <= math.ceil(0.25 * 16 * (t + 1)) and r["select_ms"] > 0
    assert s["K"] == sum(r["budget"] for r in rows)
    av = pytest.importorskip("av")
    with av.open(str(mp4)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (144, 176, 3)
    assert not list(tmp_path.glob(".*.tmp"))


def test_stream_fps_gif_and_fixed_budget(tmp_path, carphone):
    gif = tmp_path / "o.gif"
    args = ["stream", carphone, "--tokens-per-frame", "3", "--fps", "10", "--out", str(tmp_path)]
    assert main([*args, "--video-out", str(gif), *FAST]) == 0
    s = json.loads((tmp_path / "stream.json").read_text())
    assert [r["frame"] for r in s["per_frame"]] == [0, 3, 6, 9, 12]  # 30 fps sampled at 10
    assert all(r["budget"] == 3 for r in s["per_frame"]) and s["budget_mode"] == "fixed"
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_outline_marks_exactly_the_kept_cells():
    from entropy_select.viz.video_out import OUTLINE, outline_keep

    frame = torch.full((8, 12, 3), 100, dtype=torch.uint8)
    keep = torch.tensor([[True, False, False], [False, False, True]])
    out = outline_keep(frame, keep)
    gold = torch.tensor(OUTLINE, dtype=torch.uint8)
    assert (out[0, 0] == gold).all() and (out[3, 3] == gold).all()  # corners of cell (0, 0)
    assert (out[1, 1] == 100).all()  # inside a kept cell: untouched
    assert (out[1, 5] != 100).all() and not (out[1, 5] == gold).all()  # dropped: shaded
    assert (out[4:, 8:][:, :, 0] == gold[0]).sum() == 12  # the outline of cell (1, 2)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--retention", "0"], r"retention must be in \(0, 1\]"),
        (["--tokens-per-frame", "17"], r"exceeds the frame's H\*W=16"),
        (["--video-out", "x.avi"], r"must end in .mp4 or .gif"),
        (["--set", "tau=-1"], "tau must be"),
        (["--max-frames", "0"], "--max-frames must be >= 1"),
        (["--fps", "-2"], "fps must be a positive number"),
    ],
)
def test_stream_errors_write_nothing(tmp_path, carphone, capsys, extra, match):
    out = tmp_path / "o"
    args = ["stream", carphone, "--out", str(out), *FAST, *extra]
    assert main(args) == 1
    assert pytest.importorskip("re").search(match, capsys.readouterr().err)
    assert not out.exists() and not list(tmp_path.rglob("*.tmp"))


def test_stream_bad_video(tmp_path, capsys):
    assert main(["stream", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == 1
    assert "no such video file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    assert main(["stream", str(junk), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_stream_failure_midway_leaves_nothing(tmp_path, carphone, monkeypatch, capsys):
    from entropy_select import streaming

    calls = {"n": 0}
    push = streaming.StreamingSelector.push

    def failing(self, frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom at frame 3")
        return push(self, frame)

    monkeypatch.setattr(streaming.StreamingSelector, "push", failing)
    mp4 = tmp_path / "v" / "overlay.mp4"
    args = ["stream", carphone, "--out", str(tmp_path / "o"), "--video-out", str(mp4), *FAST]
    assert main(args) == 1
    assert "boom at frame 3" in capsys.readouterr().err
    assert not mp4.exists() and not (tmp_path / "o").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_stream_output_path_is_a_directory(tmp_path, carphone, capsys):
    (tmp_path / "d.mp4").mkdir()
    args = ["stream", carphone, "--out", str(tmp_path), "--video-out", str(tmp_path / "d.mp4")]
    assert main([*args, *FAST]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_stream_progress_bar_shows_per_frame_latency(tmp_path, carphone, capsys):
    pytest.importorskip("tqdm")
    args = ["stream", carphone, "--out", str(tmp_path), "--max-frames", "3", "--input-size", "64"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "streaming carphone_pristine.mp4" in err and "select=" in err and " ms" in err

"""Partly written videos (issue 15, point 4): real clips cut short, in every container kind.

What each container declares, and so what read_video can notice:
- MP4 with its index at the front (faststart) and AVI state a frame count: a cut file warns
  (``strict=True`` raises) and samples from the frames present;
- MKV and WebM state a duration: the same, judged on the duration;
- MP4 with its index at the end: a cut file has no index and cannot be read at all; the error
  says it looks truncated or corrupt.
"""

import warnings

import pytest
import torch
from video_clips import FORMATS, av, write_clip

from entropy_select.cli import main
from entropy_select.video import TruncatedVideoWarning, read_video, sample_video_path

pytestmark = pytest.mark.skipif(av is None, reason="needs av and numpy (entropy-select[video])")

# container kind -> (suffix, codec, pixel format, muxer options)
KINDS = {
    "mp4-faststart": ("mp4", *FORMATS["mp4"], {"movflags": "faststart"}),
    "mp4-index-at-end": ("mp4", *FORMATS["mp4"], {}),
    "mkv": ("mkv", *FORMATS["mkv"], {}),
    "webm": ("webm", *FORMATS["webm"], {}),
    "avi": ("avi", "mjpeg", "yuvj420p", {}),  # intra-only, as cameras write AVI
}
FRAMES, FPS = 50, 10  # a 5-second clip


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """kind -> a complete 50-frame clip of carphone_pristine.mp4 (96x80) in that container."""
    try:
        clip = read_video(sample_video_path("carphone_pristine.mp4"), frames=FRAMES)
    except ImportError as err:
        pytest.skip(str(err))
    x = clip.frames.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(80, 96), mode="area")
    frames = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    root = tmp_path_factory.mktemp("whole")
    paths = {}
    for kind, (suffix, codec, pix_fmt, options) in KINDS.items():
        paths[kind] = root / f"{kind}.{suffix}"
        write_clip(paths[kind], frames, codec, pix_fmt, fps=FPS, options=options)
    return paths


def _cut(path, tmp_path, fraction=0.5):
    out = tmp_path / f"cut-{path.name}"
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_complete_files_are_quiet(whole, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip = read_video(whole[kind], frames=8, strict=True)
    assert clip.total_frames == FRAMES and not clip.truncated


@pytest.mark.parametrize("kind", ["mp4-faststart", "avi", "mkv", "webm"])
def test_cut_file_warns_and_samples_what_is_there(whole, tmp_path, kind):
    cut = _cut(whole[kind], tmp_path)
    with pytest.warns(TruncatedVideoWarning, match="looks truncated or corrupt") as record:
        clip = read_video(cut, frames=8)
    message = str(record[0].message)
    if kind in ("mp4-faststart", "avi"):  # these state a frame count
        assert f"declares {FRAMES} frames" in message and clip.declared_frames == FRAMES
    else:  # mkv, webm state a duration
        assert "declares 5.0 s" in message and clip.declared_seconds == pytest.approx(5.0)
    assert clip.truncated and 5 <= clip.total_frames < 0.8 * FRAMES
    assert clip.num_frames == 8 and int(clip.indices[-1]) < clip.total_frames
    assert clip.frames.float().std() > 10  # real pictures from the part that is there
    with pytest.raises(ValueError, match="looks truncated or corrupt"):
        read_video(cut, frames=8, strict=True)


def test_cut_mp4_with_its_index_at_the_end(whole, tmp_path):
    cut = _cut(whole["mp4-index-at-end"], tmp_path)
    for strict in (False, True):
        with pytest.raises(ValueError, match="looks truncated or corrupt .*moov box, is missing"):
            read_video(cut, strict=strict)
    # the sample file itself has its index at the end
    bikes = _cut(sample_video_path("bikes.mp4"), tmp_path, 0.3)
    with pytest.raises(ValueError, match="looks truncated or corrupt"):
        read_video(bikes)


def test_not_a_video_is_not_called_truncated(tmp_path):
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(ValueError, match="cannot read .* \\(FFmpeg says") as info:
        read_video(tmp_path / "notes.mp4")
    assert "moov" not in str(info.value)


def test_reported_case_faststart_bikes(tmp_path):
    """The issue's reproduction: bikes.mp4 (250 frames) remuxed with its index at the front, 30%
    of it written: 74 frames decode, and 16 were sampled from them silently."""
    src = sample_video_path("bikes.mp4")
    fast = tmp_path / "bikes-faststart.mp4"
    with av.open(str(src)) as i, av.open(str(fast), "w", options={"movflags": "faststart"}) as o:
        stream = o.add_stream_from_template(i.streams.video[0])
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                o.mux(packet)
    cut = _cut(fast, tmp_path, 0.3)
    with pytest.warns(TruncatedVideoWarning, match="declares 250 frames but the file holds only"):
        clip = read_video(cut, frames=16)
    assert clip.total_frames < 100 and clip.num_frames == 16
    # asking for more frames than are there says why there are so few
    with pytest.raises(ValueError, match="only .*looks truncated or corrupt"):
        read_video(cut, frames=120)


def test_cli_warns_in_one_line_and_strict_fails(whole, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    cut = _cut(whole["mkv"], tmp_path)
    base = ["demo", str(cut), "--frames", "2", "--input-size", "64", "--no-cache", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "o"), "--dpi", "30"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "truncated" in line]
    assert len(lines) == 1 and lines[0].startswith("entropy-select demo: warning: ")
    assert "--strict makes this an error" in lines[0]
    assert main([*base, "--out", str(tmp_path / "s"), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "entropy-select demo: error: " in err and "looks truncated or corrupt" in err
    assert not (tmp_path / "s").exists()

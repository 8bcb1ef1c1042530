import math

import numpy as np
import pytest
import torch
from video_clips import FORMATS, av, write_clip

from entropy_select.video import read_video, sample_indices, sample_video_path

pytestmark = pytest.mark.skipif(av is None, reason="needs av and numpy (entropy-select[video])")


def test_bikes_uniform_16(bikes_path):
    clip = read_video(bikes_path)
    assert clip.frames.shape == (16, 272, 640, 3) and clip.frames.dtype == torch.uint8
    assert clip.total_frames == 250 and clip.fps == 25.0
    # centres of 16 equal segments of 250 frames
    assert clip.indices.tolist() == [int((k + 0.5) * 250 / 16) for k in range(16)]
    # constant-rate stream: time = frame number / 25
    torch.testing.assert_close(clip.timestamps, clip.indices.double() / 25, atol=1e-3, rtol=0)
    assert clip.frames.float().std() > 20  # real pictures, not a blank decode


def test_bikes_frames_match_full_decode(bikes_path):
    clip = read_video(bikes_path, frames=5)
    with av.open(str(bikes_path)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for k, i in enumerate(clip.indices.tolist()):
        assert np.array_equal(clip.frames[k].numpy(), every[i])


def test_carphone_and_fps_sampling():
    path = sample_video_path("carphone_pristine.mp4")
    clip = read_video(path, frames=None, fps=5)
    assert clip.total_frames == 120 and clip.frames.shape[1:] == (144, 176, 3)
    step = clip.fps / 5
    assert clip.indices.tolist() == [round(k * step) for k in range(math.ceil(119.5 / step))]
    np.testing.assert_allclose(np.diff(clip.timestamps.numpy()), 0.2, atol=0.02)
    capped = read_video(path, frames=6, fps=5)  # fps mode with a cap thins uniformly
    assert capped.num_frames == 6 and set(capped.indices.tolist()) <= set(clip.indices.tolist())


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_containers(clips, small_frames, suffix):
    clip = read_video(clips[suffix], frames=5)
    assert clip.frames.shape == (5, 64, 96, 3)
    assert clip.total_frames == 12
    assert clip.indices.tolist() == [1, 3, 6, 8, 10]
    assert torch.all(clip.timestamps.diff() > 0)
    np.testing.assert_allclose(clip.timestamps.numpy(), clip.indices.numpy() / 10, atol=2e-3)
    # decoded pixels are the encoded frames up to codec loss
    err = np.abs(clip.frames.numpy().astype(int) - small_frames[clip.indices.numpy()]).mean()
    assert err < (3 if suffix == "mkv" else 12), err


def test_sample_indices_rules():
    assert sample_indices(10, 10) == list(range(10))
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    assert sample_indices(100, None, fps=5, native_fps=25) == list(range(0, 100, 5))
    with pytest.raises(ValueError, match="positive integer"):
        sample_indices(10, 0)
    with pytest.raises(ValueError, match="positive number"):
        sample_indices(10, 4, fps=-1, native_fps=25)
    with pytest.raises(ValueError, match="frame rate"):
        sample_indices(10, 4, fps=1, native_fps=0)


# ---- error paths -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video file"):
        read_video(tmp_path / "nope.mp4")


def test_directory_and_empty_file(tmp_path):
    with pytest.raises(ValueError, match="not a file"):
        read_video(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_video(tmp_path / "empty.mp4")


def test_unreadable_file(tmp_path, bikes_path):
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(ValueError, match="cannot read"):
        read_video(tmp_path / "notes.mp4")
    data = bikes_path.read_bytes()  # mp4 cut in half: the index (moov) is lost
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read"):
        read_video(tmp_path / "cut.mp4")


def test_corrupt_stream(tmp_path, bikes_path):
    data = bytearray(bikes_path.read_bytes())
    rng = np.random.default_rng(0)
    for off in range(len(data) // 4, 3 * len(data) // 4, 997):  # garbage inside the stream
        data[off : off + 50] = rng.integers(0, 256, 50, dtype=np.uint8).tobytes()
    (tmp_path / "corrupt.mp4").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt video stream"):
        read_video(tmp_path / "corrupt.mp4", frames=16)


def test_fewer_frames_than_asked(clips):
    with pytest.raises(ValueError, match="only 12"):
        read_video(clips["mkv"], frames=16)


def test_zero_length_video(tmp_path):
    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as out:  # a video stream that never gets a frame
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in [*audio.encode(frame), *audio.encode(None)]:
            out.mux(packet)
    with pytest.raises(ValueError, match="zero-length"):
        read_video(path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as out:
        audio = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in [*audio.encode(frame), *audio.encode(None)]:
            out.mux(packet)
    with pytest.raises(ValueError, match="no video stream"):
        read_video(path)


def test_write_clip_helper_roundtrip(tmp_path, small_frames):
    write_clip(tmp_path / "x.mkv", small_frames[:3], "ffv1", "yuv444p")
    assert read_video(tmp_path / "x.mkv", frames=3).total_frames == 3

"""Reader edge cases the mutation run left alive: a stream that does not start at time 0, a
one-frame video, and a non-integer frame count."""

from __future__ import annotations

import warnings

import pytest
import torch

from entropy_select.video import read_video
from entropy_select.video.reader import sample_indices

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")


def _write_offset_clip(path, frames, fps=10, first_pts=25):
    """An MKV whose first frame is presented at ``first_pts / fps`` seconds, not 0."""
    from fractions import Fraction

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for k, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = first_pts + k
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_timestamps_count_from_the_first_frame(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)
    path = tmp_path / "offset.mkv"
    _write_offset_clip(path, frames)
    with av.open(str(path)) as c:  # the container really starts late
        first = next(c.decode(video=0))
        assert float(first.time) > 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete file that starts late is not "truncated"
        clip = read_video(path, frames=4)
    assert not clip.truncated
    assert float(clip.timestamps[0]) == pytest.approx(clip.indices[0].item() / 10, abs=1e-6)
    expected = clip.indices.double() / 10
    torch.testing.assert_close(clip.timestamps, expected, rtol=0, atol=1e-6)


def test_a_one_frame_video_is_a_video():
    assert sample_indices(1, 1) == [0]


@pytest.mark.parametrize("frames", [2.5, 0, -1, True])
def test_frames_must_be_a_positive_integer(frames):
    with pytest.raises(ValueError, match="positive integer"):
        sample_indices(10, frames)

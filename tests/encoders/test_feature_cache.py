import os

import pytest
import torch

from entropy_select.encoders import FeatureCache, default_cache_dir
from entropy_select.encoders.mobilenet_v2 import MobileNetV2Encoder

video = pytest.importorskip("entropy_select.video")
pytest.importorskip("av")


class CountingEncoder(MobileNetV2Encoder):
    """MobileNetV2 at 64 px that counts forward passes."""

    def __init__(self):
        super().__init__(input_size=64)
        self.calls = 0

    def forward_pixels(self, pixels):
        self.calls += 1
        return super().forward_pixels(pixels)


@pytest.fixture()
def bikes():
    try:
        return video.sample_video_path("carphone_pristine.mp4")  # small: fast to decode
    except ImportError as err:
        pytest.skip(str(err))


def test_second_run_skips_encoding(tmp_path, bikes):
    enc = CountingEncoder()
    first = video.video_features(bikes, enc, frames=3, cache=tmp_path, batch_size=2)
    assert not first.cached and enc.calls == 2 and first.features.shape == (3, 2, 2, 1280)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    second = video.video_features(bikes, enc, frames=3, cache=tmp_path, batch_size=2)
    assert second.cached and enc.calls == 2  # no forward pass at all
    assert torch.equal(first.features, second.features)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary behind


def test_key_changes_with_frames_encoder_aspect_and_file(tmp_path, bikes):
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(bikes.read_bytes())
    k = FeatureCache.key(copy, [1, 2], "mobilenet_v2@448x448", "stretch")
    assert k == FeatureCache.key(copy, [1, 2], "mobilenet_v2@448x448", "stretch")
    assert k != FeatureCache.key(copy, [1, 3], "mobilenet_v2@448x448", "stretch")
    assert k != FeatureCache.key(copy, [1, 2], "mobilenet_v2@224x224", "stretch")
    assert k != FeatureCache.key(copy, [1, 2], "mobilenet_v2@448x448", "crop")
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file was replaced
    assert k != FeatureCache.key(copy, [1, 2], "mobilenet_v2@448x448", "stretch")


def test_no_cache_and_damaged_entry(tmp_path, bikes):
    enc = CountingEncoder()
    video.video_features(bikes, enc, frames=2, cache=False)
    video.video_features(bikes, enc, frames=2, cache=False)
    assert enc.calls == 2 and not list(tmp_path.iterdir())
    store = FeatureCache(tmp_path)
    video.video_features(bikes, enc, frames=2, cache=store)
    (entry,) = tmp_path.glob("*.safetensors")
    entry.write_bytes(b"garbage")  # a damaged entry is a miss and gets rewritten
    again = video.video_features(bikes, enc, frames=2, cache=store)
    assert not again.cached and enc.calls == 4
    assert video.video_features(bikes, enc, frames=2, cache=store).cached


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTROPY_SELECT_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    assert FeatureCache().directory == tmp_path / "c"
    monkeypatch.delenv("ENTROPY_SELECT_CACHE")
    assert default_cache_dir() == default_cache_dir().home() / ".cache" / "entropy_select"

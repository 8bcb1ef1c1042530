"""``video_features`` (video file → cached features): its defaults, fps sampling and the metadata
it stores (issue 17: mutation testing found these unguarded). The reader itself is tested in
test_video_reader.py."""

from __future__ import annotations

import json

import pytest
import torch

from entropy_select.encoders import FeatureCache
from entropy_select.encoders.mobilenet_v2 import MobileNetV2Encoder
from entropy_select.video import read_video, video_features

pytest.importorskip("av")


def test_defaults_encode_with_mobilenet_and_cache_in_the_default_directory(
    bikes_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("ENTROPY_SELECT_CACHE", str(tmp_path / "default"))
    out = video_features(bikes_path, frames=2)
    assert out.encoder.cache_key.startswith("mobilenet_v2") and not out.cached
    assert out.features.shape == (2, 14, 14, 1280)
    assert len(list((tmp_path / "default").glob("*.safetensors"))) == 1
    assert set(out.seconds) == {"decode", "encode"}
    assert all(v >= 0 for v in out.seconds.values())
    assert video_features(bikes_path, frames=2).cached


def test_fps_sampling_is_passed_to_the_reader(bikes_path):
    enc = MobileNetV2Encoder(input_size=64)
    out = video_features(bikes_path, enc, frames=None, fps=2.0, cache=False)
    assert torch.equal(out.clip.indices, read_video(bikes_path, frames=None, fps=2.0).indices)
    assert out.clip.num_frames == 20  # 10 s at 25 fps, one frame every 0.5 s


def test_the_cache_entry_records_what_was_encoded(bikes_path, tmp_path):
    safetensors = pytest.importorskip("safetensors")
    enc = MobileNetV2Encoder(input_size=64)
    out = video_features(bikes_path, enc, frames=3, aspect="crop", cache=tmp_path)
    (entry,) = tmp_path.glob("*.safetensors")
    key = FeatureCache.key(bikes_path, out.clip.indices.tolist(), enc.cache_key, "crop")
    assert entry.name == f"{key}.safetensors"
    with safetensors.safe_open(str(entry), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    assert meta == {
        "video": out.clip.path,
        "indices": out.clip.indices.tolist(),
        "encoder": enc.cache_key,
        "aspect": "crop",
    }

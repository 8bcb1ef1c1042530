"""The feature cache end to end: any change of what was encoded re-encodes (issue 17).

Not just ``FeatureCache.key``: :func:`video_features` must miss the cache and run the encoder
when the sampled frame numbers, the aspect mode, the video file or an ``hf:`` encoder's weights
change, and must return the features of the NEW input.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from entropy_select.encoders import get_encoder
from entropy_select.encoders.mobilenet_v2 import MobileNetV2Encoder

video = pytest.importorskip("entropy_select.video")
pytest.importorskip("av")


class CountingEncoder(MobileNetV2Encoder):
    """MobileNetV2 at 64 px that counts the frames it encodes."""

    def __init__(self):
        super().__init__(input_size=64)
        self.frames = 0

    def forward_pixels(self, pixels):
        self.frames += pixels.shape[0]
        return super().forward_pixels(pixels)


@pytest.fixture()
def clip_path(tmp_path):
    try:
        src = video.sample_video_path("carphone_pristine.mp4")
    except ImportError as err:
        pytest.skip(str(err))
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(src.read_bytes())
    return copy


def test_other_frame_numbers_same_count_re_encode(tmp_path, clip_path):
    enc = CountingEncoder()
    first = video.video_features(clip_path, enc, frames=3, cache=tmp_path / "c")
    four = video.read_video(clip_path, frames=4)
    other = dataclasses.replace(
        four, frames=four.frames[1:], indices=four.indices[1:], timestamps=four.timestamps[1:]
    )
    assert other.indices.tolist() != first.clip.indices.tolist()  # same count, other frames
    again = video.video_features(other, enc, cache=tmp_path / "c")
    assert not again.cached and enc.frames == 6
    torch.testing.assert_close(again.features, enc.encode(other.frames))
    assert video.video_features(other, enc, cache=tmp_path / "c").cached  # now stored too
    assert video.video_features(clip_path, enc, frames=3, cache=tmp_path / "c").cached


def test_aspect_and_file_changes_re_encode(tmp_path, clip_path):
    enc = CountingEncoder()
    store = tmp_path / "c"
    base = video.video_features(clip_path, enc, frames=2, cache=store)
    crop = video.video_features(clip_path, enc, frames=2, aspect="crop", cache=store)
    assert not crop.cached and enc.frames == 4
    assert not torch.equal(crop.features, base.features)
    st = clip_path.stat()
    os.utime(clip_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file was replaced
    assert not video.video_features(clip_path, enc, frames=2, cache=store).cached
    assert enc.frames == 6


def test_new_weights_of_an_hf_encoder_re_encode(tmp_path, clip_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        image_size=56,
        patch_size=14,
    )
    weights = tmp_path / "siglip"
    torch.manual_seed(0)
    transformers.SiglipVisionModel(cfg).save_pretrained(weights)
    store = tmp_path / "c"
    old = video.video_features(clip_path, f"hf:{weights}", frames=2, cache=store)
    assert video.video_features(clip_path, f"hf:{weights}", frames=2, cache=store).cached
    torch.manual_seed(1)  # fine-tuned weights written over the same directory
    transformers.SiglipVisionModel(cfg).save_pretrained(weights)
    new = video.video_features(clip_path, f"hf:{weights}", frames=2, cache=store)
    assert not new.cached
    assert not torch.equal(new.features, old.features)
    torch.testing.assert_close(new.features, get_encoder(f"hf:{weights}").encode(new.clip.frames))

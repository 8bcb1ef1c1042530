import pytest
import torch

from entropy_select.encoders import Encoder, fit_aspect, get_encoder, resize_frames
from entropy_select.encoders.mobilenet_v2 import MobileNetV2Encoder


@pytest.fixture(scope="module")
def mnv2():
    try:
        return MobileNetV2Encoder(input_size=64)
    except ImportError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def frames():
    """Four real frames of bikes.mp4 (uint8 [4, 272, 640, 3])."""
    video = pytest.importorskip("entropy_select.video")
    pytest.importorskip("av")
    try:
        return video.read_video(video.sample_video_path(), frames=4).frames
    except ImportError as err:
        pytest.skip(str(err))


def test_default_encoder_448_gives_14x14x1280(frames):
    enc = get_encoder("mobilenet_v2")
    assert enc.input_size == (448, 448) and enc.grid == (14, 14) and enc.dim == 1280
    out = enc.encode(frames[:1])
    assert out.shape == (1, 14, 14, 1280) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 6  # ReLU6 output


def test_weights_are_the_imagenet_checkpoint(mnv2):
    # strict=True loading already refuses missing or unexpected keys; here every tensor of the
    # module must equal the checkpoint's, and the parameter count is MobileNetV2's 3.5 M.
    state = torch.load(mnv2.weights, map_location="cpu", weights_only=True)
    mine = mnv2.model.state_dict()
    assert mine.keys() == state.keys()
    assert all(torch.equal(mine[k], state[k]) for k in state)
    assert sum(p.numel() for p in mnv2.model.parameters()) == 3_504_872


def test_classify_matches_full_network(mnv2, frames):
    pixels = mnv2.preprocess(frames[:2])
    with torch.inference_mode():
        full = mnv2.model(pixels.contiguous(memory_format=torch.channels_last))
    feats = mnv2.encode(frames[:2])  # [2, 2, 2, 1280]
    logits = mnv2.classify(feats.mean(dim=(1, 2)))
    assert logits.shape == (2, 1000)
    torch.testing.assert_close(logits, full, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="1280"):
        mnv2.classify(torch.zeros(3, 10))


def test_shapes_determinism_batching(mnv2, frames):
    a = mnv2.encode(frames, batch_size=4)
    b = mnv2.encode(frames, batch_size=4)
    c = mnv2.encode(frames, batch_size=3, progress=True)
    assert a.shape == (4, 2, 2, 1280)
    assert torch.equal(a, b)  # same input, same batch: bit-identical
    torch.testing.assert_close(a, c, atol=1e-4, rtol=1e-4)  # batch split changes only rounding


def test_encode_rejects_bad_frames(mnv2):
    with pytest.raises(TypeError, match="uint8"):
        mnv2.encode(torch.zeros(2, 32, 32, 3))
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        mnv2.encode(torch.zeros(2, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        mnv2.encode(torch.zeros(1, 32, 32, 3, dtype=torch.uint8), batch_size=0)
    with pytest.raises(ValueError, match="multiple of 32"):
        MobileNetV2Encoder(input_size=100)


def test_unknown_encoder():
    with pytest.raises(ValueError, match="unknown encoder 'resnet'.*mobilenet_v2"):
        get_encoder("resnet")
    with pytest.raises(ValueError, match="unknown encoder"):
        get_encoder("hf:")
    enc = Encoder()
    assert get_encoder(enc) is enc


def test_fit_aspect_and_resize():
    x = torch.arange(2 * 4 * 6 * 3, dtype=torch.int64).reshape(2, 4, 6, 3).to(torch.uint8)
    assert fit_aspect(x, "stretch") is x
    crop = fit_aspect(x, "crop")
    assert crop.shape == (2, 4, 4, 3) and torch.equal(crop, x[:, :, 1:5])
    pad = fit_aspect(x, "pad")
    assert pad.shape == (2, 6, 6, 3) and torch.equal(pad[:, 1:5], x) and pad[:, 0].sum() == 0
    with pytest.raises(ValueError, match="aspect"):
        fit_aspect(x, "squash")
    r = resize_frames(x, (8, 8))
    assert r.shape == (2, 3, 8, 8) and 0 <= r.min() and r.max() <= 1
    same = resize_frames(x, (4, 6))
    torch.testing.assert_close(same, x.permute(0, 3, 1, 2).float() / 255)


@pytest.mark.parametrize("aspect", ["stretch", "crop", "pad"])
def test_cell_ij_of_the_drawn_region_lands_in_input_cell_ij(aspect, mnv2):
    # The figures draw token (i, j) over cell (i, j) of fit_aspect(frame); the encoder's token
    # (i, j) is the stride-32 cell (i, j) of its square input. A bright block inside a drawn cell
    # must change the encoder input only inside the matching input cell.
    from entropy_select.viz import cell_edges

    base = torch.full((1, 96, 224, 3), 60, dtype=torch.uint8)
    region = fit_aspect(base, aspect)  # what the figures draw
    h, w = region.shape[1:3]
    rows, cols = cell_edges(h, 2), cell_edges(w, 2)  # mnv2 fixture: 64 px input, 2×2 tokens
    ref = mnv2.preprocess(base, aspect)
    for i, j in [(0, 1), (1, 0)]:
        view = region.clone()
        view[0, rows[i] + 4 : rows[i + 1] - 4, cols[j] + 4 : cols[j + 1] - 4] = 255
        frame = base.clone()  # the same block in frame coordinates
        if aspect == "stretch":
            frame = view
        elif aspect == "crop":
            frame[:, :, 64:160] = view
        else:
            frame = view[:, 64:160]
        changed = (mnv2.preprocess(frame, aspect) - ref).abs().amax(dim=1)[0] > 1e-3  # [64, 64]
        inside = torch.zeros(64, 64, dtype=torch.bool)
        inside[32 * i : 32 * i + 32, 32 * j : 32 * j + 32] = True
        assert changed.any() and not changed[~inside].any(), (aspect, i, j)

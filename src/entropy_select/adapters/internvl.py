"""InternVL (the Hugging Face port): ``model_type="internvl"``.

Host pipeline (transformers ``modeling_internvl.py``): InternViT → pixel-unshuffle (ratio 0.5) →
MLP projector → ``image_seq_length`` tokens per frame (a 16×16 grid at 448 px). The processor
turns a video into frames, each its own text-delimited block
``FrameN: <img><IMG_CONTEXT>·256</img>``, and MERGES the frames into ``pixel_values`` beside
any images, so the model itself cannot tell a video frame from an image. The language model
uses 1-D RoPE.

So the caller says which rows of ``pixel_values`` are a video: pass
``video_frame_ranges=[(start, stop), ...]`` (row ranges, one per video, in prompt order) to the
patched ``forward``/``generate``. Each range's post-MLP tokens form a ``[F, g, g, D]`` grid that
the selector prunes to K; every other row (images) passes through untouched, and the per-frame
``<img>``/``</img>``/``FrameN:`` text stays even when a frame loses all its tokens. Without
``video_frame_ranges`` nothing is compressed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..core.selection import Selection
from ._contract import AdapterSpec, Features

__all__ = ["MODEL_TYPE", "HOOK", "SPEC", "video_frame_ranges_for"]

MODEL_TYPE = "internvl"
#: the inner-model method that serves the compressed features (video frames are images here)
HOOK = "get_image_features"
#: the extra keyword the patched forward/generate accept (popped before the real call)
RANGES_KWARG = "video_frame_ranges"

# ---- transformers version differences (5.x) ---------------------------------------------------
# None so far: get_image_features(pixel_values=..., return_dict=True) and its [R, m, D]
# pooler_output are the same in every tested release.


def video_frame_ranges_for(frames_per_item: Sequence[tuple[str, int]]) -> list[tuple[int, int]]:
    """Row ranges of the videos in a merged ``pixel_values``, from the prompt's visual items.

    Args:
        frames_per_item: in prompt order, ``("image", patches)`` or ``("video", frames)``.

    Returns:
        ``[(start, stop), ...]`` for the videos.
    """
    ranges, row = [], 0
    for kind, count in frames_per_item:
        if kind not in ("image", "video"):
            raise ValueError(f"item kind must be 'image' or 'video', got {kind!r}")
        if kind == "video":
            ranges.append((row, row + int(count)))
        row += int(count)
    return ranges


# ---- the model-specific parts of the shared pipeline: frame ranges -----------------------------


def _extract(model: torch.nn.Module, original: Callable, kwargs: dict[str, Any]) -> Features | None:
    """The model's own image path on every row of ``pixel_values``; the videos' rows as grids.

    Shapes:
        pixel_values: [R, C, S, S]; features [R, m, D] with m = g·g per row
        video v = rows [s_v, e_v): grid [e_v - s_v, g, g, D]
    """
    pixels = kwargs.get("pixel_values")
    if pixels is None:
        return None
    ranges = sorted((int(s), int(e)) for s, e in kwargs[RANGES_KWARG])
    rows = pixels.shape[0]
    for (s, e), nxt in zip(ranges, ranges[1:] + [(rows, rows)], strict=True):
        if not (0 <= s < e <= nxt[0] <= rows):
            raise ValueError(
                f"video_frame_ranges {ranges} must be disjoint row ranges in [0, {rows})"
            )
    feature_kwargs = {
        k: kwargs[k]
        for k in ("vision_feature_layer", "vision_feature_select_strategy")
        if kwargs.get(k) is not None
    }
    output = original(pixel_values=pixels, return_dict=True, **feature_kwargs)
    features = output.pooler_output  # [R, m, D]
    m, D = features.shape[1], features.shape[2]
    g = math.isqrt(m)
    if g * g != m:
        raise ValueError(f"InternVL frames give {m} tokens, not a square grid")
    grids = [features[s:e].reshape(e - s, g, g, D) for s, e in ranges]  # [F_v, g, g, D]
    return Features(output, grids, {"ranges": ranges})


def _write_back(features: Features, selections: list[Selection], count: int) -> torch.Tensor:
    """The flat feature list in row order: untouched rows, then each video's K tokens.

    Every row outside the ranges (images) keeps all its tokens.

    Shapes:
        pooler_output: [R, m, D] -> [1, P', D]; returns keep_visual [R·m]
    """
    output = features.output
    flat = output.pooler_output  # [R, m, D]
    rows, m, D = flat.shape
    keep_rows = torch.ones(rows, m, dtype=torch.bool, device=flat.device)  # [R, m]
    pieces, row = [], 0
    for (s, e), sel in zip(features.context["ranges"], selections, strict=True):
        pieces.append(flat[row:s].reshape(-1, D))
        pieces.append(sel.tokens.to(flat.dtype))
        keep_rows[s:e] = sel.keep_mask.reshape(e - s, m)
        row = e
    pieces.append(flat[row:].reshape(-1, D))
    output.pooler_output = torch.cat(pieces).unsqueeze(0)  # [1, P', D]
    return keep_rows.flatten()


def _video_ids(model: torch.nn.Module, kwargs: dict[str, Any], count: int) -> torch.Tensor:
    """Each image placeholder's video: rows inside ``video_frame_ranges``, -1 elsewhere.

    Shapes:
        pixel_values: [R, C, S, S] -> [count] long with count = R·m, row-major prompt order
    """
    if kwargs.get("pixel_values") is None:
        return torch.full((count,), -1, dtype=torch.long)
    rows = kwargs["pixel_values"].shape[0]
    if count % rows:
        raise ValueError(f"{count} image placeholders do not split evenly over {rows} rows")
    row = torch.arange(count) // (count // rows)
    ids = torch.full((count,), -1, dtype=torch.long)
    for v, (s, e) in enumerate(sorted((int(s), int(e)) for s, e in kwargs[RANGES_KWARG])):
        ids[(row >= s) & (row < e)] = v
    return ids


#: InternVL's part of the adapter contract (1-D RoPE: the shared shortening)
SPEC = AdapterSpec(
    model_type=MODEL_TYPE,
    family="InternVL",
    hook=HOOK,
    placeholder="image_token_id",
    video_input=RANGES_KWARG,
    extra_kwargs=(RANGES_KWARG,),
    extract=_extract,
    write_back=_write_back,
    video_ids=_video_ids,
)

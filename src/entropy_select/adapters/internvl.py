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
from collections.abc import Sequence
from typing import Any

import torch

from ._patching import AdapterState, select_videos
from ._sequence import expand_placeholder_keep, shorten

__all__ = ["MODEL_TYPE", "HOOK", "video_frame_ranges_for", "prepare"]

MODEL_TYPE = "internvl"
#: the inner-model method that serves the compressed features (video frames are images here)
HOOK = "get_image_features"
#: the extra keyword the patched forward/generate accept (popped before the real call)
RANGES_KWARG = "video_frame_ranges"


def inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The ``InternVLModel`` inside ``InternVLForConditionalGeneration`` (or the model itself)."""
    return getattr(model, "model", model)


def check_model(model: torch.nn.Module) -> None:
    """Raise if the instance lacks the seams this adapter uses."""
    if not callable(getattr(inner_model(model), HOOK, None)):
        raise ValueError(f"{type(model).__name__} has no {HOOK}(); not an InternVL model")


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


def prepare(
    model: torch.nn.Module, state: AdapterState, kwargs: dict[str, Any], generate: bool
) -> dict[str, Any]:
    """Select each video's tokens among its frames' tokens and shorten the prompt.

    Returns ``kwargs`` without ``video_frame_ranges`` (untouched otherwise) when no range is given.

    Shapes:
        pixel_values: [R, C, S, S]; features [R, m, D] with m = g·g per row
        video v = rows [s_v, e_v): grid [e_v - s_v, g, g, D] -> K_v tokens
        input_ids, attention_mask, labels: [B, L] -> [B, L']
    """
    ranges = kwargs.get(RANGES_KWARG)
    new_kwargs = {k: v for k, v in kwargs.items() if k != RANGES_KWARG}
    pixels = kwargs.get("pixel_values")
    if not ranges or pixels is None:
        return new_kwargs if RANGES_KWARG in kwargs else kwargs
    input_ids = kwargs.get("input_ids")
    if input_ids is None:
        raise ValueError("a patched InternVL needs input_ids (to find the image placeholders)")
    config = model.config
    ranges = sorted((int(s), int(e)) for s, e in ranges)
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
    output = state.originals[HOOK](pixel_values=pixels, return_dict=True, **feature_kwargs)
    features = output.pooler_output  # [R, m, D]
    m, D = features.shape[1], features.shape[2]
    g = math.isqrt(m)
    if g * g != m:
        raise ValueError(f"InternVL frames give {m} tokens, not a square grid")
    selections = select_videos(state, [features[s:e].reshape(e - s, g, g, D) for s, e in ranges])

    # Rebuild the flat feature list in row order: untouched rows, then each video's K tokens.
    keep_rows = torch.ones(rows, m, dtype=torch.bool, device=features.device)  # [R, m]
    pieces, row = [], 0
    for (s, e), sel in zip(ranges, selections, strict=True):
        pieces.append(features[row:s].reshape(-1, D))
        pieces.append(sel.tokens.to(features.dtype))
        keep_rows[s:e] = sel.keep_mask.reshape(e - s, m)
        row = e
    pieces.append(features[row:].reshape(-1, D))
    output.pooler_output = torch.cat(pieces).unsqueeze(0)  # [1, P', D]

    placeholder = input_ids == config.image_token_id  # [B, L]
    keep = expand_placeholder_keep(placeholder, keep_rows.flatten())
    pad = getattr(config.text_config, "pad_token_id", None)
    short, new_mask = shorten(
        keep,
        {
            "input_ids": (input_ids, 0 if pad is None else int(pad)),
            "labels": (kwargs.get("labels"), -100),
            "position_ids": (kwargs.get("position_ids"), 0),
        },
        kwargs.get("attention_mask"),
    )
    new_kwargs.update(short)
    if new_mask is not None:
        new_kwargs["attention_mask"] = new_mask
    state.pending[HOOK] = output
    state.last = {
        "keep": keep,
        "selections": selections,
        "prompt_length": input_ids.shape[1],
        "short_length": short["input_ids"].shape[1],
    }
    return new_kwargs

"""Qwen2.5-VL: ``model_type="qwen2_5_vl"`` (the Qwen3-VL adapter reuses this file's machinery).

Host pipeline (transformers ``modeling_qwen2_5_vl.py``): Conv3d patches (temporal patch 2) →
windowed ViT → 2×2 ``PatchMerger`` → ``t·(h/2)·(w/2)`` tokens per video in (t, row, column)
order, scattered into the video placeholders. The language model uses 3-D M-RoPE: each visual
token's (temporal, height, width) position comes from the model's own ``get_rope_index``.

Recipe (``PEERS.md``): run the ViT normally; compute the M-RoPE positions on the UNPRUNED prompt
with the model's own ``get_rope_index``; select on each video's merged ``(t, h/2, w/2)`` grid;
gather ``input_ids``, ``attention_mask``, ``mm_token_type_ids``, ``labels`` and the positions at the
kept indices, so every kept token carries the position it had in the full prompt. ``rope_deltas``
is never recomputed from the pruned prompt: ``generate`` continues at ``last position + 1`` (the
maximum + 1), and the model's stored ``rope_deltas`` is shifted by the number of dropped tokens so
that a hand-written decoding loop over ``forward`` continues there too.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ._patching import AdapterState, select_videos
from ._sequence import expand_placeholder_keep, shorten

__all__ = ["MODEL_TYPE", "HOOK", "pixel_values_from_frames", "prepare"]

MODEL_TYPE = "qwen2_5_vl"
#: the inner-model method that serves the compressed features to the model's own forward
HOOK = "get_video_features"
#: mm_token_type_ids values (transformers 5.x): text 0, image 1, video 2
_IMAGE_TYPE, _VIDEO_TYPE = 1, 2


def inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The ``Qwen*VLModel`` inside a ``...ForConditionalGeneration`` (or the model itself)."""
    return getattr(model, "model", model)


def check_model(model: torch.nn.Module) -> None:
    """Raise if the instance lacks the seams this adapter uses."""
    inner = inner_model(model)
    for name in (HOOK, "get_rope_index"):
        if not callable(getattr(inner, name, None)):
            raise ValueError(f"{type(model).__name__} has no {name}(); not a Qwen-VL model")


def pixel_values_from_frames(
    frames: torch.Tensor, patch_size: int, temporal_patch_size: int, merge_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen-VL ``pixel_values_videos`` and ``video_grid_thw`` from normalised frames, no processor.

    Matches ``Qwen2VLVideoProcessor`` without resizing (frames must already be multiples of
    ``patch_size·merge_size``; the frame count a multiple of ``temporal_patch_size``).

    Args:
        frames: normalised frames of one video.
        patch_size / temporal_patch_size / merge_size: from the vision config.

    Returns:
        ``(pixel_values_videos, video_grid_thw)``.

    Shapes:
        frames: [T, C, H, W] -> ([gt·gh·gw, C·tps·p·p], [1, 3]) with gt = T/tps, gh = H/p, gw = W/p
    """
    T, C, H, W = frames.shape
    p, tps, m = patch_size, temporal_patch_size, merge_size
    if T % tps or H % (p * m) or W % (p * m):
        raise ValueError(
            f"frames {tuple(frames.shape)}: T must be a multiple of {tps}, H and W of {p * m}"
        )
    gt, gh, gw = T // tps, H // p, W // p
    x = frames.reshape(gt, tps, C, gh // m, m, p, gw // m, m, p)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # [gt, gh/m, gw/m, m, m, C, tps, p, p]
    pixel_values = x.reshape(gt * gh * gw, C * tps * p * p)
    return pixel_values, torch.tensor([[gt, gh, gw]])


def mm_token_type_ids(input_ids: torch.Tensor, config: Any) -> torch.Tensor:
    """``mm_token_type_ids`` (0 text, 1 image, 2 video) from the placeholder ids.

    Shapes:
        input_ids: [B, L] -> [B, L] int
    """
    types = torch.zeros_like(input_ids, dtype=torch.int)
    types[input_ids == config.image_token_id] = _IMAGE_TYPE
    types[input_ids == config.video_token_id] = _VIDEO_TYPE
    return types


def prepare(
    model: torch.nn.Module,
    state: AdapterState,
    kwargs: dict[str, Any],
    generate: bool,
    deepstack: bool = False,
) -> dict[str, Any]:
    """Select each video's tokens, gather positions, shorten the prompt; the real call's kwargs.

    Returns ``kwargs`` itself (untouched) when the call carries no video.

    Args:
        model / state / kwargs: the patched model, its state, the call's keyword arguments.
        generate: True under ``generate`` (positions are passed as its 4-row ``[text; t; h; w]``
            form, which ``generate`` advances by one per new token), False under ``forward``
            (the 3-row M-RoPE form).
        deepstack: prune the DeepStack feature lists with the same indices (Qwen3-VL).

    Shapes:
        pixel_values_videos: [sum_v gt·gh·gw, C·tps·p·p]; video_grid_thw: [V, 3]
        features of video v: [gt·(gh/m)·(gw/m), D] -> [K_v, D]
        input_ids, attention_mask, mm_token_type_ids, labels: [B, L] -> [B, L']
        position_ids: [3, B, L] gathered -> [3, B, L'] (forward) or [4, B, L'] (generate)
    """
    pixels = kwargs.get("pixel_values_videos")
    if pixels is None:
        return kwargs
    input_ids = kwargs.get("input_ids")
    if input_ids is None:
        raise ValueError("a patched Qwen-VL model needs input_ids (to find the video placeholders)")
    if kwargs.get("position_ids") is not None:
        raise ValueError(
            "a patched Qwen-VL model computes the M-RoPE positions; do not pass position_ids"
        )
    inner = inner_model(model)
    config = model.config
    grid_thw = kwargs["video_grid_thw"]
    merge = config.vision_config.spatial_merge_size

    # 1. The model's own vision path (ViT + merger) on all videos of the call.
    output = state.originals[HOOK](pixels, grid_thw, return_dict=True)
    features = output.pooler_output  # tuple of [N_v, D]
    grids = [
        f.reshape(t, h // merge, w // merge, f.shape[-1])  # [T, H, W, D] merged grid
        for f, (t, h, w) in zip(features, grid_thw.tolist(), strict=True)
    ]
    selections = select_videos(state, grids)
    output.pooler_output = tuple(
        s.tokens.to(f.dtype) for s, f in zip(selections, features, strict=True)
    )
    if deepstack:  # Qwen3-VL: prune every DeepStack level with the same indices
        output.deepstack_features = [
            _prune_level(level, selections, [f.shape[0] for f in features])
            for level in output.deepstack_features
        ]

    # 2. Positions of the UNPRUNED prompt, by the model's own method.
    types = kwargs.get("mm_token_type_ids")
    if types is None:
        types = mm_token_type_ids(input_ids, config)
    attention_mask = kwargs.get("attention_mask")
    rope_kwargs = {
        "mm_token_type_ids": types,
        "image_grid_thw": kwargs.get("image_grid_thw"),
        "video_grid_thw": grid_thw,
        "second_per_grid_ts": kwargs.get("second_per_grid_ts"),
        "attention_mask": attention_mask,
    }
    accepted = inspect.signature(inner.get_rope_index).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        rope_kwargs = {k: v for k, v in rope_kwargs.items() if k in accepted}
    positions, rope_deltas = inner.get_rope_index(input_ids, **rope_kwargs)  # [3, B, L], [B, 1]

    # 3. Shorten everything with the same keep mask.
    placeholder = input_ids == config.video_token_id  # [B, L]
    keep_visual = torch.cat([s.keep_mask.flatten() for s in selections])  # [P]
    keep = expand_placeholder_keep(placeholder, keep_visual)
    short, new_mask = shorten(
        keep,
        {
            "input_ids": (input_ids, _pad_id(config)),
            "mm_token_type_ids": (types, 0),
            "labels": (kwargs.get("labels"), -100),
            "position_ids": (positions, 1),
        },
        attention_mask,
    )
    new_kwargs = dict(kwargs)
    new_kwargs.update(short)
    if new_mask is not None:
        new_kwargs["attention_mask"] = new_mask
    real = _real(attention_mask, keep)  # [B, L] not padding
    dropped = (real.sum(1) - (keep & real).sum(1)).to(rope_deltas.device)  # [B]
    # A forward-only decoding loop continues at cache length + rope_deltas: shift by the drop.
    inner.rope_deltas = rope_deltas + dropped.view(-1, 1)
    if generate:
        text = new_mask.long().cumsum(-1) - 1 if new_mask is not None else None
        if text is None:
            text = torch.arange(short["input_ids"].shape[1], device=input_ids.device).expand(
                input_ids.shape[0], -1
            )
        else:
            text = text.masked_fill(new_mask == 0, 0)
        new_kwargs["position_ids"] = torch.cat(
            [text[None].to(short["position_ids"]), short["position_ids"]]
        )
    state.pending[HOOK] = output
    state.last = {
        "keep": keep,
        "selections": selections,
        "positions": positions,
        "rope_deltas": rope_deltas,
        "prompt_length": input_ids.shape[1],
        "short_length": short["input_ids"].shape[1],
    }
    return new_kwargs


def _real(attention_mask: torch.Tensor | None, keep: torch.Tensor) -> torch.Tensor:
    return attention_mask.bool() if attention_mask is not None else torch.ones_like(keep)


def _pad_id(config: Any) -> int:
    for cfg in (config, getattr(config, "text_config", None)):
        pad = getattr(cfg, "pad_token_id", None)
        if pad is not None:
            return int(pad)
    return 0


def _prune_level(level, selections: list, sizes: list[int]):
    """One DeepStack level pruned per video at ``keep_index``.

    transformers >= 5.2x gives a tuple of per-video ``[N_v, D]`` tensors; 5.17 gives one
    ``[sum_v N_v, D]`` tensor. The result keeps the form it was given.

    Shapes:
        level: tuple of [N_v, D] or [sum N_v, D]  ->  tuple of [K_v, D] or [sum K_v, D]
    """
    if isinstance(level, torch.Tensor):
        parts = torch.split(level, sizes)
        return torch.cat([f[s.keep_index] for f, s in zip(parts, selections, strict=True)])
    return tuple(f[s.keep_index] for f, s in zip(level, selections, strict=True))

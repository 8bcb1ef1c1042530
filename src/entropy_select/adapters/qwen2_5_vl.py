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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ..core.selection import Selection
from ._contract import AdapterSpec, Features, inner_model
from ._prepare import pad_token_id
from ._sequence import shorten

if TYPE_CHECKING:
    from ._patching import AdapterState

__all__ = ["MODEL_TYPE", "HOOK", "SPEC", "pixel_values_from_frames", "mm_token_type_ids"]

MODEL_TYPE = "qwen2_5_vl"
#: the inner-model method that serves the compressed features to the model's own forward
HOOK = "get_video_features"
#: mm_token_type_ids values (transformers 5.x): text 0, image 1, video 2
_IMAGE_TYPE, _VIDEO_TYPE = 1, 2

# ---- transformers version differences (5.x) ---------------------------------------------------


def _rope_index(
    inner: torch.nn.Module, input_ids: torch.Tensor, **rope_kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own ``get_rope_index`` on the unpruned prompt.

    Its keyword set differs between 5.x releases (``second_per_grid_ts``, ``attention_mask``
    come and go): the keywords it does not take are left out unless it takes ``**kwargs``.

    Shapes:
        input_ids: [B, L] -> (positions [3, B, L], rope_deltas [B, 1])
    """
    accepted = inspect.signature(inner.get_rope_index).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        rope_kwargs = {k: v for k, v in rope_kwargs.items() if k in accepted}
    return inner.get_rope_index(input_ids, **rope_kwargs)


# ---- helpers users call --------------------------------------------------------------------------


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


# ---- the model-specific parts of the shared pipeline -------------------------------------------


def _check_call(kwargs: dict[str, Any]) -> None:
    if kwargs.get("position_ids") is not None:
        raise ValueError(
            "a patched Qwen-VL model computes the M-RoPE positions; do not pass position_ids"
        )


def _extract(model: torch.nn.Module, original: Callable, kwargs: dict[str, Any]) -> Features:
    """The model's own vision path (ViT + merger) on all videos of the call, as merged grids.

    Shapes:
        pixel_values_videos: [sum_v gt·gh·gw, C·tps·p·p]; video_grid_thw: [V, 3]
        features of video v: [gt·(gh/m)·(gw/m), D] -> grid [gt, gh/m, gw/m, D]
    """
    grid_thw = kwargs["video_grid_thw"]
    merge = model.config.vision_config.spatial_merge_size
    output = original(kwargs["pixel_values_videos"], grid_thw, return_dict=True)
    features = output.pooler_output  # tuple of [N_v, D]
    grids = [
        f.reshape(t, h // merge, w // merge, f.shape[-1])  # [T, H, W, D] merged grid
        for f, (t, h, w) in zip(features, grid_thw.tolist(), strict=True)
    ]
    return Features(output, grids, {"sizes": [f.shape[0] for f in features]})


def write_back(features: Features, selections: list[Selection], count: int) -> torch.Tensor:
    """Each video's kept tokens as its ``pooler_output`` entry; one flag per video placeholder.

    Shapes:
        pooler_output: tuple of [N_v, D] -> tuple of [K_v, D]; returns keep_visual [sum_v N_v]
    """
    output = features.output
    output.pooler_output = tuple(
        s.tokens.to(f.dtype) for s, f in zip(selections, output.pooler_output, strict=True)
    )
    return torch.cat([s.keep_mask.flatten() for s in selections])  # [P]


def mrope_sequence(
    model: torch.nn.Module,
    state: AdapterState,
    kwargs: dict[str, Any],
    keep: torch.Tensor,
    generate: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gather the unpruned prompt's M-RoPE positions at the kept tokens and shorten the prompt.

    ``rope_deltas`` is never recomputed from the pruned prompt: ``generate`` continues at the
    prompt's maximum position + 1 (its 4-row ``[text; t; h; w]`` positions carry them), and the
    model's stored ``rope_deltas`` is shifted by the number of dropped tokens (through
    ``state.set_attr``, so ``unpatch`` restores it) so that a hand-written decoding loop over
    ``forward`` continues there too.

    Args:
        model / state: the patched model and its state.
        kwargs: the call's keyword arguments, unpruned.
        keep: the sequence keep mask.
        generate: True under ``generate`` (4-row positions), False under ``forward`` (3 rows).

    Returns:
        ``(new kwargs, record)`` with ``record`` = the unpruned ``positions`` and ``rope_deltas``.

    Shapes:
        input_ids, attention_mask, mm_token_type_ids, labels: [B, L] -> [B, L']
        position_ids: [3, B, L] gathered -> [3, B, L'] (forward) or [4, B, L'] (generate)
    """
    inner, config = inner_model(model), model.config
    input_ids = kwargs["input_ids"]
    types = kwargs.get("mm_token_type_ids")
    if types is None:
        types = mm_token_type_ids(input_ids, config)
    attention_mask = kwargs.get("attention_mask")
    positions, rope_deltas = _rope_index(
        inner,
        input_ids,
        mm_token_type_ids=types,
        image_grid_thw=kwargs.get("image_grid_thw"),
        video_grid_thw=kwargs["video_grid_thw"],
        second_per_grid_ts=kwargs.get("second_per_grid_ts"),
        attention_mask=attention_mask,
    )  # [3, B, L], [B, 1]
    short, new_mask = shorten(
        keep,
        {
            "input_ids": (input_ids, pad_token_id(config)),
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
    real = attention_mask.bool() if attention_mask is not None else torch.ones_like(keep)
    dropped = (real.sum(1) - (keep & real).sum(1)).to(rope_deltas.device)  # [B]
    # A forward-only decoding loop continues at cache length + rope_deltas: shift by the drop.
    state.set_attr(inner, "rope_deltas", rope_deltas + dropped.view(-1, 1))
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
    return new_kwargs, {"positions": positions, "rope_deltas": rope_deltas}


def video_ids(model: torch.nn.Module, kwargs: dict[str, Any], count: int) -> torch.Tensor:
    """Each video placeholder's video, from ``video_grid_thw`` (``t·h·w / merge²`` each).

    Shapes:
        video_grid_thw: [V, 3] -> [count] long, in row-major prompt order
    """
    merge = model.config.vision_config.spatial_merge_size
    sizes = kwargs["video_grid_thw"].prod(-1) // (merge * merge)  # [V]
    if int(sizes.sum()) != count:
        raise ValueError(
            f"the prompt holds {count} video placeholders but video_grid_thw gives "
            f"{int(sizes.sum())} tokens"
        )
    return torch.repeat_interleave(torch.arange(len(sizes)), sizes.cpu())


#: Qwen2.5-VL's part of the adapter contract (M-RoPE: positions gathered, not recomputed)
SPEC = AdapterSpec(
    model_type=MODEL_TYPE,
    family="Qwen-VL",
    hook=HOOK,
    seams=("get_rope_index",),
    placeholder="video_token_id",
    check_call=_check_call,
    extract=_extract,
    write_back=write_back,
    sequence=mrope_sequence,
    video_ids=video_ids,
)

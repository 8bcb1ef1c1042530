"""LLaVA-OneVision (and LLaVA-Video checkpoints of its class): ``model_type="llava_onevision"``.

Host pipeline (transformers ``modeling_llava_onevision.py``): SigLIP → projector → 2×2 bilinear
pooling to a ``ceil(h/2)×ceil(w/2)`` grid per frame (14×14 = 196 at 384 px) → ONE
``image_newline`` appended after all frames → ``masked_scatter`` into the ``<video>``
placeholders, whose count the processor fixed (``F·196 + 1``). The language model uses 1-D RoPE.

ENTROPY-SELECT cuts after the pooling and before the newline (paper §3.1: the selector sees the
projected tokens), keeps the newline, and the prompt's placeholder run shrinks from ``N + 1`` to
``K + 1``. Two ways in, both exact-K:

* processor output as is (``N + 1`` placeholders per video): the patched ``forward``/``generate``
  shorten the prompt (ids, mask, labels) around the kept tokens;
* a prompt already sized with :func:`placeholder_count` (``K + 1`` per video, since K is known
  before the features exist): nothing is shortened, only the features are selected.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._patching import AdapterState, select_videos
from ._sequence import expand_placeholder_keep, shorten

__all__ = ["MODEL_TYPE", "HOOK", "placeholder_count", "grid_size", "prepare"]

MODEL_TYPE = "llava_onevision"
#: the inner-model method that serves the compressed features to the model's own forward
HOOK = "get_video_features"


def inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The ``LlavaOnevisionModel`` inside ``...ForConditionalGeneration`` (or the model itself)."""
    return getattr(model, "model", model)


def check_model(model: torch.nn.Module) -> None:
    """Raise if the instance lacks the seams this adapter uses."""
    inner = inner_model(model)
    for name in (HOOK, "get_placeholder_mask"):
        if not callable(getattr(inner, name, None)):
            raise ValueError(f"{type(model).__name__} has no {name}(); not a LLaVA-OneVision model")


def grid_size(config: Any) -> tuple[int, int]:
    """The pooled per-frame grid ``(h, w)`` (``apply_pooling``: ceil of half the patch grid)."""
    side = config.vision_config.image_size // config.vision_config.patch_size
    return math.ceil(side / 2), math.ceil(side / 2)


def placeholder_count(
    config: Any,
    num_frames: int,
    retention: float | None = None,
    budget: int | None = None,
) -> int:
    """How many ``<video>`` placeholders a compressed video needs: ``K + 1`` (the newline).

    Use it to build a prompt whose placeholder run already matches the compressed features
    (then the patched model shortens nothing). Without ``retention``/``budget``: ``N + 1``.

    Args:
        config: the model's ``LlavaOnevisionConfig``.
        num_frames: frames of the video.
        retention / budget: as given to :func:`entropy_select.patch`.
    """
    from ..core.checks import resolve_budget

    h, w = grid_size(config)
    n = num_frames * h * w
    if retention is None and budget is None:
        return n + 1
    return resolve_budget(n, retention, budget) + 1


def prepare(
    model: torch.nn.Module, state: AdapterState, kwargs: dict[str, Any], generate: bool
) -> dict[str, Any]:
    """Select each video's tokens and shorten the prompt; returns the kwargs for the real call.

    Returns ``kwargs`` itself (untouched) when the call carries no video.

    Shapes:
        pixel_values_videos: [B_v, F, C, S, S]; features [B_v, F·h·w + 1, D] -> [B_v, K + 1, D]
        input_ids: [B, L] -> [B, L'] with L' = L - (N - K) per video row (re-padded if ragged)
    """
    pixels = kwargs.get("pixel_values_videos")
    if pixels is None:
        return kwargs
    input_ids = kwargs.get("input_ids")
    if input_ids is None:
        raise ValueError(
            "a patched LLaVA-OneVision needs input_ids (to find the video placeholders)"
        )
    config = model.config
    feature_kwargs = {
        k: kwargs[k]
        for k in ("vision_feature_layer", "vision_feature_select_strategy")
        if kwargs.get(k) is not None
    }
    # The model's own video path: vision tower, projector, pooling, newline.
    output = state.originals[HOOK](pixels, return_dict=True, **feature_kwargs)
    features = output.pooler_output  # [B_v, F*h*w (+ 1), D]
    Bv, F = pixels.shape[:2]
    h, w = grid_size(config)
    D = features.shape[-1]
    n = F * h * w
    # transformers >= 5.2x appends the newline inside get_video_features; 5.17 appends it later,
    # in the model's forward. Either way it stays, and only the n grid tokens are selected.
    if features.shape[1] not in (n, n + 1):
        raise ValueError(f"unexpected LLaVA-OneVision video features {tuple(features.shape)}")
    grid = features[:, :n].reshape(Bv, F, h, w, D)  # [B_v, F, h, w, D]
    selections = select_videos(state, list(grid))
    tokens = torch.stack([s.tokens for s in selections]).to(features.dtype)  # [B_v, K, D]
    # [B_v, K (+ 1), D]: the newline, where the hook's output carries it, stays last.
    output.pooler_output = torch.cat([tokens, features[:, n:]], dim=1)
    K = tokens.shape[1]

    placeholder = input_ids == config.video_token_id  # [B, L]
    count = int(placeholder.sum())
    new_kwargs = dict(kwargs)
    if count == Bv * (K + 1):  # prompt already sized to K + 1 per video: nothing to shorten
        keep = torch.ones_like(placeholder)
    elif count == Bv * (F * h * w + 1):
        keep_visual = torch.cat(
            [
                torch.cat([s.keep_mask.flatten(), s.keep_mask.new_ones(1)])  # newline stays
                for s in selections
            ]
        )  # [P]
        keep = expand_placeholder_keep(placeholder, keep_visual)
        new_kwargs.update(_shorten_llm_inputs(kwargs, keep, config))
    else:
        raise ValueError(
            f"the prompt holds {count} video placeholders for {Bv} video(s) of {F} frames: "
            f"expected {F * h * w + 1} (processor output) or {K + 1} (placeholder_count) each"
        )
    state.pending[HOOK] = output
    state.last = {
        "keep": keep,
        "selections": selections,
        "prompt_length": input_ids.shape[1],
        "short_length": new_kwargs["input_ids"].shape[1],
    }
    return new_kwargs


def _shorten_llm_inputs(kwargs: dict[str, Any], keep: torch.Tensor, config: Any) -> dict[str, Any]:
    """Shorten the 1-D-RoPE prompt tensors (ids, labels, explicit positions) and the mask."""
    pad_id = getattr(config, "pad_token_id", None)
    pad_id = getattr(config.text_config, "pad_token_id", None) if pad_id is None else pad_id
    short, mask = shorten(
        keep,
        {
            "input_ids": (kwargs["input_ids"], 0 if pad_id is None else int(pad_id)),
            "labels": (kwargs.get("labels"), -100),
            "position_ids": (kwargs.get("position_ids"), 0),
        },
        kwargs.get("attention_mask"),
    )
    if mask is not None:
        short["attention_mask"] = mask
    return short

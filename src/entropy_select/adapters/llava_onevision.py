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
from collections.abc import Callable
from typing import Any

import torch

from ..core.selection import Selection
from ._contract import AdapterSpec, Features

__all__ = ["MODEL_TYPE", "HOOK", "SPEC", "placeholder_count", "grid_size"]

MODEL_TYPE = "llava_onevision"
#: the inner-model method that serves the compressed features to the model's own forward
HOOK = "get_video_features"

# ---- transformers version differences (5.x) ---------------------------------------------------


def _split_newline(features: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grid tokens, newline)`` of ``get_video_features``' pooled output.

    transformers >= 5.2x appends the ``image_newline`` inside ``get_video_features``
    (``n + 1`` tokens per video); 5.17 appends it later, in the model's forward (``n``). Either
    way the newline stays where it was and only the ``n`` grid tokens are selected.

    Shapes:
        features: [B_v, n (+ 1), D] -> ([B_v, n, D], [B_v, 0 or 1, D])
    """
    if features.shape[1] not in (n, n + 1):
        raise ValueError(f"unexpected LLaVA-OneVision video features {tuple(features.shape)}")
    return features[:, :n], features[:, n:]


# ---- the model-specific parts of the shared pipeline -------------------------------------------


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


def _extract(model: torch.nn.Module, original: Callable, kwargs: dict[str, Any]) -> Features:
    """The model's own video path (vision tower, projector, pooling, newline), as grids.

    Shapes:
        pixel_values_videos: [B_v, F, C, S, S]; features [B_v, F·h·w (+ 1), D]
        -> grids [F, h, w, D] per video
    """
    pixels = kwargs["pixel_values_videos"]
    feature_kwargs = {
        k: kwargs[k]
        for k in ("vision_feature_layer", "vision_feature_select_strategy")
        if kwargs.get(k) is not None
    }
    output = original(pixels, return_dict=True, **feature_kwargs)
    Bv, F = pixels.shape[:2]
    h, w = grid_size(model.config)
    grid, newline = _split_newline(output.pooler_output, F * h * w)
    grids = grid.reshape(Bv, F, h, w, grid.shape[-1])  # [B_v, F, h, w, D]
    return Features(output, list(grids), {"newline": newline, "frames": F, "n": F * h * w})


def _write_back(features: Features, selections: list[Selection], count: int) -> torch.Tensor:
    """Kept tokens, then the newline (where the hook's output carries it); one flag a placeholder.

    The prompt may hold ``N + 1`` placeholders per video (processor output: the K kept and the
    newline stay) or already ``K + 1`` (:func:`placeholder_count`: all stay).

    Shapes:
        pooler_output: [B_v, N (+ 1), D] -> [B_v, K (+ 1), D]; returns keep_visual [count]
    """
    output, newline = features.output, features.context["newline"]
    tokens = torch.stack([s.tokens for s in selections]).to(newline.dtype)  # [B_v, K, D]
    output.pooler_output = torch.cat([tokens, newline], dim=1)  # [B_v, K (+ 1), D]
    Bv, K, n = len(selections), tokens.shape[1], features.context["n"]
    if count == Bv * (K + 1):  # prompt already sized to K + 1 per video: nothing to shorten
        return torch.ones(count, dtype=torch.bool, device=tokens.device)
    if count == Bv * (n + 1):
        return torch.cat(
            [
                torch.cat([s.keep_mask.flatten(), s.keep_mask.new_ones(1)])  # newline stays
                for s in selections
            ]
        )  # [P]
    raise ValueError(
        f"the prompt holds {count} video placeholders for {Bv} video(s) of "
        f"{features.context['frames']} frames: expected {n + 1} (processor output) or "
        f"{K + 1} (placeholder_count) each"
    )


def _video_ids(model: torch.nn.Module, kwargs: dict[str, Any], count: int) -> torch.Tensor:
    """Each ``<video>`` placeholder's video: every video fills an equal run (``F·h·w + 1``).

    The run's last placeholder is the ``image_newline``, a separator rather than a visual
    token: it gets -1, so in-model selectors always keep it and rank the ``F·h·w`` grid tokens
    only (the same ``K`` as every feature selector at one retention).

    Shapes:
        -> [count] long, in row-major prompt order
    """
    videos = kwargs["pixel_values_videos"].shape[0]
    if count % videos:
        raise ValueError(f"{count} video placeholders do not split evenly over {videos} videos")
    run = count // videos
    ids = torch.arange(count) // run
    ids[run - 1 :: run] = -1  # the newline closing each video's run
    return ids


#: LLaVA-OneVision's part of the adapter contract (1-D RoPE: the shared shortening)
SPEC = AdapterSpec(
    model_type=MODEL_TYPE,
    family="LLaVA-OneVision",
    hook=HOOK,
    seams=("get_placeholder_mask",),
    placeholder="video_token_id",
    extract=_extract,
    write_back=_write_back,
    video_ids=_video_ids,
)

"""Qwen3-VL: ``model_type="qwen3_vl"``; Qwen2.5-VL's recipe plus DeepStack.

Host pipeline (transformers ``modeling_qwen3_vl.py``): as Qwen2.5-VL, but the prompt carries one
``<timestamp> <vision_start> [video]·(h·w/4) <vision_end>`` block per temporal group, and
DeepStack adds features from intermediate ViT layers to the first language-model layers at
``visual_pos_masks``. The adapter prunes every DeepStack level with the video's kept indices;
``visual_pos_masks`` is derived by the model from the shortened prompt, so it shrinks with it.
Timestamps and vision start/end tokens are text: they always stay, even when a temporal group
loses all its visual tokens. Positions: gathered from the model's own ``get_rope_index`` on the
unpruned prompt (see :mod:`.qwen2_5_vl`).
"""

from __future__ import annotations

import dataclasses

import torch

from ..core.selection import Selection
from . import qwen2_5_vl as _qwen
from ._contract import Features
from .qwen2_5_vl import mm_token_type_ids, pixel_values_from_frames

__all__ = ["MODEL_TYPE", "HOOK", "SPEC", "pixel_values_from_frames", "mm_token_type_ids"]

MODEL_TYPE = "qwen3_vl"
HOOK = _qwen.HOOK

# ---- transformers version differences (5.x) ---------------------------------------------------


def _prune_level(level, selections: list[Selection], sizes: list[int]):
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


# ---- the model-specific part: DeepStack --------------------------------------------------------


def _write_back(features: Features, selections: list[Selection], count: int) -> torch.Tensor:
    """As Qwen2.5-VL, and every DeepStack level pruned with the same indices.

    Shapes:
        deepstack_features: levels of [N_v, D] per video -> [K_v, D]; returns keep_visual [P]
    """
    output = features.output
    output.deepstack_features = [
        _prune_level(level, selections, features.context["sizes"])
        for level in output.deepstack_features
    ]
    return _qwen.write_back(features, selections, count)


#: Qwen3-VL's part of the adapter contract: Qwen2.5-VL's, plus DeepStack
SPEC = dataclasses.replace(_qwen.SPEC, model_type=MODEL_TYPE, write_back=_write_back)

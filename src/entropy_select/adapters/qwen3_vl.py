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

from typing import Any

import torch

from . import qwen2_5_vl as _qwen
from ._patching import AdapterState
from .qwen2_5_vl import check_model, inner_model, mm_token_type_ids, pixel_values_from_frames

__all__ = ["MODEL_TYPE", "HOOK", "pixel_values_from_frames", "prepare"]

MODEL_TYPE = "qwen3_vl"
HOOK = _qwen.HOOK
# re-exported for the dispatcher
check_model = check_model
inner_model = inner_model
mm_token_type_ids = mm_token_type_ids


def prepare(
    model: torch.nn.Module, state: AdapterState, kwargs: dict[str, Any], generate: bool
) -> dict[str, Any]:
    """As :func:`.qwen2_5_vl.prepare`, also pruning the DeepStack features."""
    return _qwen.prepare(model, state, kwargs, generate, deepstack=True)

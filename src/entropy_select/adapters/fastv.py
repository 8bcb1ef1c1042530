"""FastV inside a patched model: drop visual tokens after layer K by the last token's attention.

Reimplemented from Chen et al., "An Image is Worth 1/2 Tokens After Layer 2: Plug-and-Play
Inference Acceleration for Large Vision-Language Models" (FastV), ECCV 2024, §4: at layer ``K``
the visual tokens are ranked by the attention the last prompt token pays them in layer
``K − 1``, averaged over heads,

    s_j = (1/H) · Σ_h softmax_j(q_{h,last} · k_{h,j}ᵀ / √d + mask),

and only the top ``R`` visual tokens (and every text token) go on into layers ``≥ K``. Here ``R``
is the library's budget rule per video, ``R = clamp(floor(r·N_v), 1, N_v)`` (so a FastV row and
any other row of a table at the same retention keep the same count), ties to the lower index.

How it sits in transformers 5.x (no eager attention needed, no modeling file forked):

* a pre-hook on layer ``K − 1``'s self-attention recomputes only the last query's row of scores
  (:func:`._inmodel.last_query_attention`) during the prefill;
* a pre-hook on layer ``K`` gathers the hidden states, the rotary ``(cos, sin)``, the text
  positions and the 4-D mask at the kept positions, so kept tokens keep their original positions
  (1-D RoPE and Qwen's M-RoPE alike: the rotary embedding was computed from the unpruned
  positions); layers ``> K`` get the same gathers for everything but the hidden states;
* the KV cache of layers ``≥ K`` therefore holds only the kept tokens (memory saved); while
  decoding, layers ``≥ K`` see the mask's key columns gathered to the kept ones plus every new
  token; the positions continue from the unpruned prompt (the cache of layer 0 is full);
* a pre-hook on the final norm puts the short sequence back at its positions in a full-length
  one (dropped tokens carry their layer-``K`` input), so logits keep the prompt's length.

Qwen3-VL's DeepStack adds visual features to the hidden states after the first layers (one per
level, three in the released models) at the unpruned visual positions, so FastV there needs
``K >= levels`` (checked at patch time) and DeepStack itself is left untouched.

Limits (raised with a message): rows of a batch must keep the same number of tokens (the same
video lengths; padding is fine); the cache must grow per layer (``DynamicCache``, the
``generate`` default); FlashAttention with a padded batch is untested.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ._inmodel import (
    Runtime,
    attention_call,
    check_layer,
    gather_mask,
    gather_seq,
    language_model,
    last_query_attention,
    pending_video,
)

if TYPE_CHECKING:
    from ._patching import AdapterState

__all__ = ["install", "check_options", "FastV", "keep_top"]


def keep_top(
    scores: torch.Tensor, video: torch.Tensor, budget_for: Any
) -> tuple[torch.Tensor, dict[int, int]]:
    """The sequence keep mask: every non-video position, and each video's top-R by score.

    Args:
        scores: the last token's head-mean attention per position.
        video: per position the video index, -1 elsewhere.
        budget_for: ``N_v -> R_v`` (the patch's retention/budget rule).

    Returns:
        ``(keep, budgets)`` with ``budgets[v] = R_v``.

    Shapes:
        scores: [B, L]; video: [B, L] long -> keep [B, L] bool
    """
    keep = video < 0
    budgets: dict[int, int] = {}
    for v in video.unique().tolist():
        if v < 0:
            continue
        rows, cols = (video == v).nonzero(as_tuple=True)  # one row per video
        R = budget_for(len(cols))
        order = torch.sort(-scores[rows, cols], stable=True).indices[:R]  # ties: lower index
        keep[rows[order], cols[order]] = True
        budgets[v] = R
    return keep, budgets


class FastV(Runtime):
    """FastV's hooks on one model (see the module docstring)."""

    def __init__(self, model: torch.nn.Module, state: AdapterState, layer: int) -> None:
        super().__init__()
        self.state, self.layer = state, layer
        lm = language_model(model)
        layers = lm.layers
        self.prefill: dict[str, Any] | None = None  # this forward's gather (prefill only)
        self.decode: dict[str, Any] | None = None  # what decoding steps need (kept columns)
        self.pre_hook(layers[layer - 1].self_attn, self._score)
        self.pre_hook(layers[layer], self._prune)
        for later in layers[layer + 1 :]:
            self.pre_hook(later, self._follow)
        self.pre_hook(lm.norm, self._restore)

    # -- layer K - 1: the scores -----------------------------------------------------------
    def _score(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        hidden, rope, mask, cache = attention_call(args, kwargs)
        self.prefill = None
        call = pending_video(self.state, hidden.shape[1])
        if call is None or (cache is not None and cache.get_seq_length(self.layer - 1) > 0):
            if self.decode is not None and (cache is None or cache is not self.decode["cache"]):
                self.decode = None  # a new sequence: the last prefill's cache is not in use
            return
        if cache is not None and type(cache).__name__ != "DynamicCache":
            raise NotImplementedError(
                f"FastV keeps fewer tokens in the cache of layers >= K; it needs a "
                f"DynamicCache, got {type(cache).__name__}"
            )
        scores = last_query_attention(module, hidden, rope, mask, call.last)  # [B, L]
        keep, budgets = keep_top(scores, call.video.to(scores.device), self.state.budget_for)
        counts = keep.sum(1)
        if bool((counts != counts[0]).any()):
            raise ValueError(
                f"FastV keeps {counts.tolist()} tokens in the rows of this batch; a batch needs "
                f"the same count in every row (videos of equal length; padding is fine): run "
                f"rows of different lengths separately"
            )
        cols = keep.nonzero(as_tuple=True)[1].view(keep.shape[0], -1)  # [B, L'] ascending
        self.prefill = {"cols": cols, "length": hidden.shape[1]}
        self.decode = {"cols": cols, "length": hidden.shape[1], "cache": cache}
        self.last = {"keep": keep, "scores": scores, "budgets": budgets, "layer": self.layer}

    # -- layer K: cut the sequence; layers > K: cut what the loop hands every layer ----------
    def _cut(self, kwargs: dict, cols: torch.Tensor) -> dict:
        kwargs = dict(kwargs)
        cos, sin = kwargs["position_embeddings"]
        batch = cos.dim() - 3  # [B, L, d] or [3, B, L, d]
        kwargs["position_embeddings"] = (gather_seq(cos, cols, batch), gather_seq(sin, cols, batch))
        kwargs["attention_mask"] = gather_mask(kwargs.get("attention_mask"), cols, cols)
        positions = kwargs.get("position_ids")
        if isinstance(positions, torch.Tensor) and positions.shape[-1] == self.prefill["length"]:
            kwargs["position_ids"] = gather_seq(positions, cols, positions.dim() - 2)
        return kwargs

    def _prune(self, module: torch.nn.Module, args: tuple, kwargs: dict):
        if self.prefill is None:
            return self._follow(module, args, kwargs)
        cols = self.prefill["cols"]
        hidden = args[0] if args else kwargs.pop("hidden_states")
        self.prefill["full"] = hidden  # what the dropped tokens carry to the final norm
        short = gather_seq(hidden, cols, 0)  # [B, L', D]
        return (short, *args[1:]), self._cut(kwargs, cols)

    def _follow(self, module: torch.nn.Module, args: tuple, kwargs: dict):
        if self.prefill is not None:
            return args, self._cut(kwargs, self.prefill["cols"])
        decode = self.decode
        mask, cache = kwargs.get("attention_mask"), attention_call(args, kwargs)[3]
        if decode is None or mask is None or cache is None or cache is not decode["cache"]:
            return None
        # a decoding step: the cache of this layer holds the kept prompt tokens, then new ones
        cols, length = decode["cols"], decode["length"]
        new = torch.arange(length, mask.shape[-1], device=cols.device).expand(cols.shape[0], -1)
        kwargs = dict(kwargs)
        kwargs["attention_mask"] = gather_mask(mask, None, torch.cat([cols, new], 1))
        return args, kwargs

    # -- final norm: back to the prompt's length ---------------------------------------------
    def _restore(self, module: torch.nn.Module, args: tuple, kwargs: dict):
        prefill, self.prefill = self.prefill, None
        if prefill is None or "full" not in prefill:
            return None
        full = prefill["full"].clone()
        rows = torch.arange(full.shape[0], device=full.device)[:, None]
        full[rows, prefill["cols"]] = args[0].to(full.dtype)
        return (full, *args[1:]), kwargs


def check_options(layer: int = 2) -> None:
    """What needs no model: ``layer`` is an int >= 1 (layer K − 1 gives the scores)."""
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
        raise ValueError(f"fastv: layer must be an int >= 1, got {layer!r}")


def install(model: torch.nn.Module, state: AdapterState, layer: int = 2) -> FastV:
    """Hook FastV into ``model``'s language model at layer ``layer`` (K)."""
    check_options(layer)
    layer = check_layer(model, layer, "fastv")
    levels = len(getattr(model.config.vision_config, "deepstack_visual_indexes", None) or ())
    if levels and layer < levels:
        raise ValueError(
            f"fastv on {model.config.model_type}: DeepStack adds visual features after LLM "
            f"layers 0..{levels - 1} at the unpruned positions, so layer must be >= {levels}, "
            f"got {layer}"
        )
    return FastV(model, state, layer)

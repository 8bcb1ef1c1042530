"""DyCoke inside a patched model: temporal merging before the LLM, then KV pruning while decoding.

Reimplemented from Tao et al., "DyCoke: Dynamic Compression of Tokens for Fast Video Large
Language Models", CVPR 2025:

* stage 1, temporal token merging (§3.2), is the feature-level selector ``dycoke_ttm``; the
  patch runs it before the language model with the patch's ``retention``/``budget``, exactly as
  ``selector="dycoke_ttm"`` does;
* stage 2, dynamic KV-cache reduction (§3.3), runs only while decoding. At every decoding step,
  the current token's attention in layer ``L − 1`` is averaged over heads,
  ``a_t[j] = (1/H) Σ_h softmax_j(q_{h,t} · k_{h,j}ᵀ / √d + mask)``, and restricted to the video
  tokens of the prompt; layers ``≥ L`` then attend only to the text, the generated tokens and the
  chosen ``P = clamp(floor(ρ·N'), 1, N')`` video tokens (``ρ = decode_retention``, ``N'`` the
  video tokens left after stage 1). The chosen set is re-chosen as the top ``P`` of ``a_t`` at
  the first step and whenever the attention pattern changes, which we define as in the paper:
  the cosine similarity between ``a_t`` and the previous step's ``a_{t−1}`` (over the video
  tokens) drops below ``threshold`` (0.9); otherwise the previous choice is kept. Ties go to
  the lower index.

Memory: like the original, this saves none. The cache keeps every prompt token (a token dropped
now may be chosen again later); layers ``≥ L`` are given an attention mask that hides the
unchosen video keys (boolean for SDPA, additive for eager), so the attention output is that of
the reduced cache. It saves no compute either with SDPA's dense kernels; the gain of DyCoke is
stage 1's shorter prompt. FlashAttention takes no mask, so it is refused. The prefill is
untouched by stage 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..core.checks import resolve_budget
from ._inmodel import (
    Runtime,
    attention_call,
    check_layer,
    language_model,
    last_query_attention,
    mask_keys,
    pending_video,
)

if TYPE_CHECKING:
    from ._patching import AdapterState

__all__ = ["install", "check_options", "DyCokeDecode", "choose"]


def choose(scores: torch.Tensor, video: torch.Tensor, budgets: torch.Tensor) -> torch.Tensor:
    """Each row's top ``budgets[b]`` video positions by score (ties: lower index).

    Vectorised, with no host synchronisation (it runs at every decoding step).

    Shapes:
        scores: [B, L] float; video: [B, L] bool; budgets: [B] long -> [B, L] bool
    """
    masked = scores.float().masked_fill(~video, float("-inf"))
    order = torch.sort(masked, dim=1, descending=True, stable=True).indices  # [B, L]
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
    )
    return (rank < budgets[:, None]) & video


class DyCokeDecode(Runtime):
    """DyCoke's stage-2 hooks on one model (see the module docstring).

    ``last`` holds ``steps`` (decoding steps seen), ``updates`` (row re-choices, a tensor),
    ``chosen`` ([B, Lp] bool) and ``attended`` (keys each row's query may see in layers >= L).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        state: AdapterState,
        layer: int,
        decode_retention: float,
        threshold: float,
    ) -> None:
        super().__init__()
        self.state, self.layer = state, layer
        self.retention, self.threshold = decode_retention, threshold
        self.implementation = language_model(model).config._attn_implementation
        self.video: torch.Tensor | None = None  # [B, Lp] bool: the prompt's video positions
        self.budgets: torch.Tensor | None = None  # [B] long: P per row
        self.everything = False  # P = N' in every row: nothing to hide
        self.cache: Any = None  # the cache of the prompt being decoded
        self.previous: torch.Tensor | None = None  # a_{t-1}: [B, Lp]
        self.chosen: torch.Tensor | None = None  # [B, Lp] bool
        self.step_active = False  # this forward is a decoding step of that prompt
        layers = language_model(model).layers
        self.post_hook(layers[layer - 1].self_attn, self._score)
        for later in layers[layer:]:
            self.pre_hook(later, self._restrict)

    def _prefill(self, video: torch.Tensor, cache: Any) -> None:
        """A prompt with video: where it is, and each row's ``P`` (one host sync per prompt)."""
        counts = video.sum(1).tolist()
        budgets = [resolve_budget(n, self.retention, None) if n else 0 for n in counts]
        self.video, self.cache, self.previous, self.chosen = video, cache, None, None
        self.budgets = torch.tensor(budgets, device=video.device)
        self.everything = budgets == counts
        self.last = {"updates": 0, "steps": 0}

    def _score(self, module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        hidden, rope, mask, cache = attention_call(args, kwargs)
        self.step_active = False
        call = pending_video(self.state, hidden.shape[1])
        if call is not None:  # a prefill with video: remember where the video is
            self._prefill(call.video.to(hidden.device) >= 0, cache)
            return
        if self.video is None or cache is None or cache is not self.cache:
            self.video = None  # another sequence: nothing to prune
            return
        keys = cache.layers[self.layer - 1].keys  # [B, Hk, S, d] post-RoPE, this step included
        query = torch.full(
            (hidden.shape[0],), hidden.shape[1] - 1, dtype=torch.long, device=hidden.device
        )
        scores = last_query_attention(module, hidden, rope, mask, query, keys=keys)  # [B, S]
        Lp = self.video.shape[1]
        current = scores[:, :Lp].masked_fill(~self.video, 0)  # a_t over the video [B, Lp]
        fresh = choose(current, self.video, self.budgets)
        if self.previous is None:  # the first decoding step chooses
            update = torch.ones(current.shape[0], dtype=torch.bool, device=current.device)
            chosen = fresh
        else:  # later steps re-choose where the pattern changed: cos(a_t, a_{t-1}) < threshold
            cosine = torch.nn.functional.cosine_similarity(current, self.previous, dim=1)
            update = cosine < self.threshold  # [B]
            chosen = torch.where(update[:, None], fresh, self.chosen)
        self.previous, self.chosen, self.step_active = current, chosen, True
        self.last["steps"] += 1
        self.last["updates"] = self.last["updates"] + update.sum()
        self.last["chosen"] = chosen

    def _restrict(self, module: torch.nn.Module, args: tuple, kwargs: dict):
        if not self.step_active or self.everything:  # everything chosen: the mask stays as is
            return None
        hidden, _, mask, cache = attention_call(args, kwargs)
        q = hidden.shape[1]
        if mask is not None:
            S = mask.shape[-1]
        else:  # this layer's cache before the step's token is added, plus the step
            S = cache.layers[module.self_attn.layer_idx].get_seq_length() + q
        Lp = self.video.shape[1]
        allowed = torch.ones(hidden.shape[0], S, dtype=torch.bool, device=hidden.device)
        allowed[:, :Lp] = ~self.video | self.chosen
        self.last["attended"] = allowed.sum(1)
        kwargs = dict(kwargs)
        kwargs["attention_mask"] = mask_keys(mask, allowed, q, self.implementation, hidden.dtype)
        return args, kwargs


def check_options(layer: int = 3, decode_retention: float = 0.3, threshold: float = 0.9) -> None:
    """What needs no model: ``layer >= 1``, ``decode_retention`` in (0, 1], a cosine threshold."""
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
        raise ValueError(f"dycoke: layer must be an int >= 1, got {layer!r}")
    if not 0 < decode_retention <= 1:
        raise ValueError(f"dycoke: decode_retention must be in (0, 1], got {decode_retention}")
    if not -1 <= threshold <= 1:
        raise ValueError(f"dycoke: threshold (a cosine) must be in [-1, 1], got {threshold}")


def install(
    model: torch.nn.Module,
    state: AdapterState,
    layer: int = 3,
    decode_retention: float = 0.3,
    threshold: float = 0.9,
) -> DyCokeDecode:
    """Hook DyCoke's decoding stage into ``model``'s language model at layer ``layer`` (L)."""
    check_options(layer, decode_retention, threshold)
    layer = check_layer(model, layer, "dycoke")
    implementation = language_model(model).config._attn_implementation
    if implementation not in ("eager", "sdpa"):
        raise NotImplementedError(
            f"dycoke's decoding stage hides video keys with an attention mask, which "
            f"{implementation} does not take; load the model with attn_implementation='sdpa' "
            f"or 'eager'"
        )
    return DyCokeDecode(model, state, layer, decode_retention, threshold)

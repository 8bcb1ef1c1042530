"""Plumbing shared by the in-model selectors (FastV, DyCoke's decode stage): hooks on the LLM.

The registry of in-model selectors (names, options, supported model types) is plain data in
:mod:`entropy_select.selectors.in_model`; this module turns an entry into a patch:
:func:`install` imports the entry's runtime module and calls its ``install``, which registers
forward hooks on the language model's decoder layers through a :class:`Runtime` (so ``unpatch``
removes every one of them). The hooks learn where the videos are from the patched
``forward``/``generate`` (``state.pending[VIDEO_KEY]``, a :class:`._prepare.VideoCall` built from
the placeholder ids, never from fixed offsets).

Attention scores without attention weights: transformers 5.x's SDPA and FlashAttention return
none, so :func:`last_query_attention` recomputes one query row in float32 from the attention
module's own projections, query/key norms (Qwen3) and the rotary embedding the layer was given
— the real kernel still runs for every layer.

Shapes (B rows, L prefill length, S keys, H query heads, Hk key heads, d head dim):
    hidden:    [B, L, D]
    cos / sin: [B or 1, L, d] (1-D RoPE, and M-RoPE after transformers merged its sections)
    mask:      [B or 1, 1 or H, Q, S], bool (True = attend) or additive float, or None
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ..selectors.in_model import IN_MODEL
from ._contract import inner_model
from ._prepare import VIDEO_KEY, VideoCall

if TYPE_CHECKING:
    from ._patching import AdapterState

__all__ = [
    "Runtime",
    "install",
    "check_options",
    "model_notes",
    "language_model",
    "last_query_attention",
    "gather_seq",
    "gather_mask",
    "mask_keys",
    "pending_video",
    "attention_call",
]


def install(model: torch.nn.Module, state: AdapterState, name: str, options: dict) -> Any:
    """Install in-model selector ``name`` on ``model`` (its registry entry's runtime module).

    The module's ``install(model, state, **options)`` validates the options against the model,
    then either registers hooks and returns their :class:`Runtime` (FastV, DyCoke) or sets
    ``state.selector`` to an object whose ``extract_and_select`` replaces the feature stage
    (VisionZip) and returns None. Nothing is registered when it raises.
    """
    module = importlib.import_module(IN_MODEL[name].runtime)
    return module.install(model, state, **options)


def check_options(name: str, options: dict) -> None:
    """Check what can be checked of an in-model selector's options without a model.

    The runtime module's ``check_options(**options)``, where it has one (ranges of values; the
    layer count needs the model and is checked by ``install``).
    """
    module = importlib.import_module(IN_MODEL[name].runtime)
    check = getattr(module, "check_options", None)
    if check is not None:
        check(**options)


def model_notes(model_type: str) -> dict[str, str]:
    """``{selector: how it reads the model}`` for the in-model selectors of ``model_type``.

    A runtime module may say it per model type (its ``SUPPORTED`` dict); else the registry's
    summary.
    """
    out = {}
    for name, entry in sorted(IN_MODEL.items()):
        if model_type in entry.model_types:
            per_type = getattr(importlib.import_module(entry.runtime), "SUPPORTED", {})
            out[name] = per_type.get(model_type, entry.summary)
    return out


class Runtime:
    """The hooks of one in-model patch, removed together by :meth:`remove`.

    Attributes:
        handles: the torch hook handles.
        last: what the last prefill/decode step did (kept positions, scores); for tests and logs.
    """

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.last: dict[str, Any] = {}

    def pre_hook(self, module: torch.nn.Module, fn: Callable) -> None:
        """``fn(module, args, kwargs) -> (args, kwargs) | None`` before ``module`` runs."""
        self.handles.append(module.register_forward_pre_hook(fn, with_kwargs=True))

    def post_hook(self, module: torch.nn.Module, fn: Callable) -> None:
        """``fn(module, args, kwargs, output) -> None`` after ``module`` ran."""
        self.handles.append(module.register_forward_hook(fn, with_kwargs=True))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self.last = {}


def language_model(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack (``model.model.language_model``: ``layers``, ``norm``) of every adapter."""
    lm = getattr(inner_model(model), "language_model", None)
    if lm is None or not hasattr(lm, "layers") or not hasattr(lm, "norm"):
        raise ValueError(f"{type(model).__name__} has no language_model with layers and norm")
    return lm


def check_layer(model: torch.nn.Module, layer: int, name: str, low: int = 1) -> int:
    """``layer`` as an int in ``[low, num_layers)``; ``ValueError`` naming the range otherwise."""
    count = len(language_model(model).layers)
    if isinstance(layer, bool) or not isinstance(layer, int) or not low <= layer < count:
        raise ValueError(
            f"{name}: layer must be an int in [{low}, {count}) for this model "
            f"({count} decoder layers), got {layer!r}"
        )
    return layer


def pending_video(state: AdapterState, length: int) -> VideoCall | None:
    """This call's :class:`VideoCall` when a hook sees the prefill (``length`` positions)."""
    call = state.pending.get(VIDEO_KEY)
    if call is None or call.video.shape[1] != length or not bool((call.video >= 0).any()):
        return None
    return call


def attention_call(args: tuple, kwargs: dict) -> tuple[torch.Tensor, Any, Any, Any]:
    """``(hidden, position_embeddings, attention_mask, cache)`` of an attention/decoder call."""
    hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
    cache = kwargs.get("cache", kwargs.get("past_key_values"))
    return hidden, kwargs.get("position_embeddings"), kwargs.get("attention_mask"), cache


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE as transformers applies it: ``x·cos + rotate_half(x)·sin``.

    Shapes:
        x: [B, h, n, d]; cos, sin: [B, n, d]
    """
    return x * cos[:, None] + _rotate_half(x) * sin[:, None]


def _heads(attn: torch.nn.Module, proj: torch.nn.Module, norm: str, x: torch.Tensor):
    """Projected, head-split and (Qwen3's q/k norm) normalised states: ``[B, h, n, d]``."""
    B, n, _ = x.shape
    y = proj(x).view(B, n, -1, attn.head_dim)
    if hasattr(attn, norm):
        y = getattr(attn, norm)(y)
    return y.transpose(1, 2)


@torch.no_grad()
def last_query_attention(
    attn: torch.nn.Module,
    hidden: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
    attention_mask: torch.Tensor | None,
    query_index: torch.Tensor,
    keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """One query's softmax attention in one layer, averaged over heads (FastV/DyCoke's score).

    ``softmax(q_i · k_jᵀ · scale + mask)`` for the query at ``query_index`` of each row, with
    ``q`` and (unless given) ``k`` recomputed from the module's own ``q_proj``/``k_proj`` (and
    ``q_norm``/``k_norm``, where it has them) and the layer's rotary embedding; computed in
    float32 with no autograd, keys beyond the query or masked out get zero.

    Args:
        attn: the layer's self-attention module (``head_dim``, ``scaling``, projections).
        hidden: the attention module's input (the normalised hidden states).
        position_embeddings: the ``(cos, sin)`` the layer received.
        attention_mask: the mask the layer received (None: causal, no padding).
        query_index: per row, the position of the query (e.g. the last prompt token).
        keys: post-RoPE keys to score against (a cache's), or None to recompute them from
            ``hidden``.

    Returns:
        The head-mean attention of each row's query over the keys.

    Shapes:
        hidden: [B, L, D]; query_index: [B]; keys: [B, Hk, S, d] or None (S = L)
        -> [B, S] float32
    """
    cos, sin = position_embeddings
    if cos.dim() != 3:
        raise NotImplementedError(
            f"position embeddings of shape {tuple(cos.shape)}: this transformers release keeps "
            f"M-RoPE sections apart; in-model selectors need transformers >= 5.2x"
        )
    B, L, _ = hidden.shape
    cos, sin = cos.expand(B, -1, -1), sin.expand(B, -1, -1)
    rows = torch.arange(B, device=hidden.device)
    qi = query_index.to(hidden.device)
    q = _heads(attn, attn.q_proj, "q_norm", hidden[rows, qi][:, None])  # [B, H, 1, d]
    q = _rope(q, cos[rows, qi][:, None], sin[rows, qi][:, None]).float()
    if keys is None:
        keys = _rope(_heads(attn, attn.k_proj, "k_norm", hidden), cos, sin)  # [B, Hk, L, d]
    k = keys.float().repeat_interleave(q.shape[1] // keys.shape[1], dim=1)  # [B, H, S, d]
    logits = (q @ k.transpose(-1, -2))[:, :, 0] * attn.scaling  # [B, H, S]
    S = k.shape[2]
    valid = torch.arange(S, device=hidden.device)[None] <= (qi + S - L)[:, None]  # causal
    if attention_mask is not None:
        row = attention_mask.expand(B, -1, -1, -1)[rows, 0, qi + attention_mask.shape[2] - L]
        valid &= row if row.dtype == torch.bool else row > torch.finfo(row.dtype).min / 2
    logits = logits.masked_fill(~valid[:, None], float("-inf"))
    return logits.softmax(-1).mean(1)  # [B, S]


def gather_seq(t: torch.Tensor, cols: torch.Tensor, batch_dim: int) -> torch.Tensor:
    """``t`` at columns ``cols`` of its sequence dimension (the one after ``batch_dim``).

    Shapes:
        t: [..., B or 1, L, ...] (batch at ``batch_dim``); cols: [B, L'] -> [..., B, L', ...]
    """
    B = cols.shape[0]
    if t.shape[batch_dim] != B:
        t = t.expand(*t.shape[:batch_dim], B, *t.shape[batch_dim + 1 :])
    rows = torch.arange(B, device=t.device)[:, None]
    index = (slice(None),) * batch_dim + (rows, cols.to(t.device))
    return t[index]


def gather_mask(mask: torch.Tensor | None, q_cols: torch.Tensor | None, k_cols: torch.Tensor):
    """An attention mask restricted to query columns ``q_cols`` (None: all) and keys ``k_cols``.

    A 2-D mask (FlashAttention's padding mask over the keys) is gathered at ``k_cols`` only.

    Shapes:
        mask: [B or 1, h, Q, S]; q_cols: [B, Q'] or None; k_cols: [B, S'] -> [B, h, Q', S']
        mask: [B, S] -> [B, S']
    """
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor) and mask.dim() == 2:
        return mask.gather(1, k_cols.to(mask.device))
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4:
        raise NotImplementedError(
            f"in-model selectors need a 2-D or 4-D tensor mask, got {type(mask).__name__}"
        )
    B = k_cols.shape[0]
    m = mask.expand(B, -1, -1, -1)
    h, Q = m.shape[1], m.shape[2]
    if q_cols is not None:
        Q = q_cols.shape[1]
        m = m.gather(2, q_cols.to(m.device)[:, None, :, None].expand(B, h, Q, m.shape[3]))
    return m.gather(3, k_cols.to(m.device)[:, None, None, :].expand(B, h, Q, k_cols.shape[1]))


def mask_keys(
    mask: torch.Tensor | None,
    allowed: torch.Tensor,
    query_length: int,
    implementation: str,
    dtype: torch.dtype,
) -> torch.Tensor:
    """``mask`` with the keys outside ``allowed`` masked out (a mask is built when None).

    The mask keeps its kind: boolean (SDPA: True = attend) or additive float (eager).

    Shapes:
        mask: [B or 1, h, Q, S] or None; allowed: [B, S] bool -> [B, h, Q, S]
    """
    keys = allowed[:, None, None, :]  # [B, 1, 1, S]
    if mask is None:
        if implementation == "eager":
            base = torch.zeros(
                1, 1, query_length, allowed.shape[1], dtype=dtype, device=allowed.device
            )
            return base.masked_fill(~keys, torch.finfo(dtype).min)
        return keys.expand(-1, -1, query_length, -1)
    if mask.dtype == torch.bool:
        return mask & keys.to(mask.device)
    return mask.masked_fill(~keys.to(mask.device), torch.finfo(mask.dtype).min)

"""VisionZip (Yang et al., CVPR 2025) as an in-model selector of the Hugging Face adapters.

    es.patch(model, selector="visionzip", retention=0.35)  # LLaVA-OV, Qwen2.5/3-VL, InternVL

VisionZip keeps, per frame, the **dominant** tokens (those a late vision-encoder layer attends to
most) and merges the rest into a few **contextual** tokens (the paper's "informative visual
token zip": dominant token selection, contextual token merging). It needs signals from
inside the vision tower, so it is not a feature-only selector (``selectors.get("visionzip")``
raises and points here): during the adapter's one feature call, forward hooks on one encoder
layer capture its queries and keys (the model's own attention kernel, eager, SDPA or
FlashAttention, runs unchanged; only the scores VisionZip needs are recomputed here), and the
result is one :class:`~entropy_select.core.Selection` per video on the post-projector grid the
adapters already select on. The shared pipeline (``_prepare``) does the rest: write-back,
LLaVA-OV's newline, prompt shortening, M-RoPE positions, DeepStack.

**Signals** (``Shapes:`` n vision tokens of a frame, h heads, ``q_i, k_j`` per head, scale
``1/sqrt(d)``), one score ``s_j`` and one key ``κ_j`` per vision token:

* LLaVA-OneVision (SigLIP, no CLS): attention received, averaged over heads and queries,
  ``s_j = mean_h mean_i softmax_j(q_i·k_j / sqrt(d))`` (what the paper's SigLIP ports use);
* InternVL (InternViT has a CLS token at 0): the CLS row, averaged over heads,
  ``s_j = mean_h softmax_j(q_cls·k_j / sqrt(d))`` (the paper's CLIP rule);
* Qwen2.5-VL / Qwen3-VL (no CLS; windowed or per-frame ViT, rotary q/k): a mean-query
  pseudo-CLS per frame, ``q̄ = mean_i q_i`` over the frame's (rotated) queries and
  ``s_j = mean_h softmax_j(q̄·k_j / sqrt(d))`` over the frame's keys. Its logit is exactly the
  mean of the real logits ``q_i·k_j`` paid to ``j`` (FastVID's cheap substitute for the full
  received-attention map). Qwen2.5-VL's window reordering is undone (checked against the
  model's own output order);
* keys ``κ_j``: the layer's key projection averaged over heads (before rotary embedding).

The layer is the one whose output the features come from (``vision_feature_layer``; the last
block for Qwen), or ``layer=`` (an encoder layer index, negative from the end).

**From vision tokens to the grid the LLM sees**, with the model's own operator: LLaVA-OV pools
the projected tokens 2×2 bilinearly (``apply_pooling``): scores and keys go through the same
``apply_pooling``, so each LLM token gets the bilinear mix of its sources. InternVL's
pixel-unshuffle and Qwen's 2×2 ``PatchMerger`` concatenate four vision tokens into one LLM
token: its score is the sum of the four scores (the attention its content received) and its key
the concatenation of the four keys (as its features are).

**Selection** per video of T frames with ``m`` tokens each and budget ``K`` (the adapters'
``K = floor(r·N)``, :meth:`AdapterState.budget_for`):

1. ``B_f = floor((f+1)K/T) − floor(fK/T)`` per frame (an even split: each frame is one image
   to VisionZip; ``B_f >= floor(K/T)`` meets ENTROPY-SELECT's per-frame minimum
   ``min(B_min, floor(K/T))`` too);
2. ``C_f = floor(ρ·B_f + ½)`` contextual and ``D_f = B_f − C_f`` dominant tokens,
   ``ρ = 10/64`` (the paper's 54 dominant + 10 contextual of 64; 108 + 20 of 128; 162 + 30 of
   192: the same 84/16 split at every budget; option ``contextual_share``);
3. dominant: the ``D_f`` highest ``s`` of the frame (ties: lower index);
4. targets: of the ``R_f = m − D_f`` remaining tokens in raster order, the ``C_f`` at positions
   ``floor((2c+1)·R_f / (2C_f))``, ``c = 0..C_f−1`` (evenly spaced, centred);
5. every other remaining token joins the target of highest cosine ``κ̂_i·κ̂_t`` (ties: lower
   index); a contextual token is the plain mean of its group (target + members), so each
   output token is the mean of exactly the inputs its ``assignment`` gives it, and every input
   counts in at most one output (with ``C_f = 0`` the rest of the frame is dropped).

Departure from the paper: VisionZip merges vision-encoder hidden states before the projector;
here the merge is the mean of the post-projector tokens (the adapters select after the
projector, and the assignment invariant is stated there). The kept tokens keep their positions
(a contextual token sits at its target's position), exactly as ENTROPY-SELECT's do.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..core.options import convert_option
from ..core.selection import Selection, assemble_selection
from ..selectors.base import merge_mean, normalize_tokens
from ._contract import Features, inner_model

if TYPE_CHECKING:
    from ._patching import AdapterState

__all__ = [
    "VisionZip",
    "visionzip_select",
    "frame_split",
    "received_attention",
    "cls_attention",
    "pseudo_cls_attention",
    "CONTEXTUAL_SHARE",
    "SUPPORTED",
    "NAME",
]

NAME = "visionzip"
#: ρ, the contextual share of each frame's budget: 10 of 64 (the paper's LLaVA-1.5 settings:
#: 54 + 10, 108 + 20, 162 + 30 dominant + contextual of 64, 128, 192 tokens)
CONTEXTUAL_SHARE = 10 / 64
#: how each model type's signals are read (es.adapters.supported() shows these)
SUPPORTED: dict[str, str] = {
    "llava_onevision": "SigLIP attention received (mean over heads and queries), pooled 2x2 "
    "bilinearly like the features",
    "qwen2_5_vl": "mean-query pseudo-CLS per frame on the last ViT block (window order undone), "
    "summed over each 2x2 merge",
    "qwen3_vl": "mean-query pseudo-CLS per frame on the last ViT block, summed over each 2x2 "
    "merge; DeepStack pruned alike",
    "internvl": "InternViT CLS attention, summed over each pixel-unshuffle block",
}
#: the most float32 attention entries one chunk of the received-attention map may hold (256 MiB)
_CHUNK_ELEMENTS = 1 << 26


# ---- the selection (pure torch) -----------------------------------------------------------------


def frame_split(budget: int, frames: int, share: float) -> tuple[list[int], list[int]]:
    """``(D_f, C_f)`` per frame: the even split of ``K`` over frames, then ``C_f = ⌊ρB_f + ½⌋``.

    Host integers from the two shape integers (no device sync).
    """
    B = [(f + 1) * budget // frames - f * budget // frames for f in range(frames)]
    C = [min(b, math.floor(b * share + 0.5)) for b in B]
    return [b - c for b, c in zip(B, C, strict=True)], C


def visionzip_select(
    features: torch.Tensor,
    dominance: torch.Tensor,
    keys: torch.Tensor,
    budget: int,
    contextual_share: float = CONTEXTUAL_SHARE,
) -> Selection:
    """VisionZip's dominant + contextual tokens of one video (the steps of the module doc).

    Args:
        features: the video's post-projector tokens (the output tokens are means of these).
        dominance: each token's attention score ``s`` (higher = more dominant).
        keys: each token's key ``κ`` (merging similarity: cosine).
        budget: K, ``1 <= K <= T·H·W``.
        contextual_share: ρ in [0, 1].

    Returns:
        An unbatched :class:`Selection` with ``assignment`` (merged tokens, ``weights`` None:
        plain means); ``keep_index`` holds the dominant tokens and the contextual targets.

    Shapes:
        features: [T, H, W, D], dominance: [T, H, W], keys: [T, H, W, Dk] -> K tokens [K, D]
    """
    if features.dim() != 4:
        raise ValueError(f"features must be [T, H, W, D], got {tuple(features.shape)}")
    T, H, W, D = features.shape
    if tuple(dominance.shape) != (T, H, W) or keys.dim() != 4 or keys.shape[:3] != (T, H, W):
        raise ValueError(
            f"dominance {tuple(dominance.shape)} and keys {tuple(keys.shape)} must match the "
            f"grid {(T, H, W)} of features"
        )
    if not 0.0 <= contextual_share <= 1.0:
        raise ValueError(f"contextual_share must be in [0, 1], got {contextual_share}")
    m, N = H * W, T * H * W
    if not 1 <= budget <= N:
        raise ValueError(f"budget must be in [1, N={N}], got {budget}")
    device = features.device
    dom_counts, ctx_counts = frame_split(budget, T, contextual_share)
    dominant_n = torch.tensor(dom_counts, device=device)  # [T] D_f
    contextual_n = torch.tensor(ctx_counts, device=device)  # [T] C_f
    # 3. dominant: the D_f best scores of each frame, ties to the lower index (stable sort)
    s = dominance.detach().reshape(T, m).float()  # [T, m]
    order = torch.argsort(s, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(m, device=device).expand(T, m))
    is_dominant = rank < dominant_n[:, None]  # [T, m]
    rest = ~is_dominant
    # 4. targets: evenly spaced (centred) positions of the remaining tokens in raster order
    c_max = max(ctx_counts)
    assignment = torch.full((T, m), -1, dtype=torch.long, device=device)
    is_target = torch.zeros(T, m + 1, dtype=torch.bool, device=device)  # column m: a dump
    if c_max > 0:
        c = torch.arange(c_max, device=device)  # [C]
        valid = c[None] < contextual_n[:, None]  # [T, C]
        remaining = m - dominant_n  # [T] R_f
        slot_pos = (
            (2 * c[None] + 1) * remaining[:, None] // (2 * contextual_n.clamp_min(1)[:, None])
        )
        rest_order = torch.argsort((~rest).to(torch.int8), dim=1, stable=True)  # rest first
        target_tok = rest_order.gather(1, slot_pos.clamp_max(m - 1))  # [T, C] token index
        is_target.scatter_(1, torch.where(valid, target_tok, m), True)  # invalid -> the dump
        # 5. every other remaining token joins its most similar target (cosine of keys)
        k = normalize_tokens(keys.detach().reshape(T, m, -1).float())  # [T, m, Dk]
        target_keys = k.gather(1, target_tok[..., None].expand(-1, -1, k.shape[-1]))  # [T, C, Dk]
        sim = k @ target_keys.transpose(1, 2)  # [T, m, C]
        sim = sim.masked_fill(~valid[:, None, :], float("-inf"))
        best = sim.argmax(-1)  # [T, m] first maximum: the lower target on ties
        member_target = target_tok.gather(1, best)  # [T, m] token index of the chosen target
    is_target = is_target[:, :m] & rest
    keep = is_dominant | is_target  # [T, m], B_f per frame
    keep_flat = keep.reshape(N)
    slot = (keep_flat.long().cumsum(0) - 1).view(T, m)  # output slot of each kept token
    assignment = torch.where(keep, slot, assignment)
    if c_max > 0:
        member = rest & ~is_target & (contextual_n > 0)[:, None]
        assignment = torch.where(member, slot.gather(1, member_target), assignment)
    tokens = merge_mean(features.reshape(1, N, D), assignment.view(1, N), budget)  # [1, K, D]
    selection = assemble_selection(
        features[None],
        keep_flat[None],
        s.view(1, T, H, W),
        budget,
        tokens=tokens,
        assignment=assignment.view(1, N),
    )
    return selection.video(0)


# ---- capturing queries and keys of one vision layer ---------------------------------------------


class _Capture:
    """Forward hooks that record what one vision layer computed, removed on exit.

    Hooks read and never write, so the model computes exactly what it computes unpatched; the
    recorded tensors are detached (the choice is not differentiable; the merged tokens are).
    """

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.records: dict[str, list[Any]] = {}

    def output(self, module: torch.nn.Module, name: str) -> None:
        def hook(_module, _args, out):
            self.records.setdefault(name, []).append(out.detach())

        self.handles.append(module.register_forward_hook(hook))

    def keyword(self, module: torch.nn.Module, name: str, key: str) -> None:
        """Record the argument ``key`` of each call of ``module`` (by name or by position)."""
        signature = inspect.signature(module.forward)

        def hook(_module, args, kwargs):
            value = signature.bind_partial(*args, **kwargs).arguments.get(key)
            if value is None:
                raise RuntimeError(
                    f"VisionZip expected {type(module).__name__} to receive {key}; "
                    "this transformers version is not supported"
                )
            self.records.setdefault(name, []).append(value)

        self.handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def one(self, name: str) -> Any:
        """The single record ``name`` (the layer must run once per feature call)."""
        found = self.records.get(name, [])
        if len(found) != 1:
            raise RuntimeError(
                f"VisionZip expected the hooked vision layer to run once per feature call, "
                f"it ran {len(found)} times"
            )
        return found[0]

    def __enter__(self) -> _Capture:
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def _layer_index(option: int | None, feature_layer: Any, count: int) -> int:
    """The encoder layer whose attention ranks the tokens.

    ``option`` (``layer=``) indexes the encoder's layers (negative from the end). Otherwise the
    layer that produced ``hidden_states[vision_feature_layer]``: ``hidden_states[0]`` is the
    embedding, ``hidden_states[l]`` layer ``l − 1``'s output (the deepest of a list).
    """
    if option is not None:
        if not -count <= option < count:
            raise ValueError(f"layer={option} is outside the vision encoder's {count} layers")
        return option % count
    layers = feature_layer if isinstance(feature_layer, (list, tuple)) else [feature_layer]
    deepest = max((int(x) if int(x) >= 0 else count + 1 + int(x)) for x in layers)
    if not 1 <= deepest <= count:
        raise ValueError(
            f"vision_feature_layer={feature_layer} is not the output of an attention layer; "
            "pass layer= (an encoder layer index) to es.patch(..., selector='visionzip')"
        )
    return deepest - 1


def _find(obj: Any, *paths: str) -> Any:
    """The first attribute path of ``paths`` that exists on ``obj`` (None if none does)."""
    for path in paths:
        found = obj
        for part in path.split("."):
            found = getattr(found, part, None)
            if found is None:
                break
        if found is not None:
            return found
    return None


def received_attention(q: torch.Tensor, k: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
    """Attention each token receives, averaged over heads and queries (SigLIP, no CLS).

    ``s_j = mean_h mean_i softmax_j(q_i·k_j·scale)``, in float32, in chunks of frames so that
    one chunk's ``[r, h, n, n]`` map holds at most 2²⁶ entries.

    Shapes:
        q, k: [R, n, h·d] -> [R, n] float32 (each row sums to 1)
    """
    R, n, _ = q.shape
    step = max(1, _CHUNK_ELEMENTS // (heads * n * n))
    out = []
    for start in range(0, R, step):
        qs = q[start : start + step].float().unflatten(-1, (heads, -1)).transpose(1, 2)
        ks = k[start : start + step].float().unflatten(-1, (heads, -1)).transpose(1, 2)
        attn = torch.softmax(qs @ ks.transpose(-1, -2) * scale, dim=-1)  # [r, h, n, n]
        out.append(attn.mean(dim=(1, 2)))  # [r, n]
    return torch.cat(out)


def cls_attention(q: torch.Tensor, k: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
    """The CLS token's (index 0) attention row over the other tokens, averaged over heads.

    ``s_j = mean_h softmax_j(q_cls·k_j·scale)`` over all ``1 + n`` keys, then the CLS column
    dropped (the paper's rule for CLIP).

    Shapes:
        q, k: [R, 1 + n, h·d] -> [R, n] float32
    """
    qc = q[:, 0].float().unflatten(-1, (heads, -1))  # [R, h, d]
    kh = k.float().unflatten(-1, (heads, -1))  # [R, 1 + n, h, d]
    row = torch.softmax(torch.einsum("rhd,rjhd->rhj", qc, kh) * scale, dim=-1)  # [R, h, 1 + n]
    return row.mean(1)[:, 1:]


def pseudo_cls_attention(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """A mean-query pseudo-CLS per frame: ``s_j = mean_h softmax_j(q̄·k_j·scale)``.

    ``q̄`` is the mean of the frame's queries, so its logit ``q̄·k_j = mean_i q_i·k_j`` is the mean
    of the real logits paid to ``j`` (with rotary q/k as the kernel sees them).

    Shapes:
        q, k: [T, n, h, d] (per frame, per head) -> [T, n] float32
    """
    pseudo = q.float().mean(1)  # [T, h, d] the frame's mean query
    logits = torch.einsum("thd,tjhd->thj", pseudo, k.float()) * scale  # [T, h, n]
    return torch.softmax(logits, dim=-1).mean(1)


def _head_mean(k: torch.Tensor, heads: int) -> torch.Tensor:
    """Keys averaged over heads: ``[..., h·d] -> [..., d]`` (float32)."""
    return k.float().unflatten(-1, (heads, -1)).mean(-2)


# ---- per model: where the layer is, and its signals on the LLM grid -----------------------------


def _siglip_layers(model: torch.nn.Module) -> Any:
    tower = inner_model(model).vision_tower
    return _find(tower, "vision_model.encoder.layers", "encoder.layers")


def _llava_install(vz: VisionZip, model, kwargs, cap: _Capture) -> dict[str, Any]:
    layers = _siglip_layers(model)
    if layers is None:
        raise ValueError("VisionZip cannot find the SigLIP encoder layers of this model")
    feature_layer = kwargs.get("vision_feature_layer")
    if feature_layer is None:
        feature_layer = model.config.vision_feature_layer
    attn = layers[_layer_index(vz.layer, feature_layer, len(layers))].self_attn
    cap.output(attn.q_proj, "q")
    cap.output(attn.k_proj, "k")
    return {"attn": attn}


def _llava_signals(model, kwargs, features: Features, cap: _Capture, ctx) -> list:
    """Received attention and head-mean keys, through the model's own ``apply_pooling``.

    Shapes:
        q, k: [B_v·F, n, C] -> per video (dominance [F, h', w'], keys [F, h', w', d])
    """
    inner, attn = inner_model(model), ctx["attn"]
    q, k = cap.one("q"), cap.one("k")  # [B_v·F, n, C]
    strategy = kwargs.get("vision_feature_select_strategy")
    if strategy is None:
        strategy = model.config.vision_feature_select_strategy
    scores = received_attention(q, k, attn.num_heads, attn.scale)  # [B_v·F, n]
    keys = _head_mean(k, attn.num_heads)  # [B_v·F, n, d]
    if strategy == "default":  # the features drop token 0: so do the signals
        scores, keys = scores[:, 1:], keys[:, 1:]
    scores = inner.apply_pooling(scores[..., None])[..., 0]  # [B_v·F, h'·w']
    keys = inner.apply_pooling(keys)  # [B_v·F, h'·w', d]
    F = features.context["frames"]
    out = []
    for v, grid in enumerate(features.grids):
        _, h, w, _ = grid.shape
        rows = slice(v * F, (v + 1) * F)
        out.append((scores[rows].view(F, h, w), keys[rows].view(F, h, w, -1)))
    return out


def _internvl_install(vz: VisionZip, model, kwargs, cap: _Capture) -> dict[str, Any]:
    layers = _find(inner_model(model).vision_tower, "encoder.layer", "encoder.layers")
    if layers is None:
        raise ValueError("VisionZip cannot find the InternViT encoder layers of this model")
    feature_layer = kwargs.get("vision_feature_layer")
    if feature_layer is None:
        feature_layer = model.config.vision_feature_layer
    strategy = kwargs.get("vision_feature_select_strategy")
    if strategy is None:
        strategy = model.config.vision_feature_select_strategy
    if strategy != "default":
        raise ValueError(
            "VisionZip on InternVL reads the CLS token's attention and needs "
            f"vision_feature_select_strategy='default' (the CLS is not a feature), got {strategy!r}"
        )
    attn = layers[_layer_index(vz.layer, feature_layer, len(layers))].attention
    cap.output(attn.q_norm, "q")  # after the optional qk-norm: the q/k the kernel sees
    cap.output(attn.k_norm, "k")
    return {"attn": attn}


def _internvl_signals(model, kwargs, features: Features, cap: _Capture, ctx) -> list:
    """The CLS row (mean over heads), summed / concatenated through ``pixel_shuffle``.

    Shapes:
        q, k: [R, 1 + n, C] -> per video rows [s, e): (dominance [e−s, g', g'], keys [.., 4d])
    """
    inner, attn = inner_model(model), ctx["attn"]
    q, k = cap.one("q"), cap.one("k")  # [R, 1 + n, C]
    R, n1, _ = q.shape
    scores = cls_attention(q, k, attn.num_heads, attn.scale)  # [R, n]
    keys = _head_mean(k[:, 1:], attn.num_heads)  # [R, n, d]
    g = math.isqrt(n1 - 1)
    ratio = model.config.downsample_ratio
    scores = inner.pixel_shuffle(scores.view(R, g, g, 1), scale_factor=ratio).sum(-1)
    keys = inner.pixel_shuffle(keys.view(R, g, g, -1), scale_factor=ratio)  # [R, g', g', 4d]
    return [(scores[s:e], keys[s:e]) for s, e in features.context["ranges"]]


def _qwen_install(vz: VisionZip, model, kwargs, cap: _Capture) -> dict[str, Any]:
    visual = inner_model(model).visual
    blocks = visual.blocks
    attn = blocks[_layer_index(vz.layer if vz.layer is not None else -1, None, len(blocks))].attn
    cap.output(attn.qkv, "qkv")
    cap.keyword(attn, "rope", "position_embeddings")
    cap.output(visual.merger, "merged")
    return {"attn": attn}


def _qwen_window_order(model, grid_thw: torch.Tensor) -> torch.Tensor | None:
    """Qwen2.5-VL: ``window_index`` (merge unit of each row block, in the blocks' order).

    transformers version differences: 5.17 has ``visual.get_window_index``; later 5.x releases
    a module function ``transformers.vision_utils.get_vision_window_index``. Qwen3-VL has no
    windows (None).
    """
    if model.config.model_type != "qwen2_5_vl":
        return None
    visual = inner_model(model).visual
    method = getattr(visual, "get_window_index", None)
    if callable(method):
        return method(grid_thw)[0]
    from transformers import vision_utils

    return vision_utils.get_vision_window_index(
        grid_thw,
        spatial_merge_size=visual.spatial_merge_size,
        window_size=visual.window_size,
        patch_size=visual.patch_size,
    )[0]


def _qwen_signals(model, kwargs, features: Features, cap: _Capture, ctx) -> list:
    """Mean-query pseudo-CLS per frame on rotated q/k; pre-rotary head-mean keys; 2×2 merges.

    Shapes:
        qkv: [S, 3·h·d] (rows in window order for Qwen2.5-VL), S = Σ_v t·gh·gw
        -> per video (dominance [t, gh/2, gw/2], keys [t, gh/2, gw/2, 4d])
    """
    attn = ctx["attn"]
    grid_thw = kwargs["video_grid_thw"]
    merge = model.config.vision_config.spatial_merge_size
    unit = merge * merge
    qkv = cap.one("qkv")
    S, heads = qkv.shape[0], attn.num_heads
    q, k, _ = qkv.view(S, 3, heads, -1).unbind(1)  # [S, h, d] each
    cos, sin = cap.one("rope")
    rotate = getattr(sys.modules[type(attn).__module__], "apply_rotary_pos_emb_vision", None)
    if rotate is None:
        raise RuntimeError(
            f"VisionZip cannot find apply_rotary_pos_emb_vision beside {type(attn).__name__}"
        )
    q_rot, k_rot = rotate(q, k, cos, sin)  # [S, h, d], as the attention kernel sees them
    window = _qwen_window_order(model, grid_thw)
    if window is not None:  # rows are in window order: back to (t, row, column, 2×2) order
        back = torch.argsort(window)

        def unwindow(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(S // unit, unit, *x.shape[1:])[back].reshape(x.shape)

        q_rot, k_rot, k = unwindow(q_rot), unwindow(k_rot), unwindow(k)
        merged = cap.one("merged")[back]  # [S/unit, D]
        pooled = features.output.pooler_output
        pooled = torch.cat(list(pooled)) if isinstance(pooled, (list, tuple)) else pooled
        if not torch.equal(merged, pooled.detach()):
            raise RuntimeError(
                "VisionZip could not undo Qwen2.5-VL's window order in this transformers "
                "version (supported: es.adapters.TESTED_TRANSFORMERS)"
            )
    out, start = [], 0
    for t, gh, gw in grid_thw.tolist():
        n = gh * gw
        rows = slice(start, start + t * n)
        start += t * n
        scores = pseudo_cls_attention(
            q_rot[rows].view(t, n, heads, -1), k_rot[rows].view(t, n, heads, -1), attn.scaling
        )  # [t, n]
        keys = k[rows].float().view(t, n, heads, -1).mean(2)  # [t, n, d] pre-rotary
        h2, w2 = gh // merge, gw // merge
        out.append(
            (
                scores.view(t, h2, w2, unit).sum(-1),  # rows are 2×2 merge units in order
                keys.reshape(t, h2, w2, -1),  # [t, h2, w2, unit·d], as the PatchMerger
            )
        )
    return out


@dataclass(frozen=True)
class _Probe:
    """Where one model type's layer is (``install``) and how its records become signals."""

    install: Callable[..., dict[str, Any]]
    signals: Callable[..., list]


_PROBES: dict[str, _Probe] = {
    "llava_onevision": _Probe(_llava_install, _llava_signals),
    "internvl": _Probe(_internvl_install, _internvl_signals),
    "qwen2_5_vl": _Probe(_qwen_install, _qwen_signals),
    "qwen3_vl": _Probe(_qwen_install, _qwen_signals),
}


# ---- the in-model selector ----------------------------------------------------------------------


class VisionZip:
    """VisionZip for a patched model: built by ``es.patch(model, selector="visionzip", ...)``.

    Args:
        contextual_share: ρ, the share of each frame's budget given to contextual (merged)
            tokens; default 10/64 (the paper's 54 + 10).
        layer: the vision encoder layer whose attention ranks the tokens (an index into its
            layers, negative from the end); default the layer the features come from
            (``vision_feature_layer``; the last ViT block for Qwen).
    """

    name = NAME
    merges = True

    def __init__(self, contextual_share: float = CONTEXTUAL_SHARE, layer: int | None = None):
        self.contextual_share = convert_option("contextual_share", contextual_share, 0.0, float)
        self.layer = convert_option("layer", layer, None, int | None)
        if self.layer is not None and (
            isinstance(self.layer, bool) or not isinstance(self.layer, int)
        ):
            raise ValueError(f"layer must be an int (a vision encoder layer index), got {layer!r}")
        if not 0.0 <= self.contextual_share <= 1.0:
            raise ValueError(f"contextual_share must be in [0, 1], got {self.contextual_share}")

    @classmethod
    def for_model(cls, model_type: str, **options: Any) -> VisionZip:
        """A VisionZip for ``model_type``; raises for a model type it cannot read."""
        if model_type not in _PROBES:
            raise ValueError(
                f"selector 'visionzip' does not support model_type {model_type!r}; "
                f"supported: {', '.join(sorted(_PROBES))}"
            )
        valid = ("contextual_share", "layer")
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown option(s) for selector 'visionzip': {', '.join(unknown)}; "
                f"valid options are: {', '.join(valid)}"
            )
        return cls(**options)

    def extract_and_select(
        self, model: torch.nn.Module, state: AdapterState, kwargs: dict[str, Any]
    ) -> tuple[Features | None, list[Selection]]:
        """Run the adapter's feature call with the layer hooked; one Selection per video.

        Returns:
            ``(features, selections)``; ``(None, [])`` when the call has no video features.
        """
        spec = state.adapter
        probe = _PROBES[spec.model_type]
        with _Capture() as cap:
            ctx = probe.install(self, model, kwargs, cap)
            features = spec.extract(model, state.originals[spec.hook], kwargs)
        if features is None:
            return None, []
        signals = probe.signals(model, kwargs, features, cap, ctx)
        selections = []
        for grid, (dominance, keys) in zip(features.grids, signals, strict=True):
            T, H, W, _ = grid.shape
            K = state.budget_for(T * H * W)
            selections.append(visionzip_select(grid, dominance, keys, K, self.contextual_share))
        return features, selections

    def __repr__(self) -> str:
        return f"VisionZip(contextual_share={self.contextual_share}, layer={self.layer})"


def install(model: torch.nn.Module, state: AdapterState, **options: Any) -> None:
    """The in-model registry's entry point (``selectors.in_model``): VisionZip as the feature stage.

    ``state.selector`` becomes a :class:`VisionZip`, whose ``extract_and_select`` the shared
    pipeline calls instead of the feature method and a selector; no hook on the language model.
    """
    state.selector = VisionZip.for_model(model.config.model_type, **options)


def check_options(**options: Any) -> None:
    """What needs no model: the option values (``contextual_share`` in [0, 1], ``layer`` an int)."""
    VisionZip(**options)

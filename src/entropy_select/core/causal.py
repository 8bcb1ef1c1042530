"""Causal counterparts of the whole-video steps of ENTROPY-SELECT (streaming; SPEC §1-4).

The window entropy of frame ``t`` (SPEC §1) only looks at frames ``t − K_t + 1 … t``, so it is
causal already. Two steps look at the whole video and need a causal twin for streaming:

- the min-max normalisation of ``Ĝ`` (SPEC §2; and of ``Ĥ`` in the ``minmax`` entropy modes):
  ``EntropySelectConfig.minmax_scope="frame"`` normalises over each frame instead of the video;
- the frame-budget softmax of Eq. 4 (SPEC §4): ``frame_budget_rule="online"`` gives frame ``t`` the
  budget Eq. 4 would give it if the video ended with it, within a running allowance
  (:func:`online_budget_step`, equations in ``docs/algorithm.md``, "Streaming").

Everything here is pure torch and free of host synchronisation, so the offline selector
(:func:`entropy_select.selectors.entropy_select.select_tokens`) and the stream
(:class:`entropy_select.streaming.StreamingSelector`) call the very same functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .allocation import frame_saliency
from .checks import compute_dtype
from .config import EntropySelectConfig
from .entropy import _normalised_entropy, minmax_normalize, neighbour_offsets

__all__ = [
    "normalize_gradient",
    "scoped",
    "frame_window_entropy",
    "normalize_tokens",
    "window_validity",
    "online_bounds",
    "online_budget_step",
    "online_frame_budget",
    "allowance",
    "check_frame_budget",
]


def scoped(fn: Callable[..., torch.Tensor], x: torch.Tensor, config: EntropySelectConfig, *args):
    """Apply a whole-video map ``fn`` (a min-max over each video's last 3 dims) to each video, or
    to each frame alone when ``config.minmax_scope == "frame"`` (causal).

    Shapes:
        x: [..., T, H, W]  ->  [..., T, H, W]
    """
    if config.minmax_scope == "frame":
        # [..., T, 1, H, W]: each frame alone in the last 3 dims
        return fn(x.unsqueeze(-3), *args).squeeze(-3)
    return fn(x, *args)


def normalize_gradient(raw_gradient: torch.Tensor, config: EntropySelectConfig) -> torch.Tensor:
    """``Ĝ``: the raw gradient magnitude min-max normalised over each video (SPEC §2) or, with
    ``minmax_scope="frame"``, over each frame (causal).

    Shapes:
        raw_gradient: [..., T, H, W]  ->  [..., T, H, W]
    """
    return scoped(minmax_normalize, raw_gradient, config)


def frame_window_entropy(
    window: torch.Tensor | Sequence[torch.Tensor],
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    normalized: bool = False,
    validity: torch.Tensor | None = None,
) -> torch.Tensor:
    """``Ĥ`` (SPEC §1) of the LAST frame of a window holding it and up to ``K_t − 1`` past frames.

    The same arithmetic as :func:`entropy_select.core.entropy.local_window_entropy` (one shifted
    dot product per neighbour offset, then the masked softmax entropy), restricted to one frame:
    the cost of one frame, whatever the window. A window shorter than ``K_t`` is the start of a
    video (the missing past neighbours do not exist). Nothing is padded or copied: each offset
    multiplies the overlapping parts of the centre frame and its neighbour frame, and the spatial
    offsets of the upper half are read from their mirror (``x̂_p·x̂_q = x̂_q·x̂_p``, bit for bit).

    Args:
        window: features, oldest frame first (a tensor, or a list of frames, as a stream keeps
            them); the last frame is the one scored.
        normalized: the frames are already :func:`normalize_tokens` of the features (a stream
            keeps its past frames normalised, so each frame is normalised once).
        validity: :func:`window_validity` for this window (a stream reuses it), or None.

    Returns:
        ``Ĥ`` in [0, 1], float64 for float64 input, float32 otherwise.

    Shapes:
        window: [B, L, H, W, D] or L tensors [B, H, W, D], with 1 <= L <= K_t  ->  [B, H, W]
    """
    frames = list(window.unbind(1)) if isinstance(window, torch.Tensor) else list(window)
    L = len(frames)
    if not 1 <= L <= temporal_window:
        raise ValueError(f"the window must hold 1..{temporal_window} frames, got {L}")
    B, H, W, _ = frames[-1].shape
    dtype = compute_dtype(frames[-1].dtype)
    dev = frames[-1].device
    if not normalized:
        frames = [normalize_tokens(f) for f in frames]
    frames = [f.to(dtype) for f in frames]
    center = frames[-1]  # [B, H, W, D]
    offsets = neighbour_offsets(spatial_window, temporal_window, past_window)
    sims = torch.zeros(len(offsets), B, H, W, dtype=dtype, device=dev)  # 0 where invalid
    index = {off: o for o, off in enumerate(offsets)}
    mirrored = []
    for o, (dt, a, b) in enumerate(offsets):
        i0, i1, j0, j1 = max(0, -a), min(H, H - a), max(0, -b), min(W, W - b)
        if dt >= L or i0 >= i1 or j0 >= j1:
            continue  # no neighbour at this offset (before frame 0, or outside the grid)
        if dt == 0 and (a, b) < (0, 0):
            mirrored.append((o, index[(0, -a, -b)], a, b, (i0, i1, j0, j1)))
            continue
        nb = frames[L - 1 - dt][:, i0 + a : i1 + a, j0 + b : j1 + b]
        sims[o, :, i0:i1, j0:j1] = torch.sum(center[:, i0:i1, j0:j1] * nb, dim=-1)
    for o, mirror, a, b, (i0, i1, j0, j1) in mirrored:
        # x̂_(i,j)·x̂_(i+a,j+b) is the mirror offset's product at (i+a, j+b)
        sims[o, :, i0:i1, j0:j1] = sims[mirror, :, i0 + a : i1 + a, j0 + b : j1 + b]
    if validity is None:
        validity = window_validity(L, H, W, spatial_window, temporal_window, past_window, dev)
    return _normalised_entropy(sims / tau, validity[:, None])


def window_validity(
    frames: int,
    H: int,
    W: int,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Which neighbour offsets (:func:`neighbour_offsets` order) exist at each position of the
    last frame of a window of ``frames`` frames.

    Shapes:
        ->  [O, H, W] bool
    """
    offsets = neighbour_offsets(spatial_window, temporal_window, past_window)
    rows, cols = torch.arange(H, device=device), torch.arange(W, device=device)
    da = torch.tensor([o[1] for o in offsets], device=device, dtype=torch.long)
    db = torch.tensor([o[2] for o in offsets], device=device, dtype=torch.long)
    ok_i = ((rows[None] + da[:, None]) >= 0) & ((rows[None] + da[:, None]) < H)  # [O, H]
    ok_j = ((cols[None] + db[:, None]) >= 0) & ((cols[None] + db[:, None]) < W)  # [O, W]
    in_time = torch.tensor([o[0] < frames for o in offsets], device=device)  # [O]
    return ok_i[:, :, None] & ok_j[:, None, :] & in_time[:, None, None]


def normalize_tokens(features: torch.Tensor) -> torch.Tensor:
    """``x̂ = x / max(‖x‖₂, 1e-6)`` of SPEC §1.1 in the compute dtype (a zero token stays zero).

    Shapes:
        features: [..., D]  ->  [..., D]
    """
    x = features.to(compute_dtype(features.dtype))
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def online_bounds(
    retention: float, tokens_per_frame: int, config: EntropySelectConfig
) -> tuple[int, int]:
    """Per-frame bounds ``(lo, hi)`` of the online rule.

    ``hi = min(m, B_max or m)``; ``lo = min(B_min, floor(r·m), hi)``, so that ``t·lo`` never
    exceeds the allowance ``ceil(r·m·t)`` (see :func:`online_budget_step`).
    """
    m = tokens_per_frame
    hi = min(m, config.max_frame_tokens or m)
    lo = min(config.min_frame_tokens, math.floor(retention * m + 1e-9), hi)
    return lo, hi


def allowance(retention: float, tokens_seen: int) -> int:
    """``ceil(r·N_t)``: the most tokens a stream may have emitted after ``N_t`` input tokens
    (the same ``1e-9`` tolerance as ``K`` in SPEC, Notation)."""
    return math.ceil(retention * tokens_seen - 1e-9)


def online_budget_step(
    saliency: torch.Tensor,
    log_norm: torch.Tensor,
    carry: torch.Tensor,
    emitted: torch.Tensor,
    frame: int,
    retention: float,
    tokens_per_frame: int,
    config: EntropySelectConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The online saliency-adaptive budget of frame ``t`` (0-based ``frame``) and the new state.

    With ``ℓ_s = S̄_s / τ_alloc`` (S̄: :func:`frame_saliency`), ``L_t = logsumexp(ℓ_0 … ℓ_t)``,
    ``w_t = exp(ℓ_t − L_t)`` (frame t's softmax weight among the frames so far), ``N_t = m·(t+1)``,
    the wish ``d_t = w_t·r·N_t`` (the budget Eq. 4 would give frame t if the video ended with it),
    the bank ``s_t = max(0, r·N_{t−1} − E_{t−1} − c_{t−1})`` (tokens earlier frames left unspent)
    and the allowance ``A_t = ceil(r·N_t) − E_{t−1}``:

        b_t = clamp(floor(c_{t−1} + d_t + γ·s_t), lo, min(hi, A_t))
        c_t = clamp(c_{t−1} + d_t + γ·s_t − b_t, 0, 1)

    (``c``: the fractional part the floor dropped, carried so that rounding loses no tokens;
    ``γ = config.bank_rate``: each frame spends that share of the bank, so that a stream whose
    early frames set a high running average does not end far below its rate).
    Hence ``E_t = E_{t−1} + b_t <= ceil(r·N_t)`` after every frame, and ``b_t >= lo`` because
    ``A_t >= ceil(r·N_t) − ceil(r·N_{t−1}) >= floor(r·m) >= lo``. Tokens a dull frame does not
    spend stay in the bank for later frames, the salient ones first.

    Args:
        saliency: ``S̄_t`` of each stream. log_norm: ``L_{t−1}`` (``-inf`` before the first frame).
        carry: ``c_{t−1}`` (0 before the first frame). emitted: ``E_{t−1}``, tokens emitted so
        far. frame: t. retention: r. tokens_per_frame: m = H·W.

    Returns:
        ``(b_t, L_t, c_t)``: int64 budgets, the new log-normaliser and carry.

    Shapes:
        saliency, log_norm, carry, emitted: [B]  ->  [B] int64, [B] float64, [B] float64
    """
    m = tokens_per_frame
    lo, hi = online_bounds(retention, m, config)
    logit = saliency.to(torch.float64) / config.alloc_tau  # [B]
    log_norm = torch.logaddexp(log_norm.to(torch.float64), logit)
    weight = torch.exp(logit - log_norm)  # causal softmax weight of frame t
    seen = m * (frame + 1)
    bank = (retention * (seen - m) - emitted - carry).clamp_min(0.0)  # s_t, [B] float64
    wish = carry + weight * (retention * seen) + config.bank_rate * bank  # [B] float64
    want = torch.floor(wish + 1e-9).to(torch.long)
    cap = (allowance(retention, seen) - emitted).clamp_max(hi)  # >= lo, see docstring
    budget = torch.maximum(want.clamp_max(cap), torch.full_like(want, lo))
    return budget, log_norm, (wish - budget).clamp(0.0, 1.0)


def online_frame_budget(
    scores: torch.Tensor, retention: float, config: EntropySelectConfig
) -> torch.Tensor:
    """Frame budgets of the online rule over a whole score tensor (the stream's, frame by frame).

    Args:
        scores: fused scores ``S`` (computed with ``minmax_scope="frame"`` for a causal stream).
        retention: r in (0, 1].

    Returns:
        int64 budgets ``b_t``; ``Σ b <= ceil(r·N)``, each ``>= lo`` (see :func:`online_bounds`).

    Shapes:
        scores: [B, T, H, W]  ->  [B, T]
    """
    B, T, H, W = scores.shape
    saliency = frame_saliency(scores, config.top_q)  # [B, T]
    log_norm = torch.full((B,), float("-inf"), dtype=torch.float64, device=scores.device)
    carry = torch.zeros(B, dtype=torch.float64, device=scores.device)
    emitted = torch.zeros(B, dtype=torch.long, device=scores.device)
    out = []
    for t in range(T):
        b, log_norm, carry = online_budget_step(
            saliency[:, t], log_norm, carry, emitted, t, retention, H * W, config
        )
        emitted = emitted + b
        out.append(b)
    return torch.stack(out, dim=-1)


def check_frame_budget(
    frame_budget: object, batch: int, frames: int, per_frame: int
) -> torch.Tensor:
    """Check explicit per-frame budgets and return them as int64 ``[B, T]``.

    Raises:
        TypeError: not an integer tensor.
        ValueError: wrong shape, a budget outside ``[0, m]``, a zero total, or totals that differ
            across the batch (a batched Selection has one K).

    Shapes:
        frame_budget: [T] or [B, T]  ->  [B, T] int64
    """
    if not isinstance(frame_budget, torch.Tensor):
        raise TypeError(
            f"frame_budget must be an integer torch.Tensor [T], got {type(frame_budget).__name__}"
        )
    dtype = frame_budget.dtype
    if frame_budget.is_floating_point() or frame_budget.is_complex() or dtype == torch.bool:
        raise TypeError(f"frame_budget must have an integer dtype (a LongTensor), got {dtype}")
    fb = frame_budget.to(torch.long)
    if fb.dim() == 1:
        fb = fb.unsqueeze(0).expand(batch, -1)
    if fb.dim() != 2 or fb.shape != (batch, frames):
        want = f"[{frames}]" + (f" or [{batch}, {frames}]" if batch > 1 else "")
        raise ValueError(f"frame_budget must have shape {want}, got {tuple(frame_budget.shape)}")
    low, high = int(fb.min()), int(fb.max())
    if low < 0 or high > per_frame:
        raise ValueError(
            f"frame_budget values must be in [0, H*W={per_frame}], got min {low} and max {high}"
        )
    totals = fb.sum(-1)
    if int(totals.min()) < 1:
        raise ValueError("frame_budget must keep at least one token (it sums to 0)")
    if int(totals.max()) != int(totals.min()):
        raise ValueError(
            f"frame_budget totals differ across the batch ({totals.tolist()}): a batched "
            "selection keeps one K; select the videos one at a time or as a list"
        )
    return fb

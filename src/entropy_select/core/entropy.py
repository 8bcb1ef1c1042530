"""Local spatiotemporal window entropy (paper §3.2, Eq. 1-2; SPEC §1).

Each token is compared, by cosine similarity, with its neighbours: the ``k×k`` window around it in
its own frame (itself excluded) and the ``k_p×k_p`` window at the same place in each of the
``K_t − 1`` previous frames (the same position included). The similarities become a softmax
distribution at temperature ``τ`` whose Shannon entropy, divided by ``log n`` (``n`` = number of
neighbours that exist at this position), is the token's score ``Ĥ ∈ [0, 1]``.

The reference streams the video in chunks of frames and computes one neighbour offset at a time,
so it never holds the ``[N, neighbours, D]`` tensor: extra memory is a few chunk-sized buffers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_rank, compute_dtype

__all__ = [
    "check_window_args",
    "local_window_entropy",
    "neighbour_offsets",
    "entropy_term",
    "minmax_normalize",
]

# Elements of one chunk of frames (B·Tc·H·W·D): 8 Mi elements = 32 MB in float32.
DEFAULT_CHUNK_ELEMENTS = 1 << 23


def neighbour_offsets(
    spatial_window: int = 5, temporal_window: int = 3, past_window: int = 3
) -> list[tuple[int, int, int]]:
    """The neighbourhood of SPEC §1 as offsets ``(Δt, Δi, Δj)`` (Δt ≥ 0 looks back in time).

    Its length is Eq. 1: ``(k² − 1) + (K_t − 1)·k_p²``.
    """
    r, rp = spatial_window // 2, past_window // 2
    offsets = [(0, a, b) for a in range(-r, r + 1) for b in range(-r, r + 1) if (a, b) != (0, 0)]
    for dt in range(1, temporal_window):
        offsets += [(dt, a, b) for a in range(-rp, rp + 1) for b in range(-rp, rp + 1)]
    return offsets


def check_window_args(
    features: torch.Tensor, spatial_window: int, temporal_window: int, past_window: int, tau: float
) -> None:
    """The argument checks shared by every implementation of :func:`local_window_entropy`.

    Raises:
        ValueError: features not [T, H, W, D] / [B, T, H, W, D], even or non-positive windows,
        ``temporal_window < 1`` or ``tau <= 0``.
    """
    check_rank(features)
    for name, value in (("spatial_window", spatial_window), ("past_window", past_window)):
        if value < 1 or value % 2 == 0:
            raise ValueError(f"{name} must be a positive odd integer, got {value}")
    if temporal_window < 1:
        raise ValueError(f"temporal_window must be >= 1, got {temporal_window}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")


def local_window_entropy(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Normalised local window entropy ``Ĥ`` of every token (Eq. 2 with SPEC §1's ``log n``).

    Args:
        features: raw token features (normalised here; zero tokens stay zero).
        spatial_window: k, odd. temporal_window: K_t >= 1 (frames, the current one included).
        past_window: k_p, odd. tau: softmax temperature τ > 0.
        chunk_elements: how many feature elements one chunk of frames may hold (memory bound).

    Returns:
        ``Ĥ`` in [0, 1]; 0 where a token has fewer than 2 neighbours. float64 for float64 input,
        float32 otherwise.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W]
    """
    check_window_args(features, spatial_window, temporal_window, past_window, tau)
    squeeze = features.dim() == 4
    x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
    B, T, H, W, D = x.shape
    dtype = compute_dtype(x.dtype)
    offsets = neighbour_offsets(spatial_window, temporal_window, past_window)
    lag = temporal_window - 1  # frames of history a chunk needs
    pad = max(spatial_window, past_window) // 2  # spatial zero border of the padded chunk

    # Validity of each offset depends on the position only: [O, 1, 1, H, W] spatial part, and the
    # temporal part is applied per chunk. Neighbours outside the grid or before frame 0 are masked.
    dev = x.device
    rows, cols = torch.arange(H, device=dev), torch.arange(W, device=dev)
    da = torch.tensor([o[1] for o in offsets], device=dev)
    db = torch.tensor([o[2] for o in offsets], device=dev)
    dts = torch.tensor([o[0] for o in offsets], device=dev)
    ok_i = ((rows[None] + da[:, None]) >= 0) & ((rows[None] + da[:, None]) < H)  # [O, H]
    ok_j = ((cols[None] + db[:, None]) >= 0) & ((cols[None] + db[:, None]) < W)  # [O, W]
    spatial_ok = ok_i[:, :, None] & ok_j[:, None, :]  # [O, H, W]

    frames_per_chunk = max(1, chunk_elements // max(1, B * H * W * D))
    out = torch.empty(B, T, H, W, dtype=dtype, device=dev)
    for t0 in range(0, T, frames_per_chunk):
        t1 = min(T, t0 + frames_per_chunk)
        tc = t1 - t0
        h0 = max(0, t0 - lag)
        xc = x[:, h0:t1].to(dtype)  # [B, lag' + Tc, H, W, D]
        xc = xc / xc.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        # Zero frames in front (so every chunk has `lag` frames of history) and a zero border.
        xc = F.pad(xc, (0, 0, pad, pad, pad, pad, lag - (t0 - h0), 0))  # [B, lag+Tc, H+2p, W+2p, D]
        center = xc[:, lag:, pad : pad + H, pad : pad + W]  # [B, Tc, H, W, D]
        sims = torch.empty(len(offsets), B, tc, H, W, dtype=dtype, device=dev)
        for o, (dt, a, b) in enumerate(offsets):
            nb = xc[:, lag - dt : lag - dt + tc, pad + a : pad + a + H, pad + b : pad + b + W]
            torch.sum(center * nb, dim=-1, out=sims[o])  # [B, Tc, H, W]
        t_idx = torch.arange(t0, t1, device=dev)
        temporal_ok = (t_idx[None] - dts[:, None]) >= 0  # [O, Tc]
        valid = spatial_ok[:, None] & temporal_ok[:, :, None, None]  # [O, Tc, H, W]
        out[:, t0:t1] = _normalised_entropy(sims / tau, valid[:, None])
    return out[0] if squeeze else out


def _normalised_entropy(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``H / log n`` of ``softmax(logits)`` over dim 0, restricted to ``valid`` entries.

    ``H = logsumexp(l) − Σ p·l`` (exact, and stable for any temperature).

    Shapes:
        logits: [O, ...], valid: broadcastable to logits  ->  [...]
    """
    valid = valid.expand_as(logits)
    masked = logits.masked_fill(~valid, float("-inf"))
    lse = torch.logsumexp(masked, dim=0)  # -inf where no neighbour exists
    finite_lse = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    p = torch.exp(masked - finite_lse)  # 0 at invalid entries
    plogit = torch.where(valid, p * logits, torch.zeros_like(logits)).sum(0)
    entropy = finite_lse - plogit
    n = valid.sum(0)
    log_n = torch.log(n.clamp_min(2).to(logits.dtype))
    normalised = torch.where(n >= 2, entropy / log_n, torch.zeros_like(entropy))
    return normalised.clamp(0.0, 1.0)


def minmax_normalize(x: torch.Tensor, video_dims: int = 3, min_span: float = 0.0) -> torch.Tensor:
    """``(x − min) / (max − min)`` over the last ``video_dims`` dims of each video; 0 where the
    span ``max − min`` is not above ``min_span`` (constant, or flat up to rounding).

    Shapes:
        x: [T, H, W] or [B, T, H, W]  ->  same shape
    """
    flat = x.flatten(-video_dims)  # [..., N]
    lo = flat.amin(-1, keepdim=True)
    hi = flat.amax(-1, keepdim=True)
    span = hi - lo
    ok = span > min_span
    norm = torch.where(ok, (flat - lo) / torch.where(ok, span, 1), torch.zeros_like(flat))
    return norm.view_as(x)


#: A video whose Ĥ spans no more than this is flat for the min-max modes (their term is then
#: constant): stretching a span of rounding noise (~1e-6 on i.i.d. random features) to [0, 1]
#: would rank tokens by noise. Real MobileNetV2 features span ~0.025 at τ = 1 (SPEC's note).
MIN_ENTROPY_SPAN = 1e-4


def entropy_term(entropy: torch.Tensor, mode: str = "paper") -> torch.Tensor:
    """The entropy term of the fused score for ``EntropySelectConfig.entropy_mode``.

    ``paper``: Ĥ as is. ``minmax``: Ĥ min-max normalised per video. ``complement``: 1 − Ĥ.
    ``complement_minmax``: 1 − minmax(Ĥ). The min-max modes treat a span of Ĥ not above
    :data:`MIN_ENTROPY_SPAN` as flat.

    Shapes:
        entropy: [T, H, W] or [B, T, H, W]  ->  same shape
    """
    if mode == "paper":
        return entropy
    if mode == "minmax":
        return minmax_normalize(entropy, min_span=MIN_ENTROPY_SPAN)
    if mode == "complement":
        return 1.0 - entropy
    if mode == "complement_minmax":
        return 1.0 - minmax_normalize(entropy, min_span=MIN_ENTROPY_SPAN)
    raise ValueError(f"unknown entropy_mode {mode!r}")

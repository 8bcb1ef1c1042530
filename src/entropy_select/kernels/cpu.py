"""CPU fast path: the window entropy (SPEC §1) and gradient (SPEC §2) by banded Gram products.

Twins of :func:`entropy_select.core.entropy.local_window_entropy` and
:func:`entropy_select.core.gradient.spatial_gradient_magnitude`: same signature, same results up
to float rounding (paper §3.2-3.3, Eq. 1-3).

Why it is faster. The reference computes the 42 similarities of every token (default windows)
as 42 passes of ``mul`` + ``sum`` over the whole video: memory-bound, ~40 reads of the features.
Here the normalised features are laid out as one flat sequence of token rows (``W`` tokens each,
frames back to back, zero rows in front and behind), so that for a row ``r`` of centre tokens

- the spatial rows ``r .. r + k//2`` are one contiguous block of ``(k//2 + 1)·W`` tokens, and
- the past rows ``r − Δ·H − k_p//2 .. r − Δ·H + k_p//2`` are one contiguous block too,

and one ``torch.bmm`` per block kind (``[rows, W, D] × [rows, D, c·W]``, strided views, no copy)
gives every needed dot product, on the BLAS at its arithmetic rate instead of memory speed.
Spatial offsets above the centre row (``Δi < 0``) are not computed again: ``x̂_p·x̂_q = x̂_q·x̂_p``
is read from the row of ``q``. One precomputed gather then picks the ``n`` similarities of every
token out of the Gram rows, and a masked softmax entropy over them gives ``Ĥ``.

The Gram computes ``(k//2 + 1 + (K_t − 1)·k_p)·W`` dot products per token where 42 are needed
(~2.7x at W = 14), a price worth paying for matrix-multiply throughput on a 2-core machine.
Frames are processed in chunks (with ``K_t − 1`` frames of history) to bound memory.
"""

from __future__ import annotations

import torch

from ..core.causal import normalize_gradient
from ..core.checks import check_rank, compute_dtype
from ..core.config import EntropySelectConfig
from ..core.entropy import (
    DEFAULT_CHUNK_ELEMENTS,
    check_window_args,
    neighbour_offsets,
)
from ..core.select import combine_scores

__all__ = [
    "local_window_entropy_cpu",
    "spatial_gradient_magnitude_cpu",
    "fused_scores_cpu",
    "cpu_available",
]

# Elements of one chunk of frames for the Gram products: larger chunks mean fewer, larger BLAS
# calls (8 Mi elements = 32 MB in float32, as the reference). The gradient's elementwise passes
# prefer cache-sized chunks (1 Mi elements = 4 MB). Measured on the 2-core CI machine.
CPU_CHUNK_ELEMENTS = DEFAULT_CHUNK_ELEMENTS
GRADIENT_CHUNK_ELEMENTS = 1 << 20


def cpu_available(x: torch.Tensor | None = None) -> tuple[bool, str]:
    """Whether the CPU fast path can run on ``x`` (and why not): any float tensor on the CPU."""
    if x is not None and x.device.type != "cpu":
        return False, f"the input is on {x.device.type}, the CPU fast path needs a CPU tensor"
    if x is not None and not x.is_floating_point():
        return False, f"the CPU fast path takes floating-point input, not {x.dtype}"
    return True, ""


def _gather_plan(
    H: int, W: int, spatial_window: int, temporal_window: int, past_window: int, device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each neighbour's similarity sits in the Gram rows, for the tokens of one frame.

    The spatial Gram row of token ``p`` holds its products with the rows ``i .. i + r`` of its
    frame (``(r + 1)·W`` columns); the past Gram of ``Δ`` holds its products with the rows
    ``i − r_p .. i + r_p`` of frame ``t − Δ``. The similarity of neighbour ``o`` of ``p`` is the
    element ``(p + shift[o])·cols + col[o]`` of the flattened Gram of the offset's kind: ``shift``
    is 0 except for spatial offsets above the centre row, read by symmetry from the row of
    ``q = p + Δi·W + Δj``. Invalid neighbours point at ``p``'s own first column (masked later).

    Returns:
        ``shift`` [m, O], ``col`` [m, O] (int64), ``spatial_ok`` [m, O] bool, ``dts`` [O] int64.
    """
    rp = past_window // 2
    offsets = neighbour_offsets(spatial_window, temporal_window, past_window)
    i = torch.arange(H, device=device).repeat_interleave(W)  # [m] row of each position
    j = torch.arange(W, device=device).repeat(H)  # [m] column
    dt = torch.tensor([o[0] for o in offsets], device=device, dtype=torch.long)
    da = torch.tensor([o[1] for o in offsets], device=device, dtype=torch.long)
    db = torch.tensor([o[2] for o in offsets], device=device, dtype=torch.long)
    ni, nj = i[:, None] + da, j[:, None] + db  # [m, O] neighbour row/column
    ok = (ni >= 0) & (ni < H) & (nj >= 0) & (nj < W)
    jj = j[:, None].expand_as(ni)
    above = (dt == 0) & (da < 0)  # [O] read from q's row: p sits at column (−Δi)·W + j there
    shift = torch.where(above, da * W + db, torch.zeros_like(da)).expand_as(ni)
    col = torch.where(
        dt == 0,
        torch.where(above, -da * W + jj, da * W + nj),  # spatial: Δi·W + (j + Δj)
        (da + rp) * W + nj,  # past: rows i − r_p .. i + r_p
    )
    zero = torch.zeros_like(col)
    return torch.where(ok, shift, zero), torch.where(ok, col, zero), ok, dt


def local_window_entropy_cpu(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    chunk_elements: int = CPU_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Normalised local window entropy ``Ĥ`` (Eq. 2, SPEC §1) by banded Gram products on the CPU.

    Same contract as :func:`entropy_select.core.entropy.local_window_entropy`.

    Args:
        features: raw token features, any float dtype and strides (normalised here).
        spatial_window: k, odd. temporal_window: K_t >= 1. past_window: k_p, odd. tau: τ > 0.
        chunk_elements: feature elements per chunk of frames (memory and cache bound).

    Returns:
        ``Ĥ`` in [0, 1], float64 for float64 input, float32 otherwise.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W]
    """
    check_window_args(features, spatial_window, temporal_window, past_window, tau)
    squeeze = features.dim() == 4
    x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
    B, T, H, W, D = x.shape
    m = H * W
    dtype = compute_dtype(x.dtype)
    dev = x.device
    r, rp = spatial_window // 2, past_window // 2
    lag = temporal_window - 1
    shift, col, spatial_ok, dts = _gather_plan(
        H, W, spatial_window, temporal_window, past_window, dev
    )
    front = lag * m + rp * W  # zero tokens before the first centre token (history + top rows)
    back = max(r, rp) * W  # zero tokens after the last one (rows below)
    if shift.shape[1] == 0:  # k = 1 and K_t = 1: no neighbour anywhere, Ĥ = 0 (SPEC §1.4)
        out = torch.zeros(B, T, H, W, dtype=dtype, device=dev)
        return out[0] if squeeze else out
    frames_per_chunk = max(1, min(T, chunk_elements // max(1, m * D)))
    # The gather plan of a full chunk; shorter (last) chunks use its prefix.
    n_max = frames_per_chunk * m
    row_full = torch.arange(n_max, device=dev)[:, None] + shift.repeat(frames_per_chunk, 1)
    col_full = col.repeat(frames_per_chunk, 1)  # [n_max, O]
    ok_full = spatial_ok.repeat(frames_per_chunk, 1)  # [n_max, O]
    # Offsets come grouped by kind (spatial, then Δt = 1, 2, ...): one Gram per kind.
    kinds = [(0, (r + 1) * W)] + [(dt, (2 * rp + 1) * W) for dt in range(1, temporal_window)]
    spans = [(int((dts < dt).sum()), int((dts <= dt).sum())) for dt, _ in kinds]
    s = W * D  # stride of one token row
    out = torch.empty(B, T, H, W, dtype=dtype, device=dev)
    for b in range(B):
        for t0 in range(0, T, frames_per_chunk):
            t1 = min(T, t0 + frames_per_chunk)
            h0 = max(0, t0 - lag)
            tc, n = t1 - t0, (t1 - t0) * m
            # Normalised chunk with history, as flat token rows behind `front` zero tokens.
            buf = x.new_empty(front + n + back, D, dtype=dtype)  # [tokens, D]
            hist = (t0 - h0) * m
            buf[: front - hist].zero_()
            buf[front + n :].zero_()
            xc = x[b, h0:t1].reshape(-1, D).to(dtype)  # [hist + n, D]
            inv = torch.linalg.vector_norm(xc, dim=-1, keepdim=True).clamp_min_(1e-6).reciprocal_()
            torch.mul(xc, inv, out=buf[front - hist : front + n])
            centre = buf.as_strided((tc * H, W, D), (s, D, 1), front * D)  # [rows, W, D]
            sims = torch.empty(n, col.shape[1], dtype=dtype, device=dev)  # [n, O]
            for (dt, cols), (o0, o1) in zip(kinds, spans, strict=True):
                if o0 == o1:
                    continue
                start = front if dt == 0 else front - dt * m - rp * W
                block = buf.as_strided((tc * H, cols, D), (s, D, 1), start * D)
                gram = torch.bmm(centre, block.mT)  # [rows, W, cols]
                index = row_full[:n, o0:o1] * cols + col_full[:n, o0:o1]  # [n, o1 - o0]
                sims[:, o0:o1] = gram.reshape(-1).take(index)
            valid = ok_full[:n]
            if t0 < lag:  # neighbours before frame 0 do not exist
                t_idx = torch.arange(t0, t1, device=dev).repeat_interleave(m)  # [n]
                valid = valid & (t_idx[:, None] >= dts)
            out[b, t0:t1] = _normalised_entropy_rows(sims / tau, valid).view(tc, H, W)
    return out[0] if squeeze else out


def _normalised_entropy_rows(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``H / log n`` of ``softmax(logits)`` over the last dim, restricted to ``valid`` entries.

    ``H = logsumexp(l) − Σ p·l``, as in the reference (0 where fewer than 2 neighbours exist).

    Shapes:
        logits, valid: [n, O]  ->  [n]
    """
    masked = logits.masked_fill(~valid, float("-inf"))
    peak = masked.amax(-1, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    e = torch.exp(masked - peak)  # 0 at invalid entries
    z = e.sum(-1)
    lse = peak.squeeze(-1) + torch.log(z.clamp_min(torch.finfo(z.dtype).tiny))
    plogit = (e * masked.masked_fill(~valid, 0.0)).sum(-1) / z.clamp_min(torch.finfo(z.dtype).tiny)
    entropy = lse - plogit
    count = valid.sum(-1)
    log_n = torch.log(count.clamp_min(2).to(logits.dtype))
    normalised = torch.where(count >= 2, entropy / log_n, torch.zeros_like(entropy))
    return normalised.clamp(0.0, 1.0)


def spatial_gradient_magnitude_cpu(
    features: torch.Tensor, *, chunk_elements: int = GRADIENT_CHUNK_ELEMENTS
) -> torch.Tensor:
    """Raw gradient magnitude ``G = sqrt(‖∇x‖² + ‖∇y‖²)`` (Eq. 3, SPEC §2) in fewer passes.

    Same contract as :func:`entropy_select.core.gradient.spatial_gradient_magnitude`: central
    differences inside, one-sided at the edges, 0 along an axis of length 1. Each difference is
    formed once per chunk of frames (cache-sized) and reduced by one fused ``vector_norm``.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W]
    """
    check_rank(features)
    dtype = compute_dtype(features.dtype)
    T, H, W, D = features.shape[-4:]
    lead = features.shape[:-4]
    flat = features.reshape(-1, H, W, D)  # [B*T, H, W, D]
    F = flat.shape[0]
    out = torch.zeros(F, H, W, dtype=dtype, device=features.device)
    step = max(1, chunk_elements // max(1, H * W * D))
    for f0 in range(0, F, step):
        x = flat[f0 : f0 + step].to(dtype)  # [f, H, W, D]
        o = out[f0 : f0 + step]
        for dim, size in ((2, W), (1, H)):
            if size < 2:
                continue
            o_ = o.movedim(dim, 1)  # [f, size, other]
            x_ = x.movedim(dim, 1)  # [f, size, other, D]
            sq = torch.linalg.vector_norm(x_[:, 1:] - x_[:, :-1], dim=-1).square_()
            o_[:, 0] += sq[:, 0]
            o_[:, -1] += sq[:, -1]
            if size > 2:
                inner = torch.linalg.vector_norm(x_[:, 2:] - x_[:, :-2], dim=-1)
                o_[:, 1:-1] += inner.square_().mul_(0.25)
        o.sqrt_()
    return out.view(*lead, T, H, W)


def fused_scores_cpu(
    features: torch.Tensor, config: EntropySelectConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(S, Ĥ, Ĝ)`` of SPEC §1-3: the CPU twin of :func:`entropy_select.core.select.fused_scores`.

    Shapes:
        features: [B, T, H, W, D]  ->  three [B, T, H, W]
    """
    entropy = local_window_entropy_cpu(
        features, config.spatial_window, config.temporal_window, config.past_window, config.tau
    )
    # Ĝ: min-max over the video or each frame (config.minmax_scope), SPEC §2
    gradient = normalize_gradient(spatial_gradient_magnitude_cpu(features), config)
    return combine_scores(entropy, gradient, config, features), entropy, gradient

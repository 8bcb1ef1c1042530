"""CPU fast path: the window entropy (SPEC §1) and gradient (SPEC §2) by banded Gram products.

Twins of :func:`entropy_select.core.entropy.local_window_entropy` and
:func:`entropy_select.core.gradient.spatial_gradient_magnitude`: same signature, same results up
to float rounding (paper §3.2-3.3, Eq. 1-3).

Why it is faster. The reference computes the 42 similarities of every token (default windows)
as 42 passes of ``mul`` + ``sum`` over the whole video: memory-bound, ~40 reads of the features.
Here the normalised features are laid out as one flat sequence of token rows (``W`` tokens each,
frames back to back, zero rows in front and behind), and the centre rows are taken ``R`` at a
time (``R`` divides ``H``; 2 at 14×14, 1 at 27×27, :func:`block_rows`), so that for the block of
centre rows ``ρ .. ρ + R − 1``

- the spatial rows ``ρ .. ρ + R − 1 + k//2`` are one contiguous block of ``(R + k//2)·W``
  tokens, and
- the past rows ``ρ − Δ·H − k_p//2 .. ρ + R − 1 − Δ·H + k_p//2`` are one contiguous block too,

and one ``torch.bmm`` per block kind (``[blocks, R·W, D] × [blocks, D, cols]``, strided views,
no copy) gives every needed dot product, on the BLAS at its arithmetic rate instead of memory
speed. Spatial offsets above the centre row (``Δi < 0``) are not computed again:
``x̂_p·x̂_q = x̂_q·x̂_p`` is read from the row of ``q``. One gather, planned once per shape, then
picks the ``n`` similarities of every token out of the Gram rows, and a masked softmax entropy
over them gives ``Ĥ``.

The Grams compute ``(R + k//2 + (K_t − 1)·(R + 2·(k_p//2)))·W`` dot products per token where
30 distinct ones are needed (168 at W = 14, R = 2; 243 at W = 27, R = 1): the price of running
them as matrix products, which is still the fastest way found with torch ops alone
(``benchmarks/NOTES_cpu.md``: they are ~75% of the CPU path's time). Frames are processed in
cache-sized chunks; the last ``K_t − 1`` normalised frames of a chunk are moved in front of the
next as its history.
"""

from __future__ import annotations

import functools

import torch

from ..core.causal import normalize_gradient
from ..core.checks import check_rank, compute_dtype
from ..core.config import EntropySelectConfig
from ..core.entropy import check_window_args, neighbour_offsets
from ..core.select import combine_scores

__all__ = [
    "local_window_entropy_cpu",
    "spatial_gradient_magnitude_cpu",
    "fused_scores_cpu",
    "cpu_available",
]

# Elements of one chunk of frames for the Gram products: 2 Mi elements (8 MB in float32, 9 frames
# of 14x14x1152, 2 of 27x27x1152) keep a chunk's normalised rows in cache while its Grams are
# formed: ~10% faster than 8 Mi at both sizes (benchmarks/NOTES_cpu.md). The gradient's
# elementwise passes prefer 1 Mi elements (4 MB). Measured on the 2-core CI machine.
CPU_CHUNK_ELEMENTS = 1 << 21
# Centre tokens per Gram block (R·W, R rows; benchmarks/NOTES_cpu.md): at W = 14, 2 rows make
# the BLAS calls large enough to run near the matrix-multiply rate, for 33% more products.
BLOCK_TOKENS = 28
GRADIENT_CHUNK_ELEMENTS = 1 << 20


def cpu_available(x: torch.Tensor | None = None) -> tuple[bool, str]:
    """Whether the CPU fast path can run on ``x`` (and why not): any float tensor on the CPU."""
    if x is not None and x.device.type != "cpu":
        return False, f"the input is on {x.device.type}, the CPU fast path needs a CPU tensor"
    if x is not None and not x.is_floating_point():
        return False, f"the CPU fast path takes floating-point input, not {x.dtype}"
    return True, ""


def block_rows(H: int, W: int, target: int = BLOCK_TOKENS) -> int:
    """Token rows per Gram block: the largest divisor ``R`` of ``H`` with ``R·W`` about ``target``
    (at least 1), so that a block's row offset within its frame repeats every frame."""
    want = max(1, min(H, round(target / W)))
    return max(d for d in range(1, want + 1) if H % d == 0)


@functools.lru_cache(maxsize=64)
def _window_plan(
    H: int,
    W: int,
    spatial_window: int,
    temporal_window: int,
    past_window: int,
    rows: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each neighbour's similarity sits in the Gram blocks, for the tokens of one frame.

    A chunk's token rows are taken ``rows`` (R, a divisor of H) at a time: block ``σ`` holds the
    centre rows ``σR .. σR + R − 1`` (flat over the chunk's frames). Its spatial Gram multiplies
    them with the rows ``σR .. σR + R − 1 + r`` (``(R + r)·W`` columns), its past Gram of ``Δ``
    with the rows ``σR − r_p .. σR + R − 1 + r_p`` of ``Δ`` frames earlier (``(R + 2r_p)·W``
    columns). Token ``p`` (row ``i``, ``k = i mod R`` within its block, column ``j``) finds the
    similarity of neighbour ``o`` at the flat element ``p·cols + offset[o]`` of its kind's Gram:

    - spatial, ``Δi >= 0``: ``offset = (k + Δi)·W + j + Δj``;
    - spatial, ``Δi < 0``: by symmetry, in the row of ``q = p + Δi·W + Δj``:
      ``offset = (Δi·W + Δj)·cols + ((i + Δi) mod R − Δi)·W + j`` (``<= (R − 1 + r)·W + j``);
    - past: ``offset = (k + Δi + r_p)·W + j + Δj``.

    A token at position ``q`` of frame ``f`` of the chunk is ``p = f·m + q``, so the element is
    ``(f·m + q)·cols + offset[q, o]``: one ``[m, O]`` table serves every frame. Off-grid
    neighbours point at the token's own element ``q·cols`` and are masked. Cached per shape: the
    returned tensors are shared and must not be modified.

    Returns:
        ``offset`` [m, O] int64 (``q·cols`` included), ``ok`` [m, O] bool (on the grid),
        ``dts`` [O] int64 (Δt of each offset).
    """
    r, rp = spatial_window // 2, past_window // 2
    offsets = neighbour_offsets(spatial_window, temporal_window, past_window)
    q = torch.arange(H * W, device=device)[:, None]  # [m, 1]
    i, j = q // W, q % W
    k = i % rows  # row within its block of R rows
    dt = torch.tensor([o[0] for o in offsets], device=device, dtype=torch.long)
    da = torch.tensor([o[1] for o in offsets], device=device, dtype=torch.long)
    db = torch.tensor([o[2] for o in offsets], device=device, dtype=torch.long)
    ni, nj = i + da, j + db  # [m, O] neighbour row and column
    ok = (ni >= 0) & (ni < H) & (nj >= 0) & (nj < W)
    cols = torch.where(dt == 0, (rows + r) * W, (rows + 2 * rp) * W)  # [O] columns of its Gram
    direct = (k + da) * W + nj
    mirrored = (da * W + db) * cols + ((i + da) % rows - da) * W + j
    past = (k + da + rp) * W + nj
    offset = torch.where(dt == 0, torch.where(da < 0, mirrored, direct), past)
    return q * cols + torch.where(ok, offset, 0), ok, dt


def local_window_entropy_cpu(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    chunk_elements: int = CPU_CHUNK_ELEMENTS,
    rows_per_block: int | None = None,
) -> torch.Tensor:
    """Normalised local window entropy ``Ĥ`` (Eq. 2, SPEC §1) by banded Gram products on the CPU.

    Same contract as :func:`entropy_select.core.entropy.local_window_entropy`.

    Args:
        features: raw token features, any float dtype and strides (normalised here).
        spatial_window: k, odd. temporal_window: K_t >= 1. past_window: k_p, odd. tau: τ > 0.
        chunk_elements: feature elements per chunk of frames (memory and cache bound).
        rows_per_block: token rows per Gram block, a divisor of H (default :func:`block_rows`).

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
    R = block_rows(H, W) if rows_per_block is None else rows_per_block
    if R < 1 or H % R:
        raise ValueError(f"rows_per_block must be a divisor of H={H}, got {R}")
    dtype = compute_dtype(x.dtype)
    dev = x.device
    r, rp = spatial_window // 2, past_window // 2
    lag = temporal_window - 1
    # Offsets come grouped by kind (spatial, then Δt = 1, 2, ...): one Gram per kind.
    # (number of offsets, Gram columns, first block token relative to the centre)
    kinds = [(spatial_window**2 - 1, (R + r) * W, 0)] + [
        (past_window**2, (R + 2 * rp) * W, -dt * m - rp * W) for dt in range(1, temporal_window)
    ]
    n_offsets = sum(kind[0] for kind in kinds)
    if n_offsets == 0:  # k = 1 and K_t = 1: no neighbour anywhere, Ĥ = 0 (SPEC §1.4)
        out = torch.zeros(B, T, H, W, dtype=dtype, device=dev)
        return out[0] if squeeze else out
    offset, ok, dts = _window_plan(H, W, spatial_window, temporal_window, past_window, R, dev)
    frames_per_chunk = max(1, min(T, chunk_elements // max(1, m * D)))
    front = lag * m + rp * W  # zero tokens before the first centre token (history + top rows)
    back = max(r, rp) * W  # zero tokens after the last one (rows below)
    s = W * D  # stride of one token row
    out = torch.empty(B, T, H, W, dtype=dtype, device=dev)
    # One buffer per video: the normalised chunk as flat token rows behind `front` tokens (zero,
    # or the previous chunk's last `lag` frames, moved there instead of normalised again).
    buf = x.new_empty(front + frames_per_chunk * m + back, D, dtype=dtype)  # [tokens, D]
    hist = lag * m  # tokens of history in front of a chunk
    for b in range(B):
        n = 0  # tokens of the previous chunk
        for t0 in range(0, T, frames_per_chunk):
            t1 = min(T, t0 + frames_per_chunk)
            if t0 == 0:
                buf[:front].zero_()
            elif hist:  # frames t0 − lag .. t0 − 1, normalised, end the previous chunk's rows
                moved = buf[front + n - hist : front + n]
                buf[front - hist : front] = moved.clone() if n < hist else moved
            tc, n = t1 - t0, (t1 - t0) * m
            blocks = tc * H // R  # blocks of R centre rows
            buf[front + n : front + n + back].zero_()
            xc = x[b, t0:t1].reshape(-1, D).to(dtype)  # [n, D]
            inv = torch.linalg.vector_norm(xc, dim=-1, keepdim=True).clamp_min_(1e-6).reciprocal_()
            torch.mul(xc, inv, out=buf[front : front + n])
            centre = buf.as_strided((blocks, R * W, D), (R * s, D, 1), front * D)  # [σ, R·W, D]
            frame_start = torch.arange(tc, device=dev).view(tc, 1, 1) * m  # [tc, 1, 1]
            sims = torch.empty(tc, m, n_offsets, dtype=dtype, device=dev)  # [tc, m, O]
            o0 = 0
            for count, cols, shift in kinds:
                if count:
                    o1 = o0 + count
                    block = buf.as_strided((blocks, cols, D), (R * s, D, 1), (front + shift) * D)
                    gram = torch.bmm(centre, block.mT)  # [σ, R·W, cols]
                    index = frame_start * cols + offset[:, o0:o1]  # [tc, m, count]
                    torch.take(gram, index, out=sims[:, :, o0:o1])
                    o0 = o1
            valid = ok.expand(tc, m, n_offsets)
            if t0 < lag:  # neighbours before frame 0 do not exist
                t_idx = torch.arange(t0, t1, device=dev).view(tc, 1, 1)
                valid = valid & (t_idx >= dts)
            if tau != 1.0:
                sims /= tau
            out[b, t0:t1] = _normalised_entropy_rows(sims, valid).view(tc, H, W)
    return out[0] if squeeze else out


def _normalised_entropy_rows(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``H / log n`` of ``softmax(logits)`` over the last dim, restricted to ``valid`` entries.

    ``H = log Σ e − Σ e·d / Σ e`` with ``d = l − max l`` and ``e = exp(d)`` (the reference's
    ``logsumexp(l) − Σ p·l``, without its cancellation); 0 where fewer than 2 neighbours exist.
    ``logits`` is overwritten.

    Shapes:
        logits, valid: [..., O]  ->  [...]
    """
    d = logits.masked_fill_(~valid, -torch.finfo(logits.dtype).max)  # exp() gives 0 there
    d -= d.amax(-1, keepdim=True)
    e = torch.exp(d)
    z = e.sum(-1)
    entropy = torch.log(z) - e.mul_(d).sum(-1) / z
    count = valid.sum(-1)
    log_n = torch.log(count.clamp_min(2).to(logits.dtype))
    normalised = torch.where(count >= 2, entropy / log_n, torch.zeros_like(entropy))
    return normalised.clamp_(0.0, 1.0)


def spatial_gradient_magnitude_cpu(
    features: torch.Tensor, *, chunk_elements: int = GRADIENT_CHUNK_ELEMENTS
) -> torch.Tensor:
    """Raw gradient magnitude ``G = sqrt(‖∇x‖² + ‖∇y‖²)`` (Eq. 3, SPEC §2) in fewer passes.

    Same contract as :func:`entropy_select.core.gradient.spatial_gradient_magnitude`: central
    differences inside, one-sided at the edges, 0 along an axis of length 1. Each difference is
    formed once per chunk of frames (cache-sized) and reduced by one fused ``vector_norm``; the
    one-sided ones only where they are used (the two edges).

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
            # one-sided differences at the two edges only: x[1] − x[0] and x[-1] − x[-2]
            gap = max(1, size - 2)
            edge = x_[:, 1::gap] - x_[:, 0 : size - 1 : gap]  # [f, 2 (1 if size = 2), other, D]
            o_[:, 0 :: size - 1] += torch.linalg.vector_norm(edge, dim=-1).square_()
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

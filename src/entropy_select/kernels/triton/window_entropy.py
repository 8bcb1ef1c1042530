"""Triton twins of the window entropy (SPEC §1, Eq. 1-2) and the gradient saliency (SPEC §2, Eq. 3).

Reads top to bottom like the Triton fused-softmax tutorial: the two kernels, then the launchers.
The references are :func:`entropy_select.core.entropy.local_window_entropy` and
:func:`entropy_select.core.gradient.spatial_gradient_magnitude`; the launchers here take the same
arguments and return the same values (float32, up to rounding).

Two passes, neither of which materialises the ``[N, neighbours, D]`` tensor. The library keeps
the one first-pass kernel it runs; the variants it was chosen against (one masked dot product
per neighbour, one frame row against stacked row segments) live in
``benchmarks/window_variants.py`` with the profiling scripts; measured times in
benchmarks/NOTES_gpu.md.

1. ``_window_band_kernel`` — one program per (video, tile of ``BLOCK_M`` raster-order tokens)
   and slice of channels. It streams the channels in ``BLOCK_D`` chunks; for each chunk it loads
   the centre tile and the contiguous bands of flat tokens that hold all the tile's neighbours
   (its docstring says why they are contiguous) and multiplies them on tensor cores; in the same
   chunk loop it loads the four gradient neighbours of each centre token (clamped at the frame
   edges), so the gradient of SPEC §2 is fused. It keeps in float32 the raw dot products, the
   centre's squared norm and the two squared gradient differences.
   Output: ``[S, N, C]`` float32 partial sums (``S`` channel slices, so that short videos still
   fill the GPU; ``C`` = neighbours + 3, padded to 2^k).
2. ``_window_entropy_finish_kernel`` — one program per block of tokens: sums the slices, turns
   dot products into cosines with the neighbours' norms (read from the same buffer), and computes
   ``H = log Z + m − Σ e·l / Z`` with ``m`` the running maximum (the softmax never overflows), then
   ``Ĥ = H / log n`` and ``G = sqrt(s_x‖Δx‖² + s_y‖Δy‖²)`` (``s = 1/4`` for central differences).

Extra memory: the ``[S, N, C]`` buffer (``C = 64`` floats a token for the default windows), which
is 256·S bytes a token against ``2·D`` bytes a token of bf16 input.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from ...core.entropy import check_window_args
from .launch import Site, launch

__all__ = [
    "band_partials_triton",
    "finish_block",
    "FINISH_BLOCK_N",
    "stream_window_entropy_and_gradient_triton",
    "local_window_entropy_triton",
    "spatial_gradient_magnitude_triton",
    "window_entropy_and_gradient_triton",
]


#: The Triton dtype of each features dtype the kernels take (``X_DTYPE`` of an ``X_INDIRECT``
#: launch).
_TL_DTYPES = {torch.float16: tl.float16, torch.bfloat16: tl.bfloat16, torch.float32: tl.float32}


@triton.jit
def _held_address(holder_ptr, X_DTYPE: tl.constexpr):
    """The features' pointer that ``holder_ptr`` holds: one int64, their address, read by the
    program (``X_INDIRECT`` kernels: a cached CUDA graph's replay points them at each call's
    features by writing the holder, not by copying the features). The address is a multiple of
    16 bytes (the caller's promise, checked in :mod:`.graphs`), as Triton assumes of an aligned
    pointer argument, so the loads stay 128-bit wide."""
    ptr = tl.load(holder_ptr).to(tl.pointer_type(X_DTYPE))
    return tl.multiple_of(ptr, 16)


@triton.jit
def _band_tokens(r, p0, m, L, L0, LP, E0, EP, K_T: tl.constexpr):
    """The flat token ``q`` of the video (clamped into it) of each stacked band row ``r`` (band
    ``k`` = frame offset ``Δt``), and whether the row is one of the video's tokens (the others
    read 0)."""
    k = tl.where(r < L0, 0, 1 + (r - L0) // LP)
    band0 = tl.where(k == 0, 0, L0 + (k - 1) * LP)
    reach = tl.where(k == 0, E0, EP)
    q = p0 - k * m - reach + (r - band0)
    r_ok = (r < L0 + (K_T - 1) * LP) & (q >= 0) & (q < L)
    return tl.minimum(tl.maximum(q, 0), L - 1), r_ok


@triton.jit
def _band_rows(
    r, p0, m, L, L0, LP, E0, EP, W, stride_t, stride_h, stride_w,
    K_T: tl.constexpr, FLAT: tl.constexpr,
):  # fmt: skip
    """The offsets in the video of stacked band rows ``r`` (:func:`_band_tokens`) and whether
    each row is a token of the video."""
    qc, r_ok = _band_tokens(r, p0, m, L, L0, LP, E0, EP, K_T)
    if FLAT:  # the rows' offsets without dividing q into frame, row and column
        n_off = qc.to(tl.int64) * stride_w
    else:
        n_off = (qc // m).to(tl.int64) * stride_t + ((qc % m) // W).to(tl.int64) * stride_h
        n_off += (qc % W).to(tl.int64) * stride_w
    return n_off, r_ok


@triton.jit
def _band_load(video, n_off, r_ok, dofs, dm, EVEN_D: tl.constexpr):
    """One channel chunk of stacked band rows (rows not of the video read 0; ``EVEN_D``: no
    channel mask)."""
    if EVEN_D:
        mask = r_ok[:, None]  # the load broadcasts it over the chunk
    else:
        mask = r_ok[:, None] & dm[None, :]
    return tl.load(video + n_off[:, None] + dofs, mask=mask, other=0.0)


@triton.jit
def _gram_step(xc, nb, gram, IEEE: tl.constexpr):
    """``gram + xc · nbᵀ`` on tensor cores (``IEEE``: float32 inputs, exact products)."""
    if IEEE:
        return tl.dot(xc, tl.trans(nb), gram, input_precision="ieee")
    return tl.dot(xc, tl.trans(nb), gram)


@triton.jit
def _column_offsets(cols, K_S: tl.constexpr, K_P: tl.constexpr):
    """The window offset ``(Δi, Δj, Δt)`` of each partial column ``cols``: the ``K_S² − 1``
    offsets of the current frame (the centre left out) row by row, then ``K_P²`` for each past
    frame in turn (the band kernel writes its dots in this order, the finish pass reads them
    so). Columns past the window's get offsets beyond it: callers mask them."""
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    CENTER: tl.constexpr = (K_S * K_S) // 2
    NS: tl.constexpr = K_S * K_S - 1
    PP: tl.constexpr = K_P * K_P
    s_sp = tl.where(cols < CENTER, cols, cols + 1)
    q = tl.maximum(cols - NS, 0)
    is_sp = cols < NS
    da = tl.where(is_sp, s_sp // K_S - R, (q % PP) // K_P - RP)
    db = tl.where(is_sp, s_sp % K_S - R, (q % PP) % K_P - RP)
    dt = tl.where(is_sp, 0, q // PP + 1)
    return da, db, dt


@triton.jit
def _edge_gram(own, nsq, csq, far, cols, k, n, C_NEXT: tl.constexpr, C_PREV: tl.constexpr):
    """``‖x_next − x_prev‖²`` along one axis (position ``k`` of ``n``) from dots: ``C_NEXT`` /
    ``C_PREV`` are the columns of the offsets ±1 along it, ``far`` the dot of the token's two
    neighbours (loaded where ``0 < k < n − 1``); at an edge the token itself is the missing
    neighbour (SPEC §2's clamp), and a single position has no gradient. Never below 0."""
    d_next = tl.sum(tl.where(cols[None, :] == C_NEXT, own, 0.0), 1)  # ⟨x, x_next⟩
    d_prev = tl.sum(tl.where(cols[None, :] == C_PREV, own, 0.0), 1)
    n_next = tl.sum(tl.where(cols[None, :] == C_NEXT, nsq, 0.0), 1)  # ‖x_next‖² (0 outside)
    n_prev = tl.sum(tl.where(cols[None, :] == C_PREV, nsq, 0.0), 1)
    inner = n_next + n_prev - 2.0 * far
    first = n_next + csq - 2.0 * d_next  # k = 0: x_prev is x
    last = csq + n_prev - 2.0 * d_prev  # k = n − 1: x_next is x
    g = tl.where(k == 0, first, tl.where(k == n - 1, last, inner))
    return tl.where(n > 1, tl.maximum(g, 0.0), 0.0)


@triton.jit(do_not_specialize=["HEAD"])  # the ring slot moves every push (STREAM)
def _window_band_kernel(
    x_ptr,
    p_ptr,
    mm_ptr,
    NVID,
    T,
    H,
    W,
    D,
    NTILE,
    NTOK,
    d_per_split,
    stride_b,
    stride_t,
    stride_h,
    stride_w,
    stride_d,
    y_ptr,
    sy_b,
    sy_s,
    sy_h,
    sy_w,
    sy_d,
    HEAD,
    NSLOT,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NR: tl.constexpr,
    IEEE: tl.constexpr,
    MINMAX: tl.constexpr,
    STREAM: tl.constexpr,
    X_INDIRECT: tl.constexpr = False,
    X_DTYPE: tl.constexpr = None,
    FLAT: tl.constexpr = False,
    NR_B: tl.constexpr = 0,
    EVEN_D: tl.constexpr = False,
    GRAD2D: tl.constexpr = False,
    GRAD_GRAM: tl.constexpr = False,
):
    """First pass over ``BLOCK_M`` consecutive tokens in raster order (``[S, N, C]`` partials).

    A video is one flat sequence of ``T·H·W`` tokens; the neighbour ``(−Δt, a, b)`` of token
    ``p`` is token ``p − Δt·H·W + a·W + b``. So the neighbours of the tile ``[p0, p0 + M)`` in
    frame offset ``Δt`` all lie in one contiguous band of ``M + 2E`` tokens (``E = r·W + r``,
    ``r`` the window radius), whatever rows or frames the tile spans. The ``K_T`` bands are
    stacked back to back into one ``[NR, BD]`` tile (no padding rows between them, so NR is the
    power of two above ``M + 2E₀ + (K_T − 1)(M + 2E_p)``), multiplied by the centre tile on tensor
    cores, and each (token, offset) dot product is picked from the ``[M, NR]`` result with
    ``tl.gather``. Dots with positions outside the window (row wrap-around, other frames) are
    computed too and discarded by the finish kernel, which knows the valid neighbours.

    ``STREAM`` (a stream's push): the centres are the last frame's tokens only (``NTILE`` tiles
    of it), read from ``x_ptr`` (one frame ``[B, H, W, D]``); the past frames of the window are
    read from the ring ``y_ptr`` ``[B, NSLOT, H, W, D]`` (the frame ``a`` frames back sits in
    slot ``(HEAD − a + 1) mod NSLOT``). Past tokens are no centres here, so nothing holds their
    squared norms: each row of the ``[S, N, 2·C]`` partials also carries, in its second half,
    the squared norm of each of the token's neighbours (sums of squares of the band rows), and in
    column ``NOFF + 3`` the number of NaN/inf values among the centre's channels (every value of
    the new frame is a centre value of exactly one program), which the finish kernel adds into
    ``mm_ptr`` ``[B]`` int32 (zeroed here by program 0).

    ``X_INDIRECT`` (not with ``STREAM``): ``x_ptr`` holds the features' address, one int64, and
    ``X_DTYPE`` is their dtype (:func:`_held_address`); off, the kernel is compiled as before.

    ``FLAT`` (not with ``STREAM``): the video's tokens follow each other at ``stride_w``
    (``stride_t = H·stride_h``, ``stride_h = W·stride_w``: any contiguous video), so flat token
    ``q`` is at ``q·stride_w`` (no division into frame, row and column for the band rows).

    ``NR_B`` (not with ``STREAM``): the stacked rows past the first ``NR`` go into a second tile
    of ``NR_B`` rows with a Gram product of its own, so that two powers of two can hold the
    bands in fewer rows than one (64 tokens a program at 14x14: 312 rows in 256 + 64, not 512;
    32 at 27x27: 320, not 512). ``EVEN_D``: every channel slice is a whole number of
    ``BLOCK_D`` chunks (no channel mask). ``GRAD2D``: the squared gradient differences are
    summed elementwise across chunks and reduced over the channels once, after the loop.
    ``GRAD_GRAM`` (not with ``STREAM``; a spatial window of 5 or more): no gradient here, no
    loads of the four gradient neighbours: the finish kernel takes ``‖a − b‖² = ‖a‖² + ‖b‖² −
    2⟨a, b⟩`` from the dots of the partials (:func:`finish_block`); the two gradient columns
    hold 0.
    """
    if X_INDIRECT:
        x_ptr = _held_address(x_ptr, X_DTYPE)
    pid = tl.program_id(0)
    split = tl.program_id(1)
    if STREAM:  # program 0 zeroes the per-stream NaN/inf counts the finish kernel adds into
        if (pid == 0) & (split == 0):
            for k0 in range(0, NVID, 128):
                kk = k0 + tl.arange(0, 128)
                tl.store(mm_ptr + kk, tl.zeros((128,), dtype=tl.int32), mask=kk < NVID)
    if MINMAX:  # program 0 readies the per-video extremes the finish kernel reduces into
        if (pid == 0) & (split == 0):
            # [B, 4] int32: float bits of (min Ĥ, max Ĥ, min G, max G); both are >= 0, and
            # non-negative floats order like their bits, so integer atomics reduce them.
            for k0 in range(0, 4 * NVID, 128):
                kk = k0 + tl.arange(0, 128)
                init = tl.where(kk % 2 == 0, 0x7F800000, 0)  # +inf for the minima, +0 maxima
                tl.store(mm_ptr + kk, init, mask=kk < 4 * NVID)
    b = pid // NTILE
    m = H * W
    L = T * m  # tokens per video
    if STREAM:
        c0 = (T - 1) * m  # the centres: the last frame
    else:
        c0 = 0
    p0 = c0 + (pid % NTILE) * BLOCK_M
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    E0 = R * W + R  # reach of the current-frame window in flat tokens
    EP = RP * W + RP  # reach of a past-frame window
    L0 = BLOCK_M + 2 * E0  # band lengths
    LP = BLOCK_M + 2 * EP

    # Stacked row r -> band k (Δt = k) and flat token q of the video.
    video = x_ptr + b.to(tl.int64) * stride_b
    r = tl.arange(0, NR)
    if STREAM:  # the last frame from x, the past ones from their ring slots
        qc, r_ok = _band_tokens(r, p0, m, L, L0, LP, E0, EP, K_T)
        qt = qc // m
        qi = (qc % m) // W
        qj = qc % W
        cur = qt == T - 1
        slot = (HEAD - (T - 1 - qt) + 1 + NSLOT) % NSLOT
        n_off = qi.to(tl.int64) * stride_h + qj.to(tl.int64) * stride_w
        y_off = slot.to(tl.int64) * sy_s + qi.to(tl.int64) * sy_h + qj.to(tl.int64) * sy_w
        past = y_ptr + b.to(tl.int64) * sy_b
    else:
        n_off, r_ok = _band_rows(
            r, p0, m, L, L0, LP, E0, EP, W, stride_t, stride_h, stride_w, K_T, FLAT
        )
        if NR_B > 0:
            n_off_b, r_ok_b = _band_rows(
                NR + tl.arange(0, NR_B), p0, m, L, L0, LP, E0, EP, W, stride_t, stride_h,
                stride_w, K_T, FLAT,
            )  # fmt: skip

    # Centre tokens and their four gradient neighbours (clamped at the frame edges, SPEC §2).
    c = p0 + tl.arange(0, BLOCK_M)
    cm = c < L
    cc = tl.minimum(c, L - 1)
    ct = cc // m
    ci = (cc % m) // W
    cj = cc % W
    ct = ct.to(tl.int64)
    ci = ci.to(tl.int64)
    cj = cj.to(tl.int64)
    if STREAM:
        t_off = ct * 0  # x is the one frame
    else:
        t_off = ct * stride_t
    c_off = t_off + ci * stride_h + cj * stride_w
    row_off = t_off + ci * stride_h
    col_off = t_off + cj * stride_w
    xr_off = row_off + tl.minimum(cj + 1, W - 1) * stride_w
    xl_off = row_off + tl.maximum(cj - 1, 0) * stride_w
    xd_off = col_off + tl.minimum(ci + 1, H - 1) * stride_h
    xu_off = col_off + tl.maximum(ci - 1, 0) * stride_h

    gram = tl.zeros((BLOCK_M, NR), dtype=tl.float32)
    gram_b = tl.zeros((BLOCK_M, NR_B if NR_B > 0 else 16), dtype=tl.float32)
    if GRAD2D and not GRAD_GRAM:
        g2 = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
        h2 = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
    else:
        g2 = tl.zeros((BLOCK_M,), dtype=tl.float32)
        h2 = tl.zeros((BLOCK_M,), dtype=tl.float32)
    rn = tl.zeros((NR,), dtype=tl.float32)  # squared norms of the band rows (STREAM)
    bad = tl.zeros((BLOCK_M,), dtype=tl.float32)  # NaN/inf values of each centre (STREAM)
    d_lo = split * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    for d0 in range(d_lo, d_hi, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        dofs = d[None, :].to(tl.int64) * stride_d
        dm = d < d_hi
        if EVEN_D:  # no channel mask (the loads broadcast the row masks)
            m2 = cm[:, None]
        else:
            m2 = cm[:, None] & dm[None, :]
        xc = tl.load(video + c_off[:, None] + dofs, mask=m2, other=0.0)
        if STREAM:  # two masked loads (each row reads one of them), then a select
            nb_cur = tl.load(
                video + n_off[:, None] + dofs, mask=(r_ok & cur)[:, None] & dm[None, :], other=0.0
            )
            ydofs = d[None, :].to(tl.int64) * sy_d
            nb_past = tl.load(
                past + y_off[:, None] + ydofs,
                mask=(r_ok & (cur == 0))[:, None] & dm[None, :],
                other=0.0,
            )
            nb = tl.where(cur[:, None], nb_cur, nb_past)
            nbf = nb.to(tl.float32)
            rn += tl.sum(nbf * nbf, 1)
            xcf = xc.to(tl.float32)
            odd = (xcf != xcf) | (tl.abs(xcf) == float("inf"))
            bad += tl.sum(odd.to(tl.float32), 1)
        else:
            nb = _band_load(video, n_off, r_ok, dofs, dm, EVEN_D)
        gram = _gram_step(xc, nb, gram, IEEE)
        if NR_B > 0:
            nb_b = _band_load(video, n_off_b, r_ok_b, dofs, dm, EVEN_D)
            gram_b = _gram_step(xc, nb_b, gram_b, IEEE)
        if not GRAD_GRAM:
            xr = tl.load(video + xr_off[:, None] + dofs, mask=m2, other=0.0)
            xl = tl.load(video + xl_off[:, None] + dofs, mask=m2, other=0.0)
            gx = xr.to(tl.float32) - xl.to(tl.float32)
            xd = tl.load(video + xd_off[:, None] + dofs, mask=m2, other=0.0)
            xu = tl.load(video + xu_off[:, None] + dofs, mask=m2, other=0.0)
            gy = xd.to(tl.float32) - xu.to(tl.float32)
            if GRAD2D:
                g2 += gx * gx
                h2 += gy * gy
            else:
                g2 += tl.sum(gx * gx, 1)
                h2 += tl.sum(gy * gy, 1)
    if GRAD2D and not GRAD_GRAM:
        g2 = tl.sum(g2, 1)
        h2 = tl.sum(h2, 1)

    # Column of the Gram product for (token c, offset o): band(o) start + c + reach + a·W + b.
    cols = tl.arange(0, NCOL)
    o_a, o_b, o_k = _column_offsets(cols, K_S, K_P)
    o_col = tl.where(o_k == 0, E0, L0 + (o_k - 1) * LP + EP) + o_a * W + o_b
    o_col = tl.where(cols == NOFF, E0, o_col)  # ‖x‖²: offset 0 in the current band
    o_col = tl.where(cols <= NOFF, o_col, 0)
    idx = o_col[None, :] + tl.arange(0, BLOCK_M)[:, None]  # [M, C], always inside the bands
    if NR_B > 0:  # the columns past NR are the second tile's
        acc = tl.where(
            idx < NR,
            tl.gather(gram, tl.minimum(idx, NR - 1), 1),
            tl.gather(gram_b, tl.minimum(tl.maximum(idx - NR, 0), NR_B - 1), 1),
        )
    else:
        acc = tl.gather(gram, idx, 1)
    acc = tl.where(cols[None, :] <= NOFF, acc, 0.0)
    acc = tl.where(cols[None, :] == NOFF + 1, g2[:, None], acc)
    acc = tl.where(cols[None, :] == NOFF + 2, h2[:, None], acc)
    if STREAM:
        acc = tl.where(cols[None, :] == NOFF + 3, bad[:, None], acc)
        tok = b.to(tl.int64) * m + (c - c0)  # flat token index b·H·W + p of the last frame
        out = p_ptr + split * NTOK * 2 * NCOL + tok[:, None] * (2 * NCOL) + cols[None, :]
        tl.store(out, acc, mask=cm[:, None])
        norms = tl.gather(rn[None, :] + tl.zeros((BLOCK_M, NR), dtype=tl.float32), idx, 1)
        tl.store(out + NCOL, tl.where(cols[None, :] < NOFF, norms, 0.0), mask=cm[:, None])
    else:
        tok = b.to(tl.int64) * L + c  # flat token index b·T·H·W + p
        out = p_ptr + split * NTOK * NCOL + tok[:, None] * NCOL + cols[None, :]
        tl.store(out, acc, mask=cm[:, None])


@triton.jit
def _window_entropy_finish_kernel(
    p_ptr,
    ent_ptr,
    grad_ptr,
    mm_ptr,
    T,
    H,
    W,
    NTOK,
    SPLITS,
    inv_tau,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_N: tl.constexpr,
    MINMAX: tl.constexpr,
    STREAM: tl.constexpr,
    GRAD_GRAM: tl.constexpr = False,
):
    """Cosines, normalised softmax entropy (Eq. 2) and gradient magnitude (Eq. 3) per token;
    with ``MINMAX``, also each video's extremes of both (integer atomics on their float bits).
    With ``STREAM`` the tokens are the last frame's (``NTOK = B·H·W``), each row carries its
    neighbours' squared norms and its NaN/inf count (see the band kernel); the tokens with any
    add their count into ``mm_ptr`` ``[B]`` int32 (one atomic each; none for a finite frame)."""
    finish_block(
        tl.program_id(0), p_ptr, ent_ptr, grad_ptr, mm_ptr, T, H, W, NTOK, SPLITS, inv_tau,
        K_S, K_T, K_P, NOFF, NCOL, BLOCK_N, MINMAX, STREAM, GRAD_GRAM,
    )  # fmt: skip


@triton.jit
def finish_block(
    pid,
    p_ptr,
    ent_ptr,
    grad_ptr,
    mm_ptr,
    T,
    H,
    W,
    NTOK,
    SPLITS,
    inv_tau,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_N: tl.constexpr,
    MINMAX: tl.constexpr,
    STREAM: tl.constexpr,
    GRAD_GRAM: tl.constexpr,
):
    """The finish kernel's work for its block ``pid`` of ``BLOCK_N`` tokens (also the first
    part of :mod:`.scores`' finish-and-score kernel). ``GRAD_GRAM``: the band kernel's partials
    hold no gradient sums; each is ``‖a‖² + ‖b‖² − 2⟨a, b⟩`` of the token's two gradient
    neighbours (the frame edges' one-sided differences included), from the dots and squared
    norms of the window: the current frame's offsets (0, ±1) and (±1, 0) of the token, and
    offset (0, 2) of token ``p − 1`` and (2, 0) of token ``p − W`` (two loads a split)."""
    tok = pid * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN]
    tm = tok < NTOK
    tok64 = tok.to(tl.int64)
    j = tok % W
    i = (tok // W) % H
    if STREAM:
        t = tok * 0 + (T - 1)
        bt = (tok // (W * H)) * T + T - 1  # b*T + t
    else:
        t = (tok // (W * H)) % T
        bt = tok // (W * H)  # b*T + t
    cols = tl.arange(0, NCOL)  # [C]
    CENTER: tl.constexpr = (K_S * K_S) // 2

    # Offset (Δt, Δi, Δj) of each column, the kernel above's numbering.
    da, db, dt = _column_offsets(cols, K_S, K_P)
    ii = i[:, None] + da[None, :]  # [BN, C]
    jj = j[:, None] + db[None, :]
    tt = t[:, None] - dt[None, :]
    valid = (cols[None, :] < NOFF) & tm[:, None]
    valid = valid & (ii >= 0) & (ii < H) & (jj >= 0) & (jj < W) & (tt >= 0)
    nbr = ((bt[:, None] - dt[None, :]).to(tl.int64) * H + ii) * W + jj  # [BN, C]

    own = tl.zeros((BLOCK_N, NCOL), dtype=tl.float32)
    nsq = tl.zeros((BLOCK_N, NCOL), dtype=tl.float32)
    far_x = tl.zeros((BLOCK_N,), dtype=tl.float32)
    far_y = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for s in range(SPLITS):
        if STREAM:
            base = p_ptr + s * NTOK * 2 * NCOL
            row = base + tok64[:, None] * (2 * NCOL) + cols[None, :]
            own += tl.load(row, mask=tm[:, None], other=0.0)
            nsq += tl.load(row + NCOL, mask=valid, other=0.0)
        else:
            base = p_ptr + s * NTOK * NCOL  # < 2**31, checked by the launcher
            own += tl.load(
                base + tok64[:, None] * NCOL + cols[None, :], mask=tm[:, None], other=0.0
            )
            nsq += tl.load(base + nbr * NCOL + NOFF, mask=valid, other=0.0)
            if GRAD_GRAM:  # ⟨x_{p−1}, x_{p+1}⟩ and ⟨x_{p−W}, x_{p+W}⟩: tokens p − 1 and p − W
                far_x += tl.load(
                    base + (tok64 - 1) * NCOL + CENTER + 1,
                    mask=tm & (j >= 1) & (j < W - 1), other=0.0,
                )  # fmt: skip
                far_y += tl.load(
                    base + (tok64 - W) * NCOL + CENTER + 2 * K_S - 1,
                    mask=tm & (i >= 1) & (i < H - 1), other=0.0,
                )  # fmt: skip
    csq = tl.sum(tl.where(cols[None, :] == NOFF, own, 0.0), 1)  # [BN]
    cn = tl.maximum(tl.sqrt(csq), 1e-6)
    nn = tl.maximum(tl.sqrt(nsq), 1e-6)
    logit = own / (cn[:, None] * nn) * inv_tau  # s_j / τ
    masked = tl.where(valid, logit, float("-inf"))
    n = tl.sum(valid.to(tl.int32), 1)
    m = tl.max(masked, 1)
    m = tl.where(n > 0, m, 0.0)
    e = tl.where(valid, tl.exp(masked - m[:, None]), 0.0)
    z = tl.sum(e, 1)
    zs = tl.where(n > 0, z, 1.0)
    entropy = tl.log(zs) + m - tl.sum(tl.where(valid, e * logit, 0.0), 1) / zs
    log_n = tl.log(tl.maximum(n, 2).to(tl.float32))
    ent = tl.where(n >= 2, entropy / log_n, 0.0)
    ent = tl.minimum(tl.maximum(ent, 0.0), 1.0)

    if GRAD_GRAM:  # ‖x_r − x_l‖² and ‖x_d − x_u‖² from the window's dots (SPEC §2's clamps)
        # columns: (0, 1) is CENTER, (0, −1) CENTER − 1, (1, 0) CENTER + K_S − 1, (−1, 0)
        # CENTER − K_S (the centre has no column)
        gx = _edge_gram(own, nsq, csq, far_x, cols, j, W, CENTER, CENTER - 1)
        gy = _edge_gram(own, nsq, csq, far_y, cols, i, H, CENTER + K_S - 1, CENTER - K_S)
    else:
        gx = tl.sum(tl.where(cols[None, :] == NOFF + 1, own, 0.0), 1)
        gy = tl.sum(tl.where(cols[None, :] == NOFF + 2, own, 0.0), 1)
    if STREAM:
        odd = tl.sum(tl.where(cols[None, :] == NOFF + 3, own, 0.0), 1).to(tl.int32)
        tl.atomic_add(mm_ptr + tok // (W * H), odd, mask=tm & (odd > 0))
    sx = tl.where((j > 0) & (j < W - 1), 0.25, 1.0)
    sy = tl.where((i > 0) & (i < H - 1), 0.25, 1.0)
    grad = tl.sqrt(sx * gx + sy * gy)
    tl.store(ent_ptr + tok64, ent, mask=tm)
    tl.store(grad_ptr + tok64, grad, mask=tm)
    if MINMAX:
        L = T * H * W
        vid = tok // L
        b0 = (pid * BLOCK_N) // L
        own_video = tm & (vid == b0)  # the block's first video: reduce, then one atomic each
        eb = ent.to(tl.int32, bitcast=True)
        gb = grad.to(tl.int32, bitcast=True)
        top = 0x7F800000
        tl.atomic_min(mm_ptr + b0 * 4, tl.min(tl.where(own_video, eb, top), 0))
        tl.atomic_max(mm_ptr + b0 * 4 + 1, tl.max(tl.where(own_video, eb, 0), 0))
        tl.atomic_min(mm_ptr + b0 * 4 + 2, tl.min(tl.where(own_video, gb, top), 0))
        tl.atomic_max(mm_ptr + b0 * 4 + 3, tl.max(tl.where(own_video, gb, 0), 0))
        later = tm & (vid != b0)  # tokens of later videos (short videos): one atomic each
        tl.atomic_min(mm_ptr + vid * 4, eb, mask=later)
        tl.atomic_max(mm_ptr + vid * 4 + 1, eb, mask=later)
        tl.atomic_min(mm_ptr + vid * 4 + 2, gb, mask=later)
        tl.atomic_max(mm_ptr + vid * 4 + 3, gb, mask=later)


#: The band kernel's code options, all on by default (``tune`` of
#: :func:`window_entropy_and_gradient_triton` turns them off one by one, for benchmarks: with
#: all off, the kernel of Round 11): ``split_tile`` (``NR_B``: the stacked rows in two
#: power-of-two tiles where that is fewer rows), ``even_d`` (``EVEN_D``, where the channels are
#: a whole number of chunks), ``grad2d`` (``GRAD2D``), ``wide`` (64 tokens a program and 8
#: warps where their rows fit, channel slices by waves: :func:`_band_plan`), ``stages3``
#: (three pipeline stages, not two) and ``grad_gram`` (``GRAD_GRAM``: the gradient from the
#: window's dots in the finish pass, where the spatial window is 5 or more: no gradient loads in
#: the band kernel). Chosen on an H200 (benchmarks/NOTES_gpu.md, Rounds 12 and 15).
BAND_TUNING = {
    "split_tile": True, "even_d": True, "grad2d": True, "wide": True, "stages3": True,
    "grad_gram": True,
}  # fmt: skip


def _check(
    features: torch.Tensor, spatial_window: int, temporal_window: int, past_window: int, tau: float
) -> None:
    check_window_args(features, spatial_window, temporal_window, past_window, tau)
    if features.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise TypeError(
            f"the Triton kernels take float16, bfloat16 or float32, got {features.dtype}"
        )


def _splits(programs: int, D: int, block_d: int, device: torch.device) -> int:
    """Channel slices so that every multiprocessor gets a program (shape-only, no sync).

    Measured on an H100 (benchmarks/NOTES_gpu.md): more slices than that only cost time.
    """
    if device.type != "cuda":
        return 1
    sms = _sm_count(device)
    chunks = -(-D // block_d)
    return max(1, min(chunks, -(-sms // programs)))


def _pow2(n: int) -> int:
    """The smallest power of two >= n (plain Python: launchers run on every call)."""
    return 1 << max(0, int(n) - 1).bit_length()


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _neighbours(spatial_window: int, temporal_window: int, past_window: int) -> int:
    """The window's neighbour offsets (``NOFF``): ``k² − 1`` in the frame, ``k_p²`` in each of
    the ``K_t − 1`` past frames."""
    return spatial_window**2 - 1 + (temporal_window - 1) * past_window**2


@functools.lru_cache(maxsize=16)
def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


@functools.lru_cache(maxsize=16)
def _shared_memory(device: torch.device) -> int | None:
    """Shared memory a program may take on ``device`` (bytes; None off a GPU: no limit)."""
    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return getattr(props, "shared_memory_per_block_optin", None) or 48 << 10


def _stages(wanted: int, rows: int, block_d: int, itemsize: int, device: torch.device) -> int:
    """Pipeline stages of the band kernel: ``wanted``, or 2 where ``wanted`` copies of a step's
    tiles (``rows`` stacked rows and centres of ``block_d`` channels) might not fit the device's
    shared memory. Triton keeps ``num_stages − 1`` copies, or ``num_stages`` on Hopper's
    wgmma path; counting ``num_stages`` keeps every GPU safe (a 99 KB Ada or Ampere part takes
    2 stages at 14x14; an H100 or H200, 227 KB, keeps 3 at every frame width).
    ``benchmarks/frame_registers_cpu.py --window-shared`` prints what Triton allocates."""
    limit = _shared_memory(device)
    if wanted <= 2 or limit is None or wanted * rows * block_d * itemsize <= limit:
        return wanted
    return 2


def window_entropy_and_gradient_triton(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    block_d: int | None = None,
    splits: int | None = None,
    block_m: int | None = None,
    num_warps: int | None = None,
    num_stages: int | None = None,
    minmax: torch.Tensor | None = None,
    tune: dict[str, bool] | None = None,
    _x_address: torch.Tensor | None = None,
    _squeeze: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Ĥ, G)`` in one pass over the features: the fused Triton path of SPEC §1-2.

    Args:
        features: raw token features, float16/bfloat16/float32, any strides, on a CUDA device
            (or on the CPU under ``TRITON_INTERPRET=1``).
        spatial_window, temporal_window, past_window, tau: as :func:`local_window_entropy`.
        block_d: channels per inner chunk (a power of two; default: as many as keep one stage
            of the stacked neighbour tile within 64 KB, at most 64).
        splits: channel slices (default: enough programs to fill the GPU; shape-only, no sync).
        block_m, num_warps, num_stages: tuning of the band kernel (tokens per program, default
            32; Triton's warps and pipeline depth); for benchmarks, the defaults are the measured
            best (benchmarks/NOTES_gpu.md).
        minmax: optional ``[B, 4]`` int32 buffer (any contents) that receives, as float bits,
            each video's (min Ĥ, max Ĥ, min G, max G), for the score kernel's min-max.
        tune: the band kernel's code options, for benchmarks (keys of :data:`BAND_TUNING`,
            whose values are the defaults); the same outputs up to float32 rounding.
        _x_address: private (:mod:`.graphs`): a 1-element int64 tensor on the features' device
            holding the address, a multiple of 16 bytes, of the features the kernel reads; then
            ``features`` gives only their shape, strides and dtype (the holder's value is read
            when the kernel runs, so a CUDA graph's replay reads whatever it points at then).
        _squeeze: private (:mod:`.select`): ``features`` is a batch of one ``[1, T, H, W, D]``
            whose maps are wanted as ``[T, H, W]`` (allocated so, not viewed).

    Returns:
        ``Ĥ`` (Eq. 2, normalised by ``log n``) and the raw gradient magnitude ``G`` (Eq. 3), both
        float32.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  two [T, H, W] or [B, T, H, W]
    """
    _check(features, spatial_window, temporal_window, past_window, tau)
    squeeze = features.dim() == 4 or (_squeeze and features.shape[0] == 1)
    x = features.unsqueeze(0) if features.dim() == 4 else features  # [B, T, H, W, D]
    return _launch_band(
        x, squeeze, spatial_window, temporal_window, past_window, tau,
        block_d, splits, block_m, num_warps, num_stages, minmax, _x_address,
        tuple(sorted(tune.items())) if tune else (),
    )  # fmt: skip


#: Tokens a finish block (:func:`finish_block`), in the finish kernel and in :mod:`.scores`'
#: finish-and-score kernel.
FINISH_BLOCK_N = 32


def _finish(
    partial, shape, squeeze, spatial_window, temporal_window, past_window, tau, minmax=None,
    counts=None, grad_gram=False,
):  # fmt: skip
    """Run the finish kernel on the ``[S, N, C]`` partial sums: ``(Ĥ, G)``, float32 (and, into
    ``minmax`` ``[B, 4]`` int32 readied by the band kernel, each video's extremes). ``counts``
    (the band kernel's ``STREAM`` mode, partials ``[S, N, 2·C]`` of the last frame only): the
    ``[B]`` int32 NaN/inf counts it adds into; then ``Ĥ`` and ``G`` are ``[B, 1, H, W]``.
    ``grad_gram``: the partials hold no gradient sums (the band kernel's ``GRAD_GRAM``)."""
    stream = counts is not None
    out, grid, ints, site = _finish_plan(
        shape, partial.shape, spatial_window, temporal_window, past_window, tau,
        minmax is not None, stream, grad_gram,
    )  # fmt: skip
    if squeeze:  # a batch of one: its maps without the leading B (the same memory, no views)
        out = out[1:]
    # sizes as ints, not a tuple: torch parses them faster (the eager call's host time)
    entropy = torch.empty(*out, dtype=torch.float32, device=partial.device)
    grad = torch.empty(*out, dtype=torch.float32, device=partial.device)
    extra = counts if stream else minmax if minmax is not None else entropy
    site(grid, partial, entropy, grad, extra, *ints)
    return entropy, grad


@functools.lru_cache(maxsize=256)
def _finish_plan(shape, partial_shape, spatial_window, temporal_window, past_window, tau, minmax,
                 stream, grad_gram=False):  # fmt: skip
    """The finish kernel's launch for these shapes (cached: the same for every call of a shape):
    ``(output shape, grid, positional arguments after the pointers, launch site)``."""
    B, T, H, W, _ = shape
    splits, ntok, width = partial_shape
    ncol = width // 2 if stream else width
    noff = _neighbours(spatial_window, temporal_window, past_window)
    kwargs = dict(
        K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
        BLOCK_N=FINISH_BLOCK_N, MINMAX=minmax, STREAM=stream, num_warps=4,
        **({"GRAD_GRAM": True} if grad_gram else {}),
    )  # fmt: skip
    ints = (T, H, W, ntok, splits, 1.0 / tau)
    site = Site(_window_entropy_finish_kernel, **kwargs)
    return (B, 1 if stream else T, H, W), (_cdiv(ntok, FINISH_BLOCK_N),), ints, site


def _band_rows_count(block_m, W, spatial_window, temporal_window, past_window) -> int:
    """Rows of the stacked bands of a ``block_m``-token tile (see the band kernel)."""
    r, rp = spatial_window // 2, past_window // 2
    return block_m + 2 * (r * W + r) + (temporal_window - 1) * (block_m + 2 * (rp * W + rp))


def _band_tiles(rows: int, split_tile: bool) -> tuple[int, int]:
    """``(nr, nr_b)``: the power-of-two tile(s) holding ``rows`` stacked rows; two (``nr_b`` >
    0) where ``split_tile`` and two powers of two hold them in fewer rows than one."""
    nr = max(16, _pow2(rows))
    if split_tile and nr > 32:
        lo, rest = nr // 2, max(16, _pow2(rows - nr // 2))
        if lo + rest < nr:
            return lo, rest
    return nr, 0


#: Wide tiles (64 tokens a program, 8 warps) only where their stacked rows fit in this many
#: (measured on an H200 with the paper's windows: 256 + 64 rows at 14x14 and 256 + 128 at 16x16
#: were faster than 32 tokens a program; 512 at 27x27 was 2.3x slower).
_WIDE_ROWS = 384
#: The per-program cost of a wide tile (its gather and stores) in channel chunks, for the slice
#: count: with it, the model picks the fastest of 1-3 slices in each of the H200's measured
#: shapes (16, 32, 64 and 1,024 frames; benchmarks/NOTES_gpu.md, Round 12).
_WIDE_OVERHEAD = 12


def _wide_splits(programs: int, chunks: int, sms: int) -> int:
    """Channel slices for wide tiles (one program an SM at a time): the count that minimises
    ``waves · (chunks a program + overhead)``, so that the last wave is not mostly idle."""

    def cost(s: int) -> int:
        return _cdiv(programs * s, sms) * (_cdiv(chunks, s) + _WIDE_OVERHEAD)

    return min(range(1, min(chunks, 8) + 1), key=cost)


@functools.lru_cache(maxsize=256)
def _band_plan(
    B, centres, D, W, itemsize, device, spatial_window, temporal_window, past_window, width,
    block_m=None, block_d=None, splits=None, split_tile=False, wide=False,
):  # fmt: skip
    """The band kernel's launch geometry (shape-only choices, no sync, cached) for ``centres``
    tokens a video, ``width`` float32 partial columns a token, features of ``itemsize`` bytes an
    element on ``device``: ``(block_m, block_d, nr, ntile, ntok, programs, splits,
    d_per_split, nr_b)``; ``split_tile``: the stacked rows in two tiles of ``nr`` and ``nr_b``
    rows where that is fewer than one power of two (else ``nr_b`` is 0); ``wide``: 64 tokens a
    program (default 32) where their rows fit in ``_WIDE_ROWS``, in :func:`_wide_splits`
    channel slices."""
    windows = (spatial_window, temporal_window, past_window)
    if block_m is None:
        block_m = 32
        if wide and device.type == "cuda":
            if sum(_band_tiles(_band_rows_count(64, W, *windows), split_tile)) <= _WIDE_ROWS:
                block_m = 64
    nr, nr_b = _band_tiles(_band_rows_count(block_m, W, *windows), split_tile)
    if block_d is None:  # keep one stage of the stacked neighbour tiles within 64 KB
        block_d = max(16, min(64, _pow2((64 << 10) // ((nr + nr_b) * itemsize) + 1) // 2))
    ntile = -(-centres // block_m)
    ntok = B * centres
    programs = B * ntile
    if splits is None:
        if wide and block_m == 64 and device.type == "cuda":
            splits = _wide_splits(programs, _cdiv(D, block_d), _sm_count(device))
        else:
            splits = _splits(programs, D, block_d, device)
    per_split = -(-D // splits)
    d_per_split = -(-per_split // block_d) * block_d
    splits = -(-D // d_per_split)
    if splits * ntok * width >= 2**31:
        raise ValueError(f"too many tokens for one launch ({ntok}); split the batch")
    return block_m, block_d, nr, ntile, ntok, programs, splits, d_per_split, nr_b


@functools.lru_cache(maxsize=256)
def _video_band_plan(
    shape, strides, dtype, device, spatial_window, temporal_window, past_window, block_d,
    splits, block_m, num_warps, num_stages, minmax, indirect, tune=(), counter=False,
):  # fmt: skip
    """The band kernel's launch over whole videos (:func:`_launch_band`), cached: ``(partial
    shape, grid, positional ints after the three pointers, launch site)``. ``tune``: ``(name,
    bool)`` pairs overriding :data:`BAND_TUNING`. ``counter`` (with ``minmax``): the extremes
    buffer has one more row, ``[B + 1, 4]``, whose second entry program 0 zeroes (``NVID`` is
    ``B + 1``: the init writes ``+0`` at odd entries), the finish-and-score kernel's count.
    Last, whether the partials leave the gradient to the finish pass (``GRAD_GRAM``)."""
    B, T, H, W, D = shape
    knobs = dict(BAND_TUNING)
    for name, value in tune:
        if name not in knobs:
            raise ValueError(f"unknown band kernel tuning {name!r}; known: {sorted(knobs)}")
        knobs[name] = bool(value)
    noff = _neighbours(spatial_window, temporal_window, past_window)
    ncol = _pow2(noff + 3)  # dots and ‖x‖², the two gradient sums
    grad_gram = knobs["grad_gram"] and spatial_window >= 5  # (0, ±2) and (±2, 0) are dots
    block_m, block_d, nr, ntile, ntok, programs, splits, d_per_split, nr_b = _band_plan(
        B, T * H * W, D, W, dtype.itemsize, device, spatial_window, temporal_window,
        past_window, ncol, block_m, block_d, splits, knobs["split_tile"], knobs["wide"],
    )  # fmt: skip
    if num_warps is None:
        num_warps = 8 if block_m * (nr + nr_b) >= 16384 else 4
    if num_stages is None:
        rows = nr + nr_b + block_m  # the bands' tiles and the centres, a step
        num_stages = _stages(3 if knobs["stages3"] else 2, rows, block_d, dtype.itemsize, device)
    # The direct launch passes no X_INDIRECT / X_DTYPE (their defaults): the kernel as before.
    kwargs = dict(
        K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
        BLOCK_M=block_m, BLOCK_D=block_d, NR=nr, IEEE=dtype == torch.float32,
        MINMAX=minmax, STREAM=False, num_warps=num_warps,
        num_stages=num_stages,
        **({"X_INDIRECT": True, "X_DTYPE": _TL_DTYPES[dtype]} if indirect else {}),
        **({"FLAT": True} if strides[1] == H * strides[2] and strides[2] == W * strides[3] else {}),
        **({"NR_B": nr_b} if nr_b else {}),
        **({"EVEN_D": True} if knobs["even_d"] and D % block_d == 0 else {}),
        **({"GRAD2D": True} if knobs["grad2d"] else {}),
        **({"GRAD_GRAM": True} if grad_gram else {}),
    )  # fmt: skip
    ints = (B + 1 if counter else B, T, H, W, D, ntile, ntok, d_per_split, *strides)
    site = Site(_window_band_kernel, **kwargs)
    return (splits, ntok, ncol), (programs, splits), ints, site, grad_gram


def _launch_band(
    x, squeeze, spatial_window, temporal_window, past_window, tau,
    block_d, splits, block_m, num_warps, num_stages, minmax=None, x_address=None, tune=(),
):  # fmt: skip
    """Launcher of ``_window_band_kernel`` then the finish kernel (shape-only choices, no sync);
    ``x_address``: the kernel reads the features at the address it holds (``X_INDIRECT``);
    ``tune``: sorted ``(name, bool)`` pairs (:data:`BAND_TUNING`)."""
    partial, grad_gram = _band(
        x, spatial_window, temporal_window, past_window, block_d, splits, block_m, num_warps,
        num_stages, minmax, x_address, tune,
    )  # fmt: skip
    return _finish(
        partial, x.shape, squeeze, spatial_window, temporal_window, past_window, tau, minmax,
        grad_gram=grad_gram,
    )  # fmt: skip


def _band(
    x, spatial_window, temporal_window, past_window, block_d, splits, block_m, num_warps,
    num_stages, minmax, x_address, tune, counter=False,
):  # fmt: skip
    """The band kernel's launch (:func:`_video_band_plan`): its ``[S, N, C]`` float32 partials
    and whether they leave the gradient to the finish pass (``GRAD_GRAM``); ``minmax`` (or None)
    is readied by it, and with ``counter`` it is ``[B + 1, 4]``."""
    pshape, grid, ints, site, grad_gram = _video_band_plan(
        x.shape, x.stride(), x.dtype, x.device, spatial_window, temporal_window, past_window,
        block_d, splits, block_m, num_warps, num_stages, minmax is not None, x_address is not None,
        tune, counter,
    )  # fmt: skip
    partial = torch.empty(*pshape, dtype=torch.float32, device=x.device)  # [S, N, C]
    src = x if x_address is None else x_address
    mm = partial if minmax is None else minmax
    site(grid, src, partial, mm, *ints, src, 0, 0, 0, 0, 0, 0, 1)
    return partial, grad_gram


def band_partials_triton(
    x: torch.Tensor,
    spatial_window: int,
    temporal_window: int,
    past_window: int,
    counted: torch.Tensor,
    x_address: torch.Tensor | None = None,
) -> tuple[torch.Tensor, bool]:
    """The band kernel alone, for :mod:`.scores`' finish-and-score kernel: the ``[S, N, C]``
    float32 partials of ``x`` ``[B, T, H, W, D]`` (no finish pass) and whether they leave the
    gradient to the finish pass (``GRAD_GRAM``: pass it on); ``counted`` ``[B + 1, 4]``
    int32 (any contents) is readied by the kernel: rows ``[:B]`` as the extremes buffer of
    :func:`window_entropy_and_gradient_triton`'s ``minmax``, entry ``[B, 1]`` zeroed (the count
    of finished blocks). The library's default launch geometry (the same plan as the two-pass
    call, so the same partials)."""
    return _band(
        x, spatial_window, temporal_window, past_window, None, None, None, None, None, counted,
        x_address, (), counter=True,
    )  # fmt: skip


def stream_window_entropy_and_gradient_triton(
    frame: torch.Tensor,
    ring: torch.Tensor | None,
    head: int,
    held: int,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(Ĥ, G, n)`` of the newest frame of a window whose past frames sit in a ring buffer: what
    :func:`window_entropy_and_gradient_triton` gives for the last frame of the stacked window
    ``[past frames (oldest first), frame]``, up to float32 rounding, computed for that frame only
    and without stacking the window (the streaming path, one push per frame); ``n`` counts the
    NaN/inf values of each stream's frame (a stream's check, at no extra launch).

    Args:
        frame: raw features of the new frame (any strides).
        ring: ``[B, S, H, W, D]`` past frames of the same dtype and device, the frame ``a``
            frames back in slot ``(head − a + 1) mod S`` (``a = 1 .. held``); None when
            ``held`` is 0.
        head: slot of the previous frame.
        held: past frames in the window (``<= min(S, temporal_window − 1)``).

    Shapes:
        frame: [B, H, W, D], ring: [B, S, H, W, D]  ->  two [B, 1, H, W] float32, n [B] int32
    """
    _check(frame[:, None], spatial_window, temporal_window, past_window, tau)
    B, H, W, D = frame.shape
    nslot = 1 if ring is None else ring.shape[1]
    if not 0 <= held <= min(temporal_window - 1, 0 if ring is None else nslot):
        raise ValueError(f"held must be in [0, min(S, temporal_window − 1)], got {held}")
    if ring is not None and (
        ring.shape[0] != B or ring.shape[2:] != frame.shape[1:] or ring.dtype != frame.dtype
    ):
        raise ValueError(
            f"ring {tuple(ring.shape)} {ring.dtype} does not hold frames like "
            f"{tuple(frame.shape)} {frame.dtype}"
        )
    T = held + 1
    noff = _neighbours(spatial_window, temporal_window, past_window)
    ncol = _pow2(noff + 4)  # dots and ‖x‖², the two gradient sums, the NaN/inf count
    block_m, block_d, nr, ntile, ntok, programs, splits, d_per_split, _ = _band_plan(
        B, H * W, D, W, frame.dtype.itemsize, frame.device, spatial_window, temporal_window,
        past_window, 2 * ncol,
    )  # fmt: skip
    partial = torch.empty(splits, ntok, 2 * ncol, dtype=torch.float32, device=frame.device)
    sb, sh, sw, sd = frame.stride()
    y = frame if ring is None else ring
    ys = (0, 0, 0, 0, 0) if ring is None else ring.stride()
    odd = torch.empty(B, dtype=torch.int32, device=frame.device)
    launch(
        _window_band_kernel, (programs, splits),
        frame, partial, odd, B, T, H, W, D, ntile, ntok, d_per_split, sb, 0, sh, sw, sd,
        y, *ys, head, nslot,
        K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
        BLOCK_M=block_m, BLOCK_D=block_d, NR=nr, IEEE=frame.dtype == torch.float32,
        MINMAX=False, STREAM=True, num_warps=8 if block_m * nr >= 16384 else 4, num_stages=2,
    )  # fmt: skip
    entropy, grad = _finish(
        partial, (B, T, H, W, D), False, spatial_window, temporal_window, past_window, tau,
        counts=odd,
    )  # fmt: skip
    return entropy, grad, odd


def local_window_entropy_triton(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    chunk_elements: int | None = None,
) -> torch.Tensor:
    """Triton twin of :func:`entropy_select.core.entropy.local_window_entropy` (Eq. 1-2).

    ``chunk_elements`` is accepted for signature parity and ignored (the kernel streams).

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W] float32
    """
    return window_entropy_and_gradient_triton(
        features, spatial_window, temporal_window, past_window, tau
    )[0]


def spatial_gradient_magnitude_triton(
    features: torch.Tensor, *, chunk_elements: int | None = None
) -> torch.Tensor:
    """Triton twin of :func:`entropy_select.core.gradient.spatial_gradient_magnitude` (Eq. 3).

    Runs the fused kernel with a 1×1 window and one frame (no neighbours), i.e. the gradient only.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  [T, H, W] or [B, T, H, W] float32
    """
    return window_entropy_and_gradient_triton(features, 1, 1, 1, 1.0)[1]

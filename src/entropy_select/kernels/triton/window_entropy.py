"""Triton twins of the window entropy (SPEC §1, Eq. 1-2) and the gradient saliency (SPEC §2, Eq. 3).

Reads top to bottom like the Triton fused-softmax tutorial: the two kernels, then the launchers.
The references are :func:`entropy_select.core.entropy.local_window_entropy` and
:func:`entropy_select.core.gradient.spatial_gradient_magnitude`; the launchers here take the same
arguments and return the same values (float32, up to rounding).

Two passes, neither of which materialises the ``[N, neighbours, D]`` tensor. The first pass has
three variants: ``_window_band_kernel`` (the default, described in its docstring: 32 raster-order
tokens against the contiguous bands of flat tokens holding their neighbours, on tensor cores),
``_window_gram_kernel`` (one frame row against stacked neighbour row segments) and the first
version, ``_window_dots_kernel``, described here; measured times in benchmarks/NOTES_gpu.md.

1. ``_window_dots_kernel`` — one program per (video, frame, row, block of columns) and slice of
   channels. It streams the channels in ``BLOCK_D`` chunks; for each chunk it loads the centre
   tokens once and each of the ``(k² − 1) + (K_t − 1)·k_p²`` neighbour tiles (masked at the
   borders and before frame 0, so nothing is padded), and accumulates in float32 the raw dot
   products, the centre's squared norm and the two squared gradient differences of SPEC §2
   (the gradient is fused here: its four neighbours are already in cache). The chunk loop is the
   inner reduction, so a few tens of KB of neighbour rows are live at a time and each feature
   byte comes from DRAM about once. Output: ``[S, N, C]`` float32 partial sums (``S`` channel
   slices, so that short videos still fill the GPU; ``C`` = neighbours + 3, padded to 2^k).
2. ``_window_entropy_finish_kernel`` — one program per block of tokens: sums the slices, turns
   dot products into cosines with the neighbours' norms (read from the same buffer), and computes
   ``H = log Z + m − Σ e·l / Z`` with ``m`` the running maximum (the softmax never overflows), then
   ``Ĥ = H / log n`` and ``G = sqrt(s_x‖Δx‖² + s_y‖Δy‖²)`` (``s = 1/4`` for central differences).

Extra memory: the ``[S, N, C]`` buffer (``C = 64`` floats a token for the default windows), which
is 256·S bytes a token against ``2·D`` bytes a token of bf16 input.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from ...core.entropy import check_window_args

__all__ = [
    "local_window_entropy_triton",
    "spatial_gradient_magnitude_triton",
    "window_entropy_and_gradient_triton",
]


@triton.jit
def _window_dots_kernel(
    x_ptr,
    p_ptr,
    T,
    H,
    W,
    D,
    NJB,
    NTOK,
    d_per_split,
    stride_b,
    stride_t,
    stride_h,
    stride_w,
    stride_d,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_W: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Partial sums of one row block over one channel slice: dots, ‖x‖², ‖Δx‖², ‖Δy‖²."""
    pid = tl.program_id(0)
    split = tl.program_id(1)
    jb = pid % NJB
    row = pid // NJB  # (b*T + t)*H + i
    i = row % H
    bt = row // H
    t = bt % T
    b = bt // T
    j = jb * BLOCK_W + tl.arange(0, BLOCK_W)  # [BW] columns of the centre tokens
    jm = j < W
    zero = tl.zeros((BLOCK_W,), dtype=tl.int32)  # row/frame tests as [BW] tensors (interpreter)
    cols = tl.arange(0, NCOL)
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    CENTER: tl.constexpr = (K_S * K_S) // 2
    NS: tl.constexpr = K_S * K_S - 1

    video = x_ptr + b.to(tl.int64) * stride_b
    frame = video + t.to(tl.int64) * stride_t
    # Gradient neighbours, clamped at the edges (one-sided differences there, SPEC §2).
    jr = tl.minimum(j + 1, W - 1)
    jl = tl.maximum(j - 1, 0)
    ir = tl.minimum(i + 1, H - 1)
    il = tl.maximum(i - 1, 0)

    acc = tl.zeros((BLOCK_W, NCOL), dtype=tl.float32)  # [BW, C]
    d_lo = split * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    for d0 in range(d_lo, d_hi, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        dm = d < d_hi
        dofs = d[None, :].to(tl.int64) * stride_d  # [1, BD]
        m2 = jm[:, None] & dm[None, :]
        c = tl.load(frame + i * stride_h + j[:, None] * stride_w + dofs, mask=m2, other=0.0)
        c = c.to(tl.float32)  # [BW, BD]
        acc += tl.where(cols[None, :] == NOFF, tl.sum(c * c, 1)[:, None], 0.0)
        # Current frame: the k×k window without the centre (offsets 0 .. k²−2).
        for s in tl.static_range(K_S * K_S):
            if s != CENTER:
                a = s // K_S - R
                bb = s % K_S - R
                ii = zero + (i + a)
                jj = j + bb
                ok = jm & (jj >= 0) & (jj < W) & (ii >= 0) & (ii < H)
                nb = tl.load(
                    frame + (i + a) * stride_h + jj[:, None] * stride_w + dofs,
                    mask=ok[:, None] & dm[None, :],
                    other=0.0,
                ).to(tl.float32)
                o = s if s < CENTER else s - 1
                acc += tl.where(cols[None, :] == o, tl.sum(c * nb, 1)[:, None], 0.0)
        # Past frames: the k_p×k_p window at the same place, the same position included.
        for dt in tl.static_range(1, K_T):
            past = video + (t - dt).to(tl.int64) * stride_t
            for s in tl.static_range(K_P * K_P):
                a = s // K_P - RP
                bb = s % K_P - RP
                ii = zero + (i + a)
                jj = j + bb
                ok = jm & (jj >= 0) & (jj < W) & (ii >= 0) & (ii < H) & ((zero + t) >= dt)
                nb = tl.load(
                    past + (i + a) * stride_h + jj[:, None] * stride_w + dofs,
                    mask=ok[:, None] & dm[None, :],
                    other=0.0,
                ).to(tl.float32)
                o = NS + (dt - 1) * K_P * K_P + s
                acc += tl.where(cols[None, :] == o, tl.sum(c * nb, 1)[:, None], 0.0)
        # Fused gradient (Eq. 3): x[j+1] − x[j−1] and x[i+1] − x[i−1] on raw features.
        xr = tl.load(frame + i * stride_h + jr[:, None] * stride_w + dofs, mask=m2, other=0.0)
        xl = tl.load(frame + i * stride_h + jl[:, None] * stride_w + dofs, mask=m2, other=0.0)
        gx = xr.to(tl.float32) - xl.to(tl.float32)
        acc += tl.where(cols[None, :] == NOFF + 1, tl.sum(gx * gx, 1)[:, None], 0.0)
        xd = tl.load(frame + ir * stride_h + j[:, None] * stride_w + dofs, mask=m2, other=0.0)
        xu = tl.load(frame + il * stride_h + j[:, None] * stride_w + dofs, mask=m2, other=0.0)
        gy = xd.to(tl.float32) - xu.to(tl.float32)
        acc += tl.where(cols[None, :] == NOFF + 2, tl.sum(gy * gy, 1)[:, None], 0.0)

    tok = row.to(tl.int64) * W + j  # flat token index (b*T + t)*H*W + i*W + j
    out = p_ptr + split * NTOK * NCOL + tok[:, None] * NCOL + cols[None, :]
    tl.store(out, acc, mask=jm[:, None])


@triton.jit
def _window_gram_kernel(
    x_ptr,
    p_ptr,
    T,
    H,
    W,
    D,
    NJB,
    NTOK,
    d_per_split,
    stride_b,
    stride_t,
    stride_h,
    stride_w,
    stride_d,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_W: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NB: tl.constexpr,
    NROWS: tl.constexpr,
    IEEE: tl.constexpr,
):
    """Like ``_window_dots_kernel`` but on tensor cores: one product per chunk.

    The centre tokens ``[BW, BD]`` are multiplied by every neighbour row segment at once
    (``NROWS`` rows — k of the current frame, k_p of each past frame — of ``NB`` columns each,
    stacked to ``[NROWS·NB, BD]``); the needed dot products are diagonals of the result, picked
    once after the channel loop with ``tl.gather``. No cross-thread reduction per neighbour.
    """
    pid = tl.program_id(0)
    split = tl.program_id(1)
    jb = pid % NJB
    row = pid // NJB  # (b*T + t)*H + i
    i = row % H
    bt = row // H
    t = bt % T
    b = bt // T
    j0 = jb * BLOCK_W
    j = j0 + tl.arange(0, BLOCK_W)  # [BW]
    jm = j < W
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    RM: tl.constexpr = R if R > RP else RP
    CENTER: tl.constexpr = (K_S * K_S) // 2
    NS: tl.constexpr = K_S * K_S - 1
    PP: tl.constexpr = K_P * K_P

    # Stacked neighbour rows: stacked row r -> (dt, a); columns j0 − RM + c, c < NB.
    rc = tl.arange(0, NROWS * NB)
    r = rc // NB
    q = tl.maximum(r - K_S, 0)
    r_dt = tl.where(r < K_S, 0, q // K_P + 1)
    r_a = tl.where(r < K_S, r - R, q % K_P - RP)
    n_rows_used = K_S + (K_T - 1) * K_P
    n_i = i + r_a
    n_t = t - r_dt
    n_j = j0 - RM + rc % NB
    n_ok = (r < n_rows_used) & (n_i >= 0) & (n_i < H) & (n_j >= 0) & (n_j < W) & (n_t >= 0)
    video = x_ptr + b.to(tl.int64) * stride_b
    n_off = n_t.to(tl.int64) * stride_t + n_i * stride_h + n_j * stride_w  # [NROWS*NB]
    frame = video + t.to(tl.int64) * stride_t
    jr = tl.minimum(j + 1, W - 1)
    jl = tl.maximum(j - 1, 0)
    ir = tl.minimum(i + 1, H - 1)
    il = tl.maximum(i - 1, 0)

    gram = tl.zeros((BLOCK_W, NROWS * NB), dtype=tl.float32)
    g2 = tl.zeros((BLOCK_W,), dtype=tl.float32)
    h2 = tl.zeros((BLOCK_W,), dtype=tl.float32)
    d_lo = split * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    for d0 in range(d_lo, d_hi, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        dm = d < d_hi
        dofs = d[None, :].to(tl.int64) * stride_d
        m2 = jm[:, None] & dm[None, :]
        c = tl.load(frame + i * stride_h + j[:, None] * stride_w + dofs, mask=m2, other=0.0)
        nb = tl.load(video + n_off[:, None] + dofs, mask=n_ok[:, None] & dm[None, :], other=0.0)
        if IEEE:
            gram = tl.dot(c, tl.trans(nb), gram, input_precision="ieee")
        else:
            gram = tl.dot(c, tl.trans(nb), gram)
        xr = tl.load(frame + i * stride_h + jr[:, None] * stride_w + dofs, mask=m2, other=0.0)
        xl = tl.load(frame + i * stride_h + jl[:, None] * stride_w + dofs, mask=m2, other=0.0)
        gx = xr.to(tl.float32) - xl.to(tl.float32)
        g2 += tl.sum(gx * gx, 1)
        xd = tl.load(frame + ir * stride_h + j[:, None] * stride_w + dofs, mask=m2, other=0.0)
        xu = tl.load(frame + il * stride_h + j[:, None] * stride_w + dofs, mask=m2, other=0.0)
        gy = xd.to(tl.float32) - xu.to(tl.float32)
        h2 += tl.sum(gy * gy, 1)

    # Column of the Gram product holding each (token, offset) dot: row(o)·NB + (j − j0) + RM + Δj.
    cols = tl.arange(0, NCOL)
    s_sp = tl.where(cols < CENTER, cols, cols + 1)
    qq = tl.maximum(cols - NS, 0)
    is_sp = cols < NS
    o_row = tl.where(is_sp, s_sp // K_S, K_S + (qq // PP) * K_P + (qq % PP) // K_P)
    o_dj = tl.where(is_sp, s_sp % K_S - R, (qq % PP) % K_P - RP)
    o_row = tl.where(cols == NOFF, R, o_row)  # ‖x‖²: the centre row, Δj = 0
    o_dj = tl.where(cols == NOFF, 0, o_dj)
    o_row = tl.where(cols <= NOFF, o_row, 0)
    o_dj = tl.where(cols <= NOFF, o_dj, 0)
    jl_ = tl.arange(0, BLOCK_W)
    idx = o_row[None, :] * NB + jl_[:, None] + RM + o_dj[None, :]  # [BW, C]
    acc = tl.gather(gram, idx, 1)
    acc = tl.where(cols[None, :] <= NOFF, acc, 0.0)
    acc = tl.where(cols[None, :] == NOFF + 1, g2[:, None], acc)
    acc = tl.where(cols[None, :] == NOFF + 2, h2[:, None], acc)
    tok = row.to(tl.int64) * W + j
    out = p_ptr + split * NTOK * NCOL + tok[:, None] * NCOL + cols[None, :]
    tl.store(out, acc, mask=jm[:, None])


@triton.jit
def _window_band_kernel(
    x_ptr,
    p_ptr,
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
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NR: tl.constexpr,
    IEEE: tl.constexpr,
):
    """Like ``_window_gram_kernel`` but over ``BLOCK_M`` consecutive tokens in raster order.

    A video is one flat sequence of ``T·H·W`` tokens; the neighbour ``(−Δt, a, b)`` of token
    ``p`` is token ``p − Δt·H·W + a·W + b``. So the neighbours of the tile ``[p0, p0 + M)`` in
    frame offset ``Δt`` all lie in one contiguous band of ``M + 2E`` tokens (``E = r·W + r``,
    ``r`` the window radius), whatever rows or frames the tile spans. The ``K_T`` bands are
    stacked back to back into one ``[NR, BD]`` tile (no padding rows between them, so NR is the
    power of two above ``M + 2E₀ + (K_T − 1)(M + 2E_p)``), multiplied by the centre tile on tensor
    cores, and each (token, offset) dot product is picked from the ``[M, NR]`` result with
    ``tl.gather``. Dots with positions outside the window (row wrap-around, other frames) are
    computed too and discarded by the finish kernel, which knows the valid neighbours.
    """
    pid = tl.program_id(0)
    split = tl.program_id(1)
    b = pid // NTILE
    p0 = (pid % NTILE) * BLOCK_M
    m = H * W
    L = T * m  # tokens per video
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    CENTER: tl.constexpr = (K_S * K_S) // 2
    NS: tl.constexpr = K_S * K_S - 1
    PP: tl.constexpr = K_P * K_P
    E0 = R * W + R  # reach of the current-frame window in flat tokens
    EP = RP * W + RP  # reach of a past-frame window
    L0 = BLOCK_M + 2 * E0  # band lengths
    LP = BLOCK_M + 2 * EP

    # Stacked row r -> band k (Δt = k) and flat token q of the video.
    r = tl.arange(0, NR)
    k = tl.where(r < L0, 0, 1 + (r - L0) // LP)
    band0 = tl.where(k == 0, 0, L0 + (k - 1) * LP)
    reach = tl.where(k == 0, E0, EP)
    q = p0 - k * m - reach + (r - band0)
    r_ok = (r < L0 + (K_T - 1) * LP) & (q >= 0) & (q < L)
    qc = tl.minimum(tl.maximum(q, 0), L - 1)
    qt = qc // m
    qi = (qc % m) // W
    qj = qc % W
    video = x_ptr + b.to(tl.int64) * stride_b
    n_off = qt.to(tl.int64) * stride_t + qi.to(tl.int64) * stride_h + qj.to(tl.int64) * stride_w

    # Centre tokens and their four gradient neighbours (clamped at the frame edges, SPEC §2).
    c = p0 + tl.arange(0, BLOCK_M)
    cm = c < L
    cc = tl.minimum(c, L - 1)
    ct = cc // m
    ci = (cc % m) // W
    cj = cc % W
    t_off = ct.to(tl.int64) * stride_t
    c_off = t_off + ci.to(tl.int64) * stride_h + cj.to(tl.int64) * stride_w
    row_off = t_off + ci.to(tl.int64) * stride_h
    col_off = t_off + cj.to(tl.int64) * stride_w
    xr_off = row_off + tl.minimum(cj + 1, W - 1).to(tl.int64) * stride_w
    xl_off = row_off + tl.maximum(cj - 1, 0).to(tl.int64) * stride_w
    xd_off = col_off + tl.minimum(ci + 1, H - 1).to(tl.int64) * stride_h
    xu_off = col_off + tl.maximum(ci - 1, 0).to(tl.int64) * stride_h

    gram = tl.zeros((BLOCK_M, NR), dtype=tl.float32)
    g2 = tl.zeros((BLOCK_M,), dtype=tl.float32)
    h2 = tl.zeros((BLOCK_M,), dtype=tl.float32)
    d_lo = split * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    for d0 in range(d_lo, d_hi, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        dm = d < d_hi
        dofs = d[None, :].to(tl.int64) * stride_d
        m2 = cm[:, None] & dm[None, :]
        xc = tl.load(video + c_off[:, None] + dofs, mask=m2, other=0.0)
        nb = tl.load(video + n_off[:, None] + dofs, mask=r_ok[:, None] & dm[None, :], other=0.0)
        if IEEE:
            gram = tl.dot(xc, tl.trans(nb), gram, input_precision="ieee")
        else:
            gram = tl.dot(xc, tl.trans(nb), gram)
        xr = tl.load(video + xr_off[:, None] + dofs, mask=m2, other=0.0)
        xl = tl.load(video + xl_off[:, None] + dofs, mask=m2, other=0.0)
        gx = xr.to(tl.float32) - xl.to(tl.float32)
        g2 += tl.sum(gx * gx, 1)
        xd = tl.load(video + xd_off[:, None] + dofs, mask=m2, other=0.0)
        xu = tl.load(video + xu_off[:, None] + dofs, mask=m2, other=0.0)
        gy = xd.to(tl.float32) - xu.to(tl.float32)
        h2 += tl.sum(gy * gy, 1)

    # Column of the Gram product for (token c, offset o): band(o) start + c + reach + a·W + b.
    cols = tl.arange(0, NCOL)
    s_sp = tl.where(cols < CENTER, cols, cols + 1)
    qq = tl.maximum(cols - NS, 0)
    is_sp = cols < NS
    o_a = tl.where(is_sp, s_sp // K_S - R, (qq % PP) // K_P - RP)
    o_b = tl.where(is_sp, s_sp % K_S - R, (qq % PP) % K_P - RP)
    o_k = tl.where(is_sp, 0, qq // PP + 1)
    o_col = tl.where(o_k == 0, E0, L0 + (o_k - 1) * LP + EP) + o_a * W + o_b
    o_col = tl.where(cols == NOFF, E0, o_col)  # ‖x‖²: offset 0 in the current band
    o_col = tl.where(cols <= NOFF, o_col, 0)
    idx = o_col[None, :] + tl.arange(0, BLOCK_M)[:, None]  # [M, C], always inside the bands
    acc = tl.gather(gram, idx, 1)
    acc = tl.where(cols[None, :] <= NOFF, acc, 0.0)
    acc = tl.where(cols[None, :] == NOFF + 1, g2[:, None], acc)
    acc = tl.where(cols[None, :] == NOFF + 2, h2[:, None], acc)
    tok = b.to(tl.int64) * L + c  # flat token index b·T·H·W + p
    out = p_ptr + split * NTOK * NCOL + tok[:, None] * NCOL + cols[None, :]
    tl.store(out, acc, mask=cm[:, None])


@triton.jit
def _window_entropy_finish_kernel(
    p_ptr,
    ent_ptr,
    grad_ptr,
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
):
    """Cosines, normalised softmax entropy (Eq. 2) and gradient magnitude (Eq. 3) per token."""
    pid = tl.program_id(0)
    tok = pid * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN]
    tm = tok < NTOK
    tok64 = tok.to(tl.int64)
    j = tok % W
    i = (tok // W) % H
    t = (tok // (W * H)) % T
    bt = tok // (W * H)  # b*T + t
    cols = tl.arange(0, NCOL)  # [C]
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    CENTER: tl.constexpr = (K_S * K_S) // 2
    NS: tl.constexpr = K_S * K_S - 1
    PP: tl.constexpr = K_P * K_P

    # Offset (Δt, Δi, Δj) of each column, the inverse of the kernel above's numbering.
    s_sp = tl.where(cols < CENTER, cols, cols + 1)
    q = tl.maximum(cols - NS, 0)
    is_sp = cols < NS
    da = tl.where(is_sp, s_sp // K_S - R, (q % PP) // K_P - RP)
    db = tl.where(is_sp, s_sp % K_S - R, (q % PP) % K_P - RP)
    dt = tl.where(is_sp, 0, q // PP + 1)
    ii = i[:, None] + da[None, :]  # [BN, C]
    jj = j[:, None] + db[None, :]
    tt = t[:, None] - dt[None, :]
    valid = (cols[None, :] < NOFF) & tm[:, None]
    valid = valid & (ii >= 0) & (ii < H) & (jj >= 0) & (jj < W) & (tt >= 0)
    nbr = ((bt[:, None] - dt[None, :]).to(tl.int64) * H + ii) * W + jj  # [BN, C]

    own = tl.zeros((BLOCK_N, NCOL), dtype=tl.float32)
    nsq = tl.zeros((BLOCK_N, NCOL), dtype=tl.float32)
    for s in range(SPLITS):
        base = p_ptr + s * NTOK * NCOL  # < 2**31, checked by the launcher
        own += tl.load(base + tok64[:, None] * NCOL + cols[None, :], mask=tm[:, None], other=0.0)
        nsq += tl.load(base + nbr * NCOL + NOFF, mask=valid, other=0.0)
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

    gx = tl.sum(tl.where(cols[None, :] == NOFF + 1, own, 0.0), 1)
    gy = tl.sum(tl.where(cols[None, :] == NOFF + 2, own, 0.0), 1)
    sx = tl.where((j > 0) & (j < W - 1), 0.25, 1.0)
    sy = tl.where((i > 0) & (i < H - 1), 0.25, 1.0)
    grad = tl.sqrt(sx * gx + sy * gy)
    tl.store(ent_ptr + tok64, ent, mask=tm)
    tl.store(grad_ptr + tok64, grad, mask=tm)


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
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    chunks = -(-D // block_d)
    return max(1, min(chunks, -(-sms // programs)))


def window_entropy_and_gradient_triton(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    block_d: int | None = None,
    splits: int | None = None,
    variant: str = "band",
    block_m: int | None = None,
    num_warps: int | None = None,
    num_stages: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Ĥ, G)`` in one pass over the features: the fused Triton path of SPEC §1-2.

    Args:
        features: raw token features, float16/bfloat16/float32, any strides, on a CUDA device
            (or on the CPU under ``TRITON_INTERPRET=1``).
        spatial_window, temporal_window, past_window, tau: as :func:`local_window_entropy`.
        block_d: channels per inner chunk (a power of two; default 64 for "band"/"gram", 128 for
            "dots").
        variant: ``"band"`` (tensor-core products of ``block_m`` raster-order tokens with the
            contiguous bands of flat tokens that hold all their neighbours; the default),
            ``"gram"`` (one row of a frame against its stacked neighbour row segments) or
            ``"dots"`` (one masked row-wise dot product per neighbour and chunk).
        splits: channel slices (default: enough programs to fill the GPU; shape-only, no sync).
        block_m, num_warps, num_stages: tuning of the "band" kernel (tokens per program, default
            32; Triton's warps and pipeline depth); for benchmarks, the defaults are the measured
            best (benchmarks/NOTES_gpu.md).

    Returns:
        ``Ĥ`` (Eq. 2, normalised by ``log n``) and the raw gradient magnitude ``G`` (Eq. 3), both
        float32.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  two [T, H, W] or [B, T, H, W]
    """
    _check(features, spatial_window, temporal_window, past_window, tau)
    squeeze = features.dim() == 4
    x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
    B, T, H, W, D = x.shape
    noff = spatial_window**2 - 1 + (temporal_window - 1) * past_window**2
    ncol = triton.next_power_of_2(noff + 3)
    if variant not in ("band", "gram", "dots"):
        raise ValueError(f"variant must be 'band', 'gram' or 'dots', got {variant!r}")
    if variant == "band":
        return _launch_band(
            x, squeeze, spatial_window, temporal_window, past_window, tau, noff, ncol,
            block_d, splits, block_m, num_warps, num_stages,
        )  # fmt: skip
    block_w = min(32, triton.next_power_of_2(W))
    rm = max(spatial_window, past_window) // 2
    nrows = triton.next_power_of_2(spatial_window + (temporal_window - 1) * past_window)
    if variant == "gram":
        block_w = max(16, block_w)  # tl.dot needs M >= 16
    nb = max(16, triton.next_power_of_2(block_w + 2 * rm))
    if block_d is None:
        if variant == "gram":  # keep one stage of the stacked neighbour tile within 64 KB
            block_d = max(16, min(64, (64 << 10) // (nrows * nb * x.element_size())))
        else:
            block_d = 128
    njb = -(-W // block_w)
    ntok = B * T * H * W
    programs = B * T * H * njb
    if splits is None:
        splits = _splits(programs, D, block_d, x.device)
    per_split = -(-D // splits)  # ceil(D / S)
    d_per_split = -(-per_split // block_d) * block_d  # rounded up to a multiple of BLOCK_D
    splits = -(-D // d_per_split)
    if splits * ntok * ncol >= 2**31:
        raise ValueError(f"too many tokens for one launch ({ntok}); split the batch")
    partial = torch.empty(splits, ntok, ncol, dtype=torch.float32, device=x.device)  # [S, N, C]
    if variant == "dots":
        _window_dots_kernel[(programs, splits)](
            x, partial, T, H, W, D, njb, ntok, d_per_split,
            *x.stride(),
            K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
            BLOCK_W=block_w, BLOCK_D=block_d, num_warps=4,
        )  # fmt: skip
    else:
        _window_gram_kernel[(programs, splits)](
            x, partial, T, H, W, D, njb, ntok, d_per_split,
            *x.stride(),
            K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
            BLOCK_W=block_w, BLOCK_D=block_d, NB=nb, NROWS=nrows,
            IEEE=x.dtype == torch.float32, num_warps=8 if nrows * nb >= 512 else 4, num_stages=2,
        )  # fmt: skip
    return _finish(partial, x.shape, squeeze, spatial_window, temporal_window, past_window, tau)


def _finish(partial, shape, squeeze, spatial_window, temporal_window, past_window, tau):
    """Run the finish kernel on the ``[S, N, C]`` partial sums: ``(Ĥ, G)``, float32."""
    B, T, H, W, _ = shape
    splits, ntok, ncol = partial.shape
    noff = spatial_window**2 - 1 + (temporal_window - 1) * past_window**2
    entropy = torch.empty(B, T, H, W, dtype=torch.float32, device=partial.device)
    grad = torch.empty(B, T, H, W, dtype=torch.float32, device=partial.device)
    block_n = 32
    _window_entropy_finish_kernel[(triton.cdiv(ntok, block_n),)](
        partial, entropy, grad, T, H, W, ntok, splits, 1.0 / tau,
        K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
        BLOCK_N=block_n, num_warps=4,
    )  # fmt: skip
    if squeeze:
        return entropy[0], grad[0]
    return entropy, grad


def _launch_band(
    x, squeeze, spatial_window, temporal_window, past_window, tau, noff, ncol,
    block_d, splits, block_m, num_warps, num_stages,
):  # fmt: skip
    """Launcher of ``_window_band_kernel`` then the finish kernel (shape-only choices, no sync)."""
    B, T, H, W, D = x.shape
    block_m = 32 if block_m is None else block_m
    r, rp = spatial_window // 2, past_window // 2
    rows = block_m + 2 * (r * W + r) + (temporal_window - 1) * (block_m + 2 * (rp * W + rp))
    nr = max(16, triton.next_power_of_2(rows))
    if block_d is None:  # keep one stage of the stacked neighbour tile within 64 KB
        block_d = max(16, min(64, (64 << 10) // (nr * x.element_size())))
    ntile = -(-(T * H * W) // block_m)
    ntok = B * T * H * W
    programs = B * ntile
    if splits is None:
        splits = _splits(programs, D, block_d, x.device)
    per_split = -(-D // splits)
    d_per_split = -(-per_split // block_d) * block_d
    splits = -(-D // d_per_split)
    if splits * ntok * ncol >= 2**31:
        raise ValueError(f"too many tokens for one launch ({ntok}); split the batch")
    partial = torch.empty(splits, ntok, ncol, dtype=torch.float32, device=x.device)  # [S, N, C]
    if num_warps is None:
        num_warps = 8 if block_m * nr >= 16384 else 4
    _window_band_kernel[(programs, splits)](
        x, partial, T, H, W, D, ntile, ntok, d_per_split,
        *x.stride(),
        K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
        BLOCK_M=block_m, BLOCK_D=block_d, NR=nr, IEEE=x.dtype == torch.float32,
        num_warps=num_warps, num_stages=2 if num_stages is None else num_stages,
    )  # fmt: skip
    return _finish(partial, x.shape, squeeze, spatial_window, temporal_window, past_window, tau)


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


_ = math  # kept for readers porting the launcher: ceil arithmetic above is integer-only

"""Research variants of the window-entropy first pass, kept for the profiling scripts only.

The library (``entropy_select.kernels.triton.window_entropy``) runs one first-pass kernel,
``_window_band_kernel``; this module holds the two it was measured against, so that
``profile_window.py`` and ``profile_gpu.py`` can still reproduce the comparison in
``NOTES_gpu.md``. Both write the same ``[S, N, C]`` float32 partial sums as the band kernel and
reuse the library's finish kernel, so every variant returns the library's ``(Ĥ, G)``.

* ``_window_dots_kernel`` (the first version) — one program per (video, frame, row, block of
  columns) and slice of channels. It streams the channels in ``BLOCK_D`` chunks; for each chunk
  it loads the centre tokens once and each of the ``(k² − 1) + (K_t − 1)·k_p²`` neighbour tiles
  (masked at the borders and before frame 0, so nothing is padded), and accumulates in float32
  the raw dot products, the centre's squared norm and the two squared gradient differences of
  SPEC §2.
* ``_window_gram_kernel`` — one frame row against its stacked neighbour row segments, on tensor
  cores.
* ``_window_tma_kernel`` (variant ``"tma"``, Round 16) — the band kernel's ``GRAD_GRAM`` work
  with its tiles read by the bulk tensor copy engine (TMA, Hopper and later; needs
  ``triton.tools.tensor_descriptor``): each band of the window is one box (or two) of the
  video's ``[L, D]`` token matrix, multiplied by the centre tile on its own; a persistent grid
  by default. The same partials as the band kernel, so it returns the library's ``(Ĥ, G)``.
  Measured on an H200 against the library: 0.85-0.90x at 14x14 frames, 1.5-2x slower at 16x16
  and 27x27 (``NOTES_gpu.md``, Round 16); not taken.

Usage (GPU, or the CPU under ``TRITON_INTERPRET=1``)::

    from window_variants import window_entropy_and_gradient_variant
    ent, grad = window_entropy_and_gradient_variant(x, variant="gram")
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from entropy_select.kernels.triton.window_entropy import (
    _band_plan,
    _band_rows_count,
    _band_tiles,
    _check,
    _column_offsets,
    _finish,
    _gram_step,
    _neighbours,
    _pow2,
    _sm_count,
    _splits,
    window_entropy_and_gradient_triton,
)

__all__ = ["VARIANTS", "window_entropy_and_gradient_variant"]

#: "band" is the library's kernel; the others live here
VARIANTS = ("band", "gram", "dots", "tma")


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
def _tma_band_dot(desc, b, s, d0, xc, gram, ROWS: tl.constexpr, BLOCK_D: tl.constexpr,
                  IEEE: tl.constexpr):  # fmt: skip
    """``gram + xc · bandᵀ`` for the ``ROWS`` flat tokens from ``s`` of video ``b`` (one bulk
    tensor copy; rows outside the video read 0)."""
    nb = desc.load([b, s, d0]).reshape(ROWS, BLOCK_D)
    return _gram_step(xc, nb, gram, IEEE)


@triton.jit
def _tma_band_pick(ga, gb, idx, PA: tl.constexpr, PB: tl.constexpr):
    """The values at columns ``idx`` of a band held in tiles of ``PA`` then ``PB`` rows."""
    if PB > 0:
        return tl.where(
            idx < PA,
            tl.gather(ga, tl.minimum(idx, PA - 1), 1),
            tl.gather(gb, tl.minimum(tl.maximum(idx - PA, 0), PB - 1), 1),
        )
    return tl.gather(ga, tl.minimum(idx, PA - 1), 1)


@triton.jit
def _window_tma_kernel(
    c_desc,
    d0a,
    d0b,
    dpa,
    dpb,
    p_ptr,
    T,
    H,
    W,
    D,
    NTILE,
    NTOK,
    d_per_split,
    NWORK,
    SPLITS,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
    P0A: tl.constexpr,
    P0B: tl.constexpr,
    PPA: tl.constexpr,
    PPB: tl.constexpr,
    IEEE: tl.constexpr,
):
    """The band kernel's partials (``GRAD_GRAM``: no gradient sums) through bulk tensor copies.

    Work item ``w``: tile ``w // SPLITS`` (video ``b``, ``BLOCK_M`` tokens from ``p0``) and
    channel slice ``w % SPLITS``; each program takes every ``num_programs``-th item (a
    persistent grid, or one item a program). The band of frame offset ``k`` is one or two boxes
    of ``P·A`` / ``P·B`` rows (``0``: the current frame's, else the past frames') of the
    ``[B, L, D]`` descriptors; rows before the video's first token or past its last, and channels
    past ``D``, read 0 (the copy engine's out-of-bounds fill), as the band kernel's masks do. At
    most two past frames (``K_T`` ≤ 3)."""
    m = H * W
    L = T * m
    R: tl.constexpr = K_S // 2
    RP: tl.constexpr = K_P // 2
    E0 = R * W + R
    EP = RP * W + RP
    # Column of each (token, offset) in its own band (the band kernel's numbering).
    cols = tl.arange(0, NCOL)
    o_a, o_b, o_k = _column_offsets(cols, K_S, K_P)
    o_k = tl.where(cols >= NOFF, 0, o_k)  # the centre's norm and the padding: current band
    o_col = tl.where(o_k == 0, E0, EP) + o_a * W + o_b
    o_col = tl.where(cols == NOFF, E0, o_col)  # ‖x‖²: offset 0 in the current band
    o_col = tl.where(cols <= NOFF, o_col, 0)
    idx = o_col[None, :] + tl.arange(0, BLOCK_M)[:, None]  # [M, C], inside its band

    for w in range(tl.program_id(0), NWORK, tl.num_programs(0)):
        split = w % SPLITS
        tile = w // SPLITS
        b = tile // NTILE
        p0 = (tile % NTILE) * BLOCK_M
        s0 = p0 - E0
        s1 = p0 - m - EP
        s2 = p0 - 2 * m - EP
        g0a = tl.zeros((BLOCK_M, P0A), dtype=tl.float32)
        g0b = tl.zeros((BLOCK_M, P0B if P0B > 0 else 16), dtype=tl.float32)
        g1a = tl.zeros((BLOCK_M, PPA), dtype=tl.float32)
        g1b = tl.zeros((BLOCK_M, PPB if PPB > 0 else 16), dtype=tl.float32)
        g2a = tl.zeros((BLOCK_M, PPA), dtype=tl.float32)
        g2b = tl.zeros((BLOCK_M, PPB if PPB > 0 else 16), dtype=tl.float32)
        d_lo = split * d_per_split
        d_hi = tl.minimum(d_lo + d_per_split, D)
        for d0 in range(d_lo, d_hi, BLOCK_D):
            xc = c_desc.load([b, p0, d0]).reshape(BLOCK_M, BLOCK_D)
            g0a = _tma_band_dot(d0a, b, s0, d0, xc, g0a, P0A, BLOCK_D, IEEE)
            if P0B > 0:
                g0b = _tma_band_dot(d0b, b, s0 + P0A, d0, xc, g0b, P0B, BLOCK_D, IEEE)
            if K_T > 1:
                g1a = _tma_band_dot(dpa, b, s1, d0, xc, g1a, PPA, BLOCK_D, IEEE)
                if PPB > 0:
                    g1b = _tma_band_dot(dpb, b, s1 + PPA, d0, xc, g1b, PPB, BLOCK_D, IEEE)
            if K_T > 2:
                g2a = _tma_band_dot(dpa, b, s2, d0, xc, g2a, PPA, BLOCK_D, IEEE)
                if PPB > 0:
                    g2b = _tma_band_dot(dpb, b, s2 + PPA, d0, xc, g2b, PPB, BLOCK_D, IEEE)
        acc = _tma_band_pick(g0a, g0b, idx, P0A, P0B)
        if K_T > 1:
            acc = tl.where(o_k[None, :] == 1, _tma_band_pick(g1a, g1b, idx, PPA, PPB), acc)
        if K_T > 2:
            acc = tl.where(o_k[None, :] == 2, _tma_band_pick(g2a, g2b, idx, PPA, PPB), acc)
        acc = tl.where(cols[None, :] <= NOFF, acc, 0.0)  # the gradient columns hold 0
        c = p0 + tl.arange(0, BLOCK_M)
        tok = b.to(tl.int64) * L + c
        out = p_ptr + split * NTOK * NCOL + tok[:, None] * NCOL + cols[None, :]
        tl.store(out, acc, mask=(c < L)[:, None])


def _tma_boxes(rows: int, one_box: bool) -> tuple[int, int]:
    """A band of ``rows`` rows as bulk-copy boxes ``(a, b)``, powers of two of 16 to 256 rows
    (``b`` 0: one box): one box (``one_box``, where it holds them), else the two that hold them
    in the fewest rows (the band kernel's rule for its tiles, ``_band_tiles``)."""
    if rows > 512:
        raise ValueError(f"a band of {rows} rows does not fit two bulk-copy boxes")
    a, b = _band_tiles(rows, not one_box or rows > 256)
    return (256, 256) if a > 256 else (a, b)  # 512 rows in one tile: two full boxes


def _tma_variant(x, spatial_window, temporal_window, past_window, tau, *, block_d, splits,
                 block_m, num_warps, num_stages, persistent, one_box):  # fmt: skip
    """``"tma"``: the library's launch geometry (tokens a program, channels a chunk, slices),
    :func:`_window_tma_kernel`, then the library's finish pass (gradient from the dots)."""
    from triton.tools.tensor_descriptor import TensorDescriptor

    if temporal_window > 3 or spatial_window < 5:
        raise ValueError("the tma variant takes at most two past frames and a window of 5 or more")
    x = x.contiguous()
    B, T, H, W, D = x.shape
    if (D * x.element_size()) % 16 or x.data_ptr() % 16:
        raise ValueError("the tma variant needs rows of a multiple of 16 bytes, 16-byte aligned")
    noff = _neighbours(spatial_window, temporal_window, past_window)
    ncol = _pow2(noff + 3)
    block_m, block_d, nr, ntile, ntok, programs, splits, d_per_split, nr_b = _band_plan(
        B, T * H * W, D, W, x.element_size(), x.device, spatial_window, temporal_window,
        past_window, ncol, block_m, block_d, splits, True, True,
    )  # fmt: skip
    rp = past_window // 2
    a0, b0 = _tma_boxes(_band_rows_count(block_m, W, spatial_window, 1, past_window), one_box)
    ap, bp = _tma_boxes(block_m + 2 * (rp * W + rp), one_box)
    flat = x.view(B, T * H * W, D)
    descs = {
        rows: TensorDescriptor.from_tensor(flat, [1, rows, block_d])
        for rows in {block_m, a0, max(b0, 16), ap, max(bp, 16)}
    }
    work = programs * splits
    grid = work
    if persistent is not True and persistent:  # a program count (tests: the interpreter)
        grid = min(work, int(persistent))
    elif persistent and x.device.type == "cuda":
        grid = min(work, _sm_count(x.device))
    partial = torch.empty(splits, ntok, ncol, dtype=torch.float32, device=x.device)
    if num_warps is None:
        num_warps = 8 if block_m >= 64 else 4
    _window_tma_kernel[(grid,)](
        descs[block_m], descs[a0], descs[max(b0, 16)], descs[ap], descs[max(bp, 16)], partial,
        T, H, W, D, ntile, ntok, d_per_split, work, splits,
        K_S=spatial_window, K_T=temporal_window, K_P=past_window, NOFF=noff, NCOL=ncol,
        BLOCK_M=block_m, BLOCK_D=block_d, P0A=a0, P0B=b0, PPA=ap, PPB=bp,
        IEEE=x.dtype == torch.float32, num_warps=num_warps, num_stages=num_stages or 3,
    )  # fmt: skip
    return partial


def window_entropy_and_gradient_variant(
    features: torch.Tensor,
    spatial_window: int = 5,
    temporal_window: int = 3,
    past_window: int = 3,
    tau: float = 1.0,
    *,
    variant: str = "band",
    block_d: int | None = None,
    splits: int | None = None,
    block_m: int | None = None,
    num_warps: int | None = None,
    num_stages: int | None = None,
    persistent: bool | int = True,
    one_box: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Ĥ, G)`` through one first-pass variant (``"band"`` is the library's own launcher).

    Args:
        features / windows / tau: as
            :func:`entropy_select.kernels.triton.window_entropy_and_gradient_triton`.
        variant: ``"band"`` (the library's kernel, tuned by ``block_m``/``num_warps``/
            ``num_stages``), ``"gram"``, ``"dots"`` or ``"tma"`` (the library's geometry;
            ``persistent``: one program an SM, each taking every SM-th tile, or an int, that
            many programs; ``one_box``: a
            band in one bulk-copy box wherever it fits, else in the two boxes of fewest rows).
        block_d: channels per inner chunk (default 64 for "band"/"gram", 128 for "dots").
        splits: channel slices (default: enough programs to fill the GPU).

    Returns:
        ``Ĥ`` and ``G``, float32, as the library's launcher.

    Shapes:
        features: [T, H, W, D] or [B, T, H, W, D]  ->  two [T, H, W] or [B, T, H, W]
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if variant == "band":
        return window_entropy_and_gradient_triton(
            features, spatial_window, temporal_window, past_window, tau,
            block_d=block_d, splits=splits, block_m=block_m, num_warps=num_warps,
            num_stages=num_stages,
        )  # fmt: skip
    _check(features, spatial_window, temporal_window, past_window, tau)
    squeeze = features.dim() == 4
    x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
    if variant == "tma":
        partial = _tma_variant(
            x, spatial_window, temporal_window, past_window, tau, block_d=block_d,
            splits=splits, block_m=block_m, num_warps=num_warps, num_stages=num_stages,
            persistent=persistent, one_box=one_box,
        )  # fmt: skip
        return _finish(
            partial, x.shape, squeeze, spatial_window, temporal_window, past_window, tau,
            grad_gram=True,
        )  # fmt: skip
    B, T, H, W, D = x.shape
    noff = _neighbours(spatial_window, temporal_window, past_window)
    ncol = triton.next_power_of_2(noff + 3)
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

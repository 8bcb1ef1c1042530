"""Per-frame selection, merging and token output in one Triton kernel (SPEC §5-7, §6, §6b).

Twin of :func:`entropy_select.core.select.assemble_selection` (paper §3.3): one program per frame
(and per slice of channels) replaces the core's ~15-60 small torch kernels (stable argsorts,
gathers, scatters, the final argsort over all ``N`` tokens, the token gather and the merged
means). Three modes, chosen at compile time:

- ``MODE 0`` (the paper's selection, SPEC §5): grid quotas, then the frame's top ``B_f``.
- ``MODE 1`` (grid fusion, SPEC §6; :func:`entropy_select.core.fusion.fuse_cells`): SPEC §5 on
  ``B_f − c_f`` tokens, then ``c_f`` fused cells (the largest unselected score totals), each
  anchored at its best unselected token and carrying the (score-weighted or plain) mean of its
  absorbed tokens; leftover slots take the next best unselected tokens.
- ``MODE 2`` (detail + context, :func:`entropy_select.core.context.context_pool`): SPEC §5 on
  ``B_f − C_f`` detail tokens; the rest, in Morton order, cut into ``C_f`` equal runs whose plain
  means sit at each run's first position.

Every order is the order of a stable descending sort: higher score first, equal scores by lower
index. The kernel holds the whole frame in registers (``m`` up to :data:`MAX_SORT_TOKENS`) and
gets every order from ``tl.sort`` of one int64 key a token (flag or group bits high, the score's
float32 bits mapped to an order-preserving integer and inverted, the index low) and cumulative
counts: the rank within a quota cell is the distance from the cell's first position in the sorted
keys (a scan), the plain selection is the first ``B_f − merged`` positions of a second sort by
(in quota, score), leftover slots and Morton-run ranks are cumulative counts along the sorted
order or the (precomputed) Morton walk. Grid fusion works in the sorted order: the unselected
tokens are the positions from ``B_f − c_f`` on, already in score order, so each fusion cell's
unselected total, count and anchor (its first such position) come from one pass over those
positions only; the fused cells (at most 64) are ranked by pairwise comparison of their totals,
and each token looks its cell's anchor up in a small table. Each kept token's slot in
``keep_index`` is its position among the kept tokens of its frame (a cumulative count) plus the
frame's offset (the sum of the budgets of the frames before it), so ``keep_index`` comes out
sorted without a global sort, and the output tokens are written straight to their slots. A
merged token is gathered from its group's members: a fused cell is a rectangle of the frame whose
tokens with a merge weight are its members (walked with its width padded to a power of two, so a
member's row and column are a shift and a mask), a context run a range of the Morton ranks of the
non-detail tokens (a list the selection writes), so each absorbed token is read once per channel
block, and the kept tokens are copied from a list of the kept slots
(``token_output="scan"``, the output before, scans the frame's tokens for the kept ones, and
for each tile of groups all of them, through small matrix products on the tensor cores). The
first version (``_frame_select_pairwise_kernel``: every rank by ``O(m²)`` pairwise comparisons,
the same results) serves larger frames and the benchmarks' baseline.

The phases communicate through a small per-program scratch buffer in global memory (L1/L2
resident) with a block barrier between them: a token's flags move between the sorted order and
the index order by a scatter through it. Programs of one frame that work on different channel
slices redo the (cheap) selection and write only their channels.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from ...core.context import morton_order
from ...core.grid import grid_cells
from .launch import Site
from .scores import f64, split3, video_budgets
from .window_entropy import _TL_DTYPES, _held_address, _pow2, _sm_count

__all__ = [
    "grid_select_triton",
    "frame_select_triton",
    "context_block_g",
    "MAX_FUSED_CELLS",
    "MAX_SORT_TOKENS",
    "FUSED_BUDGET_FRAMES",
]

#: Largest frame (``H·W``) the sorted kernel holds in registers; larger frames go through the
#: pairwise kernel.
MAX_SORT_TOKENS = 4096

#: Longest video (frames) whose Eq. 4 budgets the sorted kernel computes itself from the frame
#: saliency, every frame program for its whole video in ``[T, 16]`` steps (``_budget_from`` of
#: :func:`frame_select_triton`; :func:`~.select.select_tokens_triton` uses it, the budget
#: kernel's launch saved). Longer videos launch the budget kernel.
FUSED_BUDGET_FRAMES = 64

#: Fused cells one program ranks in registers (``min(g', H)·min(g', W)``); beyond that the
#: caller falls back to the core's torch code.
MAX_FUSED_CELLS = 64

# Scratch rows (int32, one row of m per program each).
_INQ = tl.constexpr(0)  # in its cell's quota
_BASE = tl.constexpr(1)  # chosen by SPEC §5 on the non-merged slots
_KEEP = tl.constexpr(2)  # kept (keep mask)
_ANCHOR = tl.constexpr(3)  # kept position that carries a merged token
_ABSORB = tl.constexpr(4)  # averaged into its group's merged token
_GROUP = tl.constexpr(5)  # fused cell or context run (-1: none)
_POS = tl.constexpr(6)  # slot among the frame's kept tokens
_ASLOT = tl.constexpr(0)  # (sorted kernel, which needs no _INQ) the anchor slot of each group
# (sorted kernel, gathered output: LANES > 0)
_MEMBER = tl.constexpr(7)  # context runs: the token of each Morton rank of the non-detail tokens
_KLIST = tl.constexpr(8)  # the token of each kept slot (-1: a merge anchor's slot)
_ROWS = tl.constexpr(9)


@triton.jit
def _beats(sj, jj, si, ii):
    """``[I, J]``: token j ranks before token i (higher score, ties by lower index)."""
    tie = (sj[None, :] == si[:, None]) & (jj[None, :] < ii[:, None])
    return (sj[None, :] > si[:, None]) | tie


@triton.jit
def _program(scr_ptr, wscr_ptr, T, m):
    """This program's frame ``f`` (video ``b``, time ``t``), channel slice, score row offset and
    its scratch rows."""
    f = tl.program_id(0)
    split = tl.program_id(1)
    slot = f.to(tl.int64) * tl.num_programs(1) + split
    scr = scr_ptr + slot * _ROWS * m
    return f, split, f // T, f % T, f.to(tl.int64) * m, scr, wscr_ptr + slot * m


@triton.jit
def _fused_cells(total, count, gc, gcells, merged):
    """SPEC §6's fused cells: the ``merged`` cells with the largest unselected score totals among
    those with an unselected token, ties by lower cell (one ``[G, G]`` compare tile, G <= 64).
    Returns the ``[G]`` mask and its count."""
    qual = (count > 0) & (gc < gcells)
    cbeats = (qual[None, :] & ~qual[:, None]) | (
        (qual[None, :] == qual[:, None])
        & (
            (total[None, :] > total[:, None])
            | ((total[None, :] == total[:, None]) & (gc[None, :] < gc[:, None]))
        )
    )
    crank = tl.sum(cbeats.to(tl.int32), axis=1)
    fused = qual & (crank < merged)
    return fused, tl.sum(fused.to(tl.int64), axis=0)


@triton.jit
def _stored_budget(budget_ptr, f, b, t, T, BLOCK_T: tl.constexpr):
    """``(B_f, offset)`` of frame ``f`` from the budgets at ``budget_ptr``: its budget, and its
    offset in ``keep_index`` (the budgets of the frames before it in its video)."""
    budget = tl.load(budget_ptr + f)
    offset = tl.zeros((), dtype=tl.int64)
    for t0 in range(0, T, BLOCK_T):
        tt = t0 + tl.arange(0, BLOCK_T)
        bt = tl.load(budget_ptr + b * T + tt, mask=tt < t, other=0)
        offset += tl.sum(bt, axis=0)
    return budget, offset


@triton.jit
def _fused_budget(
    sal_ptr, fbo_ptr, f, split, b, t, T, bK, blo, bhi, btau_hi, btau_mid, btau_lo,
    BLOCK_T: tl.constexpr, FUSED_J: tl.constexpr,
):  # fmt: skip
    """``(B_f, offset)`` as :func:`_stored_budget`, from the video's frame saliency at
    ``sal_ptr`` instead (Eq. 4 for all its frames in one block, ``T <= BLOCK_T``: the budget
    kernel's launch saved); the first channel slice stores ``B_f`` at ``fbo_ptr``."""
    tt = tl.arange(0, BLOCK_T)
    fb = video_budgets(
        sal_ptr, b, T, bK, blo, bhi, btau_hi, btau_mid, btau_lo, tt, BLOCK_T, FUSED_J
    )  # fmt: skip
    budget = tl.sum(tl.where(tt == t, fb, 0), axis=0)
    offset = tl.sum(tl.where(tt < t, fb, 0), axis=0)
    if split == 0:
        tl.store(fbo_ptr + f, budget)
    return budget, offset


@triton.jit
def _frame_plan(
    budget, cells, gcells, cov_hi, cov_mid, cov_lo, share_hi, share_mid, share_lo,
    MODE: tl.constexpr,
):  # fmt: skip
    """``(merged, sel, quota)`` of a frame of budget ``B_f``: its merged slots, its plainly
    selected slots and its cell quota."""
    coverage = f64(cov_hi, cov_mid, cov_lo)
    share = f64(share_hi, share_mid, share_lo)
    # Slots kept by plain selection: B_f, or B_f − c_f (fusion), or B_f − C_f (detail).
    if MODE == 1:
        cap = tl.floor(budget.to(tl.float64) * share + 1e-9).to(tl.int64)
        merged = tl.minimum(cap, gcells)  # c_f
    elif MODE == 2:
        cap = tl.floor(budget.to(tl.float64) * share + 1e-9).to(tl.int64)
        merged = tl.minimum(cap, budget)  # C_f
    else:
        merged = tl.zeros((), dtype=tl.int64)
    sel = budget - merged
    # Cell quota k_cell (SPEC §5.2), in float64 with the core's epsilon.
    quota = tl.floor(sel.to(tl.float64) * coverage / cells + 1e-9).to(tl.int64)
    quota = tl.where((quota == 0) & (sel >= cells), 1, quota)
    quota = tl.where(sel < cells, 0, quota)
    return merged, sel, quota


@triton.jit
def _token_offset(tok, W, sxh, sxw, FLAT_HW: tl.constexpr):
    """The offset of the frame's token ``tok`` (raster index ``i·W + j``) from the frame's first:
    ``tok·sxw`` where the frame's rows follow each other at the token stride (``FLAT_HW``:
    ``sxh = W·sxw``, as in any contiguous video; no division), else ``i·sxh + j·sxw``."""
    if FLAT_HW:
        return tok.to(tl.int64) * sxw
    else:
        return (tok // W).to(tl.int64) * sxh + (tok % W).to(tl.int64) * sxw


@triton.jit
def _write_tokens(
    scr, wscr, x_ptr, tok_ptr, b, t, split, offset, merged, sel, nkeep, gcells, H, fgrid,
    sxb, sxt, sxh, sxw, sxd, W, m, KS, D, d_per_split,
    MODE: tl.constexpr, LOWP_DOT: tl.constexpr,
    SLOT_ROW: tl.constexpr, LANES: tl.constexpr,
    BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr,
    CELL_W: tl.constexpr = 1, FLAT_HW: tl.constexpr = False,
):  # fmt: skip
    """Phase 5: the output tokens of this program's channels, from the scratch rows (keep, anchor,
    slot, group, absorbed, weights): kept tokens copied, merged means at their anchors' slots.
    ``LANES > 0`` (the sorted kernel's gathered output): the ``nkeep`` kept slots in order from
    the list phase 3 wrote, two channel blocks in flight, and the merged tokens gathered from
    their members (:func:`_gather_merged`). 0 (Round 5's output, and the pairwise kernel's): the
    frame's tokens scanned for the kept ones, and for each tile of groups all of them."""
    x_frame = x_ptr + b.to(tl.int64) * sxb + t.to(tl.int64) * sxt
    tok_video = tok_ptr + b.to(tl.int64) * KS * D
    d_lo = split * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    # Kept tokens that are not merge anchors: copied as they are.
    if LANES > 0:
        for p0 in range(0, nkeep, BLOCK_I):
            pp = p0 + tl.arange(0, BLOCK_I)
            ti = tl.load(scr + _KLIST * m + pp, mask=pp < nkeep, other=-1)
            src = _token_offset(ti, W, sxh, sxw, FLAT_HW)
            dst = (offset + pp.to(tl.int64)) * D
            for d0 in range(d_lo, d_hi, 2 * BLOCK_D):
                d1 = d0 + tl.arange(0, BLOCK_D)
                d2 = d1 + BLOCK_D
                m1 = (ti >= 0)[:, None] & (d1[None, :] < d_hi)
                m2 = (ti >= 0)[:, None] & (d2[None, :] < d_hi)
                v1 = tl.load(x_frame + src[:, None] + d1[None, :].to(tl.int64) * sxd, mask=m1)
                v2 = tl.load(x_frame + src[:, None] + d2[None, :].to(tl.int64) * sxd, mask=m2)
                tl.store(tok_video + dst[:, None] + d1[None, :], v1, mask=m1)
                tl.store(tok_video + dst[:, None] + d2[None, :], v2, mask=m2)
    else:
        for i0 in range(0, m, BLOCK_I):
            ii = i0 + tl.arange(0, BLOCK_I)
            ki = tl.load(scr + _KEEP * m + ii, mask=ii < m, other=0) != 0
            if MODE != 0:
                ki = ki & (tl.load(scr + _ANCHOR * m + ii, mask=ii < m, other=0) == 0)
            pi = tl.load(scr + _POS * m + ii, mask=ii < m, other=0)
            src = _token_offset(ii, W, sxh, sxw, FLAT_HW)
            dst = (offset + pi.to(tl.int64)) * D
            for d0 in range(d_lo, d_hi, BLOCK_D):
                dd = d0 + tl.arange(0, BLOCK_D)
                msk = ki[:, None] & (dd[None, :] < d_hi)
                v = tl.load(x_frame + src[:, None] + dd[None, :].to(tl.int64) * sxd, mask=msk)
                tl.store(tok_video + dst[:, None] + dd[None, :], v, mask=msk)
    if MODE != 0 and LANES > 0:
        _gather_merged(
            scr, wscr, x_frame, tok_video, offset, merged, sel, gcells, H, fgrid,
            sxh, sxw, sxd, W, m, D, d_lo, d_hi, MODE, LANES, BLOCK_G, BLOCK_D, CELL_W, FLAT_HW,
        )  # fmt: skip
    elif MODE != 0:
        # Merged tokens: per group, sum_j w_j x_j / sum_j w_j at the group's anchor slot.
        if MODE == 1:
            ngroups = gcells
        else:
            ngroups = merged
        for g0 in range(0, ngroups, BLOCK_G):
            gg = g0 + tl.arange(0, BLOCK_G)
            if SLOT_ROW:  # each group's anchor slot, scattered there in phase 3 (-1: none)
                slot = tl.load(scr + _ASLOT * m + gg, mask=gg < ngroups, other=-1)
                has = (slot >= 0).to(tl.int32)
            else:
                slot = tl.zeros((BLOCK_G,), dtype=tl.int32)
                has = tl.zeros((BLOCK_G,), dtype=tl.int32)
            norm = tl.zeros((BLOCK_G,), dtype=tl.float32)
            for j0 in range(0, m, BLOCK_J):
                jj = j0 + tl.arange(0, BLOCK_J)
                gj = tl.load(scr + _GROUP * m + jj, mask=jj < m, other=-2)
                bj = tl.load(scr + _ABSORB * m + jj, mask=jj < m, other=0) != 0
                wj = tl.load(wscr + jj, mask=jj < m, other=0.0)
                same = gj[None, :] == gg[:, None]  # [G, J]
                if not SLOT_ROW:  # the anchor among the group's tokens
                    aj = tl.load(scr + _ANCHOR * m + jj, mask=jj < m, other=0) != 0
                    pj = tl.load(scr + _POS * m + jj, mask=jj < m, other=0)
                    slot += tl.sum(tl.where(same & aj[None, :], pj[None, :], 0), axis=1)
                    has += tl.sum((same & aj[None, :]).to(tl.int32), axis=1)
                norm += tl.sum(tl.where(same & bj[None, :], wj[None, :], 0.0), axis=1)
            inv = 1.0 / tl.maximum(norm, 1.1754943508222875e-38)
            dst = (offset + slot.to(tl.int64)) * D
            for d0 in range(d_lo, d_hi, BLOCK_D):
                dd = d0 + tl.arange(0, BLOCK_D)
                acc = tl.zeros((BLOCK_G, BLOCK_D), dtype=tl.float32)
                for j0 in range(0, m, BLOCK_J):
                    jj = j0 + tl.arange(0, BLOCK_J)
                    gj = tl.load(scr + _GROUP * m + jj, mask=jj < m, other=-2)
                    bj = tl.load(scr + _ABSORB * m + jj, mask=jj < m, other=0) != 0
                    wj = tl.load(wscr + jj, mask=jj < m, other=0.0)
                    member = (gj[None, :] == gg[:, None]) & bj[None, :]  # [G, J]
                    wmat = tl.where(member, wj[None, :], 0.0)
                    src = _token_offset(jj, W, sxh, sxw, FLAT_HW)
                    msk = bj[:, None] & (dd[None, :] < d_hi)
                    xv = tl.load(
                        x_frame + src[:, None] + dd[None, :].to(tl.int64) * sxd,
                        mask=msk,
                        other=0.0,
                    )
                    if LOWP_DOT:  # 0/1 weights and 16-bit features: exact products
                        acc = tl.dot(wmat.to(xv.dtype), xv, acc)
                    else:
                        acc = tl.dot(wmat, xv.to(tl.float32), acc, input_precision="ieee")
                val = acc * inv[:, None]
                msk = (has > 0)[:, None] & (dd[None, :] < d_hi)
                tl.store(
                    tok_video + dst[:, None] + dd[None, :],
                    val.to(tok_ptr.dtype.element_ty),
                    mask=msk,
                )


@triton.jit
def _gather_step(
    acc, wsum, scr, wscr, x_frame, s, lane, start, bound, cw, r0, c0, dd, dmask,
    sxh, sxw, sxd, W, m, MODE: tl.constexpr, LANES: tl.constexpr, CELL_W: tl.constexpr,
    FLAT_HW: tl.constexpr,
):  # fmt: skip
    """``acc [R, BLOCK_D] += w·x`` (and ``wsum [R] += w``) of member ``l = s·LANES + lane`` of
    each row's group. Fused cell: position ``l`` of its rectangle laid out ``CELL_W`` (a power
    of two, at least any cell's width) to a row (``r0``, ``c0`` its first row and column, ``cw``
    its width, ``bound`` its rows times ``CELL_W``; shifts and masks, no division), a member
    where it lies in the cell and its merge weight is not 0 (the absorbed tokens; a zero weight
    adds nothing). Context run: Morton rank ``start + l`` of the non-detail tokens,
    ``l < bound``, weight 1."""
    l = s * LANES + lane  # [R]
    if MODE == 1:
        rr = r0 + l // CELL_W
        cc = c0 + l % CELL_W
        inside = (l < bound) & (l % CELL_W < cw)
        w = tl.load(wscr + rr * W + cc, mask=inside, other=0.0)
        on = w != 0
        wsum += w
        src = rr.to(tl.int64) * sxh + cc.to(tl.int64) * sxw
    else:
        on = l < bound
        # Unmasked, at an index clamped without ``on`` (Triton 3.6's layout pass fails to verify
        # a load masked by ``on`` here, or a select on it, at 27x27 and several geometries).
        tok = tl.load(scr + _MEMBER * m + tl.minimum(start + l, m - 1))
        src = _token_offset(tok, W, sxh, sxw, FLAT_HW)
    msk = on[:, None] & dmask[None, :]
    xv = tl.load(x_frame + src[:, None] + dd[None, :].to(tl.int64) * sxd, mask=msk, other=0.0)
    if MODE == 1:
        acc += w[:, None] * xv.to(tl.float32)
    else:
        acc += xv.to(tl.float32)
    return acc, wsum


@triton.jit
def _gather_merged(
    scr, wscr, x_frame, tok_video, offset, merged, sel, gcells, H, fgrid,
    sxh, sxw, sxd, W, m, D, d_lo, d_hi,
    MODE: tl.constexpr, LANES: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr,
    CELL_W: tl.constexpr, FLAT_HW: tl.constexpr,
):  # fmt: skip
    """The merged tokens of this program's channels by gathering their members (sorted kernel).

    A tile of ``BLOCK_G`` groups is ``R = LANES·BLOCK_G`` rows, row ``r`` being lane
    ``r // BLOCK_G`` of group ``r % BLOCK_G``; step ``s`` loads member ``s·LANES + lane`` of every
    row's group at once (one gather of ``R`` feature rows, two steps in flight) into the row's
    float32 sum, so each absorbed token is read once per channel block, in
    ``ceil(largest group / LANES)`` steps; the lanes are summed at the end. A fused cell
    (``MODE 1``) is a rectangle of the frame (SPEC §5.1: rows ``[ceil(a·H/g_h),
    ceil((a+1)·H/g_h))`` of cell row ``a``, likewise the columns), its members the tokens with a
    merge weight; a context run (``MODE 2``) is the range ``[ceil(g·n/C), ceil((g+1)·n/C))`` of
    the Morton ranks of the ``n = m − sel`` non-detail tokens (``_MEMBER``: the token of each)."""
    R: tl.constexpr = LANES * BLOCK_G
    n_rest = m - sel
    r = tl.arange(0, R)
    lane = r // BLOCK_G
    if MODE == 1:
        ngroups = gcells
    else:
        ngroups = merged
    for g0 in range(0, ngroups, BLOCK_G):
        gg = g0 + tl.arange(0, BLOCK_G)
        gr = g0 + r % BLOCK_G  # [R] each row's group
        slot = tl.load(scr + _ASLOT * m + gg, mask=gg < ngroups, other=-1)
        rslot = tl.load(scr + _ASLOT * m + gr, mask=gr < ngroups, other=-1)
        if MODE == 1:  # the cell's rectangle
            gh = tl.minimum(fgrid, H)
            gw = tl.minimum(fgrid, W)
            a = gr // gw
            c = gr % gw
            r0 = (a * H + gh - 1) // gh
            c0 = (c * W + gw - 1) // gw
            cw = ((c + 1) * W + gw - 1) // gw - c0
            ch = ((a + 1) * H + gh - 1) // gh - r0
            start = r0  # unused
            bound = tl.where(rslot >= 0, ch * CELL_W, 0)  # cells not fused: no steps
        else:
            g64 = gr.to(tl.int64)
            first = (g64 * n_rest + merged - 1) // merged
            bound = (((g64 + 1) * n_rest + merged - 1) // merged - first).to(tl.int32)
            bound = tl.where(rslot >= 0, bound, 0)
            start = first.to(tl.int32)
            cw = bound  # unused
            r0 = bound  # unused
            c0 = bound  # unused
            g64 = gg.to(tl.int64)
            glen = ((g64 + 1) * n_rest + merged - 1) // merged
            glen -= (g64 * n_rest + merged - 1) // merged  # each run's length (weights 1)
        steps = (tl.max(bound, axis=0) + LANES - 1) // LANES
        dst = (offset + slot.to(tl.int64)) * D
        for d0 in range(d_lo, d_hi, BLOCK_D):
            dd = d0 + tl.arange(0, BLOCK_D)
            dmask = dd < d_hi
            acc = tl.zeros((R, BLOCK_D), dtype=tl.float32)
            wsum = tl.zeros((R,), dtype=tl.float32)
            for s in range(0, steps, 2):  # two gathers in flight
                acc, wsum = _gather_step(
                    acc, wsum, scr, wscr, x_frame, s, lane, start, bound, cw, r0, c0, dd, dmask,
                    sxh, sxw, sxd, W, m, MODE, LANES, CELL_W, FLAT_HW,
                )  # fmt: skip
                acc, wsum = _gather_step(
                    acc, wsum, scr, wscr, x_frame, s + 1, lane, start, bound, cw, r0, c0, dd,
                    dmask, sxh, sxw, sxd, W, m, MODE, LANES, CELL_W, FLAT_HW,
                )  # fmt: skip
            if MODE == 1:  # the weight total (plain means: the member count, exactly)
                norm = tl.sum(tl.reshape(wsum, (LANES, BLOCK_G)), axis=0)
            else:
                norm = glen.to(tl.float32)
            inv = 1.0 / tl.maximum(norm, 1.1754943508222875e-38)
            val = tl.sum(tl.reshape(acc, (LANES, BLOCK_G, BLOCK_D)), axis=0) * inv[:, None]
            msk = (slot >= 0)[:, None] & dmask[None, :]
            tl.store(
                tok_video + dst[:, None] + dd[None, :],
                val.to(tok_video.dtype.element_ty),
                mask=msk,
            )


@triton.jit
def _frame_select_pairwise_kernel(
    score_ptr,  # [F, m] float32 scores, F = B*T frames
    budget_ptr,  # [F] int64 B_f
    cell_ptr,  # [m] int32 quota-grid cell of each position
    gkey_ptr,  # [m] int32 fusion cell (MODE 1) or Morton code (MODE 2)
    scr_ptr,  # [P, 7, m] int32 scratch, P = F * splits
    wscr_ptr,  # [P, m] float32 scratch: merge weights
    keep_ptr,  # [F, m] int8 out: keep mask
    index_ptr,  # [B, KS] int64 out: keep_index (row stride KS >= K)
    assign_ptr,  # [B, T*m] int64 out (MODE > 0)
    weight_ptr,  # [B, T*m] float32 out (MODE > 0)
    x_ptr,  # features [B, T, H, W, D], any strides (GATHER)
    tok_ptr,  # [B, KS, D] out tokens (GATHER)
    sxb,
    sxt,
    sxh,
    sxw,
    sxd,
    W,
    T,
    m,
    KS,
    D,
    d_per_split,
    cells,
    gcells,
    H,
    fgrid,
    cov_hi,
    cov_mid,
    cov_lo,
    share_hi,
    share_mid,
    share_lo,
    MODE: tl.constexpr,
    WEIGHT_SCORE: tl.constexpr,
    GATHER: tl.constexpr,
    LOWP_DOT: tl.constexpr,
    BLOCK_I: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_G: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,  # unused here (the sorted kernel's frame block)
    LOG_M: tl.constexpr,
    LANES: tl.constexpr,  # unused here (output tokens always by scanning)
    CELL_W: tl.constexpr,  # unused here (the sorted kernel's gathered fused cells)
    X_INDIRECT: tl.constexpr = False,  # x_ptr holds the features' address (see the sorted kernel)
    X_DTYPE: tl.constexpr = None,
    OUT_INDIRECT: tl.constexpr = False,  # tok_ptr holds the tokens' address (the sorted kernel)
    FLAT_HW: tl.constexpr = False,  # the frame's rows at the token stride (see the sorted kernel)
):
    """The first version: every order by ``O(m²)`` pairwise comparisons (any ``m``); kept for
    frames beyond :data:`MAX_SORT_TOKENS` and as the benchmarks' baseline."""
    f, split, b, t, row, scr, wscr = _program(scr_ptr, wscr_ptr, T, m)
    budget, offset = _stored_budget(budget_ptr, f, b, t, T, BLOCK_T)
    merged, sel, quota = _frame_plan(
        budget, cells, gcells, cov_hi, cov_mid, cov_lo, share_hi, share_mid, share_lo, MODE
    )  # fmt: skip

    # Phase 1: rank within the quota cell -> in_quota.
    for i0 in range(0, m, BLOCK_I):
        ii = i0 + tl.arange(0, BLOCK_I)
        si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
        ci = tl.load(cell_ptr + ii, mask=ii < m, other=-1)
        rank = tl.zeros((BLOCK_I,), dtype=tl.int32)
        for j0 in range(0, m, BLOCK_J):
            jj = j0 + tl.arange(0, BLOCK_J)
            sj = tl.load(score_ptr + row + jj, mask=jj < m, other=0.0)
            cj = tl.load(cell_ptr + jj, mask=jj < m, other=-2)
            beats = _beats(sj, jj, si, ii) & (cj[None, :] == ci[:, None])
            rank += tl.sum(beats.to(tl.int32), axis=1)
        tl.store(scr + _INQ * m + ii, (rank < quota).to(tl.int32), mask=ii < m)
    tl.debug_barrier()

    # Phase 2: rank by (in_quota, score, -index) -> the plain selection of `sel` tokens.
    for i0 in range(0, m, BLOCK_I):
        ii = i0 + tl.arange(0, BLOCK_I)
        si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
        qi = tl.load(scr + _INQ * m + ii, mask=ii < m, other=0)
        rank = tl.zeros((BLOCK_I,), dtype=tl.int32)
        for j0 in range(0, m, BLOCK_J):
            jj = j0 + tl.arange(0, BLOCK_J)
            sj = tl.load(score_ptr + row + jj, mask=jj < m, other=0.0)
            qj = tl.load(scr + _INQ * m + jj, mask=jj < m, other=0)
            by_score = _beats(sj, jj, si, ii)
            beats = (qj[None, :] > qi[:, None]) | ((qj[None, :] == qi[:, None]) & by_score)
            beats = beats & (jj[None, :] < m)
            rank += tl.sum(beats.to(tl.int32), axis=1)
        chosen = (rank < sel).to(tl.int32)
        tl.store(scr + _BASE * m + ii, chosen, mask=ii < m)
        if MODE == 0:
            tl.store(scr + _KEEP * m + ii, chosen, mask=ii < m)
    tl.debug_barrier()

    if MODE == 1:
        # Unselected score total and count of every fusion cell (SPEC §6).
        gc = tl.arange(0, BLOCK_G)
        total = tl.zeros((BLOCK_G,), dtype=tl.float32)
        count = tl.zeros((BLOCK_G,), dtype=tl.int32)
        for i0 in range(0, m, BLOCK_I):
            ii = i0 + tl.arange(0, BLOCK_I)
            si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
            ui = (tl.load(scr + _BASE * m + ii, mask=ii < m, other=1) == 0) & (ii < m)
            gi = tl.load(gkey_ptr + ii, mask=ii < m, other=-1)
            onehot = (gi[None, :] == gc[:, None]) & ui[None, :]  # [G, I]
            total += tl.sum(tl.where(onehot, si[None, :], 0.0), axis=1)
            count += tl.sum(onehot.to(tl.int32), axis=1)
        fused, n_fused = _fused_cells(total, count, gc, gcells, merged)  # [G], scalar
        # Anchor: the best unselected token of each fused cell.
        for i0 in range(0, m, BLOCK_I):
            ii = i0 + tl.arange(0, BLOCK_I)
            si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
            ui = (tl.load(scr + _BASE * m + ii, mask=ii < m, other=1) == 0) & (ii < m)
            gi = tl.load(gkey_ptr + ii, mask=ii < m, other=-1)
            hit = (gi[:, None] == gc[None, :]) & fused[None, :]  # [I, G]
            in_fused = ui & (tl.sum(hit.to(tl.int32), 1) > 0)
            rank = tl.zeros((BLOCK_I,), dtype=tl.int32)
            for j0 in range(0, m, BLOCK_J):
                jj = j0 + tl.arange(0, BLOCK_J)
                sj = tl.load(score_ptr + row + jj, mask=jj < m, other=0.0)
                uj = (tl.load(scr + _BASE * m + jj, mask=jj < m, other=1) == 0) & (jj < m)
                gj = tl.load(gkey_ptr + jj, mask=jj < m, other=-2)
                beats = _beats(sj, jj, si, ii) & uj[None, :] & (gj[None, :] == gi[:, None])
                rank += tl.sum(beats.to(tl.int32), axis=1)
            tl.store(scr + _ANCHOR * m + ii, (in_fused & (rank == 0)).to(tl.int32), mask=ii < m)
            tl.store(scr + _ABSORB * m + ii, in_fused.to(tl.int32), mask=ii < m)
            tl.store(scr + _GROUP * m + ii, gi, mask=ii < m)
        tl.debug_barrier()
        # Leftover slots: the next best unselected non-anchor tokens, as plain tokens.
        for i0 in range(0, m, BLOCK_I):
            ii = i0 + tl.arange(0, BLOCK_I)
            si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
            bi = tl.load(scr + _BASE * m + ii, mask=ii < m, other=1)
            ai = tl.load(scr + _ANCHOR * m + ii, mask=ii < m, other=0)
            spare_i = (bi == 0) & (ai == 0) & (ii < m)
            rank = tl.zeros((BLOCK_I,), dtype=tl.int32)
            for j0 in range(0, m, BLOCK_J):
                jj = j0 + tl.arange(0, BLOCK_J)
                sj = tl.load(score_ptr + row + jj, mask=jj < m, other=0.0)
                bj = tl.load(scr + _BASE * m + jj, mask=jj < m, other=1)
                aj = tl.load(scr + _ANCHOR * m + jj, mask=jj < m, other=0)
                spare_j = (bj == 0) & (aj == 0) & (jj < m)
                rank += tl.sum((_beats(sj, jj, si, ii) & spare_j[None, :]).to(tl.int32), axis=1)
            extra = spare_i & (rank < (merged - n_fused))
            keep = (bi != 0) | (ai != 0) | extra
            absorbed = (tl.load(scr + _ABSORB * m + ii, mask=ii < m, other=0) != 0) & ~extra
            tl.store(scr + _KEEP * m + ii, keep.to(tl.int32), mask=ii < m)
            tl.store(scr + _ABSORB * m + ii, absorbed.to(tl.int32), mask=ii < m)
            if WEIGHT_SCORE:
                w = tl.where(absorbed, si, 0.0)
            else:
                w = tl.where(absorbed, 1.0, 0.0)
            tl.store(wscr + ii, w, mask=ii < m)
        tl.debug_barrier()
        if WEIGHT_SCORE:  # cells whose absorbed scores sum to 0 take plain means
            wsum = tl.zeros((BLOCK_G,), dtype=tl.float32)
            for i0 in range(0, m, BLOCK_I):
                ii = i0 + tl.arange(0, BLOCK_I)
                wi = tl.load(wscr + ii, mask=ii < m, other=0.0)
                gi = tl.load(gkey_ptr + ii, mask=ii < m, other=-1)
                wsum += tl.sum(tl.where(gi[None, :] == gc[:, None], wi[None, :], 0.0), axis=1)
            plain = wsum <= 0
            tl.debug_barrier()  # every read of the weights above before any write below
            for i0 in range(0, m, BLOCK_I):
                ii = i0 + tl.arange(0, BLOCK_I)
                wi = tl.load(wscr + ii, mask=ii < m, other=0.0)
                gi = tl.load(gkey_ptr + ii, mask=ii < m, other=-1)
                absorbed = tl.load(scr + _ABSORB * m + ii, mask=ii < m, other=0) != 0
                pl = tl.sum(((gi[:, None] == gc[None, :]) & plain[None, :]).to(tl.int32), 1) > 0
                tl.store(wscr + ii, tl.where(absorbed & pl, 1.0, wi), mask=ii < m)
            tl.debug_barrier()
    elif MODE == 2:
        # Rank along the Morton curve among the non-detail tokens; equal runs; run anchors.
        n_rest = m - sel
        for i0 in range(0, m, BLOCK_I):
            ii = i0 + tl.arange(0, BLOCK_I)
            ki = tl.load(gkey_ptr + ii, mask=ii < m, other=0)
            rest_i = (tl.load(scr + _BASE * m + ii, mask=ii < m, other=1) == 0) & (ii < m)
            r = tl.zeros((BLOCK_I,), dtype=tl.int32)
            for j0 in range(0, m, BLOCK_J):
                jj = j0 + tl.arange(0, BLOCK_J)
                kj = tl.load(gkey_ptr + jj, mask=jj < m, other=0)
                rest_j = (tl.load(scr + _BASE * m + jj, mask=jj < m, other=1) == 0) & (jj < m)
                before = rest_j[None, :] & (kj[None, :] < ki[:, None])
                r += tl.sum(before.to(tl.int32), axis=1)
            r64 = r.to(tl.int64)
            absorbed = rest_i & (merged > 0)
            run = tl.where(absorbed, (r64 * merged) // tl.maximum(n_rest, 1), -1)
            first = (run * n_rest + merged - 1) // tl.maximum(merged, 1)
            anchor = absorbed & (first == r64)
            keep = (~rest_i & (ii < m)) | anchor
            tl.store(scr + _KEEP * m + ii, keep.to(tl.int32), mask=ii < m)
            tl.store(scr + _ANCHOR * m + ii, anchor.to(tl.int32), mask=ii < m)
            tl.store(scr + _ABSORB * m + ii, absorbed.to(tl.int32), mask=ii < m)
            tl.store(scr + _GROUP * m + ii, run.to(tl.int32), mask=ii < m)
            tl.store(wscr + ii, tl.where(absorbed, 1.0, 0.0), mask=ii < m)
        tl.debug_barrier()

    # Phase 3: kept tokens in index order -> slot within the frame; keep_index and keep mask.
    for i0 in range(0, m, BLOCK_I):
        ii = i0 + tl.arange(0, BLOCK_I)
        ki = tl.load(scr + _KEEP * m + ii, mask=ii < m, other=0)
        pos = tl.zeros((BLOCK_I,), dtype=tl.int32)
        for j0 in range(0, i0 + BLOCK_I, BLOCK_J):
            jj = j0 + tl.arange(0, BLOCK_J)
            kj = tl.load(scr + _KEEP * m + jj, mask=jj < m, other=0)
            before = (kj[None, :] != 0) & (jj[None, :] < ii[:, None])
            pos += tl.sum(before.to(tl.int32), axis=1)
        tl.store(scr + _POS * m + ii, pos, mask=ii < m)
        if split == 0:
            tl.store(keep_ptr + row + ii, ki.to(tl.int8), mask=ii < m)
            flat = t.to(tl.int64) * m + ii
            dest = index_ptr + b.to(tl.int64) * KS + offset + pos
            tl.store(dest, flat, mask=(ii < m) & (ki != 0))
    tl.debug_barrier()

    # Phase 4 (merging modes): output slot and weight of every input token.
    if MODE != 0:
        if split == 0:
            for i0 in range(0, m, BLOCK_I):
                ii = i0 + tl.arange(0, BLOCK_I)
                ki = tl.load(scr + _KEEP * m + ii, mask=ii < m, other=0) != 0
                absorbed = tl.load(scr + _ABSORB * m + ii, mask=ii < m, other=0) != 0
                gi = tl.load(scr + _GROUP * m + ii, mask=ii < m, other=-1)
                pi = tl.load(scr + _POS * m + ii, mask=ii < m, other=0)
                aslot = tl.zeros((BLOCK_I,), dtype=tl.int32)
                has = tl.zeros((BLOCK_I,), dtype=tl.int32)
                for j0 in range(0, m, BLOCK_J):
                    jj = j0 + tl.arange(0, BLOCK_J)
                    aj = tl.load(scr + _ANCHOR * m + jj, mask=jj < m, other=0) != 0
                    gj = tl.load(scr + _GROUP * m + jj, mask=jj < m, other=-2)
                    pj = tl.load(scr + _POS * m + jj, mask=jj < m, other=0)
                    same = aj[None, :] & (gj[None, :] == gi[:, None])
                    aslot += tl.sum(tl.where(same, pj[None, :], 0), axis=1)
                    has += tl.sum(same.to(tl.int32), axis=1)
                slot = tl.where(ki, offset + pi, tl.where(absorbed & (has > 0), offset + aslot, -1))
                wi = tl.load(wscr + ii, mask=ii < m, other=0.0)
                if MODE == 1:
                    weight = tl.where(absorbed, wi, tl.where(slot >= 0, 1.0, 0.0))
                else:
                    weight = tl.where(slot >= 0, 1.0, 0.0)
                out = b.to(tl.int64) * T * m + t.to(tl.int64) * m + ii
                tl.store(assign_ptr + out, slot, mask=ii < m)
                tl.store(weight_ptr + out, weight, mask=ii < m)

    # Phase 5: the output tokens of this program's channels.
    if GATHER:
        if X_INDIRECT:
            x_ptr = _held_address(x_ptr, X_DTYPE)
        if OUT_INDIRECT:
            tok_ptr = _held_address(tok_ptr, X_DTYPE)
        _write_tokens(
            scr, wscr, x_ptr, tok_ptr, b, t, split, offset, merged, sel, sel, gcells, H, fgrid,
            sxb, sxt, sxh, sxw, sxd, W, m, KS, D, d_per_split,
            MODE, LOWP_DOT, False, 0, BLOCK_I, BLOCK_J, BLOCK_G, BLOCK_D, 1, FLAT_HW,
        )  # fmt: skip


@triton.jit
def _order_key(s, tok, LOG_M: tl.constexpr):
    """int64 key whose ascending order is the order of :func:`_beats` (higher score first, ties
    by lower index): the score's float32 bits mapped to an order-preserving unsigned integer and
    inverted, in bits ``[LOG_M, LOG_M + 32)``, the index below. ``-0.0`` counts as ``0.0`` (they
    compare equal); NaN ranks first (the order of a stable descending ``torch.sort``), where the
    pairwise order had no consistent place for it."""
    s = tl.where(s == 0.0, 0.0, s)
    bits = s.to(tl.int32, bitcast=True)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # signed order == float order
    up = ordered.to(tl.int64) + 2147483648  # [0, 2^32), ascending in the score
    up = tl.where(s != s, 4294967295, up)
    return ((4294967295 - up) << LOG_M) | tok.to(tl.int64)


@triton.jit
def _run_count(c1, n1, c2, n2):
    """Scan step over a sorted sequence: (last group, how many of it so far)."""
    return c2, tl.where(c1 == c2, n1 + n2, n2)


@triton.jit
def _frame_select_kernel(
    score_ptr,  # [F, m] float32 scores, F = B*T frames
    budget_ptr,  # [F] int64 B_f (FUSED_BUDGET: [F] float32 frame saliency S̄_f)
    cell_ptr,  # [m] int32 quota-grid cell of each position
    gkey_ptr,  # [m] int32 fusion cell (MODE 1) or the positions in Morton order (MODE 2)
    scr_ptr,  # [P, 7, m] int32 scratch, P = F * splits
    wscr_ptr,  # [P, m] float32 scratch: merge weights
    keep_ptr,  # [F, m] int8 out: keep mask
    index_ptr,  # [B, KS] int64 out: keep_index (row stride KS >= K)
    assign_ptr,  # [B, T*m] int64 out (MODE > 0)
    weight_ptr,  # [B, T*m] float32 out (MODE > 0)
    x_ptr,  # features [B, T, H, W, D], any strides (GATHER)
    tok_ptr,  # [B, KS, D] out tokens (GATHER)
    sxb,
    sxt,
    sxh,
    sxw,
    sxd,
    W,
    T,
    m,
    KS,
    D,
    d_per_split,
    cells,
    gcells,
    H,
    fgrid,
    cov_hi,
    cov_mid,
    cov_lo,
    share_hi,
    share_mid,
    share_lo,
    bK,  # bK .. btau_lo: scores.video_budgets' arguments (FUSED_BUDGET; else unused)
    blo,
    bhi,
    btau_hi,
    btau_mid,
    btau_lo,
    fbo_ptr,  # [F] int64 out: B_f (FUSED_BUDGET, where budget_ptr holds [F] float32 S̄_f)
    MODE: tl.constexpr,
    WEIGHT_SCORE: tl.constexpr,
    GATHER: tl.constexpr,
    LOWP_DOT: tl.constexpr,
    BLOCK_I: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_G: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,  # next power of two of m (the whole frame in registers)
    LOG_M: tl.constexpr,  # log2(BLOCK_M)
    LANES: tl.constexpr,  # output tokens: 0 by scanning, else gathered (LANES rows a group)
    CELL_W: tl.constexpr,  # MODE 1, gathered: a power of two >= every fused cell's width
    X_INDIRECT: tl.constexpr = False,  # x_ptr holds the features' address, an int64 (GATHER)
    X_DTYPE: tl.constexpr = None,  # the features' dtype (X_INDIRECT, OUT_INDIRECT)
    OUT_INDIRECT: tl.constexpr = False,  # tok_ptr holds the output tokens' address (GATHER)
    FLAT_HW: tl.constexpr = False,  # sxh = W·sxw: a token's offset is tok·sxw (no division)
    FUSED_BUDGET: tl.constexpr = False,  # B_f from the saliency at budget_ptr (_fused_budget)
    FUSED_J: tl.constexpr = 16,  # its pairwise ranks' frames a step ([BLOCK_T, FUSED_J] tiles)
):
    f, split, b, t, row, scr, wscr = _program(scr_ptr, wscr_ptr, T, m)
    if FUSED_BUDGET:
        budget, offset = _fused_budget(
            budget_ptr, fbo_ptr, f, split, b, t, T, bK, blo, bhi, btau_hi, btau_mid, btau_lo,
            BLOCK_T, FUSED_J,
        )  # fmt: skip
    else:
        budget, offset = _stored_budget(budget_ptr, f, b, t, T, BLOCK_T)
    merged, sel, quota = _frame_plan(
        budget, cells, gcells, cov_hi, cov_mid, cov_lo, share_hi, share_mid, share_lo, MODE
    )  # fmt: skip

    tok = tl.arange(0, BLOCK_M)
    valid = tok < m
    if MODE != 0:  # no anchor slot yet (read in phase 4, after the barriers below)
        tl.store(scr + _ASLOT * m + tok, tl.full((BLOCK_M,), -1, tl.int32), mask=valid)
    s = tl.load(score_ptr + row + tok, mask=valid, other=0.0)
    lo = _order_key(s, tok, LOG_M)  # bits [0, LOG_M + 32)
    HI: tl.constexpr = LOG_M + 32
    LO_MASK: tl.constexpr = (1 << HI) - 1
    # Phases 1-2 as two sorts: (quota cell, score, index), then (in quota, score, index); each
    # token's rank within its cell is its distance from its cell's first position.
    if quota > 0:
        cell = tl.load(cell_ptr + tok, mask=valid, other=1 << 18)  # cells < m <= 2^12
        k1 = tl.sort((cell.to(tl.int64) << HI) | lo)
        c1 = k1 >> HI
        _, nrun = tl.associative_scan((c1, tl.full((BLOCK_M,), 1, tl.int32)), 0, _run_count)
        flag = tl.where(c1 >= (1 << 18), 2, tl.where(nrun <= quota, 0, 1))
        key2 = (flag.to(tl.int64) << HI) | (k1 & LO_MASK)
    else:
        key2 = (tl.where(valid, 1, 2).to(tl.int64) << HI) | lo
    key2 = tl.sort(key2)
    tok2 = (key2 & (BLOCK_M - 1)).to(tl.int32)
    valid2 = tok2 < m
    # Every in-quota token is chosen (at most quota·cells <= sel of them), so the unchosen
    # tokens follow in plain score order.
    chosen2 = tok < sel
    if MODE == 0:
        tl.store(scr + _KEEP * m + tok2, chosen2.to(tl.int32), mask=valid2)
    elif MODE == 1:  # the token at each sorted position (the unselected ones: positions >= sel)
        tl.store(scr + _MEMBER * m + tok, tok2, mask=valid)
    else:
        tl.store(scr + _BASE * m + tok2, chosen2.to(tl.int32), mask=valid2)
    tl.debug_barrier()

    if MODE == 1:
        # Unselected score total and count of every fusion cell (SPEC §6), and its best
        # unselected token: its first sorted position (the unselected tokens follow in plain
        # score order), over the positions from sel on only.
        gc = tl.arange(0, BLOCK_G)
        total = tl.zeros((BLOCK_G,), dtype=tl.float32)
        count = tl.zeros((BLOCK_G,), dtype=tl.int32)
        best = tl.full((BLOCK_G,), BLOCK_M, tl.int32)
        for p0 in range(((sel // BLOCK_I) * BLOCK_I).to(tl.int32), m, BLOCK_I):
            pp = p0 + tl.arange(0, BLOCK_I)
            up = (pp >= sel) & (pp < m)
            tp = tl.load(scr + _MEMBER * m + pp, mask=up, other=0)
            gp = tl.load(gkey_ptr + tp, mask=up, other=-1)
            sp = tl.load(score_ptr + row + tp, mask=up, other=0.0)
            onehot = (gp[None, :] == gc[:, None]) & up[None, :]  # [G, I]
            total += tl.sum(tl.where(onehot, sp[None, :], 0.0), axis=1)
            count += tl.sum(onehot.to(tl.int32), axis=1)
            best = tl.minimum(best, tl.min(tl.where(onehot, pp[None, :], BLOCK_M), axis=1))
        fused, n_fused = _fused_cells(total, count, gc, gcells, merged)  # [G], scalar
        # each fused cell's anchor position, -1 for the others, looked up by every token below
        tl.store(scr + _BASE * m + gc, tl.where(fused, best, -1), mask=gc < gcells)
        tl.debug_barrier()
        # In sorted order: in a fused cell (unselected), its anchor, the leftover slots (the next
        # best unselected non-anchor tokens), absorbed, kept; scattered to the index order.
        g2 = tl.load(gkey_ptr + tok2, mask=valid2, other=0)
        cell_anchor = tl.load(scr + _BASE * m + g2, mask=valid2, other=-1)
        unsel2 = ~chosen2 & valid2
        in_fused2 = unsel2 & (cell_anchor >= 0)
        a2 = in_fused2 & (cell_anchor == tok)
        spare2 = unsel2 & ~a2
        spare_i32 = spare2.to(tl.int32)
        extra2 = spare2 & ((tl.cumsum(spare_i32, 0) - spare_i32) < (merged - n_fused))
        absorbed2 = in_fused2 & ~extra2
        keep2 = chosen2 | a2 | extra2
        tl.store(scr + _KEEP * m + tok2, keep2.to(tl.int32), mask=valid2)
        tl.store(scr + _ANCHOR * m + tok2, a2.to(tl.int32), mask=valid2)
        tl.store(scr + _ABSORB * m + tok2, absorbed2.to(tl.int32), mask=valid2)
        tl.store(scr + _GROUP * m + tok2, g2, mask=valid2)
        if WEIGHT_SCORE:
            s2 = tl.load(score_ptr + row + tok2, mask=valid2, other=0.0)
            w2 = tl.where(absorbed2, s2, 0.0)
        else:
            w2 = tl.where(absorbed2, 1.0, 0.0)
        tl.store(wscr + tok2, w2, mask=valid2)
        tl.debug_barrier()
        if WEIGHT_SCORE:  # cells whose absorbed scores sum to 0 take plain means
            wsum = tl.zeros((BLOCK_G,), dtype=tl.float32)
            for i0 in range(0, m, BLOCK_I):
                ii = i0 + tl.arange(0, BLOCK_I)
                wi = tl.load(wscr + ii, mask=ii < m, other=0.0)
                gi = tl.load(gkey_ptr + ii, mask=ii < m, other=-1)
                wsum += tl.sum(tl.where(gi[None, :] == gc[:, None], wi[None, :], 0.0), axis=1)
            plain = wsum <= 0
            tl.debug_barrier()  # every read of the weights above before any write below
            for i0 in range(0, m, BLOCK_I):
                ii = i0 + tl.arange(0, BLOCK_I)
                wi = tl.load(wscr + ii, mask=ii < m, other=0.0)
                gi = tl.load(gkey_ptr + ii, mask=ii < m, other=-1)
                absorbed = tl.load(scr + _ABSORB * m + ii, mask=ii < m, other=0) != 0
                pl = tl.sum(((gi[:, None] == gc[None, :]) & plain[None, :]).to(tl.int32), 1) > 0
                tl.store(wscr + ii, tl.where(absorbed & pl, 1.0, wi), mask=ii < m)
            tl.debug_barrier()
    elif MODE == 2:
        # Walk the Morton curve (gkey: the positions in Morton order); rank among the non-detail
        # tokens by a cumulative count; equal runs; run anchors.
        n_rest = m - sel
        walk = tl.load(gkey_ptr + tok, mask=valid, other=0)
        rest = (tl.load(scr + _BASE * m + walk, mask=valid, other=1) == 0) & valid
        rest_i32 = rest.to(tl.int32)
        r64 = (tl.cumsum(rest_i32, 0) - rest_i32).to(tl.int64)
        absorbed = rest & (merged > 0)
        run = tl.where(absorbed, (r64 * merged) // tl.maximum(n_rest, 1), -1)
        first = (run * n_rest + merged - 1) // tl.maximum(merged, 1)
        anchor = absorbed & (first == r64)
        keep = (~rest & valid) | anchor
        tl.store(scr + _KEEP * m + walk, keep.to(tl.int32), mask=valid)
        tl.store(scr + _ANCHOR * m + walk, anchor.to(tl.int32), mask=valid)
        tl.store(scr + _ABSORB * m + walk, absorbed.to(tl.int32), mask=valid)
        tl.store(scr + _GROUP * m + walk, run.to(tl.int32), mask=valid)
        tl.store(wscr + walk, tl.where(absorbed, 1.0, 0.0), mask=valid)
        if LANES > 0:  # the absorbed tokens by Morton rank: each run a range of it
            tl.store(scr + _MEMBER * m + r64, walk, mask=run >= 0)
        tl.debug_barrier()

    # Phase 3: kept tokens in index order -> slot within the frame (a cumulative count);
    # keep_index and keep mask; each merge anchor's slot under its group.
    keep = tl.load(scr + _KEEP * m + tok, mask=valid, other=0)
    pos = tl.cumsum(keep, 0) - keep
    tl.store(scr + _POS * m + tok, pos, mask=valid)
    if split == 0:
        tl.store(keep_ptr + row + tok, keep.to(tl.int8), mask=valid)
        flat = t.to(tl.int64) * m + tok
        dest = index_ptr + b.to(tl.int64) * KS + offset + pos
        tl.store(dest, flat, mask=valid & (keep != 0))
    nkeep = tl.sum(keep, axis=0)
    if MODE != 0:
        anchor = tl.load(scr + _ANCHOR * m + tok, mask=valid, other=0) != 0
        group = tl.load(scr + _GROUP * m + tok, mask=valid, other=0)
        tl.store(scr + _ASLOT * m + group, pos, mask=valid & anchor)
        if LANES > 0:  # each kept slot's token, or -1 where a merged token goes
            tl.store(scr + _KLIST * m + pos, tl.where(anchor, -1, tok), mask=valid & (keep != 0))
    elif LANES > 0:
        tl.store(scr + _KLIST * m + pos, tok, mask=valid & (keep != 0))
    tl.debug_barrier()

    # Phase 4 (merging modes): output slot and weight of every input token.
    if MODE != 0:
        if split == 0:
            absorbed = tl.load(scr + _ABSORB * m + tok, mask=valid, other=0) != 0
            aslot = tl.load(scr + _ASLOT * m + group, mask=valid & absorbed, other=-1)
            slot = tl.where(
                keep != 0,
                offset + pos,
                tl.where(absorbed & (aslot >= 0), offset + aslot, -1),
            )
            wi = tl.load(wscr + tok, mask=valid, other=0.0)
            if MODE == 1:
                weight = tl.where(absorbed, wi, tl.where(slot >= 0, 1.0, 0.0))
            else:
                weight = tl.where(slot >= 0, 1.0, 0.0)
            out = b.to(tl.int64) * T * m + t.to(tl.int64) * m + tok
            tl.store(assign_ptr + out, slot, mask=valid)
            tl.store(weight_ptr + out, weight, mask=valid)

    # Phase 5: the output tokens of this program's channels.
    if GATHER:
        if X_INDIRECT:  # a cached graph's replay: read the features where the holder points
            x_ptr = _held_address(x_ptr, X_DTYPE)
        if OUT_INDIRECT:  # ... and write the tokens where the caller's fresh tensor is
            tok_ptr = _held_address(tok_ptr, X_DTYPE)
        _write_tokens(
            scr, wscr, x_ptr, tok_ptr, b, t, split, offset, merged, sel, nkeep, gcells, H,
            fgrid, sxb, sxt, sxh, sxw, sxd, W, m, KS, D, d_per_split,
            MODE, LOWP_DOT, True, LANES, BLOCK_I, BLOCK_J, BLOCK_G, BLOCK_D, CELL_W, FLAT_HW,
        )  # fmt: skip


@functools.lru_cache(maxsize=64)
def _index_tensors(
    H: int, W: int, grid: int, gkey: str, fusion_grid: int, device: torch.device
) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """The quota-grid cell of each position, and the fusion cell, the Morton code (``"morton"``)
    or the positions in Morton order (``"morton_walk"``) (cached: these depend on the shape
    only, and building them costs several small launches)."""
    cell, cells = grid_cells(H, W, grid, device)
    if gkey == "fusion":
        key, ncell = grid_cells(H, W, fusion_grid, device)
    elif gkey == "morton":
        key, ncell = morton_order(H, W, device), H * W
    elif gkey == "morton_walk":
        key, ncell = torch.argsort(morton_order(H, W, device)), H * W
    else:
        key, ncell = cell, cells
    return cell.to(torch.int32).contiguous(), cells, key.to(torch.int32).contiguous(), ncell


def context_block_g(groups_per_frame: float) -> int:
    """Merged groups a tile of context pooling's gathered output, from the mean context groups
    a frame (``context_share · K / T``; a stream's rows are ``H·W`` long, so it gets 64).

    A tile of ``g`` groups gathers ``128 / g`` members of each group a step, for ``ceil(largest
    group / lanes)`` steps: few large groups (low retention) want small tiles, many small ones
    large tiles. H200, ``balanced``, 14x14x3584 bf16, the kernel alone (``python
    benchmarks/quick_gpu.py --part groups``; µs for tiles of 16 / 32 / 64 groups): 16 frames,
    r = 0.05 (7.4 groups a frame) 22.4 / 30.9 / 48.9, r = 0.1 (14.7) 20.1 / 23.2 / 31.2, r = 0.25
    (36.8) 29.8 / 22.7 / 20.9, r = 0.35 (51.5) 36.6 / 28.4 / 24.8; 64 frames alike (r = 0.05:
    101.9 / 165.7 / 273.3). 32 between: not measured there, the interpolation.
    """
    if groups_per_frame <= 16:
        return 16
    return 32 if groups_per_frame <= 32 else 64


class _FramePlan(NamedTuple):
    """What a :func:`frame_select_triton` launch needs that its arguments' shapes and options
    fix (:func:`_launch_plan`)."""

    site: Site  # the kernel with its keyword arguments (constexprs, options)
    grid: tuple[int, int]
    cell: torch.Tensor
    key: torch.Tensor
    scratch: tuple[int, int, int]  # the int32 scratch's shape
    merge: bool
    D: int
    ints: tuple  # the launch's positional arguments after the output pointer
    sorted: bool  # the sorted kernel: the budgets' output pointer follows ``ints``


@functools.lru_cache(maxsize=256)
def _launch_plan(
    Bsz, T, H, W, row_stride, features, dev, grid, coverage, mode, fusion_grid, share, weight,
    algo, block_i, block_j, num_warps, splits, block_g, token_output, x_indirect, out_indirect,
    budget_args,
):  # fmt: skip
    """The launch of :func:`frame_select_triton` for these shapes and options (checked here),
    cached: the eager path is bound by its host work, and this is the same for every call of a
    shape (``features``: ``(D, dtype, strides)`` of the features, or None; ``budget_args``:
    :func:`~.scores.budget_args` where the kernel computes the budgets, else None)."""
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    if not 0 <= coverage <= 1:
        raise ValueError(f"coverage must be in [0, 1], got {coverage}")
    modes = {"select": 0, "fusion": 1, "context": 2}
    if mode not in modes:
        raise ValueError(f"mode must be one of {', '.join(modes)}; got {mode!r}")
    if algo not in ("sort", "pairwise"):
        raise ValueError(f"algo must be 'sort' or 'pairwise', got {algo!r}")
    if token_output not in ("gather", "scan"):
        raise ValueError(f"token_output must be 'gather' or 'scan', got {token_output!r}")
    m = H * W
    if num_warps is None:  # measured (profile_frame.py): 4 up to 256 tokens a frame, 8 above
        num_warps = 4 if m <= 256 else 8
    sizes = (("block_i", block_i), ("block_j", block_j), ("num_warps", num_warps))
    for name, v in sizes + (("block_g", block_g),):
        if v is not None and (v < 1 or v & (v - 1)):
            raise ValueError(f"{name} must be a power of two, got {v}")
    if block_j is not None and block_j < 16:
        raise ValueError(f"block_j must be >= 16 (the merged means' products), got {block_j}")
    if splits is not None and splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    if m > MAX_SORT_TOKENS:
        algo = "pairwise"
    if budget_args is not None and (algo != "sort" or T > FUSED_BUDGET_FRAMES):
        raise ValueError(
            f"_budget_from: the sorted kernel, up to {FUSED_BUDGET_FRAMES} frames, only "
            f"(algo {algo!r}, {T} frames)"
        )
    gkey = {"select": "cell", "fusion": "fusion", "context": "morton"}[mode]
    if gkey == "morton" and algo == "sort":
        gkey = "morton_walk"
    fgrid = grid if fusion_grid is None else fusion_grid
    cell, cells, key, ncell = _index_tensors(H, W, grid, gkey, fgrid, dev)
    if mode == "fusion" and ncell > MAX_FUSED_CELLS:
        raise ValueError(f"at most {MAX_FUSED_CELLS} fused cells, got {ncell}")
    F = Bsz * T
    if features is not None:
        D, dtype, sx = features
        block_d = 64 if dtype.itemsize <= 2 else 32
        # Channel slices so that short videos still fill the GPU (the selection is redone).
        if splits is None:
            splits = 1
            if dev.type == "cuda":
                sms = _sm_count(dev)
                splits = max(1, min(-(-D // block_d), -(-2 * sms // F)))
        splits = min(splits, -(-D // block_d))
        per_split = -(-D // splits)
        d_per_split = -(-per_split // block_d) * block_d
        splits = -(-D // d_per_split)
    else:
        D, dtype, sx, block_d, splits, d_per_split = 1, None, (0, 0, 0, 0, 0), 16, 1, 1
    merge = mode != "select"
    if mode == "fusion":
        block_g = max(16, _pow2(ncell))
    elif block_g is None and mode == "context" and algo == "sort" and token_output == "gather":
        block_g = context_block_g(share * row_stride / T)  # the gather's tile (measured)
    else:
        block_g = max(16, block_g or 64)
    lowp = features is not None and dtype.itemsize <= 2
    lowp = lowp and not (mode == "fusion" and weight == "score")
    kernel = _frame_select_kernel if algo == "sort" else _frame_select_pairwise_kernel
    block_m = max(32 * num_warps, _pow2(m))  # every thread holds keys: no replicated scans
    block_j = block_j or max(16, min(128, _pow2(m)))
    lanes = 0  # output tokens by scanning
    if features is not None and algo == "sort" and token_output == "gather":
        # gather steps of max(block_g, min(block_j, 32·num_warps)) rows: one a thread or fewer
        lanes = max(1, min(block_j, 32 * num_warps) // block_g)
    extra = {}  # constexprs passed only when on (off: their defaults, the kernel as before)
    if features is not None and sx[2] == W * sx[3]:  # a token's offset is tok·sxw: no division
        extra["FLAT_HW"] = True
    if budget_args is not None:
        extra["FUSED_BUDGET"] = True
    if x_indirect or out_indirect:
        extra["X_DTYPE"] = _TL_DTYPES[dtype]
        if x_indirect:
            extra["X_INDIRECT"] = True
        if out_indirect:
            extra["OUT_INDIRECT"] = True
    ints = (
        *sx, W, T, m, row_stride, D, d_per_split, cells, ncell, H, fgrid,
        *split3(coverage), *split3(share),
    )  # fmt: skip
    if algo == "sort":  # video_budgets' arguments (unused without FUSED_BUDGET)
        ints += budget_args or (0, 0, 0, 0.0, 0.0, 0.0)
    kwargs = dict(
        MODE=modes[mode], WEIGHT_SCORE=weight == "score", GATHER=features is not None,
        LOWP_DOT=lowp,
        BLOCK_I=block_i or min(128, _pow2(m)),  # 128-token tiles: measured (profile_frame.py)
        BLOCK_J=block_j,
        BLOCK_T=min(1024, _pow2(T)),
        BLOCK_G=block_g, BLOCK_D=block_d, BLOCK_M=block_m, LOG_M=block_m.bit_length() - 1,
        LANES=lanes,
        CELL_W=_pow2(-(-W // min(fgrid, W))) if mode == "fusion" else 1,
        num_warps=num_warps,
        **extra,
    )  # fmt: skip
    scratch = (F * splits, _ROWS.value, m)
    site = Site(kernel, **kwargs)
    return _FramePlan(site, (F, splits), cell, key, scratch, merge, D, ints, algo == "sort")


def frame_select_triton(
    scores: torch.Tensor,
    frame_budget: torch.Tensor,
    row_stride: int,
    *,
    grid: int = 4,
    coverage: float = 0.5,
    mode: str = "select",
    fusion_grid: int | None = None,
    share: float = 0.5,
    weight: str = "mean",
    features: torch.Tensor | None = None,
    algo: str = "sort",
    block_i: int | None = None,
    block_j: int | None = None,
    num_warps: int | None = None,
    splits: int | None = None,
    block_g: int | None = None,
    token_output: str = "gather",
    _x_address: torch.Tensor | None = None,
    _out_address: torch.Tensor | None = None,
    _budget_from: tuple[torch.Tensor, tuple] | None = None,
) -> tuple[torch.Tensor, ...]:
    """Keep mask, sorted ``keep_index``, merge assignment and weights, and output tokens (SPEC §5-7)
    in one launch, with no host synchronisation.

    Args:
        scores: fused scores ``S`` (float32, on the kernel's device).
        frame_budget: ``B_f`` per frame; each video's budgets sum to at most ``row_stride``.
        row_stride: the length of each video's ``keep_index`` row (``K``; a stream passes
            ``H·W`` and slices).
        mode: ``"select"`` (SPEC §5), ``"fusion"`` (SPEC §6, ``fusion_grid``, ``share`` =
            ``fusion_share``, ``weight`` = ``fusion_weight``) or ``"context"`` (§6b, ``share`` =
            ``context_share``).
        features: the features ``[B, T, H, W, D]`` (any strides) to write the output tokens
            from; None: no tokens (selection only).
        algo: ``"sort"`` (orders by sorts and cumulative counts, frames of up to
            :data:`MAX_SORT_TOKENS` tokens; larger frames use ``"pairwise"``) or ``"pairwise"``
            (the first version, ``O(m²)`` comparisons per frame; a benchmark baseline).
        block_i, block_j, num_warps, splits: launch geometry (``benchmarks/profile_frame.py``
            sweeps these; the defaults are its fastest on an H200,
            ``results/gpu_h200_frame_kernel.json``): the token tiles (``min(128, next_pow2(m))``
            and ``max(16, min(128, next_pow2(m)))``; ``block_j`` is also the rows of a gather
            step of the merged tokens, at most ``32·num_warps`` and at least a tile of groups),
            warps per program (4, or 8 above 256 tokens), and channel slices per frame
            (default: enough programs for two per SM, at least one channel block each).
        block_g: merged groups per tile of the token output (``"context"``: default
            :func:`context_block_g` of the mean groups a frame; not for ``"fusion"``, whose
            cells all fit one tile).
        token_output: how the sorted kernel writes the output tokens: ``"gather"`` (the kept
            slots in order from a list the selection writes; each merged token from its
            group's members, ``block_j`` rows a step) or ``"scan"`` (Round 5's output: the
            frame's tokens scanned for the kept ones, and for each tile of merged groups all
            of them through a membership matrix on the tensor cores; a benchmark baseline). The
            pairwise kernel always scans. Merged tokens differ between the two by the order of
            their float32 sums only; everything else is identical.
        _x_address: private (:mod:`.graphs`): a 1-element int64 tensor holding the address, a
            multiple of 16 bytes, of the features the tokens are read from when the kernel runs;
            then ``features`` gives only their shape, strides and dtype.
        _out_address: private (:mod:`.graphs`): a 1-element int64 tensor holding the address, a
            multiple of 16 bytes, of a contiguous ``[B, row_stride, D]`` tensor of the features'
            dtype the kernel writes the output tokens into when it runs (a cached graph's replay
            writes each call's tokens into a fresh tensor, not into its own buffer); then the
            returned ``tokens`` is a one-element stand-in expanded to that shape.
        _budget_from: private (:func:`~.select.select_tokens_triton`): ``(S̄, args)``, the frame
            saliency (float32 ``[B, T]``, contiguous) and :func:`~.scores.budget_args`: the
            sorted kernel computes Eq. 4's budgets itself (the budget kernel's arithmetic, one
            launch fewer) and writes them into ``frame_budget``, then an int64 contiguous output
            it does not read. Videos of up to :data:`FUSED_BUDGET_FRAMES` frames.

    Returns:
        ``(keep, keep_index, tokens, assignment, weights)``: ``tokens`` None without features,
        ``assignment``/``weights`` None in ``"select"`` mode.

    Shapes:
        scores: [B, T, H, W], frame_budget: [B, T]  ->  keep [B, T, H, W] bool,
        keep_index [B, row_stride], tokens [B, row_stride, D], assignment/weights [B, T*H*W]
        (scores [T, H, W] and frame_budget [T], a batch of one without its B: every output
        without it too)
    """
    if (_x_address is not None or _out_address is not None) and features is None:
        raise ValueError("_x_address and _out_address need features (shape, strides, dtype)")
    *lead, T, H, W = scores.shape  # lead: [B], or none for a batch of one without its B
    Bsz = lead[0] if lead else 1
    dev = scores.device
    plan = _launch_plan(
        Bsz, T, H, W, row_stride,
        None if features is None else (features.shape[-1], features.dtype, features.stride()),
        dev, grid, coverage, mode, fusion_grid, share, weight, algo, block_i, block_j,
        num_warps, splits, block_g, token_output, _x_address is not None,
        _out_address is not None, None if _budget_from is None else _budget_from[1],
    )  # fmt: skip
    m = H * W
    # The kernel takes addresses only: contiguous float32 scores and int64 budgets as they are.
    flat = scores
    if flat.dtype != torch.float32 or not flat.is_contiguous():
        flat = flat.to(torch.float32).contiguous()
    fb = fb_out = frame_budget
    if _budget_from is not None:  # the kernel reads the saliency, writes the budgets
        fb = _budget_from[0]
        if fb.dtype != torch.float32 or not fb.is_contiguous() or fb.numel() != Bsz * T:
            raise ValueError("_budget_from: the saliency must be [B, T] float32, contiguous")
        if fb_out.dtype != torch.int64 or not fb_out.is_contiguous() or fb_out.numel() != Bsz * T:
            raise ValueError("_budget_from: frame_budget must be [B, T] int64, contiguous")
    elif fb.dtype != torch.int64 or not fb.is_contiguous():
        fb = fb_out = fb.to(torch.int64).contiguous()
    if features is not None:
        D = plan.D
        if _out_address is None:
            tokens = out = torch.empty(*lead, row_stride, D, dtype=features.dtype, device=dev)
        else:  # the kernel writes at the held address: a stand-in with the tokens' shape
            out = _out_address
            tokens = features.new_empty(1, 1, 1).expand(Bsz, row_stride, D)
        x = features if _x_address is None else _x_address
    else:
        tokens, out, x = None, flat, flat
    keep = torch.empty(*lead, T, H, W, dtype=torch.int8, device=dev)  # ints: a Size parses slower
    scratch = torch.empty(plan.scratch, dtype=torch.int32, device=dev)
    keep_index = torch.empty(*lead, row_stride, dtype=torch.int64, device=dev)
    if plan.merge:
        wscratch = torch.empty(plan.scratch[0], m, dtype=torch.float32, device=dev)
        assignment = torch.empty(*lead, T * m, dtype=torch.int64, device=dev)
        weights = torch.empty(*lead, T * m, dtype=torch.float32, device=dev)
    else:
        wscratch, assignment, weights = flat, None, None
    plan.site(
        plan.grid,
        flat, fb, plan.cell, plan.key, scratch, wscratch, keep, keep_index,
        keep_index if assignment is None else assignment, flat if weights is None else weights,
        x, out, *plan.ints, *((fb_out,) if plan.sorted else ()),
    )  # fmt: skip
    return keep.view(torch.bool), keep_index, tokens, assignment, weights


def grid_select_triton(
    scores: torch.Tensor,
    frame_budget: torch.Tensor,
    budget: int,
    grid: int = 4,
    coverage: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep mask and sorted ``keep_index`` of SPEC §5 and §7 in one kernel launch.

    Same result as ``keep = grid_quota_topk(scores, frame_budget, grid, coverage)`` and
    ``mask_to_index(keep.flatten(-3), budget)``, with no host synchronisation.

    Shapes:
        scores: [B, T, H, W], frame_budget: [B, T]  ->  keep [B, T, H, W] bool, keep_index [B, K]
    """
    keep, keep_index, _, _, _ = frame_select_triton(
        scores, frame_budget, budget, grid=grid, coverage=coverage
    )
    return keep, keep_index

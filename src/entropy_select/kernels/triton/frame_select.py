"""Grid quotas, per-frame top-B_f and the sorted ``keep_index`` in one Triton kernel (SPEC §5, §7).

Twin of :func:`entropy_select.core.grid.grid_quota_topk` followed by
:func:`entropy_select.core.select.mask_to_index` (paper §3.3): one program per frame replaces the
~15 small torch kernels (three stable argsorts, gathers, scatters) and the final argsort over all
``N`` tokens.

- Ranks by pairwise comparison: the rank of token ``i`` is the number of tokens ``j`` that beat it
  (higher score, or equal score and lower index) — exactly the order of a stable descending sort.
  ``O(m²)`` comparisons per frame, cheap for ``m <= 1024`` (a 14x14 grid is 196 tokens).
- Phase 1: rank within the token's grid cell; ``in_quota = cell_rank < k_cell``.
- Phase 2: rank by (in_quota first, score desc, index asc); ``keep = rank < B_f``.
- Phase 3: position of each kept token among the kept tokens of its frame, plus the frame's
  offset (the sum of the budgets of the frames before it): ``keep_index`` comes out sorted
  without a global sort.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ...core.grid import grid_cells

__all__ = ["grid_select_triton"]


@triton.jit
def _frame_select_kernel(
    score_ptr,  # [F, m] float32, F = B*T frames
    budget_ptr,  # [F] int64 B_f
    cell_ptr,  # [m] int32 grid cell of each position
    keep_ptr,  # [F, m] int8 out: keep mask
    inq_ptr,  # [F, m] int8 scratch: in_quota
    index_ptr,  # [B, K] int64 out: keep_index
    T,
    m,
    K,
    cells,
    coverage,
    BLOCK_I: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    f = tl.program_id(0)
    b = f // T
    t = f % T
    row = f.to(tl.int64) * m
    budget = tl.load(budget_ptr + f)
    # Cell quota k_cell (SPEC §5.2), in float64 with the core's epsilon.
    quota = tl.floor(budget.to(tl.float64) * coverage / cells + 1e-9).to(tl.int64)
    quota = tl.where((quota == 0) & (budget >= cells), 1, quota)
    quota = tl.where(budget < cells, 0, quota)
    # Offset of this frame in keep_index: the budgets of the frames before it in its video.
    offset = tl.zeros((), dtype=tl.int64)
    for t0 in range(0, T, BLOCK_T):
        tt = t0 + tl.arange(0, BLOCK_T)
        bt = tl.load(budget_ptr + b * T + tt, mask=tt < t, other=0)
        offset += tl.sum(bt, axis=0)

    # Phase 1: rank within the cell -> in_quota.
    for i0 in range(0, m, BLOCK_I):
        ii = i0 + tl.arange(0, BLOCK_I)
        si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
        ci = tl.load(cell_ptr + ii, mask=ii < m, other=-1)
        rank = tl.zeros((BLOCK_I,), dtype=tl.int32)
        for j0 in range(0, m, BLOCK_J):
            jj = j0 + tl.arange(0, BLOCK_J)
            sj = tl.load(score_ptr + row + jj, mask=jj < m, other=0.0)
            cj = tl.load(cell_ptr + jj, mask=jj < m, other=-2)
            beats = (sj[None, :] > si[:, None]) | (
                (sj[None, :] == si[:, None]) & (jj[None, :] < ii[:, None])
            )
            beats = beats & (cj[None, :] == ci[:, None])
            rank += tl.sum(beats.to(tl.int32), axis=1)
        tl.store(inq_ptr + row + ii, (rank < quota).to(tl.int8), mask=ii < m)
    tl.debug_barrier()

    # Phase 2: rank by (in_quota, score, -index) -> keep.
    for i0 in range(0, m, BLOCK_I):
        ii = i0 + tl.arange(0, BLOCK_I)
        si = tl.load(score_ptr + row + ii, mask=ii < m, other=0.0)
        qi = tl.load(inq_ptr + row + ii, mask=ii < m, other=0)
        rank = tl.zeros((BLOCK_I,), dtype=tl.int32)
        for j0 in range(0, m, BLOCK_J):
            jj = j0 + tl.arange(0, BLOCK_J)
            sj = tl.load(score_ptr + row + jj, mask=jj < m, other=0.0)
            qj = tl.load(inq_ptr + row + jj, mask=jj < m, other=0)
            by_score = (sj[None, :] > si[:, None]) | (
                (sj[None, :] == si[:, None]) & (jj[None, :] < ii[:, None])
            )
            beats = (qj[None, :] > qi[:, None]) | ((qj[None, :] == qi[:, None]) & by_score)
            beats = beats & (jj[None, :] < m)
            rank += tl.sum(beats.to(tl.int32), axis=1)
        tl.store(keep_ptr + row + ii, (rank < budget).to(tl.int8), mask=ii < m)
    tl.debug_barrier()

    # Phase 3: kept tokens in index order -> keep_index[b, offset + position].
    for i0 in range(0, m, BLOCK_I):
        ii = i0 + tl.arange(0, BLOCK_I)
        ki = tl.load(keep_ptr + row + ii, mask=ii < m, other=0)
        pos = tl.zeros((BLOCK_I,), dtype=tl.int32)
        for j0 in range(0, i0 + BLOCK_I, BLOCK_J):
            jj = j0 + tl.arange(0, BLOCK_J)
            kj = tl.load(keep_ptr + row + jj, mask=jj < m, other=0)
            before = (kj[None, :] != 0) & (jj[None, :] < ii[:, None])
            pos += tl.sum(before.to(tl.int32), axis=1)
        flat = t.to(tl.int64) * m + ii
        dest = index_ptr + b.to(tl.int64) * K + offset + pos
        tl.store(dest, flat, mask=(ii < m) & (ki != 0))


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

    Args:
        scores: fused scores ``S`` (float32 on the kernel's device).
        frame_budget: ``B_f`` per frame, summing to ``budget`` for each video.
        budget: K.

    Returns:
        ``(keep, keep_index)``.

    Shapes:
        scores: [B, T, H, W], frame_budget: [B, T]  ->  keep [B, T, H, W] bool, keep_index [B, K]
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    if not 0 <= coverage <= 1:
        raise ValueError(f"coverage must be in [0, 1], got {coverage}")
    Bsz, T, H, W = scores.shape
    m = H * W
    cell, cells = grid_cells(H, W, grid, scores.device)
    flat = scores.reshape(Bsz * T, m).to(torch.float32).contiguous()  # [F, m]
    fb = frame_budget.reshape(Bsz * T).to(torch.int64).contiguous()
    keep = torch.empty(Bsz * T, m, dtype=torch.int8, device=scores.device)
    scratch = torch.empty_like(keep)
    keep_index = torch.empty(Bsz, budget, dtype=torch.int64, device=scores.device)
    block = min(64, triton.next_power_of_2(m))
    _frame_select_kernel[(Bsz * T,)](
        flat,
        fb,
        cell.to(torch.int32).contiguous(),
        keep,
        scratch,
        keep_index,
        T,
        m,
        budget,
        cells,
        float(coverage),
        BLOCK_I=block,
        BLOCK_J=max(16, min(128, triton.next_power_of_2(m))),
        BLOCK_T=min(1024, triton.next_power_of_2(T)),
    )
    return keep.view(Bsz, T, H, W).bool(), keep_index

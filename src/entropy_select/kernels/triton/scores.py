"""Fused score (SPEC §2-3) and frame budgets (SPEC §4, Eq. 4) in two small Triton kernels.

Twins of :func:`entropy_select.core.select.combine_scores` (with
:func:`~entropy_select.core.causal.normalize_gradient`) and
:func:`entropy_select.core.allocation.allocate_frame_budget`:

1. ``_score_kernel`` — one program per frame: min-max of ``G`` (and of ``Ĥ`` in the ``minmax``
   entropy modes) over the video (the extremes come from the window kernel's finish pass, see
   :mod:`.window_entropy`) or over the frame (``minmax_scope="frame"``), the entropy term, ``S``,
   and the frame saliency ``S̄_f`` (the mean of the top ``ceil(q·m)`` scores, by a sort of the
   frame in registers).
2. ``_budget_kernel`` — one program per video and block of 64 frames (each recomputes the
   video's softmax normaliser, ``O(T)``): ``w = softmax(S̄/τ_alloc)`` in float64,
   ``B_f = clamp(floor(w_f·K), lo, hi)`` and SPEC §4.5's remainder in closed form: a frame's share
   of the remainder depends on the capacity of the frames visited before it, which is a sum over
   pairwise comparisons (``O(T)`` per frame, no sort), so the whole allocation is one launch.
   Its arithmetic is :func:`video_budgets`, which the frame kernel also calls to compute the
   budgets itself for videos of up to 64 frames (:mod:`.select`: the budget kernel's launch
   saved).
"""

from __future__ import annotations

import functools
import math
import struct

import torch
import triton
import triton.language as tl

from ...core.allocation import budget_bounds
from ...core.causal import allowance, online_bounds
from ...core.config import EntropySelectConfig
from ...core.entropy import MIN_ENTROPY_SPAN
from .launch import Site, launch
from .window_entropy import FINISH_BLOCK_N, _cdiv, _neighbours, _pow2, _sm_count, finish_block

__all__ = [
    "scores_triton",
    "finish_scores_triton",
    "finish_scores_fits",
    "frame_budget_triton",
    "online_budget_step_triton",
    "ENTROPY_MODE_IDS",
    "split3",
    "f64",
    "video_budgets",
    "budget_args",
]

ENTROPY_MODE_IDS = {"paper": 0, "minmax": 1, "complement": 2, "complement_minmax": 3}


@functools.lru_cache(maxsize=256)
def split3(value: float) -> tuple[float, float, float]:
    """A Python float as three float32 values whose float64 sum is exactly it (Triton passes
    float arguments as float32; :func:`f64` rebuilds the float64 the core computes with)."""
    parts = []
    rest = float(value)
    for _ in range(3):
        part = struct.unpack("<f", struct.pack("<f", rest))[0]
        parts.append(part)
        rest -= part
    return tuple(parts)


@triton.jit
def f64(hi, mid, lo):
    """The float64 ``hi + mid + lo`` of :func:`split3`'s parts."""
    return tl.cast(hi, tl.float64) + tl.cast(mid, tl.float64) + tl.cast(lo, tl.float64)


@triton.jit
def _score_kernel(
    ent_ptr,  # [F, m] float32 Ĥ
    grad_ptr,  # [F, m] float32 raw gradient G
    mm_ptr,  # [B, 4] int32: float bits of min Ĥ, max Ĥ, min G, max G of each video
    score_ptr,  # [F, m] float32 out S
    gnorm_ptr,  # [F, m] float32 out Ĝ
    sal_ptr,  # [F] float32 out S̄_f
    T,
    m,
    alpha,
    beta,
    count,
    min_span,
    ENT_MODE: tl.constexpr,
    FRAME_SCOPE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    score_frame(
        tl.program_id(0), ent_ptr, grad_ptr, mm_ptr, score_ptr, gnorm_ptr, sal_ptr, T, m, alpha,
        beta, count, min_span, ENT_MODE, FRAME_SCOPE, BLOCK, False,
    )  # fmt: skip


@triton.jit
def score_frame(
    f,
    ent_ptr,
    grad_ptr,
    mm_ptr,
    score_ptr,
    gnorm_ptr,
    sal_ptr,
    T,
    m,
    alpha,
    beta,
    count,
    min_span,
    ENT_MODE: tl.constexpr,
    FRAME_SCOPE: tl.constexpr,
    BLOCK: tl.constexpr,
    FROM_L2: tl.constexpr,
):
    """The score kernel's work for frame ``f`` (flat ``b·T + t``); ``FROM_L2``: ``Ĥ``, ``G`` and
    the extremes are read past the L1 cache (``.cg``: written by other programs of the same
    launch, :func:`_finish_score_kernel`)."""
    b = f // T
    offs = tl.arange(0, BLOCK)
    msk = offs < m
    base = f.to(tl.int64) * m
    if FROM_L2:
        e = tl.load(ent_ptr + base + offs, mask=msk, other=0.0, cache_modifier=".cg")
        g = tl.load(grad_ptr + base + offs, mask=msk, other=0.0, cache_modifier=".cg")
    else:
        e = tl.load(ent_ptr + base + offs, mask=msk, other=0.0)
        g = tl.load(grad_ptr + base + offs, mask=msk, other=0.0)
    if FRAME_SCOPE:
        elo = tl.min(tl.where(msk, e, float("inf")), 0)
        ehi = tl.max(tl.where(msk, e, float("-inf")), 0)
        glo = tl.min(tl.where(msk, g, float("inf")), 0)
        ghi = tl.max(tl.where(msk, g, float("-inf")), 0)
    else:
        if FROM_L2:
            elo = tl.load(mm_ptr + b * 4, cache_modifier=".cg").to(tl.float32, bitcast=True)
            ehi = tl.load(mm_ptr + b * 4 + 1, cache_modifier=".cg").to(tl.float32, bitcast=True)
            glo = tl.load(mm_ptr + b * 4 + 2, cache_modifier=".cg").to(tl.float32, bitcast=True)
            ghi = tl.load(mm_ptr + b * 4 + 3, cache_modifier=".cg").to(tl.float32, bitcast=True)
        else:
            elo = tl.load(mm_ptr + b * 4).to(tl.float32, bitcast=True)
            ehi = tl.load(mm_ptr + b * 4 + 1).to(tl.float32, bitcast=True)
            glo = tl.load(mm_ptr + b * 4 + 2).to(tl.float32, bitcast=True)
            ghi = tl.load(mm_ptr + b * 4 + 3).to(tl.float32, bitcast=True)
    gspan = ghi - glo
    gn = tl.where(gspan > 0, (g - glo) / tl.where(gspan > 0, gspan, 1.0), 0.0)
    espan = ehi - elo
    en = tl.where(espan > min_span, (e - elo) / tl.where(espan > min_span, espan, 1.0), 0.0)
    if ENT_MODE == 0:
        term = e
    elif ENT_MODE == 1:
        term = en
    elif ENT_MODE == 2:
        term = 1.0 - e
    else:
        term = 1.0 - en
    s = alpha * term + beta * gn
    tl.store(score_ptr + base + offs, s, mask=msk)
    tl.store(gnorm_ptr + base + offs, gn, mask=msk)
    top = tl.sort(tl.where(msk, s, float("-inf")), descending=True)
    sal = tl.sum(tl.where(offs < count, top, 0.0), 0) / count
    tl.store(sal_ptr + f, sal)


@triton.jit
def _finish_score_kernel(
    p_ptr,  # [S, N, C] float32: the band kernel's partials
    ent_ptr,  # [F, m] float32 out Ĥ
    grad_ptr,  # [F, m] float32 out raw G
    mm_ptr,  # [B + 1, 4] int32: the extremes, readied by the band kernel; [B, 1] the count
    score_ptr,  # [F, m] float32 out S
    gnorm_ptr,  # [F, m] float32 out Ĝ
    sal_ptr,  # [F] float32 out S̄_f
    T,
    H,
    W,
    NTOK,
    SPLITS,
    inv_tau,
    NFIN,
    NVID,
    alpha,
    beta,
    count,
    min_span,
    K_S: tl.constexpr,
    K_T: tl.constexpr,
    K_P: tl.constexpr,
    NOFF: tl.constexpr,
    NCOL: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ENT_MODE: tl.constexpr,
    BLOCK: tl.constexpr,
    GRAD_GRAM: tl.constexpr = False,
):
    """The finish kernel and the score kernel in one launch (video-scope min-max).

    Programs ``[0, NFIN)`` are the finish kernel's blocks: each writes ``Ĥ`` and ``G`` of its
    tokens, reduces them into the video's extremes, then adds one to the count (a release
    atomic after a barrier: every thread's stores and atomics come before it). Programs
    ``[NFIN, NFIN + B·T)`` are the score kernel's frames: each waits until the count reaches
    ``NFIN`` (acquire), then scores its frame from L2. A waiting program only waits for programs
    of lower index, which the GPU dispatches before it (the order single-pass scans rely on),
    and each of those finishes without waiting: no deadlock whatever the grid's size; under
    ``TRITON_INTERPRET=1`` the programs run in index order and the count is full when the
    first frame looks."""
    pid = tl.program_id(0)
    counter = mm_ptr + 4 * NVID + 1
    if pid < NFIN:
        finish_block(
            pid, p_ptr, ent_ptr, grad_ptr, mm_ptr, T, H, W, NTOK, SPLITS, inv_tau,
            K_S, K_T, K_P, NOFF, NCOL, BLOCK_N, True, False, GRAD_GRAM,
        )  # fmt: skip
        tl.debug_barrier()
        tl.atomic_add(counter, 1, sem="release", scope="gpu")
    else:
        done = tl.atomic_add(counter, 0, sem="acquire", scope="gpu")
        while done < NFIN:
            done = tl.atomic_add(counter, 0, sem="acquire", scope="gpu")
        tl.debug_barrier()
        score_frame(
            pid - NFIN, ent_ptr, grad_ptr, mm_ptr, score_ptr, gnorm_ptr, sal_ptr, T, H * W,
            alpha, beta, count, min_span, ENT_MODE, False, BLOCK, True,
        )  # fmt: skip


@triton.jit
def _weight(sal_ptr, b, T, tt, mx, z, tau):
    """Softmax weight ``w_t`` (float64) of frames ``tt`` of video ``b`` (0 outside [0, T))."""
    s = tl.load(sal_ptr + b * T + tt, mask=tt < T, other=0.0).to(tl.float64)
    return tl.where(tt < T, tl.exp(s / tau - mx) / z, 0.0)


@triton.jit
def video_budgets(
    sal_ptr, b, T, K, lo, hi, tau_hi, tau_mid, tau_lo, ii,
    BLOCK_T: tl.constexpr, BLOCK_J: tl.constexpr,
):  # fmt: skip
    """Eq. 4's ``B_f`` (int64) of frames ``ii`` of video ``b`` from its frame saliency
    ``sal_ptr[b·T : (b+1)·T]`` (0 for ``ii`` outside [0, T)). The budget kernel and the frame
    kernel's fused budgets (:mod:`.frame_select`, ``FUSED_BUDGET``) both call it."""
    tau = f64(tau_hi, tau_mid, tau_lo)
    kf = tl.cast(K, tl.float64)
    # Softmax normaliser in float64 (the core's arithmetic).
    mx = tl.full((), float("-inf"), tl.float64)
    for t0 in range(0, T, BLOCK_T):
        tt = t0 + tl.arange(0, BLOCK_T)
        s = tl.load(sal_ptr + b * T + tt, mask=tt < T, other=0.0).to(tl.float64)
        mx = tl.maximum(mx, tl.max(tl.where(tt < T, s / tau, float("-inf")), 0))
    z = tl.zeros((), dtype=tl.float64)
    for t0 in range(0, T, BLOCK_T):
        tt = t0 + tl.arange(0, BLOCK_T)
        s = tl.load(sal_ptr + b * T + tt, mask=tt < T, other=0.0).to(tl.float64)
        z += tl.sum(tl.where(tt < T, tl.exp(s / tau - mx), 0.0), 0)
    total = tl.zeros((), dtype=tl.int64)
    for t0 in range(0, T, BLOCK_T):
        tt = t0 + tl.arange(0, BLOCK_T)
        w = _weight(sal_ptr, b, T, tt, mx, z, tau)
        alloc = tl.minimum(tl.maximum(tl.floor(w * kf).to(tl.int64), lo), hi)
        total += tl.sum(tl.where(tt < T, alloc, 0), 0)
    excess = total - K  # > 0: remove, < 0: add
    add_amount = tl.maximum(-excess, 0)
    rm_amount = tl.maximum(excess, 0)
    wi = _weight(sal_ptr, b, T, ii, mx, z, tau)
    ai = tl.minimum(tl.maximum(tl.floor(wi * kf).to(tl.int64), lo), hi)
    before_add = tl.zeros(ii.shape, dtype=tl.int64)
    before_rm = tl.zeros(ii.shape, dtype=tl.int64)
    for j0 in range(0, T, BLOCK_J):
        jj = j0 + tl.arange(0, BLOCK_J)
        wj = _weight(sal_ptr, b, T, jj, mx, z, tau)
        aj = tl.minimum(tl.maximum(tl.floor(wj * kf).to(tl.int64), lo), hi)
        live = (jj < T)[None, :]
        # Add order: largest w first, ties lower frame; remove: smallest w first, ties higher.
        first_add = (wj[None, :] > wi[:, None]) | (
            (wj[None, :] == wi[:, None]) & (jj[None, :] < ii[:, None])
        )
        first_rm = (wj[None, :] < wi[:, None]) | (
            (wj[None, :] == wi[:, None]) & (jj[None, :] > ii[:, None])
        )
        before_add += tl.sum(tl.where(first_add & live, (hi - aj)[None, :], 0), 1)
        before_rm += tl.sum(tl.where(first_rm & live, (aj - lo)[None, :], 0), 1)
    add = tl.minimum(hi - ai, tl.maximum(add_amount - before_add, 0))
    rm = tl.minimum(ai - lo, tl.maximum(rm_amount - before_rm, 0))
    return tl.where(ii < T, ai + add - rm, 0)


@triton.jit
def _budget_kernel(
    sal_ptr,  # [B, T] float32 frame saliency
    fb_ptr,  # [B, T] int64 out: B_f
    T,
    K,
    lo,
    hi,
    tau_hi,
    tau_mid,
    tau_lo,
    BLOCK_T: tl.constexpr,
    BLOCK_J: tl.constexpr,
):
    b = tl.program_id(0)
    # This program's block of frames (each program recomputes the normaliser).
    ii = tl.program_id(1) * BLOCK_J + tl.arange(0, BLOCK_J)
    fb = video_budgets(sal_ptr, b, T, K, lo, hi, tau_hi, tau_mid, tau_lo, ii, BLOCK_T, BLOCK_J)
    tl.store(fb_ptr + b * T + ii, fb, mask=ii < T)


def scores_triton(
    entropy: torch.Tensor,
    grad: torch.Tensor,
    minmax: torch.Tensor | None,
    config: EntropySelectConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(S, Ĝ, S̄)``: the fused score, the normalised gradient and the frame saliency.

    Args:
        entropy, grad: ``Ĥ`` and the raw ``G`` of the window kernel (float32, contiguous).
        minmax: ``[B, 4]`` int32 float bits of each video's extremes of ``Ĥ`` and ``G`` (from
            the window kernel); unused with ``minmax_scope="frame"``.
        config: the hyper-parameters (``rarity`` must be 0).

    Shapes:
        entropy, grad: [B, T, H, W]  ->  S [B, T, H, W], Ĝ [B, T, H, W], S̄ [B, T]
        (or [T, H, W], a batch of one without its B, and then S̄ [T])
    """
    *lead, T, H, W = entropy.shape
    B = lead[0] if lead else 1
    score = torch.empty_like(entropy)
    gnorm = torch.empty_like(entropy)
    sal = torch.empty(*lead, T, dtype=torch.float32, device=entropy.device)
    ints, site = _score_plan(T, H * W, config)
    site((B * T,), entropy, grad, entropy if minmax is None else minmax, score, gnorm, sal, *ints)
    return score, gnorm, sal


#: The finish pass and the score kernel in one launch (:func:`finish_scores_triton`) where
#: :func:`finish_scores_fits`; ``FINISH_SCORES[0] = False`` launches them apart (tests,
#: benchmarks).
FINISH_SCORES = [True]
#: Programs of one finish-and-score launch, at most, per multiprocessor: its frames wait for
#: its finish blocks, so it is kept small enough for every program to be resident at once
#: (besides the dispatch order the kernel's docstring relies on). 392 + 64 programs at 64
#: frames of 14x14, 132 multiprocessors on an H100 or H200.
FINISH_SCORES_PER_SM = 4


def finish_scores_fits(B: int, T: int, m: int, device: torch.device) -> bool:
    """Whether :func:`finish_scores_triton` takes a batch of ``B`` videos of ``T`` frames of
    ``m`` tokens on ``device`` (:data:`FINISH_SCORES`, its grid within
    :data:`FINISH_SCORES_PER_SM` programs a multiprocessor; any size under the interpreter,
    whose programs run one after another in index order)."""
    if not FINISH_SCORES[0]:
        return False
    if device.type != "cuda":
        return True
    programs = _cdiv(B * T * m, FINISH_BLOCK_N) + B * T
    return programs <= FINISH_SCORES_PER_SM * _sm_count(device)


def finish_scores_triton(
    partial: torch.Tensor,
    counted: torch.Tensor,
    shape: tuple,
    config: EntropySelectConfig,
    squeeze: bool = False,
    grad_gram: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(S, Ĥ, Ĝ, S̄)`` from the band kernel's partials in one launch: the finish pass and the
    score kernel of :func:`scores_triton` (``minmax_scope="video"``), see
    :func:`_finish_score_kernel`.

    Args:
        partial: the ``[S, N, C]`` partials of
            :func:`~.window_entropy.band_partials_triton` for features of ``shape``.
        counted: its ``[B + 1, 4]`` int32 buffer, readied by the band kernel.
        shape: the features' ``(B, T, H, W, D)``.
        config: the hyper-parameters (``rarity`` 0, ``minmax_scope="video"``).
        squeeze: a batch of one whose maps come without their ``B``.
        grad_gram: the partials leave the gradient to the finish pass (what
            :func:`~.window_entropy.band_partials_triton` returned with them).

    Shapes:
        -> S, Ĥ, Ĝ [B, T, H, W] float32 and S̄ [B, T] (or [T, H, W] and [T] with ``squeeze``)
    """
    maps, frames, grid, ints, site = _finish_score_plan(
        tuple(shape), tuple(partial.shape), config, squeeze, grad_gram
    )
    device = partial.device
    # sizes as ints, not a tuple: torch parses them faster (the eager call's host time)
    entropy = torch.empty(*maps, dtype=torch.float32, device=device)
    grad = torch.empty(*maps, dtype=torch.float32, device=device)
    score = torch.empty(*maps, dtype=torch.float32, device=device)
    gnorm = torch.empty(*maps, dtype=torch.float32, device=device)
    sal = torch.empty(*frames, dtype=torch.float32, device=device)
    site(grid, partial, entropy, grad, counted, score, gnorm, sal, *ints)
    return score, entropy, gnorm, sal


@functools.lru_cache(maxsize=256)
def _finish_score_plan(
    shape, partial_shape, config: EntropySelectConfig, squeeze: bool, grad_gram: bool = False
):
    """:func:`finish_scores_triton`'s output shapes, grid, positional arguments after its
    pointers and launch site (cached: the same for every call of a shape and config)."""
    if config.minmax_scope != "video":
        raise ValueError("the finish-and-score kernel takes minmax_scope='video' only")
    B, T, H, W, _ = shape
    splits, ntok, ncol = partial_shape
    m = H * W
    nfin = _cdiv(ntok, FINISH_BLOCK_N)
    score_ints, _ = _score_plan(T, m, config)
    ints = (T, H, W, ntok, splits, 1.0 / config.tau, nfin, B, *score_ints[2:])
    site = Site(
        _finish_score_kernel,
        K_S=config.spatial_window,
        K_T=config.temporal_window,
        K_P=config.past_window,
        NOFF=_neighbours(config.spatial_window, config.temporal_window, config.past_window),
        NCOL=ncol,
        BLOCK_N=FINISH_BLOCK_N,
        ENT_MODE=ENTROPY_MODE_IDS[config.entropy_mode],
        BLOCK=max(16, _pow2(m)),
        num_warps=4,
        **({"GRAD_GRAM": True} if grad_gram else {}),
    )
    maps, frames = ((T, H, W), (T,)) if squeeze else ((B, T, H, W), (B, T))
    return maps, frames, (nfin + B * T,), ints, site


@functools.lru_cache(maxsize=256)
def _score_plan(T: int, m: int, config: EntropySelectConfig) -> tuple[tuple, Site]:
    """The score kernel's positional arguments after its pointers, and its launch site with
    its keyword arguments (cached: the same for every call of a shape and config)."""
    count = min(m, max(1, math.ceil(config.top_q * m - 1e-9)))
    ints = (T, m, float(config.alpha), float(1 - config.alpha), count, MIN_ENTROPY_SPAN)
    site = Site(
        _score_kernel,
        ENT_MODE=ENTROPY_MODE_IDS[config.entropy_mode],
        FRAME_SCOPE=config.minmax_scope == "frame",
        BLOCK=max(16, _pow2(m)),
        num_warps=4,
    )
    return ints, site


def frame_budget_triton(
    saliency: torch.Tensor, budget: int, tokens_per_frame: int, config: EntropySelectConfig
) -> torch.Tensor:
    """Eq. 4's frame budgets from the frame saliency, in one launch (SPEC §4).

    Shapes:
        saliency: [B, T] float32  ->  [B, T] int64 summing to ``budget`` per video
        (or [T] -> [T], a batch of one without its B)
    """
    *lead, T = saliency.shape
    grid, ints, site = _budget_plan(lead[0] if lead else 1, T, budget, tokens_per_frame, config)
    fb = torch.empty(*lead, T, dtype=torch.int64, device=saliency.device)
    site(grid, saliency, fb, *ints)
    return fb


@functools.lru_cache(maxsize=256)
def budget_args(T: int, budget: int, tokens_per_frame: int, config: EntropySelectConfig) -> tuple:
    """``(K, lo, hi, τ_hi, τ_mid, τ_lo)``: :func:`video_budgets`' arguments after ``T`` (checked,
    cached: the same for every call of a shape, ``K`` and config)."""
    if not 1 <= budget <= T * tokens_per_frame:
        raise ValueError(f"budget must be in [1, {T * tokens_per_frame}], got {budget}")
    lo, hi = budget_bounds(
        budget, T, tokens_per_frame, config.min_frame_tokens, config.max_frame_tokens
    )
    return (budget, lo, hi, *split3(config.alloc_tau))


@functools.lru_cache(maxsize=256)
def _budget_plan(B: int, T: int, budget: int, tokens_per_frame: int, config: EntropySelectConfig):
    """The budget kernel's grid, positional arguments after its pointers and launch site (cached:
    the same for every call of a shape, ``K`` and config)."""
    args = budget_args(T, budget, tokens_per_frame, config)
    block_j = min(64, max(16, _pow2(T)))
    site = Site(_budget_kernel, BLOCK_T=min(1024, max(16, _pow2(T))), BLOCK_J=block_j, num_warps=4)
    return (B, _cdiv(T, block_j)), (T, *args), site


# ``limit`` (the allowance) grows every frame: not specialised (a value divisible by 16 or equal
# to 1 would otherwise compile a new variant in the middle of a stream).
@triton.jit(do_not_specialize=["limit"])
def _online_budget_kernel(
    sal_ptr,  # [B] float32 S̄_t of each stream (sal_ptr + b * sal_stride)
    log_norm_ptr,  # [B] float64 L_{t−1}
    carry_ptr,  # [B] float64 c_{t−1}
    emitted_ptr,  # [B] int64 E_{t−1}
    state_ptr,  # [2, B] float64 out: L_t, c_t
    new_emitted_ptr,  # [B] int64 out: E_t
    host_ptr,  # [3, B] int64 out: b_t, E_t, and 1 where the frame is finite (else 0)
    odd_ptr,  # [B] int32 NaN/inf values of each stream's frame (CHECK)
    NB,
    sal_stride,
    limit,
    lo,
    hi,
    tau_hi,
    tau_mid,
    tau_lo,
    past_hi,
    past_mid,
    past_lo,
    now_hi,
    now_mid,
    now_lo,
    g_hi,
    g_mid,
    g_lo,
    CHECK: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One step of :func:`entropy_select.core.causal.online_budget_step` for every stream, in the
    core's float64 arithmetic: ``limit`` is the allowance ``ceil(r·N_t)``, ``past`` and ``now``
    are ``r·N_{t−1}`` and ``r·N_t``, ``g`` the bank rate γ."""
    bb = tl.arange(0, BLOCK)
    ok = bb < NB
    tau = f64(tau_hi, tau_mid, tau_lo)
    past = f64(past_hi, past_mid, past_lo)
    now = f64(now_hi, now_mid, now_lo)
    gamma = f64(g_hi, g_mid, g_lo)
    logit = tl.load(sal_ptr + bb * sal_stride, mask=ok, other=0.0).to(tl.float64) / tau
    prev = tl.load(log_norm_ptr + bb, mask=ok, other=0.0)
    # torch.logaddexp: a where both are the same infinity, else max + log1p(exp(-|a − b|)).
    same_inf = (prev == logit) & (tl.abs(prev) == float("inf"))
    diff = tl.where(same_inf, 0.0, tl.abs(prev - logit))
    y = tl.exp(-diff)
    u = 1.0 + y
    log1p = tl.where(u == 1.0, y, tl.log(u) * (y / tl.where(u == 1.0, 1.0, u - 1.0)))  # Goldberg
    log_norm = tl.where(same_inf, prev, tl.maximum(prev, logit) + log1p)
    weight = tl.exp(logit - log_norm)
    carry = tl.load(carry_ptr + bb, mask=ok, other=0.0)
    emitted = tl.load(emitted_ptr + bb, mask=ok, other=0)
    bank = tl.maximum(past - emitted.to(tl.float64) - carry, 0.0)
    wish = carry + weight * now + gamma * bank
    want = tl.floor(wish + 1e-9).to(tl.int64)
    cap = tl.minimum(limit - emitted, hi)
    budget = tl.maximum(tl.minimum(want, cap), lo)
    new_carry = tl.minimum(tl.maximum(wish - budget.to(tl.float64), 0.0), 1.0)
    if CHECK:
        finite = (tl.load(odd_ptr + bb, mask=ok, other=0) == 0).to(tl.int64)
    else:
        finite = 1
    tl.store(state_ptr + bb, log_norm, mask=ok)
    tl.store(state_ptr + NB + bb, new_carry, mask=ok)
    tl.store(new_emitted_ptr + bb, emitted + budget, mask=ok)
    tl.store(host_ptr + bb, budget, mask=ok)
    tl.store(host_ptr + NB + bb, emitted + budget, mask=ok)
    tl.store(host_ptr + 2 * NB + bb, tl.zeros_like(budget) + finite, mask=ok)


def online_budget_step_triton(
    saliency: torch.Tensor,
    log_norm: torch.Tensor,
    carry: torch.Tensor,
    emitted: torch.Tensor,
    frame: int,
    retention: float,
    tokens_per_frame: int,
    config: EntropySelectConfig,
    nonfinite: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`~entropy_select.core.causal.online_budget_step` in one launch, out of place (the
    inputs are left as they are, so that a caller can drop the step: a stream that finds a NaN
    frame after the launch).

    Args:
        nonfinite: optional ``[B]`` int32 count of NaN/inf values of each stream's frame (from
            the streaming window kernel): the host tensor's third row is 1 where it is 0, else
            0 (all ones without it).

    Returns:
        ``(host, log_norm, carry, emitted)``: ``host`` ``[3, B]`` int64 holds ``b_t``,
        ``E_t = E_{t−1} + b_t`` and the finite flag (one tensor, for one host copy); then
        ``L_t``, ``c_t`` (rows of one ``[2, B]`` float64 tensor) and ``E_t`` ``[B]`` int64.

    Shapes:
        saliency: [B] float32 (any stride); log_norm, carry: [B] float64; emitted: [B] int64
        ->  host [3, B] int64, log_norm [B], carry [B] float64, emitted [B] int64
    """
    m = tokens_per_frame
    lo, hi = online_bounds(retention, m, config)
    seen = m * (frame + 1)
    B = saliency.shape[0]
    dev = saliency.device
    host = torch.empty(3, B, dtype=torch.int64, device=dev)
    state = torch.empty(2, B, dtype=torch.float64, device=dev)
    new_emitted = torch.empty(B, dtype=torch.int64, device=dev)
    launch(
        _online_budget_kernel, (1,),
        saliency, log_norm, carry, emitted, state, new_emitted, host,
        nonfinite if nonfinite is not None else saliency, B, saliency.stride(0),
        allowance(retention, seen), lo, hi, *split3(config.alloc_tau),
        *split3(retention * (seen - m)), *split3(retention * seen), *split3(config.bank_rate),
        CHECK=nonfinite is not None, BLOCK=max(16, _pow2(B)), num_warps=1,
    )  # fmt: skip
    return host, state[0], state[1], new_emitted

"""Streaming selection: frames in as they arrive, kept tokens out per frame, bounded memory.

ENTROPY-SELECT's temporal window only looks back (SPEC §1), so the method is causal once its two
whole-video steps get causal counterparts (:mod:`entropy_select.core.causal`): ``Ĝ`` min-max
normalised per frame (``minmax_scope="frame"``) and per-frame budgets from a fixed rate or the
online saliency-adaptive rule (``frame_budget_rule="online"``). :class:`StreamingSelector` holds
only the last ``K_t − 1`` frames and a few numbers per stream between pushes, and
``select_tokens(x, frame_budget=b, config=stream.config)`` reproduces it frame by frame.

Example::

    stream = es.StreamingSelector(retention=0.25)
    for frame in frames:                  # [H, W, D] features of one frame
        out = stream.push(frame)          # FrameSelection: keep_index [B_t], tokens [B_t, D], ...
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from .core.allocation import frame_saliency
from .core.causal import (
    allowance,
    frame_window_entropy,
    normalize_gradient,
    normalize_tokens,
    online_bounds,
    online_budget_step,
    window_validity,
)
from .core.checks import check_budget, check_finite, check_retention
from .core.config import EntropySelectConfig
from .core.gradient import spatial_gradient_magnitude
from .core.select import combine_scores, select_from_scores
from .core.selection import Selection, assemble_selection

__all__ = ["FrameSelection", "StreamingSelector", "STREAM_IMPLS", "BUDGET_MODES", "stack_frames"]

STREAM_IMPLS = ("auto", "reference", "triton")
BUDGET_MODES = ("adaptive", "fixed")


@dataclass(frozen=True)
class FrameSelection:
    """What the stream kept of one frame.

    Shapes:
        keep_index:   [B_t] int64 positions ``i*W + j`` within the frame, sorted ascending.
        tokens:       [B_t, D] the output tokens (features at ``keep_index``, or merged cell
                      tokens where grid fusion applies; dtype and device of the input frame).
        scores, entropy, gradient: [H, W] the fused score S, Ĥ and Ĝ (Ĝ min-max per frame).
        keep_mask:    [H, W] bool, True at ``keep_index``.
        assignment:   [H*W] int64 or None: output slot of each input token (-1: dropped), set
                      under grid fusion (see :class:`~entropy_select.core.Selection`).
        weights:      [H*W] or None: each input's weight in its slot's mean (grid fusion).
    """

    t: int  # 0-based frame number in the stream
    keep_index: torch.Tensor
    tokens: torch.Tensor
    scores: torch.Tensor
    entropy: torch.Tensor
    gradient: torch.Tensor
    keep_mask: torch.Tensor
    assignment: torch.Tensor | None
    weights: torch.Tensor | None
    emitted: int  # E_t: tokens emitted by this stream so far, this frame included
    seen: int  # N_t: tokens pushed so far, this frame included

    @property
    def budget(self) -> int:
        """B_t, the number of tokens kept of this frame."""
        return int(self.keep_index.shape[0])


class StreamingSelector:
    """ENTROPY-SELECT one frame at a time, with memory that does not grow with the video.

    Args:
        retention: the rate ``r`` in (0, 1]: after every frame ``t`` the tokens emitted so far
            never exceed ``ceil(r·N_t)`` (``N_t`` tokens seen). Or give ``tokens_per_frame``.
        tokens_per_frame: a fixed budget per frame (1 <= it <= H·W).
        config: the hyper-parameters (default :class:`EntropySelectConfig()`); the stream uses
            their causal counterparts (:attr:`config`).
        budget: ``"adaptive"`` (default with ``retention``: the online saliency-adaptive rule of
            :func:`~entropy_select.core.causal.online_budget_step`, with banking) or ``"fixed"``
            (``ceil(r·N_t) − ceil(r·N_{t−1})`` tokens per frame; the only mode of
            ``tokens_per_frame``).
        impl: ``"auto"`` (the Triton window kernel on CUDA when available, else the torch path),
            ``"reference"`` (torch: the reference arithmetic restricted to the new frame) or
            ``"triton"`` (raises if it cannot run).
        validate: check every frame for NaN/inf (the torch path: one host synchronisation per
            frame; the Triton path: read back with the budgets at the push's one sync, the
            state committed only after it).
        **options: config fields overriding ``config`` (``tau=0.1``).

    Shapes:
        push: [H, W, D] -> FrameSelection; [B, H, W, D] (B independent streams) -> list of B.
    """

    def __init__(
        self,
        retention: float | None = None,
        tokens_per_frame: int | None = None,
        config: EntropySelectConfig | None = None,
        *,
        budget: str | None = None,
        impl: str = "auto",
        validate: bool = True,
        **options: Any,
    ) -> None:
        cfg = config if config is not None else EntropySelectConfig()
        if not isinstance(cfg, EntropySelectConfig):
            raise TypeError(f"config must be an EntropySelectConfig, got {type(cfg).__name__}")
        if options:
            cfg = EntropySelectConfig.from_kwargs(cfg, **options)
        if (retention is None) == (tokens_per_frame is None):
            raise ValueError(
                "give exactly one of retention= (a rate in (0, 1]) or tokens_per_frame= (a count)"
            )
        if retention is not None:
            retention = check_retention(retention)
            mode = "adaptive" if budget is None else budget
        else:
            tokens_per_frame = check_budget(tokens_per_frame, name="tokens_per_frame")
            mode = "fixed" if budget is None else budget
            if mode != "fixed":
                raise ValueError(
                    'tokens_per_frame= is a fixed budget: budget="adaptive" needs retention='
                )
        if mode not in BUDGET_MODES:
            raise ValueError(f"budget must be one of {', '.join(BUDGET_MODES)}; got {mode!r}")
        if impl not in STREAM_IMPLS:
            raise ValueError(f"impl must be one of {', '.join(STREAM_IMPLS)}; got {impl!r}")
        self.retention = retention
        self.tokens_per_frame = tokens_per_frame
        self.budget_mode = mode
        self.impl = impl
        self.validate = validate
        self._config = dataclasses.replace(
            cfg,
            minmax_scope="frame",
            frame_budget_rule="online" if mode == "adaptive" else cfg.frame_budget_rule,
        )
        self.reset()

    @property
    def config(self) -> EntropySelectConfig:
        """The offline config that reproduces this stream:
        ``select_tokens(x, frame_budget=b, config=stream.config)`` with ``b`` the stream's
        budgets gives its selections frame by frame; in the adaptive mode
        ``select_tokens(x, retention=r, config=stream.config)`` computes ``b`` too."""
        return self._config

    def reset(self) -> None:
        """Forget every frame: the next push starts a new stream (shape may change)."""
        self._history: list[torch.Tensor] = []  # <= K_t − 1 past frames [B, H, W, D]
        self._ring: torch.Tensor | None = None  # Triton path: [B, K_t − 1, H, W, D] past frames
        self._head = 0  # Triton path: ring slot of the previous frame
        self._emitted: torch.Tensor | None = None  # [B] int64, E_{t−1}
        self._log_norm: torch.Tensor | None = None  # [B] float64, L_{t−1} of the online rule
        self._carry: torch.Tensor | None = None  # [B] float64, c_{t−1} of the online rule
        self._shape: tuple[int, ...] | None = None  # (B, H, W, D) of the first frame
        self._dtype: torch.dtype | None = None
        self._device: torch.device | None = None
        self._t = 0
        self._impl: str | None = None
        self._validity: dict[int, torch.Tensor] = {}  # window length -> [O, H, W] (a cache)

    @property
    def frames_seen(self) -> int:
        """Frames pushed since the last reset."""
        return self._t

    @property
    def history_frames(self) -> int:
        """Past frames held in the state (at most ``temporal_window − 1``)."""
        return len(self._history)

    @property
    def state_bytes(self) -> int:
        """Bytes held between pushes: the past frames of the window (normalised, in float32, on
        the torch path; raw on the Triton path, in a ring of ``temporal_window − 1`` slots
        allocated whole at the first push) and the per-stream counters (each storage once)."""
        held = [*self._history, self._emitted, self._log_norm, self._carry]
        storages = {}
        for t in held:
            if t is not None:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return sum(storages.values())

    def push(self, frame: torch.Tensor) -> FrameSelection | list[FrameSelection]:
        """Select the tokens of the next frame.

        Args:
            frame: raw features of one frame ``[H, W, D]``, or ``[B, H, W, D]`` for B streams
                advancing together (each result equals that stream alone). Every push of a
                stream must have the first push's shape, dtype and device.

        Returns:
            A :class:`FrameSelection` (a list of B for a batched frame).

        Raises:
            TypeError: not a floating-point tensor.
            ValueError: wrong rank, empty, NaN/inf, a shape/dtype/device other than the stream's,
            or ``tokens_per_frame`` larger than ``H·W``.

        Shapes:
            frame: [H, W, D] -> FrameSelection (keep_index [B_t], tokens [B_t, D]);
            frame: [B, H, W, D] -> list of B FrameSelection
        """
        x = self._check(frame)  # [B, H, W, D]
        if self._impl == "triton":
            if x.is_cuda and x.get_device() != torch.cuda.current_device():
                with torch.cuda.device(x.device):  # Triton launches on the current device
                    return self._push_triton(frame, x)
            return self._push_triton(frame, x)
        B, H, W, D = x.shape
        m = H * W
        cfg = self._config
        t = self._t
        with torch.no_grad():
            xd = x.detach()
            # The torch path keeps its past frames normalised (SPEC §1.1): each frame once.
            new = normalize_tokens(xd)
            # NaN/inf anywhere makes the sum of the normalised frame non-finite (inf/inf = NaN):
            # one cheap reduction; the exact count only when it fails (or for a huge raw sum).
            if self.validate and not bool(torch.isfinite(new.sum())):
                check_finite(x, f"frame {t}")
            self._start(x)
            window = [*self._history, new]  # L <= K_t frames [B, H, W, D], oldest first
            L = len(window)
            if L not in self._validity:  # which neighbours exist: depends on L only
                self._validity[L] = window_validity(
                    L, H, W, cfg.spatial_window, cfg.temporal_window, cfg.past_window, x.device
                )
            entropy = frame_window_entropy(
                window,
                cfg.spatial_window,
                cfg.temporal_window,
                cfg.past_window,
                cfg.tau,
                normalized=True,
                validity=self._validity[L],
            )[:, None]  # [B, 1, H, W]
            raw = spatial_gradient_magnitude(xd[:, None])  # [B, 1, H, W]
            gradient = normalize_gradient(raw, cfg)  # causal: Ĝ min-max over the frame
            score = combine_scores(entropy, gradient, cfg, xd[:, None])  # [B, 1, H, W]
            budget = self._frame_budget(score, t, m)  # [B] int64
            keep = cfg.temporal_window - 1
            self._history = window[-keep:] if keep > 0 else []
            self._emitted = self._emitted + budget
        self._t += 1
        return self._assemble(frame, x, t, score, entropy, gradient, budget)

    def _assemble(self, frame, x, t, score, entropy, gradient, budget, counts=None, emitted=None):
        """The FrameSelections of one push with the core's torch code (one host sync, unless
        the caller gives the host copies ``counts`` and ``emitted`` of the budgets and E_t)."""
        B, H, W, D = x.shape
        m = H * W
        cfg = self._config
        seen = m * (t + 1)
        merge = self._merges(m)
        out = []
        if counts is None:
            counts, emitted = torch.stack([budget, self._emitted]).tolist()  # one host sync
        for b in range(B):
            sel = select_from_scores(
                x[b : b + 1, None],
                counts[b],
                cfg,
                score[b : b + 1],
                entropy[b : b + 1],
                gradient[b : b + 1],
                budget[b : b + 1, None],
                merge=merge and counts[b] > 0,
            )
            out.append(
                FrameSelection(
                    t=t,
                    keep_index=sel.keep_index[0],
                    tokens=sel.tokens[0],
                    scores=score[b, 0],
                    entropy=entropy[b, 0],
                    gradient=gradient[b, 0],
                    keep_mask=sel.keep_mask[0, 0],
                    assignment=None if sel.assignment is None else sel.assignment[0],
                    weights=None if sel.weights is None else sel.weights[0],
                    emitted=emitted[b],
                    seen=seen,
                )
            )
        return out[0] if frame.dim() == 3 else out

    def _push_triton(self, frame: torch.Tensor, x: torch.Tensor):
        """One push on the GPU: the window kernel on the new frame (its ``K_t − 1`` past frames
        read in place), then the score, online-budget and frame-select kernels, and one host
        synchronisation after every launch (the sizes of the outputs and, with ``validate``,
        whether the frame is finite: the window kernel counts its NaN/inf values).

        The state is committed only after that synchronisation: a NaN/inf frame, found after the
        kernels ran, raises and leaves the stream as it was before the push. The past frames live
        in one ring buffer of ``temporal_window − 1`` slots; the window kernel reads them there
        and the new frame from the caller's tensor, so the only copy of a push is the new frame
        into the slot of the oldest one, launched after the sync (like any torch operation it
        runs before later work on the current stream, so the caller may then overwrite its
        frame there)."""
        from .kernels.triton.frame_select import frame_select_triton
        from .kernels.triton.scores import online_budget_step_triton, scores_triton
        from .kernels.triton.select import frame_select_options, merge_mode, scores_fusable
        from .kernels.triton.window_entropy import stream_window_entropy_and_gradient_triton

        B, H, W, D = x.shape
        m = H * W
        cfg = self._config
        t = self._t
        with torch.no_grad():
            xd = x.detach()
            if self._shape is None:
                emitted0, log_norm0, carry0 = self._initial_counters(x)
            else:
                emitted0, log_norm0, carry0 = self._emitted, self._log_norm, self._carry
            # Ĥ and G of the new frame only, its past frames read in place from the ring.
            held = len(self._history)
            # ... and each stream's count of NaN/inf values, read back with the budgets.
            entropy, raw, nonfinite = stream_window_entropy_and_gradient_triton(
                xd,
                self._ring,
                self._head,
                held,
                cfg.spatial_window,
                cfg.temporal_window,
                cfg.past_window,
                cfg.tau,
            )  # fmt: skip  ([B, 1, H, W] each)
            if scores_fusable(cfg):
                score, gradient, saliency = scores_triton(entropy, raw, None, cfg)
            else:
                gradient = normalize_gradient(raw, cfg)
                score = combine_scores(entropy, gradient, cfg, xd[:, None])
                saliency = frame_saliency(score, cfg.top_q)
            log_norm, carry = log_norm0, carry0
            if self.budget_mode == "adaptive":
                host, log_norm, carry, emitted = online_budget_step_triton(
                    saliency[:, 0],
                    log_norm0,
                    carry0,
                    emitted0,
                    t,
                    self.retention,
                    m,
                    cfg,
                    nonfinite if self.validate else None,
                )  # fmt: skip  ([3, B]: b_t, E_t, finite; the state's next values, new tensors)
                budget = host[0]
            else:
                budget = self._fixed_budget(B, t, m, x.device)
                emitted = emitted0 + budget
                finite = (nonfinite == 0) if self.validate else torch.ones_like(budget)
                host = torch.stack([budget, emitted, finite.long()])  # [3, B]
            mode = merge_mode(cfg, H, W) if self._merges(m) else "select"
            fused = mode is not None and not (torch.is_grad_enabled() and x.requires_grad)
            if fused:  # launched before the sync, so that it runs while the host waits
                keep_mask, keep_index, tokens, assignment, weights = frame_select_triton(
                    score,
                    budget[:, None],
                    m,  # each stream's row holds up to H·W slots; sliced below
                    features=xd[:, None],
                    **frame_select_options(cfg, mode),
                )
            counts, emitted_host, finite_host = host.tolist()  # the one host sync
            if not all(finite_host):
                check_finite(x, f"frame {t}")  # raises, counting the NaN and inf values
            # Commit: nothing of the stream changed before this line.
            self._start(x)  # the stream's shape, dtype and device, at its first push
            self._emitted, self._log_norm, self._carry = emitted, log_norm, carry
            self._remember(xd)
            self._t += 1
        if not fused:
            return self._assemble(
                frame, x, t, score, entropy, gradient, budget, counts, emitted_host
            )
        seen = m * (t + 1)
        out = []
        for b in range(B):
            n = counts[b]
            merged = assignment is not None and n > 0
            out.append(
                FrameSelection(
                    t=t,
                    keep_index=keep_index[b, :n],
                    tokens=tokens[b, :n],
                    scores=score[b, 0],
                    entropy=entropy[b, 0],
                    gradient=gradient[b, 0],
                    keep_mask=keep_mask[b, 0],
                    assignment=assignment[b] if merged else None,
                    weights=weights[b] if merged else None,
                    emitted=emitted_host[b],
                    seen=seen,
                )
            )
        return out[0] if frame.dim() == 3 else out

    # -- internals -------------------------------------------------------------------------

    def _remember(self, xd: torch.Tensor) -> None:
        """Triton path: copy the new frame into the ring slot of the oldest past frame (one
        launch) and list the held frames, oldest first, as views of the ring."""
        keep = self._config.temporal_window - 1
        if keep == 0:
            return
        if self._ring is None:
            self._ring = torch.empty(
                xd.shape[0], keep, *xd.shape[1:], dtype=xd.dtype, device=xd.device
            )  # [B, K_t − 1, H, W, D]
            self._head = keep - 1
        self._head = (self._head + 1) % keep
        self._ring[:, self._head].copy_(xd)
        held = min(len(self._history) + 1, keep)
        self._history = [self._ring[:, (self._head - a) % keep] for a in range(held - 1, -1, -1)]

    def _merges(self, m: int) -> bool:
        """Whether a frame of ``m`` tokens may merge (grid fusion or context pooling): not when
        every frame keeps all its tokens by construction, as the offline selector does not fuse
        at ``K = N``."""
        cfg = self._config
        if not (cfg.grid_fusion or cfg.context_share > 0):
            return False
        if self.tokens_per_frame is not None:
            return self.tokens_per_frame < m
        return not (self.budget_mode == "fixed" and self.retention == 1.0)

    def _fixed_budget(self, B: int, t: int, m: int, device: torch.device) -> torch.Tensor:
        """B_t of each stream with ``tokens_per_frame`` or ``budget="fixed"``: [B] int64."""
        if self.tokens_per_frame is not None:
            return torch.full((B,), self.tokens_per_frame, dtype=torch.long, device=device)
        r = self.retention
        _, hi = online_bounds(r, m, self._config)
        step = min(hi, allowance(r, m * (t + 1)) - allowance(r, m * t))
        return torch.full((B,), step, dtype=torch.long, device=device)

    def _frame_budget(self, score: torch.Tensor, t: int, m: int) -> torch.Tensor:
        """B_t of each stream. Shapes: score [B, 1, H, W] -> [B] int64."""
        B = score.shape[0]
        if self.budget_mode == "fixed":
            return self._fixed_budget(B, t, m, score.device)
        r = self.retention
        saliency = frame_saliency(score, self._config.top_q)[:, 0]  # [B]
        budget, self._log_norm, self._carry = online_budget_step(
            saliency, self._log_norm, self._carry, self._emitted, t, r, m, self._config
        )
        return budget

    def _check(self, frame: object) -> torch.Tensor:
        if not isinstance(frame, torch.Tensor):
            raise TypeError(
                f"frame must be a torch.Tensor [H, W, D] (or [B, H, W, D]), got "
                f"{type(frame).__name__}"
            )
        if not frame.is_floating_point():
            raise TypeError(f"frame must have a floating-point dtype, got {frame.dtype}")
        if frame.dim() not in (3, 4):
            raise ValueError(
                f"frame must have shape [H, W, D] or [B, H, W, D], got {frame.dim()} dimensions "
                f"{tuple(frame.shape)} (push one frame at a time)"
            )
        if frame.numel() == 0:
            raise ValueError(f"frame has an empty dimension: shape {tuple(frame.shape)}")
        x = frame.unsqueeze(0) if frame.dim() == 3 else frame
        if self._shape is None:
            m = x.shape[1] * x.shape[2]
            if self.tokens_per_frame is not None and self.tokens_per_frame > m:
                raise ValueError(
                    f"tokens_per_frame={self.tokens_per_frame} exceeds the frame's H*W={m} tokens"
                )
            self._impl = self._resolve_impl(x)
        else:
            if tuple(x.shape) != self._shape:
                raise ValueError(
                    f"frame {self._t} has shape {tuple(frame.shape)} but this stream's frames are "
                    f"{self._describe()}; call reset() to start a new stream"
                )
            if x.dtype != self._dtype or x.device != self._device:
                raise ValueError(
                    f"frame {self._t} is {x.dtype} on {x.device} but this stream is {self._dtype} "
                    f"on {self._device}; call reset() to start a new stream"
                )
        return x

    def _start(self, x: torch.Tensor) -> None:
        """Take the stream's shape, dtype and device from its first (valid) frame."""
        if self._shape is None:
            self._shape, self._dtype, self._device = tuple(x.shape), x.dtype, x.device
            self._emitted, self._log_norm, self._carry = self._initial_counters(x)

    @staticmethod
    def _initial_counters(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E_{−1} = 0, L_{−1} = −inf and c_{−1} = 0 of each of the B streams of ``x``."""
        B = x.shape[0]
        return (
            torch.zeros(B, dtype=torch.long, device=x.device),
            torch.full((B,), float("-inf"), dtype=torch.float64, device=x.device),
            torch.zeros(B, dtype=torch.float64, device=x.device),
        )

    def _describe(self) -> str:
        B, H, W, D = self._shape
        return f"[{H}, {W}, {D}]" if B == 1 else f"[{B}, {H}, {W}, {D}]"

    def _resolve_impl(self, x: torch.Tensor) -> str:
        if self.impl == "reference":
            return "reference"
        from .kernels import triton_available

        ok, why = triton_available(x)
        if self.impl == "triton" and not ok:
            raise RuntimeError(f'impl="triton" cannot run here: {why}')
        return "triton" if ok else "reference"

    def __repr__(self) -> str:
        rate = (
            f"retention={self.retention}"
            if self.retention is not None
            else f"tokens_per_frame={self.tokens_per_frame}"
        )
        return f"StreamingSelector({rate}, budget={self.budget_mode!r}, frames={self._t})"


def stack_frames(frames: list[FrameSelection]) -> Selection:
    """The whole-video :class:`~entropy_select.core.Selection` of a stream's outputs (one stream,
    frames 0..T-1 in order), so that stream results go wherever offline selections go.

    Shapes:
        T FrameSelections of [H, W] frames  ->  keep_index [K] (flat ``t·H·W + i·W + j``),
        tokens [K, D], scores [T, H, W], frame_budget [T]
    """
    if not frames:
        raise ValueError("stack_frames needs at least one FrameSelection")
    if [f.t for f in frames] != list(range(frames[0].t, frames[0].t + len(frames))):
        raise ValueError("stack_frames needs consecutive frames of one stream, in order")
    H, W = frames[0].keep_mask.shape
    m = H * W
    dev = frames[0].keep_index.device
    budgets = torch.tensor([f.budget for f in frames], dtype=torch.long, device=dev)
    start = budgets.cumsum(0) - budgets  # output slot of each frame's first token
    keep_index = torch.cat([f.keep_index + t * m for t, f in enumerate(frames)])
    assignment = weights = None
    if any(f.assignment is not None for f in frames):
        parts = []
        for f, s0 in zip(frames, start.tolist(), strict=True):
            a = f.assignment
            if a is None:  # a frame kept as is: token k of keep_index is slot k
                a = torch.full((m,), -1, dtype=torch.long, device=dev)
                a[f.keep_index] = torch.arange(f.budget, device=dev)
            parts.append(torch.where(a >= 0, a + s0, a))
        assignment = torch.cat(parts)
        weights = torch.cat(
            [
                f.weights if f.weights is not None else (f.keep_mask.flatten()).to(f.scores.dtype)
                for f in frames
            ]
        )
    return assemble_selection(
        None,
        torch.stack([f.keep_mask for f in frames])[None],
        torch.stack([f.scores for f in frames])[None],
        int(keep_index.numel()),
        keep_index=keep_index[None],
        tokens=torch.cat([f.tokens for f in frames])[None],
        frame_budget=budgets[None],
        entropy=torch.stack([f.entropy for f in frames])[None],
        gradient=torch.stack([f.gradient for f in frames])[None],
        assignment=None if assignment is None else assignment[None],
        weights=None if weights is None else weights[None],
    ).unbatched()

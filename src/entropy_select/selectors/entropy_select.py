"""ENTROPY-SELECT behind the selector interface, with named presets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..core.causal import check_frame_budget
from ..core.checks import (
    check_features,
    check_finite,
    check_retention,
    check_video_list,
    finite_flag,
    resolve_budget,
)
from ..core.config import EntropySelectConfig
from ..core.options import to_bool
from ..core.select import select_reference
from ..core.selection import Selection
from .base import Selector

__all__ = ["EntropySelect", "PRESETS", "IMPLS", "select_tokens"]

IMPLS = ("auto", "reference", "triton", "cpu")

#: ``paper``: the paper's equations and values as SPEC pins them. ``default``: the library's
#: default, chosen on the detail-and-gist benchmark (docs/choosing-the-default.md).
#: ``balanced``: three quarters of the budget pooled into context summaries.
PRESETS: dict[str, EntropySelectConfig] = {
    "paper": EntropySelectConfig.paper(),
    "default": EntropySelectConfig(),
    "balanced": EntropySelectConfig.balanced(),
}


class EntropySelect(Selector):
    """ENTROPY-SELECT (this library's reference; the paper's §3).

    Args:
        preset: ``"default"``, ``"paper"`` or ``"balanced"``.
        impl: ``"auto"``, ``"reference"`` or ``"triton"`` (see :func:`select_tokens`).
        cuda_graph: ``"auto"`` (default), True or False: whether the Triton path replays a cached
            CUDA graph per input shape (see :func:`select_tokens`; each cached shape keeps GPU
            memory: the graph's maps and intermediates, about 1-2% of an input).
            ``es.patch(model, cuda_graph=False)`` turns it off.
        **options: :class:`EntropySelectConfig` fields overriding the preset.
    """

    name = "entropy_select"
    config_class = EntropySelectConfig  # **options are its fields (selectors.selector_options)
    merges = True  # select_tokens handles autograd itself (grid fusion merges)

    def __init__(
        self,
        preset: str = "default",
        impl: str = "auto",
        cuda_graph: bool | str = "auto",
        **options: Any,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        _check_impl(impl)
        self.preset = preset
        self.impl = impl
        self.cuda_graph = check_cuda_graph(cuda_graph)
        self.config = EntropySelectConfig.from_kwargs(PRESETS[preset], **options)

    def __call__(
        self,
        features: torch.Tensor | Sequence[torch.Tensor],
        retention: float | None = None,
        budget: int | None = None,
        *,
        validate: bool = True,
    ) -> Selection | list[Selection]:
        """:func:`select_tokens` with this selector's config and ``impl``: the one entry path
        (its checks run once; with ``frame_budget_rule="online"``, ``retention=`` is the rate)."""
        return select_tokens(
            features,
            retention,
            budget,
            self.config,
            impl=self.impl,
            validate=validate,
            cuda_graph=self.cuda_graph,
        )

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        return _dispatch(features, self.config, self.impl, {"budget": budget}, self.cuda_graph)

    def __repr__(self) -> str:
        return f"EntropySelect(preset={self.preset!r}, impl={self.impl!r}, config={self.config})"


def select_tokens(
    features: torch.Tensor | Sequence[torch.Tensor],
    retention: float | None = None,
    budget: int | None = None,
    config: EntropySelectConfig | None = None,
    *,
    impl: str = "auto",
    validate: bool = True,
    frame_budget: torch.Tensor | None = None,
    cuda_graph: bool | str = "auto",
    **options: Any,
) -> Selection | list[Selection]:
    """Select ``K`` of a video's ``N`` visual tokens with ENTROPY-SELECT.

    Args:
        features: one video ``[T, H, W, D]``, a batch of equal-shape videos ``[B, T, H, W, D]``
            (each result equals that video's alone), or a list of ``[T_i, H_i, W_i, D]`` videos
            (returns a list). Any float dtype, any device; results on the input's device.
        retention: ``r`` in (0, 1]; ``K = clamp(floor(r·N + 1e-9), 1, N)``. Or give ``budget``.
        budget: ``K`` in [1, N]. Exactly one of ``retention`` and ``budget``.
        config: hyper-parameters (default :class:`EntropySelectConfig()`, the library's
            default; ``EntropySelectConfig.paper()`` for the paper's).
        impl: ``"reference"`` (pure torch), ``"triton"`` (GPU kernels; raises if they cannot
            run), ``"cpu"`` (the CPU fast path of :mod:`entropy_select.kernels.cpu`; raises for a
            non-CPU input) or ``"auto"`` (Triton on CUDA when available, the CPU fast path on
            CPU, else reference).
        validate: check for NaN/inf and raise ``ValueError`` counting them (one host
            synchronisation: on the Triton path after the kernels are launched, so it does not
            wait for earlier GPU work before launching; elsewhere before the work). Turn off for
            CUDA-graph capture.
        frame_budget: explicit per-frame budgets instead of Eq. 4: an integer tensor ``[T]`` (or
            ``[B, T]`` with equal totals), each in ``[0, H·W]``, summing to ``K``; then give
            neither ``retention`` nor ``budget``. With ``config=stream.config`` this reproduces a
            :class:`~entropy_select.streaming.StreamingSelector` frame by frame. (Reading ``K``
            off the tensor is one host synchronisation.)
        cuda_graph: on the Triton path, replay the whole selection from a CUDA graph cached per
            key ``(shape, strides, dtype, device, K, config)``, so that eager callers with
            repeated shapes (the adapters) get about the graph's latency. ``"auto"`` (default):
            a key's first call runs eagerly, its second captures the graph (one device
            synchronisation), later calls replay it; a shape seen once never pays the capture or
            the memory; an input over ``graphs.AUTO_MAX_INPUT_BYTES`` (256 MiB) always runs
            eagerly (there the kernels, not the host, set the latency). ``True``: capture on the
            first call, any size. ``False``: always eager. A replay reads the features where
            they are (no copy in; an input not 16-byte aligned is copied for that call).
            Memory: each cached key keeps the graph's pool (its ``N``-sized maps and
            intermediates: 0.00-0.02× the input on an H200; a replay writes the tokens into the
            call's own tensor; a config with ``rarity > 0`` also keeps a copy of one input and
            its tokens), for at most
            ``graphs.MAX_GRAPHS`` (8) keys, least recently used dropped first;
            ``entropy_select.kernels.triton.graphs.clear()`` frees them. Calls the graph cannot
            serve (autograd on the features, ``frame_budget=``, the online rule, a non-CUDA
            input, during a capture or ``torch.compile``) run eagerly; results are fresh
            tensors either way. See :mod:`entropy_select.kernels.triton.graphs`.
        **options: config fields overriding ``config`` (``tau=0.1``); strings are parsed.

    Returns:
        A :class:`Selection` (a list of them for a list input).

    Shapes:
        features: [T, H, W, D] -> keep_index [K], tokens [K, D], scores [T, H, W], frame_budget [T]
        features: [B, T, H, W, D] -> the same with a leading B.
    """
    cfg = config if config is not None else EntropySelectConfig()
    if not isinstance(cfg, EntropySelectConfig):
        raise TypeError(f"config must be an EntropySelectConfig, got {type(cfg).__name__}")
    if options:
        cfg = EntropySelectConfig.from_kwargs(cfg, **options)
    _check_impl(impl)
    cuda_graph = check_cuda_graph(cuda_graph)
    if isinstance(features, (list, tuple)):
        if frame_budget is not None:
            raise ValueError("frame_budget= takes one video or a batch, not a list of videos")
        videos = check_video_list(features) if validate else list(features)
        return [
            select_tokens(
                v, retention, budget, cfg, impl=impl, validate=False, cuda_graph=cuda_graph
            )
            for v in videos
        ]
    check_features(features, finite=False)  # NaN/inf: checked in _dispatch (validate)
    squeeze = features.dim() == 4
    x = features.unsqueeze(0) if squeeze else features  # [B, T, H, W, D]
    _, T, H, W, _ = x.shape
    if frame_budget is not None:
        if retention is not None or budget is not None:
            raise ValueError("give frame_budget= alone: it sets K, so no retention= or budget=")
        fb = check_frame_budget(frame_budget, x.shape[0], T, H * W).to(x.device)
        plan = {"frame_budget": fb, "budget": int(fb[0].sum())}
    elif cfg.frame_budget_rule == "online":
        if retention is None or budget is not None:
            raise ValueError(
                'frame_budget_rule="online" takes retention= (the rule\'s rate; K = Σ B_f <= '
                "ceil(r·N)), not budget="
            )
        plan = {"retention": check_retention(retention)}
    else:
        plan = {"budget": resolve_budget(T * H * W, retention, budget)}
    return _dispatch(x, cfg, impl, plan, cuda_graph, validate=validate, squeeze=squeeze)


def _dispatch(
    x: torch.Tensor,
    cfg: EntropySelectConfig,
    impl: str,
    plan: dict[str, Any],
    cuda_graph: bool | str = False,
    *,
    validate: bool = False,
    squeeze: bool = False,
) -> Selection:
    """The ``impl=`` dispatch on a checked batch (no entry checks: :func:`select_tokens` and
    :meth:`EntropySelect.__call__` ran them). ``plan``: the arguments of
    :func:`~entropy_select.core.select.plan_frame_budget`.

    ``validate``: raise ``ValueError`` (counting them) for NaN/inf features. On the Triton path
    the check's reduction is launched before the kernels (or the cached graph's replay) and read
    back by one synchronisation after the last launch, instead of one before the first (which
    waits for all earlier GPU work); every path selects K valid tokens from non-finite features
    (``tests/test_nan_features.py``), so nothing goes wrong before the check raises. Other paths
    check first, as before.

    ``squeeze``: ``x`` is a ``[T, H, W, D]`` video made a batch of one; return its unbatched
    selection.

    Shapes:
        x: [B, T, H, W, D]  ->  a batched Selection (squeeze: keep_index [K], tokens [K, D], ...)
    """
    resolved = _resolve_impl(impl, x)
    if validate and resolved != "triton":
        check_finite(x, "features")  # before any work
    if resolved == "triton" and cuda_graph and _graphable(x, cfg, plan):
        from ..kernels.triton.graphs import graph_select

        eager_calls = 1 if cuda_graph == "auto" else 0  # "auto": capture on a key's 2nd call
        return graph_select(
            x, plan["budget"], cfg, eager_calls=eager_calls, validate=validate, squeeze=squeeze
        )
    out = _dispatch_eager(x, cfg, resolved, plan, validate, squeeze)
    # the Triton path may have built the video's selection unbatched already (keep_index [K])
    return out.unbatched() if squeeze and out.keep_index.dim() == 2 else out


def _dispatch_eager(
    x: torch.Tensor,
    cfg: EntropySelectConfig,
    resolved: str,
    plan: dict[str, Any],
    validate: bool,
    squeeze: bool = False,
) -> Selection:
    """:func:`_dispatch` without a cached graph, on the resolved impl (``squeeze``: the Triton
    path may return the batch of one unbatched)."""
    if resolved == "triton":
        from ..kernels import select_tokens_triton

        plan = dict(plan)
        flag = finite_flag(x) if validate else None  # launched first, read after the kernels
        out = select_tokens_triton(x, plan.pop("budget", None), cfg, squeeze=squeeze, **plan)
        if flag is not None:
            check_finite(x, "features", flag)  # the one synchronisation
        return out
    if resolved == "cpu":
        from ..kernels.cpu import fused_scores_cpu

        return select_reference(x, cfg, fused_scores_cpu, **plan)
    return select_reference(x, cfg, **plan)


def _graphable(x: torch.Tensor, cfg: EntropySelectConfig, plan: dict) -> bool:
    """Whether a cached CUDA graph can serve this call (see ``cuda_graph=``)."""
    return (
        x.is_cuda
        and set(plan) == {"budget"}
        and cfg.frame_budget_rule == "softmax"
        and not (torch.is_grad_enabled() and x.requires_grad)
        and not torch.compiler.is_compiling()
        and not torch.cuda.is_current_stream_capturing()
    )


def check_cuda_graph(value: object) -> bool | str:
    """``cuda_graph=`` as ``"auto"``, True or False; strings (``es_cuda_graph=false``, ``--set
    cuda_graph=0``) are read by :func:`~entropy_select.core.options.to_bool`.

    Raises:
        ValueError: any other value, listing the valid ones.
    """
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return to_bool("cuda_graph", value)
    except ValueError:
        raise ValueError(f'cuda_graph must be "auto", True or False; got {value!r}') from None


def _check_impl(impl: object) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}; got {impl!r}")


def _resolve_impl(impl: str, x: torch.Tensor) -> str:
    if impl == "reference":
        return "reference"
    if impl == "cpu":
        from ..kernels.cpu import cpu_available

        ok, why = cpu_available(x)
        if not ok:
            raise RuntimeError(f'impl="cpu" cannot run here: {why}')
        return "cpu"
    from ..kernels import triton_available

    ok, why = triton_available(x)
    if impl == "triton" and not ok:
        raise RuntimeError(f'impl="triton" cannot run here: {why}')
    if ok:
        return "triton"
    return "cpu" if x.device.type == "cpu" else "reference"

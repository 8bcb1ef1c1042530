"""The one ``prepare`` pipeline every adapter runs, driven by its :class:`AdapterSpec`.

Paper §3: the selector works on the projected visual tokens, before the language model, and only
the selected tokens are passed on. For one patched ``forward``/``generate`` call that carries a
video this module

1. runs the model's own feature method once and reshapes each video to a ``[T, H, W, D]`` grid
   (``spec.extract``);
2. selects ``K`` of each video's ``N`` tokens (:func:`select_videos`, one selector call per
   group of equal shapes); an in-model selector (VisionZip, ``visionzip.py``) does steps 1-2
   itself through its ``extract_and_select``, reading the vision tower during the feature call;
3. writes the kept tokens back into the output's ``pooler_output`` (``spec.write_back``), which
   the hook serves to the model's own forward;
4. expands the per-placeholder keep flags to a ``[B, L]`` keep mask over the prompt;
5. shortens the prompt with that mask (the shared 1-D-RoPE path here, or ``spec.sequence`` for
   M-RoPE models);
6. records what it did on ``state.last``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..core.checks import check_finite, finite_flag
from ..core.selection import Selection
from ..selectors.entropy_select import EntropySelect
from ._sequence import expand_placeholder_keep, shorten

if TYPE_CHECKING:
    from ._patching import AdapterState

__all__ = ["prepare", "select_videos", "pad_token_id", "video_call", "VideoCall", "VIDEO_KEY"]

#: the ``state.pending`` key under which a call's :class:`VideoCall` reaches the in-model hooks
VIDEO_KEY = "in_model_video"


@dataclass(frozen=True)
class VideoCall:
    """Where the videos are in the sequence the language model will see (one call's prefill).

    Attributes:
        video: per position, the index of the video it belongs to, -1 for everything else
            (text, images, padding).
        last: per row, the index of the last real (unpadded) token: FastV's query.

    Shapes:
        video: [B, L'] long; last: [B] long (L' the length the language model sees)
    """

    video: torch.Tensor
    last: torch.Tensor


def video_call(
    model: torch.nn.Module,
    spec: Any,
    kwargs: dict[str, Any],
    keep: torch.Tensor | None,
    new_kwargs: dict[str, Any],
) -> VideoCall:
    """The :class:`VideoCall` of one call, from its placeholders (never from fixed offsets).

    Args:
        model / spec: the patched model and its :class:`AdapterSpec` (``spec.video_ids``).
        kwargs: the call as given (unpruned prompt).
        keep: the sequence keep mask of a feature stage, or None (no shortening).
        new_kwargs: what the model will be called with (the shortened prompt, if any).

    Shapes:
        input_ids: [B, L]; keep: [B, L] bool -> video [B, L'] long
    """
    input_ids = kwargs["input_ids"]
    placeholder = input_ids == spec.placeholder_id(model.config)  # [B, L]
    video = torch.full_like(input_ids, -1, dtype=torch.long)
    video[placeholder] = spec.video_ids(model, kwargs, int(placeholder.sum())).to(video.device)
    short_ids = new_kwargs["input_ids"]
    if keep is not None and short_ids is not input_ids:  # the feature stage shortened the prompt
        video = shorten(keep, {"video": (video, -1)}, kwargs.get("attention_mask"))[0]["video"]
    mask = new_kwargs.get("attention_mask")
    if mask is None:
        last = torch.full((short_ids.shape[0],), short_ids.shape[1] - 1, dtype=torch.long)
    else:  # the last 1 of each row: where the cumulative sum first reaches its maximum
        last = mask.long().cumsum(1).argmax(1)
    return VideoCall(video, last.to(short_ids.device))


def prepare(
    model: torch.nn.Module, state: AdapterState, kwargs: dict[str, Any], generate: bool
) -> dict[str, Any]:
    """Select each video's tokens and shorten the prompt; the keyword arguments of the real call.

    Args:
        model: the patched ``*ForConditionalGeneration`` instance.
        state: its patch state (``state.adapter`` is the model's :class:`AdapterSpec`).
        kwargs: the call's keyword arguments (``input_ids`` included).
        generate: True under ``generate`` (M-RoPE models pass positions in its 4-row form).

    Returns:
        ``kwargs`` itself when the call carries no video (without the adapter-only keywords,
        as a copy, when it had some); otherwise new keyword arguments with the shortened prompt.

    Shapes:
        input_ids, attention_mask, labels: [B, L] -> [B, L'] with L' = L - (N - K) per video row
        (re-padded to the longest row when rows lose different counts)
    """
    spec = state.adapter
    call = {k: v for k, v in kwargs.items() if k not in spec.extra_kwargs}
    passthrough = call if len(call) != len(kwargs) else kwargs
    if not _given(kwargs.get(spec.video_input)):
        return passthrough
    input_ids = kwargs.get("input_ids")
    if input_ids is None:
        raise ValueError(
            f"a patched {spec.family} model needs input_ids (to find the visual placeholders)"
        )
    if spec.check_call is not None:
        spec.check_call(kwargs)
    if state.selector is None:  # an in-model selector with no feature stage (FastV)
        if state.in_model is not None:
            state.pending[VIDEO_KEY] = video_call(model, spec, kwargs, None, call)
        return passthrough
    reads_model = getattr(state.selector, "extract_and_select", None)
    if reads_model is not None:  # VisionZip: reads the vision tower during the feature call
        features, selections = reads_model(model, state, kwargs)
    else:
        features = spec.extract(model, state.originals[spec.hook], kwargs)
    if features is None:  # e.g. InternVL's frame ranges without pixel_values
        return passthrough
    deferred: list = []
    if reads_model is None:
        selections = select_videos(state, features.grids, deferred)
    placeholder = input_ids == spec.placeholder_id(model.config)  # [B, L]
    count = int(placeholder.sum())  # a host sync: the features' NaN checks are ready after it
    for check in deferred:
        check()  # raises on NaN/inf features before anything is written
    keep_visual = spec.write_back(features, selections, count)  # [P]
    keep = expand_placeholder_keep(placeholder, keep_visual)  # [B, L]
    if spec.sequence is None:
        new_kwargs, record = shorten_1d(call, keep, model.config), {}
    else:
        new_kwargs, record = spec.sequence(model, state, call, keep, generate)

    state.pending[spec.hook] = features.output
    if state.in_model is not None:  # DyCoke's decode stage: where the kept video tokens are
        state.pending[VIDEO_KEY] = video_call(model, spec, kwargs, keep, new_kwargs)
    state.last = {
        "keep": keep,
        "selections": selections,
        **record,
        "prompt_length": input_ids.shape[1],
        "short_length": new_kwargs["input_ids"].shape[1],
    }
    return new_kwargs


def select_videos(
    state: AdapterState, grids: list[torch.Tensor], deferred: list | None = None
) -> list[Selection]:
    """Run the selector on each video's token grid, batching equal shapes into one call (a
    shape with one video: its grid as it is, not a stacked copy).

    Args:
        state: the patch state (selector and budget).
        grids: one ``[T, H, W, D]`` token grid per video, in prompt order.
        deferred: when given and the selector is ENTROPY-SELECT (whose paths select K valid
            tokens from NaN/inf features too: ``tests/test_nan_features.py``), the NaN/inf check
            of the features is not the selector's, which waits for the GPU before selecting:
            its flag is computed on the device, and a check that raises
            :func:`~entropy_select.core.checks.check_finite`'s error is appended here for the
            caller to run after its next host synchronisation. So on a GPU the selector's
            launches overlap the vision tower's work instead of waiting for it.

    Returns:
        One unbatched :class:`Selection` per video, in the same order.

    Shapes:
        grids[v]: [T_v, H_v, W_v, D] -> Selection with keep_index [K_v], tokens [K_v, D]
    """
    out: list[Selection | None] = [None] * len(grids)
    groups: dict[tuple[int, ...], list[int]] = {}
    for v, g in enumerate(grids):
        groups.setdefault(tuple(g.shape), []).append(v)
    for shape, members in groups.items():
        T, H, W, _ = shape
        K = state.budget_for(T * H * W)
        # A video alone is selected as it is: no stacked copy of its features, and its
        # selection comes unbatched (a batch of one equals the video alone). Only where it
        # starts 16-byte aligned, as a new tensor does: the GPU kernels compiled for an
        # unaligned address round differently in the last bits, and a cached graph's replays
        # read an aligned copy, so the copy keeps every call of a shape on one kernel.
        one = len(members) == 1 and grids[members[0]].data_ptr() % 16 == 0
        batch = grids[members[0]] if one else torch.stack([grids[v] for v in members])
        if deferred is None or not isinstance(state.selector, EntropySelect):
            selection = state.selector(batch, budget=K)
        else:
            deferred.append(_finite_check(batch))
            selection = state.selector(batch, budget=K, validate=False)
        for i, v in enumerate(members):
            out[v] = selection if one else selection.video(i)
    return out  # type: ignore[return-value]


def _finite_check(batch: torch.Tensor):
    """A check of ``batch`` for NaN/inf whose flag is launched now, on the device, and read only
    when the check is called (after a host synchronisation, it costs no wait)."""
    flag = finite_flag(batch)
    return lambda: check_finite(batch, "features", flag)


def shorten_1d(kwargs: dict[str, Any], keep: torch.Tensor, config: Any) -> dict[str, Any]:
    """Shorten a 1-D-RoPE prompt (ids, labels, explicit positions) and its mask with ``keep``.

    A ``keep`` that keeps everything (a prompt already sized to K, or retention 1) leaves the
    tensors as they are.

    Shapes:
        keep: [B, L] bool; input_ids, labels, position_ids, attention_mask: [B, L] -> [B, L']
    """
    new_kwargs = dict(kwargs)
    if bool(keep.all()):
        return new_kwargs
    short, mask = shorten(
        keep,
        {
            "input_ids": (kwargs["input_ids"], pad_token_id(config)),
            "labels": (kwargs.get("labels"), -100),
            "position_ids": (kwargs.get("position_ids"), 0),
        },
        kwargs.get("attention_mask"),
    )
    new_kwargs.update(short)
    if mask is not None:
        new_kwargs["attention_mask"] = mask
    return new_kwargs


def pad_token_id(config: Any) -> int:
    """The pad id of the model (its config, else its text config), 0 when it has none."""
    for cfg in (config, getattr(config, "text_config", None)):
        pad = getattr(cfg, "pad_token_id", None)
        if pad is not None:
            return int(pad)
    return 0


def _given(value: Any) -> bool:
    """A keyword counts as given unless it is None or an empty list/tuple."""
    return value is not None and not (isinstance(value, (list, tuple)) and len(value) == 0)

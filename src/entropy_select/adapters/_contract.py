"""The adapter contract: what one model file tells the shared pipeline, and nothing more.

Every supported model goes through the same steps (:func:`._prepare.prepare`): run the model's
own feature method once, reshape each video's tokens to a ``[T, H, W, D]`` grid, select ``K``
of them, write the kept tokens back into the output's ``pooler_output``, expand the per-token
keep flags over the prompt's placeholder run, shorten the prompt, and record what was done. A
model file fills one :class:`AdapterSpec` with the parts that differ between models: which
method to hook, where its videos come from, how its features become grids and go back (LLaVA-OV's
newline, InternVL's frame ranges, Qwen's DeepStack levels) and, for M-RoPE models, how the
positions are carried (:attr:`AdapterSpec.sequence`).

Shapes (B prompt rows, L prompt length, V videos in the call, P placeholders in the batch):
    grids[v]:     [T_v, H_v, W_v, D]   one video's post-projector token grid
    keep_visual:  [P] bool             one flag per placeholder, in row-major prompt order
    keep:         [B, L] bool          the sequence-level keep mask
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # type names only: the state and the selection never import this module back
    from ..core.selection import Selection
    from ._patching import AdapterState

__all__ = ["AdapterSpec", "Features", "inner_model"]


@dataclass
class Features:
    """The hooked method's output for one call, and its videos as token grids.

    Attributes:
        output: what the model's feature method returned (a ``BaseModelOutputWithPooling``);
            :attr:`AdapterSpec.write_back` rewrites its ``pooler_output`` in place, and the hook
            serves it to the model's own forward.
        grids: one ``[T, H, W, D]`` grid per video, in prompt order (the selector's input).
        context: whatever ``write_back`` needs besides (sizes, row ranges, the newline).
    """

    output: Any
    grids: list[torch.Tensor]
    context: dict[str, Any]


@dataclass(frozen=True)
class AdapterSpec:
    """One Hugging Face ``model_type``: the seams the shared pipeline uses and what is specific.

    Attributes:
        model_type: the ``config.model_type`` this spec serves (also the model file's name).
        family: the model's name in error messages ("LLaVA-OneVision").
        hook: the inner-model method that computes the visual features and, during a compressed
            call, serves the already-selected ones (``get_video_features``, ...).
        seams: inner-model methods :meth:`check_model` requires (``hook`` is always required).
        placeholder: the config attribute holding the placeholder token id the features fill.
        video_input: the keyword whose presence makes a call compressible
            (``pixel_values_videos``); a call without it passes through untouched.
        extra_kwargs: keywords only the patch understands; popped before the real call
            (InternVL's ``video_frame_ranges``).
        check_call: ``(kwargs) -> None``, raises on a call this model cannot compress.
        extract: ``(model, hook_original, kwargs) -> Features | None``: run the model's own
            feature method once and reshape the videos to grids; None when there is no video.
        write_back: ``(features, selections, placeholder_count) -> keep_visual``: put the kept
            tokens into ``features.output`` and return one keep flag per placeholder.
        sequence: ``(model, state, kwargs, keep, generate) -> (new kwargs, record)`` for
            M-RoPE models (positions gathered from the unpruned prompt; ``record`` adds entries
            to ``state.last``); None: the shared 1-D-RoPE shortening (ids, labels, explicit
            positions, attention mask). It writes to the model only through
            ``state.set_attr`` so that ``unpatch`` restores what it wrote.
        video_ids: ``(model, kwargs, count) -> [count] long``: for each of the prompt's
            ``count`` placeholders (row-major), the index of the video it belongs to, or -1 (an
            image). In-model selectors (FastV, DyCoke) find the video span with it; None: the
            model type supports none.
    """

    model_type: str
    family: str
    hook: str
    placeholder: str
    extract: Callable[[torch.nn.Module, Callable, dict[str, Any]], Features | None]
    write_back: Callable[[Features, list[Selection], int], torch.Tensor]
    seams: tuple[str, ...] = ()
    video_input: str = "pixel_values_videos"
    extra_kwargs: tuple[str, ...] = ()
    check_call: Callable[[dict[str, Any]], None] | None = None
    sequence: (
        Callable[
            [torch.nn.Module, AdapterState, dict[str, Any], torch.Tensor, bool],
            tuple[dict[str, Any], dict[str, Any]],
        ]
        | None
    ) = None
    video_ids: Callable[[torch.nn.Module, dict[str, Any], int], torch.Tensor] | None = None

    def inner_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The ``*Model`` inside a ``*ForConditionalGeneration`` (or the model itself)."""
        return inner_model(model)

    def check_model(self, model: torch.nn.Module) -> None:
        """Raise ``ValueError`` if the instance lacks a seam this adapter uses."""
        inner = self.inner_model(model)
        for name in (self.hook, *self.seams):
            if not callable(getattr(inner, name, None)):
                raise ValueError(
                    f"{type(model).__name__} has no {name}(); not a {self.family} model"
                )

    def placeholder_id(self, config: Any) -> int:
        """The placeholder token id the features fill (``config.<placeholder>``)."""
        return getattr(config, self.placeholder)


def inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The ``*Model`` inside a ``*ForConditionalGeneration`` (or the model itself).

    Every supported class in transformers 5.x keeps it at ``.model``.
    """
    return getattr(model, "model", model)

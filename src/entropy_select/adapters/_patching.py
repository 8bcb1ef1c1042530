"""Instance patching shared by every adapter: one state attribute, reversible, idempotent.

What a patch does to a model instance (never to its class or module):

* ``model.forward`` and ``model.generate`` become bound wrappers that, when the call carries a
  video, run the vision encoder once, select ``K`` of its ``N`` tokens per video with the chosen
  selector, and shorten the prompt (ids, masks, positions, labels) with
  :mod:`._sequence` before handing it to the original method;
* one inner feature method (``get_video_features``, or ``get_image_features`` for InternVL)
  becomes a hook that serves the already-compressed features to the model's own forward, so the
  model's own placeholder check, ``masked_scatter`` and DeepStack code run unchanged.

Everything lives on ``model._entropy_select`` (an :class:`AdapterState`); ``unpatch`` restores
the instance attributes exactly as they were (including a pre-existing instance ``forward``, as
accelerate's hooks install).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.checks import resolve_budget
from ..core.selection import Selection
from ..selectors.base import Selector
from ._sequence import restore_prompt

__all__ = ["AdapterState", "STATE_ATTR", "install", "remove", "select_videos"]

#: the one attribute that holds all patch state
STATE_ATTR = "_entropy_select"
_MISSING = object()


@dataclass
class AdapterState:
    """Everything a patch needs and everything it must undo.

    Attributes:
        adapter: the model-type module (``adapters.llava_onevision``, ...).
        selector: the selector instance; ``selector_name`` and ``selector_options`` describe it.
        retention / budget: exactly one is set; the budget is per video.
        saved: ``(object, attribute) -> previous instance attribute or _MISSING``, for unpatch.
        originals: the unpatched callables (``forward``, ``generate``, the hooked feature method).
        pending: hooked-method name -> the compressed output it must return during one call.
        last: what the last compressed call did (``keep`` [B, L] bool, ``selections``, lengths).
    """

    adapter: types.ModuleType
    selector: Selector
    selector_name: str
    selector_options: dict[str, Any]
    retention: float | None
    budget: int | None
    saved: dict[tuple[int, str], tuple[Any, str, Any]] = field(default_factory=dict)
    originals: dict[str, Callable] = field(default_factory=dict)
    pending: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] | None = None

    def budget_for(self, num_tokens: int) -> int:
        """K for a video of ``num_tokens`` visual tokens."""
        return resolve_budget(num_tokens, self.retention, self.budget)


def _set_instance_attr(state: AdapterState, obj: Any, name: str, value: Any) -> None:
    """Set ``obj.name`` on the instance, remembering what the instance had before."""
    key = (id(obj), name)
    if key not in state.saved:
        state.saved[key] = (obj, name, obj.__dict__.get(name, _MISSING))
    obj.__dict__[name] = value  # an instance attribute shadows the class method


def install(model: torch.nn.Module, state: AdapterState) -> None:
    """Wrap ``forward``/``generate`` and hook the adapter's feature method on the instance."""
    inner = state.adapter.inner_model(model)
    hook_name = state.adapter.HOOK
    state.originals = {
        "forward": model.forward,
        "generate": model.generate,
        hook_name: getattr(inner, hook_name),
    }
    for name, wrapper in (("forward", _patched_forward), ("generate", _patched_generate)):
        _set_instance_attr(state, model, name, _bind(wrapper, model, state.originals[name]))
    _set_instance_attr(state, inner, hook_name, _make_hook(state, hook_name))
    model.__dict__[STATE_ATTR] = state


def remove(model: torch.nn.Module) -> None:
    """Undo :func:`install`: every instance attribute back to what it was, the state deleted."""
    state = model.__dict__.pop(STATE_ATTR, None)
    if state is None:
        return
    for obj, name, previous in state.saved.values():
        if previous is _MISSING:
            obj.__dict__.pop(name, None)
        else:
            obj.__dict__[name] = previous
    state.saved.clear()
    state.pending.clear()


def _bind(wrapper: Callable, model: torch.nn.Module, original: Callable) -> Callable:
    """``wrapper`` bound to ``model``, advertising ``original``'s signature.

    ``generate`` validates its kwargs against ``inspect.signature(model.forward)``, which follows
    ``__wrapped__``; so the wrapper must look like the method it replaces.
    """

    def bound(*args: Any, **kwargs: Any) -> Any:
        return wrapper(model, *args, **kwargs)

    functools.update_wrapper(bound, original)
    return bound


def _make_hook(state: AdapterState, name: str) -> Callable:
    original = state.originals[name]

    def hook(*args: Any, **kwargs: Any) -> Any:
        # During a compressed call the features were computed (and selected) already: serve
        # them, so the model's own forward scatters the K kept tokens into the K placeholders.
        pending = state.pending.get(name)
        if pending is not None:
            return pending
        return original(*args, **kwargs)

    hook.__name__ = name
    hook.__wrapped__ = original  # type: ignore[attr-defined]
    return hook


def _state(model: torch.nn.Module) -> AdapterState:
    return model.__dict__[STATE_ATTR]


def _patched_forward(self: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
    state = _state(self)
    if args:  # forward(input_ids, ...) positionally: only input_ids is accepted that way
        if len(args) > 1 or "input_ids" in kwargs:
            raise TypeError("a patched model takes input_ids positionally and the rest by name")
        kwargs["input_ids"] = args[0]
    if state.pending:  # inside a compressed generate: inputs are already short
        return state.originals["forward"](**kwargs)
    new_kwargs = state.adapter.prepare(self, state, kwargs, generate=False)
    try:
        return state.originals["forward"](**new_kwargs)
    finally:
        state.pending.clear()


def _patched_generate(
    self: torch.nn.Module, inputs: torch.Tensor | None = None, **kwargs: Any
) -> Any:
    state = _state(self)
    if inputs is not None:
        kwargs["input_ids"] = inputs
    prompt = kwargs.get("input_ids")
    new_kwargs = state.adapter.prepare(self, state, kwargs, generate=True)
    if new_kwargs is kwargs:  # no video: nothing to compress
        return state.originals["generate"](**kwargs)
    try:
        output = state.originals["generate"](**new_kwargs)
    finally:
        state.pending.clear()
    return restore_prompt(output, prompt, new_kwargs["input_ids"].shape[1])


def select_videos(state: AdapterState, grids: list[torch.Tensor]) -> list[Selection]:
    """Run the selector on each video's token grid, batching equal shapes into one call.

    Args:
        state: the patch state (selector and budget).
        grids: one ``[T, H, W, D]`` token grid per video, in prompt order.

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
        batch = torch.stack([grids[v] for v in members])  # [b, T, H, W, D]
        selection = state.selector(batch, budget=K)
        for i, v in enumerate(members):
            out[v] = _index_batch(selection, i)
    return out  # type: ignore[return-value]


def _index_batch(selection: Selection, i: int) -> Selection:
    fields = {name: getattr(selection, name) for name in selection.__dataclass_fields__}
    return Selection(**{k: (v[i] if isinstance(v, torch.Tensor) else v) for k, v in fields.items()})

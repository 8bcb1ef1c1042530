"""Instance patching shared by every adapter: one state attribute, reversible, idempotent.

What a patch does to a model instance (never to its class or module):

* ``model.forward`` and ``model.generate`` become bound wrappers that, when the call carries a
  video, run the vision encoder once, select ``K`` of its ``N`` tokens per video with the chosen
  selector, and shorten the prompt (ids, masks, positions, labels) through the shared
  pipeline (:mod:`._prepare`, driven by the model's :class:`AdapterSpec`) before handing it to
  the original method;
* one inner feature method (``get_video_features``, or ``get_image_features`` for InternVL)
  becomes a hook that serves the already-compressed features to the model's own forward, so the
  model's own placeholder check, ``masked_scatter`` and DeepStack code run unchanged.

Everything lives on ``model._entropy_select`` (an :class:`AdapterState`); ``unpatch`` restores
the instance attributes exactly as they were (including a pre-existing instance ``forward``, as
accelerate's hooks install).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.checks import resolve_budget
from ..selectors.base import Selector
from ._contract import AdapterSpec
from ._prepare import prepare, select_videos
from ._sequence import restore_prompt

__all__ = ["AdapterState", "STATE_ATTR", "install", "remove", "select_videos"]

#: the one attribute that holds all patch state
STATE_ATTR = "_entropy_select"
_MISSING = object()


@dataclass
class AdapterState:
    """Everything a patch needs and everything it must undo.

    Attributes:
        adapter: the model type's :class:`AdapterSpec` (``adapters.llava_onevision.SPEC``, ...).
        selector: the selector instance; ``selector_name`` and ``selector_options`` describe it.
        retention / budget: exactly one is set; the budget is per video.
        saved: ``(object, attribute) -> previous instance attribute or _MISSING``, for unpatch.
        originals: the unpatched callables (``forward``, ``generate``, the hooked feature method).
        pending: hooked-method name -> the compressed output it must return during one call.
        last: what the last compressed call did (``keep`` [B, L] bool, ``selections``, lengths).
        in_model: the runtime of an in-model selector (FastV, DyCoke: ``adapters._inmodel``),
            whose hooks on the language model ``remove`` takes off; None for feature selectors.
            ``selector`` is then its feature stage (DyCoke's ``dycoke_ttm``) or None (FastV).
    """

    adapter: AdapterSpec
    selector: Selector | None
    selector_name: str
    selector_options: dict[str, Any]
    retention: float | None
    budget: int | None
    saved: dict[tuple[int, str], tuple[Any, str, Any]] = field(default_factory=dict)
    originals: dict[str, Callable] = field(default_factory=dict)
    pending: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] | None = None
    in_model: Any = None

    def budget_for(self, num_tokens: int) -> int:
        """K for a video of ``num_tokens`` visual tokens."""
        return resolve_budget(num_tokens, self.retention, self.budget)

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        """Set ``obj.name`` on the instance, remembering what the instance had before.

        Every write a patch makes to the model or its submodules goes through here (the
        wrappers, the hook, Qwen's ``rope_deltas``), so :func:`remove` can put back exactly
        what was there, or delete what was not.
        """
        key = (id(obj), name)
        if key not in self.saved:
            self.saved[key] = (obj, name, obj.__dict__.get(name, _MISSING))
        obj.__dict__[name] = value  # an instance attribute shadows the class method


def install(model: torch.nn.Module, state: AdapterState) -> None:
    """Wrap ``forward``/``generate`` and hook the adapter's feature method on the instance."""
    inner = state.adapter.inner_model(model)
    hook_name = state.adapter.hook
    state.originals = {
        "forward": model.forward,
        "generate": model.generate,
        hook_name: getattr(inner, hook_name),
    }
    for name, wrapper in (("forward", _patched_forward), ("generate", _patched_generate)):
        state.set_attr(model, name, _bind(wrapper, model, state.originals[name]))
    state.set_attr(inner, hook_name, _make_hook(state, hook_name))
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
    if state.in_model is not None:
        state.in_model.remove()


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
    new_kwargs = prepare(self, state, kwargs, generate=False)
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
    new_kwargs = prepare(self, state, kwargs, generate=True)
    try:
        output = state.originals["generate"](**new_kwargs)
    finally:
        state.pending.clear()
    if new_kwargs is kwargs or new_kwargs["input_ids"] is prompt:  # nothing was shortened
        return output
    return restore_prompt(output, prompt, new_kwargs["input_ids"].shape[1])

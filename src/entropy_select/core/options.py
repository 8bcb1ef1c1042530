"""The one option parser: strings (a CLI's ``key=value``, lmms-eval's ``--model_args``) to typed
values, from an option's default and annotation.

Used by :meth:`EntropySelectConfig.from_kwargs`, by :func:`entropy_select.selectors.get` (every
selector's keyword options) and by the lmms-eval plugin, so a value means the same wherever it is
written. Typed values pass through unchanged, for the receiver to validate.
"""

from __future__ import annotations

from typing import Any

__all__ = ["convert_option", "to_bool", "to_float", "to_int", "option_kind"]

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
NONE_WORDS = ("none", "null", "")


def to_bool(key: str, value: Any) -> bool:
    """``True``/``False``, ``0``/``1`` and the words above (any case) as a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # lmms-eval already turned "1" into 1
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError(f"cannot parse {key}={value!r}: {key} must be a boolean (true/false)")


def to_int(key: str, value: Any) -> int:
    """An int, or a string holding one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"cannot parse {key}={value!r}: {key} must be an integer")


def to_float(key: str, value: Any) -> float:
    """A number, or a string holding one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"cannot parse {key}={value!r}: {key} must be a number")


def option_kind(default: Any, annotation: Any) -> tuple[type | None, bool]:
    """``(scalar type, None allowed)`` of an option, from its default and annotation."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    optional = default is None or "None" in text or "Optional" in text
    for kind in (bool, int, float, str):  # bool before int: True is an int
        if isinstance(default, kind):
            return kind, optional
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if name in text.replace("Optional", ""):
            return kind, optional
    return None, optional  # unknown: passed through for the receiver to validate


def convert_option(key: str, value: Any, default: Any, annotation: Any = None) -> Any:
    """Convert one option value to the type its default and annotation declare.

    Strings are parsed (``"none"``/``"null"``/``""`` give None where None is allowed); a bool
    option also takes 0/1 and a float option an int; a string option gets back what lmms-eval's own
    parser turned into a number or bool. Other typed values pass through, for the receiver to
    validate.

    Raises:
        ValueError: a string that does not parse, naming ``key``.
    """
    kind, optional = option_kind(default, annotation)
    if optional and isinstance(value, str) and value.strip().lower() in NONE_WORDS:
        return None
    if kind is str:
        return value if isinstance(value, str) or value is None else str(value).lower()
    if kind is bool and isinstance(value, int) and not isinstance(value, bool):
        return to_bool(key, value)  # lmms-eval turns "1" into 1
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # ... and "1.0"-meant "1" into 1
    if not isinstance(value, str):
        return value  # typed already: the receiver validates it
    if kind is bool:
        return to_bool(key, value)
    if kind is int:
        return to_int(key, value)
    if kind is float:
        return to_float(key, value)
    return value

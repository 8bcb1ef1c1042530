"""Pieces every sub-command shares: the help formatter and the ``--quiet`` flag."""

from __future__ import annotations

import argparse
import sys


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every option's default, except where there is nothing to show.

    argparse's :class:`~argparse.ArgumentDefaultsHelpFormatter` appends ``(default: X)`` to every
    option; this one skips defaults that say nothing (``None``, and ``False`` of on/off flags) and
    help texts that already describe their default in words.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        if isinstance(action.default, list) and not action.default:
            return text
        return super()._get_help_string(action)


class _DeprecatedQuiet(argparse.Action):
    """``--no-progress``: the old name of ``--quiet``; still works, with a note on stderr."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: note: {option_string} is deprecated; use --quiet",
            file=sys.stderr,
        )
        namespace.quiet = True


def add_quiet_argument(p: argparse.ArgumentParser) -> None:
    """``--quiet`` (no progress bars), and ``--no-progress`` as its hidden, deprecated alias."""
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-progress", action=_DeprecatedQuiet, help=argparse.SUPPRESS)

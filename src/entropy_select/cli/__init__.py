"""The ``entropy-select`` command line. Each sub-command lives in its own module of this package.

A sub-command module defines ``register(subparsers)``, which adds its parser and sets
``func=run`` (``run(args) -> int``). Modules are imported only to build the parser; their heavy
dependencies are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

# Sub-command modules, in the order `--help` lists them.
COMMANDS = ("demo", "select", "compare", "eval", "cache", "stream")
# Sub-commands doing torch work on the CPU get --threads (see _common.auto_threads).
THREADED = ("demo", "select", "compare", "eval")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ._common import HelpFormatter, add_threads_argument

    parser = argparse.ArgumentParser(
        prog="entropy-select",
        description="Training-free visual token selection for video LLMs (ENTROPY-SELECT).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"entropy-select {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}":
                continue  # this sub-command is not part of this build
            raise
        module.register(sub)
    for name, command in sub.choices.items():
        command.formatter_class = HelpFormatter  # every sub-command's --help shows its defaults
        if name in THREADED:
            add_threads_argument(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    threads = getattr(args, "threads", None)
    if threads is not None:
        import torch

        from ._common import resolve_threads

        # the command's thread count is set here, around the command, never inside library
        # calls; restored afterwards for callers that run main() in their own process
        previous = torch.get_num_threads()
        torch.set_num_threads(resolve_threads(threads))
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, ImportError, RuntimeError) as err:
        # OSError: a permission, disk-full or path problem the commands did not foresee; it
        # still gets one line (its errno text and file name) rather than a traceback
        print(f"entropy-select {args.command}: error: {err}", file=sys.stderr)
        return 1
    finally:
        if threads is not None:
            torch.set_num_threads(previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Pieces every sub-command shares: the help formatter, ``--quiet``, ``--set`` and ``--threads``."""

from __future__ import annotations

import argparse
import os
import sys


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every option's default, except where there is nothing to show.

    argparse's :class:`~argparse.ArgumentDefaultsHelpFormatter` appends ``(default: X)`` to every
    option; this one skips defaults that say nothing (``None``, and ``False`` of on/off flags) and
    help texts that already give their default in words (``(default ...`` or ``default:``).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False:
            return text
        if "(default" in text or "default:" in text:  # already said in words
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


def add_options_argument(
    p: argparse.ArgumentParser,
    help: str = "ENTROPY-SELECT options, e.g. --set tau=0.1 alpha=0.5",
) -> None:
    """``--set KEY=VALUE ...``: selector options, parsed by the selector's option parser."""
    p.add_argument("--set", dest="options", nargs="*", default=[], metavar="KEY=VALUE", help=help)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def auto_threads(default: int, cores: int, load: float | None) -> int:
    """The CLI's default number of torch intra-op threads.

    ``min(default, cores - 1, cores - round(load))``, at least 1: torch's own default, less one
    core left to other processes, less the cores the 1-minute load average says are busy.
    Torch's threads wait for each other at every parallel region, so one thread more than there
    are free cores costs far more than one thread fewer. On this project's shared 2-core machine
    (``benchmarks/bench_threads.py``, ``benchmarks/results/threads_cpu.json``; load average 3.5–5
    from other jobs) the median selection took 61 ms at 1 thread and 707 ms at 2; with one more
    core kept busy 171 ms and 1,597 ms; the MobileNetV2 encoder (2 frames) 287 ms and 1,700 ms.
    What 1 thread gives up on an idle machine (a 2-thread selection was reported 1.6x faster
    there) is small next to what 2 threads lose on a busy one.

    Args:
        default: torch's default thread count (``torch.get_num_threads()`` at start-up).
        cores: cores this process may use.
        load: the 1-minute load average, or None where the OS does not give one.
    """
    free = cores - 1
    if load is not None:
        free = min(free, cores - round(load))
    return max(1, min(default, free))


def parse_threads(text: str) -> str | int:
    """``--threads`` value: ``auto`` or a positive integer."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}")
    return n


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """``--threads auto|N``: torch intra-op threads for this command (see :func:`auto_threads`)."""
    p.add_argument(
        "--threads",
        type=parse_threads,
        default="auto",
        help="torch CPU threads for this command; auto: torch's default, less one core, less "
        "the cores the load average shows busy (at least 1; $OMP_NUM_THREADS, if set, wins)",
    )


def resolve_threads(value: str | int) -> int:
    """The thread count ``--threads`` asks for, on this machine now."""
    if value != "auto":
        return int(value)
    import torch

    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads()  # the user chose a count for this process: keep it

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        load = None
    return auto_threads(torch.get_num_threads(), usable_cores(), load)

"""Suite-wide pytest hooks: ``--fail-on-unexpected-skip`` checks every skip against an allow-list.

CI (``.ci/run``) passes the flag: a skip whose reason matches no line of
``tests/allowed_skips.txt`` (or ``--allowed-skips FILE``) turns the run into a failure and is
listed, so a missing optional dependency cannot silently skip a whole file. Without the flag
nothing changes (the README's plain ``python -m pytest -q`` behaves as usual).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# Every launch Site of the Triton path is called with the non-tensor arguments of its first call
# (``kernels/triton/launch.py``); set before the package is imported, inherited by subprocesses.
os.environ.setdefault("ENTROPY_SELECT_CHECK_SITES", "1")

ALLOWED_SKIPS = Path(__file__).with_name("allowed_skips.txt")
_skips: list[tuple[str, str]] = []  # (where, reason) of every skip of this session


def pytest_addoption(parser):
    group = parser.getgroup("skip check")
    group.addoption(
        "--fail-on-unexpected-skip",
        action="store_true",
        help="fail the run if a skip reason matches no pattern of the allow-list",
    )
    group.addoption(
        "--allowed-skips",
        default=str(ALLOWED_SKIPS),
        help="file of allowed skip-reason regexes, one a line (default: tests/allowed_skips.txt)",
    )


def load_patterns(path: str | Path) -> list[re.Pattern]:
    """The regexes of an allow-list file (blank lines and ``#`` comments ignored)."""
    lines = Path(path).read_text().splitlines()
    return [re.compile(line) for line in lines if line.strip() and not line.startswith("#")]


def skip_reason(report) -> str:
    """The reason of a skipped test or collector report (``Skipped: `` prefix removed)."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def unexpected(skips: list[tuple[str, str]], patterns: list[re.Pattern]) -> list[tuple[str, str]]:
    """The skips whose reason matches none of ``patterns``."""
    return [(where, why) for where, why in skips if not any(p.search(why) for p in patterns)]


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, skip_reason(report)))


def pytest_collectreport(report):
    if report.skipped:
        _skips.append((report.nodeid, skip_reason(report)))


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if not config.getoption("--fail-on-unexpected-skip"):
        return
    bad = unexpected(_skips, load_patterns(config.getoption("--allowed-skips")))
    if not bad:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"{len(bad)} unexpected skip(s)", red=True)
        for where, why in bad:
            reporter.write_line(f"UNEXPECTED SKIP {where}: {why}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

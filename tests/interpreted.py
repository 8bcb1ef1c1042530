"""Run a test script under Triton's interpreter (``TRITON_INTERPRET=1``) on the CPU.

The flag is read when ``triton`` is imported, so each script runs in a fresh Python, with this
checkout's ``src`` first on ``PYTHONPATH`` and ``tests`` next (a script that imports a test
module imports what that module imports, this one included); it must print ``ok`` when every
check passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(paths: Sequence[Path], **extra: str) -> dict:
    env = dict(os.environ, TRITON_INTERPRET="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "tests"), *map(str, paths), env.get("PYTHONPATH", "")]
    )
    return env


def _run(code: str, timeout: int, paths: Sequence[Path], **extra: str):
    """``code`` in a fresh Python under the interpreter (``extra``: more environment)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=_env(paths, **extra), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def run_interpreted(code: str, timeout: int = 300, paths: Sequence[Path] = ()) -> None:
    """Run ``code`` under the interpreter (``paths``: more import paths after ``tests``) and
    assert it exited 0 and printed ``ok`` (else show the end of its stderr)."""
    proc = _run(code, timeout, paths)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def run_interpreted_side_by_side(
    codes: Sequence[str], timeout: int = 300, paths: Sequence[Path] = ()
) -> None:
    """:func:`run_interpreted` for each of ``codes``, as many at a time as the machine has
    cores (each Python on one thread: the interpreter's work is single-threaded numpy), so that a
    long script split into parts takes the wall time of its longest part on a multi-core CI
    machine; every part must exit 0 and print ``ok``. ``timeout`` is each part's."""
    workers = max(1, min(len(codes), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        procs = list(pool.map(lambda code: _run(code, timeout, paths, OMP_NUM_THREADS="1"), codes))
    for i, proc in enumerate(procs):
        assert proc.returncode == 0 and "ok" in proc.stdout, (i, proc.stderr[-3000:])

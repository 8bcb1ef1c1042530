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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_interpreted(code: str, timeout: int = 300, paths: Sequence[Path] = ()) -> None:
    """Run ``code`` under the interpreter (``paths``: more import paths after ``tests``) and
    assert it exited 0 and printed ``ok`` (else show the end of its stderr)."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "tests"), *map(str, paths), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]

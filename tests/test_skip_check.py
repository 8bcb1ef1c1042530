"""The unexpected-skip check of tests/conftest.py, run on a throw-away suite (pytester, in a
subprocess: an in-process rerun would re-import torch)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text()
SUITE = """
import pytest

def test_ok():
    pass

@pytest.mark.skipif(True, reason="needs a CUDA GPU")
def test_gpu():
    pass

def test_dependency():
    pytest.importorskip("a_module_that_is_not_installed")
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("allowed.txt").write_text("# comment\n^needs a CUDA GPU$\n")
    return pytester


def test_an_unexpected_skip_fails_the_run(suite):
    result = suite.runpytest_subprocess("--fail-on-unexpected-skip", "--allowed-skips=allowed.txt")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*UNEXPECTED SKIP*a_module_that_is_not_installed*"])
    assert "UNEXPECTED SKIP test_suite.py::test_gpu" not in result.stdout.str()


def test_allowed_skips_pass_and_the_plain_run_is_unchanged(suite):
    everything = "--allowed-skips=" + str(suite.path / "all.txt")
    suite.path.joinpath("all.txt").write_text("^needs a CUDA GPU$\ncould not import\n")
    assert (
        suite.runpytest_subprocess("--fail-on-unexpected-skip", everything).ret
        == pytest.ExitCode.OK
    )
    assert suite.runpytest_subprocess().ret == pytest.ExitCode.OK  # no flag: skips are just skips


def test_a_module_level_skip_is_seen(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_mod="import pytest\npytest.importorskip('not_here_either')\n")
    pytester.path.joinpath("allowed.txt").write_text("^needs a CUDA GPU$\n")
    result = pytester.runpytest_subprocess(
        "--fail-on-unexpected-skip", "--allowed-skips=allowed.txt"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*UNEXPECTED SKIP*not_here_either*"])


def test_the_repository_allow_list_parses():
    spec = importlib.util.spec_from_file_location(
        "suite_conftest", Path(__file__).parent / "conftest.py"
    )
    suite_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite_conftest)  # by path: other conftest modules share the name
    patterns = suite_conftest.load_patterns(suite_conftest.ALLOWED_SKIPS)
    assert any(p.search("needs a CUDA GPU") for p in patterns)
    assert any(
        p.search("could not import 'lmms_eval': No module named 'lmms_eval'") for p in patterns
    )
    assert not any(p.search("could not import 'transformers'") for p in patterns)
    assert not any(p.search("needs av and numpy (entropy-select[video])") for p in patterns)

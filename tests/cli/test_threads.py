"""The CLI's thread policy (issue 15, point 8): --threads, set around a command, restored."""

import pytest
import torch

import entropy_select as es
from entropy_select.cli import _common, main


@pytest.mark.parametrize(
    "default, cores, load, want",
    [
        (2, 2, 0.0, 1),  # 2 cores: one left free
        (2, 2, None, 1),
        (1, 1, 0.0, 1),  # never below 1
        (8, 8, 0.2, 7),
        (8, 8, 3.0, 5),  # 3 cores busy
        (8, 8, 20.0, 1),  # overloaded
        (4, 8, 0.0, 4),  # never above torch's default
    ],
)
def test_auto_threads(default, cores, load, want):
    assert _common.auto_threads(default, cores, load) == want


def _spy(monkeypatch, seen):
    import entropy_select.cli.select as select

    def run(args):
        seen.append(torch.get_num_threads())
        return 0

    monkeypatch.setattr(select, "run", run)


def test_threads_are_set_around_the_command_and_restored(monkeypatch):
    seen, before = [], torch.get_num_threads()
    _spy(monkeypatch, seen)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    argv = ["select", "f.npy", "--retention", "0.5", "--out", "o.safetensors"]
    assert main([*argv, "--threads", "3"]) == 0
    monkeypatch.setattr(_common, "auto_threads", lambda default, cores, load: 1)
    assert main(argv) == 0  # the default is auto
    assert seen == [3, 1] and torch.get_num_threads() == before


def test_omp_num_threads_wins_over_auto(monkeypatch):
    seen = []
    _spy(monkeypatch, seen)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(_common, "auto_threads", lambda default, cores, load: 1)
    torch_default = torch.get_num_threads()
    assert main(["select", "f.npy", "--budget", "3", "--out", "o.safetensors"]) == 0
    assert seen == [torch_default]


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_bad_threads(bad, capsys):
    with pytest.raises(SystemExit):
        main(["select", "f.npy", "--retention", "0.5", "--out", "o", "--threads", bad])
    assert "auto' or a positive integer" in capsys.readouterr().err


def test_library_calls_leave_torch_threads_alone():
    before = torch.get_num_threads()
    es.select_tokens(torch.randn(4, 6, 6, 8), retention=0.3)
    assert torch.get_num_threads() == before

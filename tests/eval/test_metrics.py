import math

import pytest
import torch

import entropy_select as es
from entropy_select.eval import attention_readout, coverage, evaluate_selection, task_agreement
from entropy_select.eval.quality import markdown_table, mean_rank, summarize


@pytest.fixture
def video():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 5, 5, 12, generator=g), torch.nn.Linear(12, 7)


def test_keeping_everything_is_perfect(video):
    x, head = video
    sel = es.select_tokens(x, retention=1.0)
    m = evaluate_selection(x, sel, head)
    assert m["top1_agreement"] == 1.0
    assert m["kl"] == pytest.approx(0.0, abs=1e-6)
    assert m["coverage"] == pytest.approx(1.0, abs=1e-6)
    assert m["readout_cosine"] == pytest.approx(1.0, abs=1e-6)


def test_metrics_drop_when_tokens_are_dropped(video):
    x, head = video
    sel = es.select_tokens(x, retention=0.05)
    m = evaluate_selection(x, sel, head)
    assert m["coverage"] < 1.0 and m["readout_cosine"] < 1.0 and m["kl"] > 0


def test_coverage_known_value():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    kept = torch.tensor([[1.0, 0.0]])
    assert coverage(x, kept) == pytest.approx((1 + 0 + 1 / math.sqrt(2)) / 3)


def test_readout_known_value():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q = torch.tensor([[0.0, 0.0]])  # uniform attention: the mean of the tokens
    assert attention_readout(x, x[:1], q) == pytest.approx(1 / math.sqrt(2))


def test_frame_without_tokens_reads_video_mean():
    x = torch.zeros(2, 1, 2, 3)
    x[0, 0, 0] = torch.tensor([1.0, 0, 0])
    x[1] = torch.tensor([0.0, 5.0, 0.0])
    head = torch.nn.Linear(3, 3, bias=False)
    head.weight.data = torch.eye(3)
    # keep only token 0 of frame 0: frame 1 falls back to the mean of kept tokens, class 0 != 1
    res = task_agreement(x, x.view(-1, 3)[:1], torch.tensor([0]), head)
    assert res["top1_agreement"] == 0.5


def test_summary_ranks_and_table():
    rows = [
        {
            "clip": c,
            "selector": s,
            "retention": r,
            "top1_agreement": a,
            "kl": k,
            "coverage": a,
            "readout_cosine": a,
        }
        for c in ("a", "b")
        for s, a, k in (("good", 0.9, 0.1), ("bad", 0.5, 0.9))
        for r in (0.1, 0.5)
    ]
    summary = summarize(rows)
    assert summary["good"]["0.1"]["coverage"] == pytest.approx(0.9)
    assert mean_rank(summary) == {"good": 1.0, "bad": 2.0}
    table = markdown_table(summary, "kl")
    assert "| good | **0.1000** | **0.1000** |" in table

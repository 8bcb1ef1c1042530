"""The README's "Use it in Python" snippet runs as a script, prints what it shows, and its
statement about ``keep_index`` and ``tokens`` holds (issue 15, points 6 and 7)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

import entropy_select as es

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_snippet() -> str:
    section = README.read_text().split("## Use it in Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_snippet_prints_what_it_shows():
    code = _python_snippet()
    src = str(README.parent / "src")  # this checkout, whether or not it is installed
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    ).stdout.splitlines()
    assert out[0] == "torch.Size([1097])" and out[1] == "torch.Size([1097, 1152])"
    assert (
        out[2].startswith("[")
        and sum(eval(out[2])) == 1097
        and out[3] == "torch.Size([16, 14, 14])"
    )
    assert out[4] == "torch.Size([3136])" and out[5] == "200 None"
    assert len(out) == 6 and len(code.splitlines()) - 4 == 8  # one print per line it explains


def test_keep_index_and_tokens_as_the_readme_says():
    text = " ".join(README.read_text().split())
    assert "about 256 of the 1,097 above" in text and "(about 841 of the 1,097)" in text
    features = torch.randn(16, 14, 14, 1152, generator=torch.Generator().manual_seed(3))
    flat = features.reshape(-1, 1152)
    sel = es.select_tokens(features, retention=0.35)
    a = sel.assignment
    fused = torch.bincount(a[a >= 0], minlength=sel.budget) > 1  # means of 2+ tokens
    plain = (flat[sel.keep_index] == sel.tokens).all(-1)
    # a fused slot whose cell had one token left is that token: it counts as plain
    assert 240 <= int(fused.sum()) <= 256 and int(plain.sum()) == sel.budget - int(fused.sum())
    assert torch.equal(plain, ~fused)
    per_frame = torch.bincount(sel.keep_index[fused] // (14 * 14), minlength=16)
    assert int(per_frame.max()) <= 16  # at most one per cell of the 4x4 grid
    for s in fused.nonzero().flatten()[:20].tolist():
        members = (a == s).nonzero().flatten()
        w = sel.weights[members] if sel.weights is not None else torch.ones(len(members))
        mean = (w[:, None] * flat[members]).sum(0) / w.sum()
        torch.testing.assert_close(sel.tokens[s], mean, rtol=1e-4, atol=1e-5)
        assert int(sel.keep_index[s]) in members.tolist()  # it sits at one of its inputs
        best = members[sel.scores.flatten()[members].argmax()]
        assert int(sel.keep_index[s]) == int(best)  # the best-scored of them
    paper = es.select_tokens(features, budget=200, config=es.EntropySelectConfig.paper())
    assert paper.assignment is None and torch.equal(paper.tokens, flat[paper.keep_index])

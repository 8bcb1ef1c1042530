"""The one Selection assembler (core.selection.assemble_selection) and the rule that it is the only
place a Selection is built."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from entropy_select.core.selection import Selection, assemble_selection

SRC = Path(__file__).resolve().parents[2] / "src" / "entropy_select"


def _batch(B=2, T=3, H=2, W=3, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, H, W, D, generator=g)


def _mask(B, T, H, W, K, seed=1):
    g = torch.Generator().manual_seed(seed)
    order = torch.rand(B, T * H * W, generator=g).argsort(-1)[:, :K]
    return torch.zeros(B, T * H * W, dtype=torch.bool).scatter_(1, order, True)


def test_derived_fields_from_a_mask():
    x = _batch()
    B, T, H, W, D = x.shape
    K = 7
    keep = _mask(B, T, H, W, K)
    scores = torch.randn(B, T, H, W)
    sel = assemble_selection(x, keep, scores, K)
    assert sel.keep_mask.shape == (B, T, H, W) and torch.equal(sel.keep_mask.flatten(1), keep)
    for b in range(B):
        want = keep[b].nonzero().flatten()  # ascending
        assert torch.equal(sel.keep_index[b], want)
        assert torch.equal(sel.tokens[b], x[b].reshape(-1, D)[want])
        assert torch.equal(sel.frame_budget[b], keep[b].view(T, H * W).sum(-1))
    assert sel.frame_budget.dtype == torch.int64 and int(sel.frame_budget.sum()) == B * K
    assert (sel.entropy, sel.gradient, sel.assignment, sel.weights) == (None,) * 4
    # a [B, T, H, W] mask gives the same selection as the flat one
    same = assemble_selection(x, keep.view(B, T, H, W), scores, K)
    assert torch.equal(same.keep_index, sel.keep_index) and torch.equal(same.tokens, sel.tokens)


def test_given_fields_are_kept_and_scores_detached():
    x = _batch().requires_grad_()
    B, T, H, W, D = x.shape
    K = 5
    keep = _mask(B, T, H, W, K)
    scores = (x.detach().sum(-1) * 1.0).requires_grad_()
    merged = torch.randn(B, K, D)
    fb = keep.view(B, T, H * W).sum(-1)
    assignment = torch.full((B, T * H * W), -1)
    sel = assemble_selection(
        None, keep, scores, K, tokens=merged, frame_budget=fb, assignment=assignment
    )
    assert sel.tokens is merged and sel.frame_budget is fb and sel.assignment is assignment
    assert not sel.scores.requires_grad and torch.equal(sel.scores, scores.detach())
    # gathered tokens carry the features' gradient to exactly the kept inputs
    gathered = assemble_selection(x, keep, scores, K)
    gathered.tokens.sum().backward()
    assert torch.equal(x.grad.flatten(1, 3).abs().sum(-1) > 0, keep)


def test_needs_features_or_tokens():
    keep = _mask(1, 2, 2, 2, 3)
    with pytest.raises(ValueError, match="needs the features"):
        assemble_selection(None, keep, torch.zeros(1, 2, 2, 2), 3)


def test_video_indexes_every_field():
    x = _batch(B=3)
    B, T, H, W, _ = x.shape
    sel = assemble_selection(x, _mask(B, T, H, W, 4), torch.randn(B, T, H, W), 4)
    for b in range(B):
        one = sel.video(b)
        for name in Selection.__dataclass_fields__:
            got, full = getattr(one, name), getattr(sel, name)
            assert got is None if full is None else torch.equal(got, full[b])
    assert torch.equal(sel.unbatched().keep_index, sel.keep_index[0])


def _selection_constructions() -> list[str]:
    """``Selection(...)`` calls in the package's source, as ``path:line``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "Selection":
                found.append(f"{path.relative_to(SRC).as_posix()}:{node.lineno}")
    return found


def test_only_the_assembler_builds_a_selection():
    """Every Selection comes from core/selection.py: the assembler, or Selection.video (which
    indexes one that was assembled). A selector, kernel or stream that builds its own fails."""
    found = _selection_constructions()
    assert found, "the scan found no construction at all: it is broken"
    outside = [where for where in found if not where.startswith("core/selection.py:")]
    assert outside == [], f"Selection built outside core.selection.assemble_selection: {outside}"

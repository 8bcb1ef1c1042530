"""The prompt-shortening helper every adapter shares (``adapters/_sequence.py``), with known values.

Torch only (no transformers): ids, masks, labels and multi-row positions shortened together, on
the caller's padding side, the caller's padding dropped; the full prompt restored after generate.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from entropy_select.adapters._sequence import (
    expand_placeholder_keep,
    padding_side,
    restore_prompt,
    shorten,
)


def test_expand_placeholder_keep_fills_row_major():
    placeholder = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 1]], dtype=torch.bool)
    keep = expand_placeholder_keep(placeholder, torch.tensor([1, 0, 0, 1, 1], dtype=torch.bool))
    assert keep.tolist() == [[True, True, False, True], [False, True, True, True]]
    assert placeholder.sum() == 5  # the input is not modified
    with pytest.raises(ValueError, match="4 visual placeholders but the features give 5"):
        expand_placeholder_keep(placeholder[:, :3], torch.ones(5, dtype=torch.bool))


def test_padding_side():
    assert padding_side(None) == "right"
    assert padding_side(torch.ones(2, 0)) == "right"
    assert padding_side(torch.tensor([[1, 1, 0], [1, 1, 1]])) == "right"
    assert padding_side(torch.tensor([[1, 1, 1], [0, 1, 1]])) == "left"


IDS = torch.tensor([[5, 6, 7, 8, 0, 0], [1, 2, 3, 4, 5, 6]])
MASK = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
KEEP = torch.tensor([[1, 0, 1, 1, 1, 1], [1, 0, 0, 1, 0, 1]], dtype=torch.bool)


def test_shorten_right_padded_batch():
    labels = IDS + 100
    positions = torch.arange(6).expand(3, 2, 6) * torch.tensor([1, 2, 3])[:, None, None]
    short, mask = shorten(
        KEEP, {"input_ids": (IDS, 0), "labels": (labels, -100), "pos": (positions, 9)}, MASK
    )
    # row 0 keeps 5, 7, 8 (its two pads are the caller's padding: dropped), row 1 keeps 1, 4, 6
    assert short["input_ids"].tolist() == [[5, 7, 8], [1, 4, 6]]
    assert short["labels"].tolist() == [[105, 107, 108], [101, 104, 106]]
    assert short["pos"][2].tolist() == [[0, 6, 9], [0, 9, 15]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 1]]


def test_shorten_re_pads_on_the_callers_side():
    keep = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 0, 0, 1, 0, 1]], dtype=torch.bool)
    right, rmask = shorten(keep, {"input_ids": (IDS, 0), "labels": (IDS, -100)}, MASK)
    assert right["input_ids"].tolist() == [[5, 6, 7, 8], [1, 4, 6, 0]]
    assert right["labels"].tolist() == [[5, 6, 7, 8], [1, 4, 6, -100]]
    assert rmask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    left_ids = torch.tensor([[0, 0, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6]])
    left_mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    left, lmask = shorten(keep, {"input_ids": (left_ids, 0), "none": (None, 0)}, left_mask)
    assert left["input_ids"].tolist() == [[5, 6, 7, 8], [0, 1, 4, 6]]
    assert lmask.tolist() == [[1, 1, 1, 1], [0, 1, 1, 1]]
    assert "none" not in left


def test_shorten_without_a_mask():
    even = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    short, mask = shorten(even, {"input_ids": (ids, 0)}, None)
    assert short["input_ids"].tolist() == [[1, 3], [5, 6]] and mask is None
    ragged = torch.tensor([[1, 1, 1], [0, 1, 0]], dtype=torch.bool)
    short, mask = shorten(ragged, {"input_ids": (ids, -1)}, None)
    assert short["input_ids"].tolist() == [[1, 2, 3], [5, -1, -1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]] and mask.dtype == torch.long


def test_restore_prompt():
    prompt = torch.tensor([[7, 8, 9, 10]])
    out = torch.tensor([[7, 9, 41, 42]])  # a 2-token shortened prompt, then 2 new tokens
    assert restore_prompt(out, prompt, 2).tolist() == [[7, 8, 9, 10, 41, 42]]
    two = torch.tensor([[7, 9, 41], [7, 9, 43]])  # num_return_sequences = 2
    assert restore_prompt(two, prompt, 2).tolist() == [[7, 8, 9, 10, 41], [7, 8, 9, 10, 43]]
    result = SimpleNamespace(sequences=out.clone())
    assert restore_prompt(result, prompt, 2).sequences.tolist() == [[7, 8, 9, 10, 41, 42]]
    assert restore_prompt(SimpleNamespace(sequences=None), prompt, 2).sequences is None
    other = object()  # anything without sequences passes through
    assert restore_prompt(other, prompt, 2) is other
    # as many returned sequences as prompt tokens: the prompt is still repeated per sequence
    short_prompt = torch.tensor([[7, 8]])
    assert restore_prompt(torch.tensor([[7, 41], [7, 43]]), short_prompt, 1).tolist() == [
        [7, 8, 41],
        [7, 8, 43],
    ]

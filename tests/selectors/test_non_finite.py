"""NaN and inf are refused, naming the bad video, for single, batched and list inputs of every
selector (issue 17: only one single-tensor NaN test existed)."""

from __future__ import annotations

import pytest
import torch

import entropy_select as es
from entropy_select import selectors

BAD = [("nan", float("nan")), ("inf", float("inf")), ("-inf", float("-inf"))]


def _videos(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 4, 5, 8, generator=g), torch.randn(2, 4, 4, 8, generator=g)]


def _message(kind):
    return "1 NaN and 0 inf" if kind == "nan" else "0 NaN and 1 inf"


@pytest.mark.parametrize("name", selectors.available())
@pytest.mark.parametrize(("kind", "value"), BAD)
@pytest.mark.parametrize("where", [0, 1])
def test_list_input_with_a_non_finite_video(name, kind, value, where):
    videos = _videos()
    videos[where][1, 2, 3, 4] = value
    with pytest.raises(ValueError, match=rf"features\[{where}\] contains {_message(kind)}"):
        selectors.get(name)(videos, retention=0.5)


@pytest.mark.parametrize("name", selectors.available())
@pytest.mark.parametrize(("kind", "value"), BAD)
def test_batch_input_with_a_non_finite_video(name, kind, value):
    batch = torch.randn(3, 2, 4, 4, 8, generator=torch.Generator().manual_seed(1))
    batch[2, 1, 0, 0, 7] = value  # only the last video of the batch
    with pytest.raises(ValueError, match=_message(kind)):
        selectors.get(name)(batch, retention=0.5)


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_select_tokens_list_and_batch(impl):
    videos = _videos()
    videos[1][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"features\[1\] contains 1 NaN"):
        es.select_tokens(videos, retention=0.5, impl=impl)
    batch = torch.stack([_videos(2)[0], _videos(3)[0]])
    batch[1, 2, 3, 4, 5] = float("inf")
    with pytest.raises(ValueError, match="0 NaN and 1 inf"):
        es.select_tokens(batch, retention=0.5, impl=impl)
    # validate=False skips the check (CUDA-graph capture): no error, by the caller's choice
    es.select_tokens(batch, retention=0.5, impl=impl, validate=False)

import pytest
import torch

from entropy_select import selectors
from entropy_select.selectors.base import apportion


def test_vidcom2_gives_the_unique_frame_more_tokens():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(5, 4, 4, 8) + 0.1 * torch.randn(5, 4, 4, 8, generator=g)  # near-static video
    x[3] = torch.randn(4, 4, 8, generator=g)  # one very different frame
    sel = selectors.get("vidcom2")(x, budget=30)
    assert int(sel.frame_budget.argmax()) == 3
    assert int(sel.frame_budget[3]) > 30 // 5


def test_vidcom2_keeps_the_outlier_token_of_a_frame():
    x = torch.ones(2, 3, 3, 4) + 0.01 * torch.randn(
        2, 3, 3, 4, generator=torch.Generator().manual_seed(1)
    )
    x[1, 2, 2] = torch.tensor([1.0, -1.0, 1.0, -1.0])
    sel = selectors.get("vidcom2", channel_ratio=1.0)(x, budget=2)
    assert 9 + 8 in sel.keep_index.tolist()


def test_apportion_is_largest_remainder_with_caps():
    t = torch.tensor([[1.5, 2.7, 0.8]], dtype=torch.float64)
    assert apportion(t, 5, 10).tolist() == [[1, 3, 1]]
    assert apportion(torch.tensor([[10.0, 1.0, 1.0]]), 12, 4).tolist() == [[4, 4, 4]]
    assert apportion(torch.tensor([[9.0, 0.0, 0.0]]), 6, 4).tolist() == [[4, 1, 1]]


@pytest.mark.parametrize(
    "opts",
    [
        {"channel_ratio": 0},
        {"temperature": 0},
        {"scales": ()},
        {"scales": (1.0, -1.0)},
        {"channel_ratio": 1.5},
    ],
)
def test_vidcom2_validates_options(opts):
    with pytest.raises(ValueError):
        selectors.get("vidcom2", **opts)

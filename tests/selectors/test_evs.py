import torch

from entropy_select import selectors


def test_evs_keeps_all_of_frame_0_first():
    x = torch.randn(4, 3, 3, 5)
    sel = selectors.get("evs")(x, budget=9)
    assert sel.keep_index.tolist() == list(range(9))
    assert selectors.get("evs")(x, budget=4).keep_index.tolist() == [0, 1, 2, 3]
    assert torch.isinf(sel.scores[0]).all()


def test_evs_then_keeps_the_tokens_that_changed():
    x = torch.randn(1, 3, 3, 5).repeat(3, 1, 1, 1)  # a static video
    x[1, 2, 0] = torch.randn(5)  # one token changes in frame 1 ...
    x[2, 0, 1] = -x[1, 0, 1]  # ... and one flips in frame 2 (cosine -1: score 2)
    sel = selectors.get("evs")(x, budget=11)
    assert sel.keep_index[9:].tolist() == [9 + 6, 18 + 1]
    torch.testing.assert_close(sel.scores[2, 0, 1], torch.tensor(2.0))
    torch.testing.assert_close(sel.scores[1, 0, 0], torch.tensor(0.0), atol=1e-6, rtol=0)

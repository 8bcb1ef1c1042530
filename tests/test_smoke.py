import torch

import entropy_select as es


def test_select_tokens_smoke():
    x = torch.randn(4, 6, 6, 8, generator=torch.Generator().manual_seed(0))
    sel = es.select_tokens(x, retention=0.5)
    assert sel.keep_index.shape == (72,)

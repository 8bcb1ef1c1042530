import pytest
import torch

from entropy_select import selectors


def test_random_is_reproducible_per_seed_and_differs_across_seeds():
    x = torch.randn(4, 5, 5, 3)
    a = selectors.get("random", seed=3)(x, budget=20).keep_index
    assert torch.equal(a, selectors.get("random", seed=3)(x, budget=20).keep_index)
    assert not torch.equal(a, selectors.get("random", seed=4)(x, budget=20).keep_index)


def test_random_ignores_content_and_is_roughly_uniform():
    N, K, seeds = 50, 10, 400
    x = torch.randn(2, 5, 5, 3)
    counts = torch.zeros(N)
    for s in range(seeds):
        counts[selectors.get("random", seed=s)(x, budget=K).keep_index] += 1
    expected = seeds * K / N  # 80 per token; binomial sd ~ 8
    assert counts.min() > expected - 40 and counts.max() < expected + 40
    y = torch.randn(2, 5, 5, 3)
    assert torch.equal(
        selectors.get("random", seed=1)(x, budget=K).keep_index,
        selectors.get("random", seed=1)(y, budget=K).keep_index,
    )


@pytest.mark.parametrize("seed", [-1, 1.5, "x", "-1", True])
def test_random_rejects_bad_seed(seed):  # "0" is parsed, as a CLI's --set seed=0 is
    with pytest.raises(ValueError):
        selectors.get("random", seed=seed)

import torch

from entropy_select import selectors


def naive_divprune(x: torch.Tensor, K: int) -> list[int]:
    """DivPrune's Alg. 1 as written: recompute the min over the chosen set at every step."""
    xn = x / x.norm(dim=-1, keepdim=True)
    d = 1 - xn @ xn.T
    nn = d.clone().fill_diagonal_(float("inf")).min(1).values
    chosen = [int(torch.argmax(nn))]
    while len(chosen) < K:
        gain = d[chosen].min(0).values
        gain[chosen] = -float("inf")
        chosen.append(int(torch.argmax(gain)))
    return sorted(chosen)


def test_divprune_matches_the_papers_greedy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 4, 5, generator=g, dtype=torch.float64)
    for K in (1, 2, 7, 30, 48):
        sel = selectors.get("divprune")(x, budget=K)
        assert sel.keep_index.tolist() == naive_divprune(x.reshape(-1, 5), K)


def test_divprune_picks_one_token_per_direction():
    e = torch.eye(3, dtype=torch.float64)
    x = torch.stack([e[0], e[0] * 2, e[1], e[1], e[1] * 3, e[2]]).view(1, 2, 3, 3)
    sel = selectors.get("divprune")(x, budget=3)
    picked = x.reshape(6, 3)[sel.keep_index]
    assert sorted(int(v.argmax()) for v in picked) == [0, 1, 2]
    kept, dropped = (
        sel.scores.flatten()[sel.keep_index],
        sel.scores.flatten()[~sel.keep_mask.flatten()],
    )
    assert kept.min() >= dropped.max()

import torch

from entropy_select import selectors


def test_tome_one_round_merges_the_most_similar_a_b_pair():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 4, 6, generator=g, dtype=torch.float64)
    x[0, 1, 0] = x[0, 0, 3] + 1e-4  # place 4 (set A) is nearly place 3 (set B)
    sel = selectors.get("tome")(x, budget=7)
    a = sel.assignment
    assert a[3] == a[4] and int((a == a[3]).sum()) == 2
    assert 3 in sel.keep_index.tolist() and 4 not in sel.keep_index.tolist()  # B keeps its place
    torch.testing.assert_close(sel.tokens[int(a[3])], (x[0, 0, 3] + x[0, 1, 0]) / 2)
    assert float(sel.scores[0, 0, 3]) == 2.0


def test_tome_merged_tokens_are_means_of_their_members_after_many_rounds():
    x = torch.randn(4, 4, 4, 3, dtype=torch.float64)
    sel = selectors.get("tome")(x, budget=5)  # 64 -> 5: several rounds
    flat = x.reshape(64, 3)
    for s in range(5):
        torch.testing.assert_close(sel.tokens[s], flat[sel.assignment == s].mean(0))
    assert sel.scores.sum() == 64

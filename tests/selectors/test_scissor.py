import pytest
import torch

from entropy_select import selectors
from entropy_select.selectors.scissor import connected_components


def test_connected_components_labels_by_lowest_index():
    edges = [(0, 3), (3, 5), (1, 2), (6, 7), (7, 4)]
    adj = torch.zeros(8, 8, dtype=torch.bool)
    for i, j in edges:
        adj[i, j] = adj[j, i] = True
    assert connected_components(adj).tolist() == [0, 1, 1, 0, 4, 0, 4, 4]


def test_connected_components_handles_long_chains():
    n = 40
    adj = torch.zeros(n, n, dtype=torch.bool)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    for a, b in zip(perm[:-1], perm[1:], strict=True):
        adj[a, b] = adj[b, a] = True
    assert connected_components(adj).tolist() == [0] * n


def test_scissor_recovers_clusters_exactly_at_their_count():
    g = torch.Generator().manual_seed(0)
    protos = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))[0][:5]
    label = torch.randint(0, 5, (3, 4, 4), generator=g)
    label.view(-1)[:5] = torch.arange(5)  # every cluster present
    x = protos[label] + 1e-3 * torch.randn(3, 4, 4, 8, generator=g, dtype=torch.float64)
    sel = selectors.get("scissor")(x, budget=5)
    a, flat_label = sel.assignment, label.reshape(-1)
    for s in range(5):  # one output per cluster, holding exactly that cluster
        members = flat_label[a == s]
        assert members.unique().numel() == 1
        torch.testing.assert_close(sel.tokens[s], x.reshape(-1, 8)[a == s].mean(0))
    assert sorted(int(flat_label[i]) for i in sel.keep_index) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("iterations", [0, -2, 2.5, True])
def test_scissor_validates_iterations(iterations):
    with pytest.raises(ValueError):
        selectors.get("scissor", iterations=iterations)


def union_find_labels(adj: torch.Tensor) -> list[int]:
    n = adj.shape[0]
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in adj.nonzero().tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(n)]


def test_connected_components_matches_union_find_on_random_graphs():
    g = torch.Generator().manual_seed(0)
    for p in (0.02, 0.05, 0.1, 0.3):
        a = torch.rand(3, 60, 60, generator=g) < p
        a = a | a.transpose(1, 2)
        labels = connected_components(a)
        for b in range(3):
            assert labels[b].tolist() == union_find_labels(a[b])


def test_batch_of_videos_with_different_component_counts_equals_each_alone():
    """A near-static video (few components) batched with a random one (many): padding of the
    component lists must not change either result."""
    sc = selectors.get("scissor")
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        busy = torch.randn(4, 3, 4, 8, generator=g)
        still = torch.ones(4, 3, 4, 8) + 0.01 * torch.randn(4, 3, 4, 8, generator=g)
        pair = (busy, still) if seed % 2 else (still, busy)
        for K in (2, 5, 12, 30):
            batch = sc(torch.stack(pair), budget=K)
            for i, v in enumerate(pair):
                one = sc(v, budget=K)
                assert torch.equal(batch.keep_index[i], one.keep_index), (seed, K, i)
                torch.testing.assert_close(batch.tokens[i], one.tokens)

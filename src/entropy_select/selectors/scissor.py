"""``scissor``: LLaVA-Scissor's Semantic Connected Components, with a threshold search for K.

Reimplemented from LLaVA-Scissor (Sun et al., 2025, "LLaVA-Scissor: Token Compression with
Semantic Connected Components for Video LLMs", §3): tokens are nodes of a graph whose edges join
pairs with cosine similarity above a threshold τ; every connected component becomes one token
(its mean). This runs first inside each frame (spatial SCC), then over all frames' component
tokens together (temporal SCC); finally every original token is merged into the most similar
surviving token. LLaVA-Scissor sets τ by hand, so the number of tokens follows from τ; to hit an
exact K we search τ by bisection and report that cost (it is the method's real cost at a given
retention).
"""

from __future__ import annotations

import torch

from ..core.checks import compute_dtype
from ..core.select import mask_to_index
from ..core.selection import Selection, assemble_selection
from .base import Selector, merge_mean, normalize_tokens, slot_of_kept, topk_mask

__all__ = ["Scissor", "connected_components"]


def connected_components(adjacency: torch.Tensor) -> torch.Tensor:
    """Label every node with the lowest index of its connected component.

    Dense hook-and-shortcut (Shiloach–Vishkin style): each pass finds every node's lowest
    neighbouring label (one masked min over the ``n × n`` adjacency), hooks each tree's root to
    the lowest label any of its members sees, then follows pointers until every node points at
    a root. Labels only decrease and stay inside the component, so the fixed point is the
    component minimum; trees merge in a few passes even on long chains. One host
    synchronisation per pointer-following step.

    Args:
        adjacency: symmetric bool adjacency (the diagonal is ignored).

    Shapes:
        adjacency: [..., n, n]  ->  [..., n] int64
    """
    n = adjacency.shape[-1]
    shape = adjacency.shape[:-1]
    labels = torch.arange(n, device=adjacency.device).expand(shape).contiguous()  # [..., n]
    none = torch.tensor(n, dtype=torch.int32, device=adjacency.device)
    while True:
        seen = torch.where(adjacency, labels.to(torch.int32).unsqueeze(-2), none).amin(-1)
        seen = torch.minimum(labels, seen.long())  # lowest label among neighbours and self
        new = labels.scatter_reduce(-1, labels, seen, reduce="amin")  # hook roots
        while True:  # shortcut: point every node at its root
            up = new.gather(-1, new)
            if torch.equal(up, new):
                break
            new = up
        if torch.equal(new, labels):
            return labels
        labels = new


class Scissor(Selector):
    """LLaVA-Scissor's two-step SCC, exact-K through a bisection on the threshold τ.

    For a threshold τ (the same for both steps):

    1. Spatial: in each frame, components of the graph ``cos(x_i, x_j) > τ``; each component's
       token is the mean of its raw features.
    2. Temporal: components of the same graph over all frames' component tokens; ``C(τ)``
       components remain.

    ``C`` grows with τ (``τ > 1``: no edges, ``C = N``; ``τ < −1``: one component), though not
    strictly (the temporal step works on means). ``iterations`` bisection steps on
    τ ∈ (−1 − ε, 1 + ε) look for the smallest ``C(τ) >= K``, stopping early when ``C = K`` (a
    video of a batch that reaches ``C = K`` keeps that τ). If ``C > K`` then, the K largest
    components survive (ties: lower root index).
    Every token of a dropped component merges into the survivor whose mean is most similar
    (cosine) — LLaVA-Scissor's final merge step. Output tokens are the plain means of all tokens
    each survivor holds, anchored at the member most similar to the survivor's component mean.

    Args:
        iterations: bisection steps, >= 1 (each halves the τ interval; 16 reach ~3e-5).

    Scores: the number of tokens merged into each anchor (>= 1); 0 elsewhere.

    Cost: retention-dependent and content-dependent: every bisection step redoes both SCC steps
    (up to ``iterations`` of them; the search stops early only where some τ gives exactly K),
    and the temporal step labels a dense graph over the C₁(τ) spatial components, largest where
    τ is high. The token Gram matrix (O(N²·D) time, N² memory) is computed once; each step then
    costs O(N²) scatters plus the labelling passes. The search and the labelling synchronise
    with the host at every step. Measured on an H200 at 14×14×1152
    (``benchmarks/results/selectors_cuda.json``): 30–45 ms for 16 frames and 60–87 ms for 64,
    max/min across r = 0.05…0.5 of 1.5× and 1.4× (the step count, not r itself, moves it). On
    a 2-core CPU (``selectors_cpu.json``) the O(N²) steps dominate: 64 frames take 27 s at
    r = 0.05 and 60–90 s at r = 0.25–0.5 (max/min 3.4×), because high thresholds leave many
    spatial components for the temporal step.

    Shapes:
        features: [B, T, H, W, D]  ->  keep_index [B, K], tokens [B, K, D], assignment [B, N]
    """

    name = "scissor"
    merges = True  # tokens are merged from the features (autograd on while selecting)

    def __init__(self, iterations: int = 16) -> None:
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
        self.iterations = iterations

    def select(self, features: torch.Tensor, budget: int) -> Selection:
        Bsz, T, H, W, D = features.shape
        N = T * H * W
        device = features.device
        x = features.to(compute_dtype(features.dtype)).reshape(Bsz, N, D)  # [B, N, D]
        xn = normalize_tokens(x)
        gram = x @ x.transpose(1, 2)  # [B, N, N] raw dot products, reused by every step
        eps = 1e-3
        lo = torch.full((Bsz,), -1.0 - eps, dtype=torch.float64, device=device)  # C(lo) <= K
        hi = torch.full((Bsz,), 1.0 + eps, dtype=torch.float64, device=device)  # C(hi) >= K
        done = torch.zeros(Bsz, dtype=torch.bool, device=device)  # C(hi) == K: frozen
        for _ in range(self.iterations):
            mid = (lo + hi) / 2
            _, count = self._scc(gram, T, mid)
            enough = (count >= budget) & ~done
            hi = torch.where(enough, mid, hi)
            lo = torch.where(enough | done, lo, mid)
            done = done | (enough & (count == budget))
            if bool(done.all()):
                break
        group, _ = self._scc(gram, T, hi)  # [B, N] root (a flat index) of every token
        return self._finish(features, x, xn, group, budget)

    @staticmethod
    def _cosine(gram: torch.Tensor) -> torch.Tensor:
        """Cosine similarities from a Gram matrix (a zero vector has cosine 0 with everything)."""
        norm = torch.diagonal(gram, dim1=-2, dim2=-1).clamp_min(0).sqrt().clamp_min(1e-6)
        return gram / (norm.unsqueeze(-1) * norm.unsqueeze(-2))

    def _scc(
        self, gram: torch.Tensor, frames: int, tau: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both SCC steps at thresholds ``tau`` [B]: each token's final root and the count C [B].

        The temporal step needs the cosines of component means. A mean's direction is that of
        the component's sum, and ``sum_a · sum_b`` is the block sum of the token Gram matrix, so
        the component Gram is two scatter-adds over the ``N × N`` Gram (O(N²) per step) instead
        of a fresh O(C₁²·D) product.
        """
        Bsz, N, _ = gram.shape
        m = N // frames
        device = gram.device
        blocks = gram.view(Bsz, frames, m, frames, m)
        frame_gram = torch.diagonal(blocks, dim1=1, dim2=3).permute(0, 3, 1, 2)  # [B, T, m, m]
        thr = tau.to(gram.dtype).view(Bsz, 1, 1, 1)
        spatial = connected_components(self._cosine(frame_gram) > thr)  # [B, T, m] in-frame root
        offset = (torch.arange(frames, device=device) * m).view(1, frames, 1)
        root1 = (spatial + offset).reshape(Bsz, N)  # [B, N] flat index of the spatial root
        is_root = root1 == torch.arange(N, device=device)
        n1 = int(is_root.sum(-1).max())  # the most spatial components in the batch
        roots = mask_to_index(is_root, N)[:, :n1]  # [B, n1] roots first, ascending
        valid = is_root.gather(1, roots)  # [B, n1] padding where a video has fewer
        place = torch.zeros(Bsz, N, dtype=torch.long, device=device)
        place.scatter_(1, roots, torch.arange(n1, device=device).expand(Bsz, -1))
        member = place.gather(1, root1)  # [B, N] compact component of every token
        rows = torch.zeros(Bsz, n1, N, dtype=gram.dtype, device=device)
        rows.scatter_add_(1, member.unsqueeze(-1).expand(-1, -1, N), gram)  # [B, n1, N]
        comp = torch.zeros(Bsz, n1, n1, dtype=gram.dtype, device=device)
        comp.scatter_add_(2, member.unsqueeze(1).expand(-1, n1, -1), rows)  # [B, n1, n1]
        edge = self._cosine(comp) > tau.to(gram.dtype).view(Bsz, 1, 1)
        edge = edge & valid.unsqueeze(1) & valid.unsqueeze(2)
        temporal = connected_components(edge)  # [B, n1] compact root
        root2 = roots.gather(1, temporal)  # flat index of the final root
        group = root2.gather(1, member)  # [B, N]
        count = ((temporal == torch.arange(n1, device=device)) & valid).sum(-1)
        return group, count

    def _finish(self, features, x, xn, group, budget: int) -> Selection:
        """Keep the K largest components, merge the rest into their most similar survivor."""
        Bsz, T, H, W, D = features.shape
        N = T * H * W
        device = x.device
        size = torch.zeros(Bsz, N, dtype=x.dtype, device=device).scatter_add_(
            1, group, torch.ones_like(x[..., 0])
        )  # [B, N] component size at each root, 0 elsewhere
        survivor = topk_mask(size, budget)  # [B, N] roots of the K largest components
        rank = slot_of_kept(survivor)  # survivor number at each surviving root
        slot = torch.where(
            survivor.gather(1, group), rank.gather(1, group), torch.full_like(group, -1)
        )
        centre = normalize_tokens(merge_mean(x, slot, budget))  # [B, K, D] survivor component means
        nearest = torch.argmax(xn @ centre.transpose(1, 2), dim=-1)  # [B, N]
        slot = torch.where(slot >= 0, slot, nearest)  # LLaVA-Scissor's final merge
        # anchor: the member of each surviving component most similar to its mean
        own = torch.where(survivor.gather(1, group), rank.gather(1, group), torch.zeros_like(group))
        fit = (xn * centre.gather(1, own.unsqueeze(-1).expand(-1, -1, D))).sum(-1)
        fit = torch.where(survivor.gather(1, group), fit, torch.full_like(fit, float("-inf")))
        best = torch.full((Bsz, budget), float("-inf"), dtype=fit.dtype, device=device)
        best = best.scatter_reduce(1, own, fit, reduce="amax")
        is_best = survivor.gather(1, group) & (fit == best.gather(1, own))
        # ties: the lowest index among equally good members of a component
        first = torch.full((Bsz, budget), N, dtype=torch.long, device=device)
        position = torch.arange(N, device=device).expand(Bsz, -1)
        first = first.scatter_reduce(1, own, torch.where(is_best, position, N), reduce="amin")
        keep_flat = torch.zeros(Bsz, N, dtype=torch.bool, device=device).scatter_(1, first, True)
        # slots are numbered by root order; renumber them by anchor order (the output order)
        by_anchor = slot_of_kept(keep_flat).gather(1, first)  # [B, K] output slot of survivor s
        assignment = by_anchor.gather(1, slot)
        tokens = merge_mean(x, assignment, budget).to(features.dtype)
        held = torch.zeros(Bsz, budget, dtype=x.dtype, device=device).scatter_add_(
            1, assignment, torch.ones_like(x[..., 0])
        )
        score = torch.zeros(Bsz, N, dtype=x.dtype, device=device)
        score.scatter_(1, first, held.gather(1, by_anchor))  # survivor s: anchor first[s]
        return assemble_selection(
            features,
            keep_flat,
            score.view(Bsz, T, H, W),
            budget,
            tokens=tokens,
            assignment=assignment,
        )

    def __repr__(self) -> str:
        return f"Scissor(iterations={self.iterations})"

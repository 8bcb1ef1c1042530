"""A deliberately naive float64 ENTROPY-SELECT, written from SPEC with plain Python loops.

It shares no code with the package: it is the yardstick the vectorised reference is held to.
Only for tiny inputs.
"""

from __future__ import annotations

import math

import torch


def entropy(x, k=5, kt=3, kp=3, tau=1.0):
    """Ĥ of SPEC §1 by enumerating every neighbour of every token. x: [T, H, W, D]."""
    x = x.double()
    T, H, W, _ = x.shape
    xn = torch.zeros_like(x)
    for t in range(T):
        for i in range(H):
            for j in range(W):
                v = x[t, i, j]
                xn[t, i, j] = v / max(float(v.norm()), 1e-6)
    out = torch.zeros(T, H, W, dtype=torch.float64)
    r, rp = k // 2, kp // 2
    for t in range(T):
        for i in range(H):
            for j in range(W):
                nbrs = []
                for a in range(-r, r + 1):
                    for b in range(-r, r + 1):
                        if (a, b) != (0, 0) and 0 <= i + a < H and 0 <= j + b < W:
                            nbrs.append((t, i + a, j + b))
                for dt in range(1, kt):
                    if t - dt < 0:
                        continue
                    for a in range(-rp, rp + 1):
                        for b in range(-rp, rp + 1):
                            if 0 <= i + a < H and 0 <= j + b < W:
                                nbrs.append((t - dt, i + a, j + b))
                n = len(nbrs)
                if n < 2:
                    continue
                s = [float(xn[t, i, j] @ xn[q]) / tau for q in nbrs]
                mx = max(s)
                z = sum(math.exp(v - mx) for v in s)
                p = [math.exp(v - mx) / z for v in s]
                h = -sum(pi * math.log(pi) for pi in p if pi > 0)
                out[t, i, j] = h / math.log(n)
    return out


def gradient(x):
    """Ĝ of SPEC §2 with explicit stencils. x: [T, H, W, D]."""
    x = x.double()
    T, H, W, _ = x.shape
    g = torch.zeros(T, H, W, dtype=torch.float64)

    def diff(get, n, idx):
        if n == 1:
            return 0.0
        if idx == 0:
            return get(1) - get(0)
        if idx == n - 1:
            return get(n - 1) - get(n - 2)
        return (get(idx + 1) - get(idx - 1)) / 2

    for t in range(T):
        for i in range(H):
            for j in range(W):
                row, col = x[t, i], x[t, :, j]
                gx = diff(lambda c, row=row: row[c], W, j)
                gy = diff(lambda r_, col=col: col[r_], H, i)
                gx2 = float((gx * gx).sum()) if torch.is_tensor(gx) else 0.0
                gy2 = float((gy * gy).sum()) if torch.is_tensor(gy) else 0.0
                g[t, i, j] = math.sqrt(gx2 + gy2)
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / (hi - lo) if hi > lo else torch.zeros_like(g)


def allocate(scores, K, q=0.3, tau_alloc=0.1, bmin=4, bmax=None):
    """SPEC §4 with the one-token-at-a-time loop. scores: [T, H, W] float64."""
    T, H, W = scores.shape
    m = H * W
    if T == 1:
        return [K]
    cnt = min(m, max(1, math.ceil(q * m - 1e-9)))
    sbar = []
    for f in range(T):
        vals = sorted(scores[f].reshape(-1).tolist(), reverse=True)[:cnt]
        sbar.append(sum(vals) / cnt)
    mx = max(sbar)
    e = [math.exp((v - mx) / tau_alloc) for v in sbar]
    w = [v / sum(e) for v in e]
    lo = min(bmin, K // T)
    hi = min(m, max(bmax or m, -(-K // T)))
    B = [min(max(math.floor(wf * K), lo), hi) for wf in w]
    while sum(B) < K:
        cands = [f for f in range(T) if B[f] < hi]
        f = max(cands, key=lambda f: (w[f], -f))
        B[f] += 1
    while sum(B) > K:
        cands = [f for f in range(T) if B[f] > lo]
        f = min(cands, key=lambda f: (w[f], -f))
        B[f] -= 1
    return B


def frame_select(score, Bf, g=4, rho=0.5):
    """SPEC §5 for one frame. score: [H, W]. Returns the set of kept (i, j)."""
    H, W = score.shape
    gh, gw = min(g, H), min(g, W)
    c = gh * gw
    kc = math.floor(Bf * rho / c + 1e-9)
    if kc == 0 and Bf >= c:
        kc = 1
    if Bf < c:
        kc = 0
    cells = {}
    for i in range(H):
        for j in range(W):
            cells.setdefault((i * gh // H, j * gw // W), []).append((i, j))

    def key(p):
        return (-float(score[p]), p[0] * W + p[1])

    taken = []
    for cell in sorted(cells):
        taken += sorted(cells[cell], key=key)[:kc]
    rest = sorted((p for p in cells_all(H, W) if p not in taken), key=key)
    taken += rest[: Bf - len(taken)]
    return set(taken)


def cells_all(H, W):
    return [(i, j) for i in range(H) for j in range(W)]


def select(
    x, K, k=5, kt=3, kp=3, tau=1.0, alpha=0.5, q=0.3, tau_alloc=0.1, bmin=4, bmax=None, g=4, rho=0.5
):
    """The whole pipeline (no fusion): returns (sorted keep_index, scores, budgets)."""
    T, H, W, _ = x.shape
    s = alpha * entropy(x, k, kt, kp, tau) + (1 - alpha) * gradient(x)
    B = allocate(s, K, q, tau_alloc, bmin, bmax)
    keep = []
    for f in range(T):
        keep += [f * H * W + i * W + j for (i, j) in frame_select(s[f], B[f], g, rho)]
    return sorted(keep), s, B

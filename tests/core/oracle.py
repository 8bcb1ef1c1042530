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
    g = gradient_magnitude(x)
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / (hi - lo) if hi > lo else torch.zeros_like(g)


def gradient_magnitude(x):
    """The raw ``G = sqrt(‖∇x‖² + ‖∇y‖²)`` of SPEC §2 with explicit stencils. x: [T, H, W, D]."""
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
    return g


def frame_weights(scores, q=0.3, tau_alloc=0.1):
    """SPEC §4's frame weights ``w_f`` (softmax of the top-q mean saliency). scores: [T, H, W]."""
    T, H, W = scores.shape
    m = H * W
    cnt = min(m, max(1, math.ceil(q * m - 1e-9)))
    sbar = []
    for f in range(T):
        vals = sorted(scores[f].reshape(-1).tolist(), reverse=True)[:cnt]
        sbar.append(sum(vals) / cnt)
    mx = max(sbar)
    e = [math.exp((v - mx) / tau_alloc) for v in sbar]
    return [v / sum(e) for v in e]


def allocate(scores, K, q=0.3, tau_alloc=0.1, bmin=4, bmax=None):
    """SPEC §4 with the one-token-at-a-time loop. scores: [T, H, W] float64."""
    T, H, W = scores.shape
    m = H * W
    if T == 1:
        return [K]
    w = frame_weights(scores, q, tau_alloc)
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


# --- Every entropy_mode, grid fusion (SPEC §6 with the leftover-slot deviation), the outputs ---


def entropy_term(h, mode="paper"):
    """The entropy term of each ``entropy_mode``, min-max written out as two loops. h: [T, H, W]."""
    vals = h.reshape(-1).tolist()
    if mode in ("minmax", "complement_minmax"):
        lo, hi = min(vals), max(vals)  # a span of 1e-4 or less is flat (docs/algorithm.md §3)
        vals = [(v - lo) / (hi - lo) if hi - lo > 1e-4 else 0.0 for v in vals]
    if mode in ("complement", "complement_minmax"):
        vals = [1.0 - v for v in vals]
    if mode not in ("paper", "minmax", "complement", "complement_minmax"):
        raise ValueError(mode)
    return torch.tensor(vals, dtype=torch.float64).reshape(h.shape)


def score(x, cfg):
    """``S = α·term(Ĥ) + (1 − α)·Ĝ`` (SPEC §1-3) for a config object (only its fields are read).

    Returns ``(S, Ĥ, Ĝ)``, each [T, H, W] float64.
    """
    h = entropy(x, cfg.spatial_window, cfg.temporal_window, cfg.past_window, cfg.tau)
    g = gradient(x)
    s = cfg.alpha * entropy_term(h, cfg.entropy_mode) + (1 - cfg.alpha) * g
    return s, h, g


def _key(score_f, W):
    return lambda p: (-float(score_f[p]), p[0] * W + p[1])


def fuse_frame(score_f, Bf, g=4, rho=0.5, fusion_grid=None, share=0.5, weight="score", tol=1e-9):
    """SPEC §6 for one frame, leftover slots leaving their cell's mean (docs/algorithm.md).

    Returns ``(outputs, ambiguous)``: ``outputs`` maps each kept position ``(i, j)`` to the list
    of ``((i, j), weight)`` it averages (one ``(p, 1.0)`` for a plain token); ``ambiguous`` is
    True when the cells' unselected totals tie (within ``tol``, relative) at the cut of the
    ``c_f`` fused cells, so a different summation order may legitimately pick another cell.
    Options: the fused cells' own grid ``fusion_grid``, the cap ``c_f <= floor(share·B_f)``,
    plain means (``weight="mean"``).
    """
    H, W = score_f.shape
    fg = g if fusion_grid is None else fusion_grid
    gh, gw = min(fg, H), min(fg, W)
    c = gh * gw
    cf = min(c, math.floor(Bf * share + 1e-9))
    base = frame_select(score_f, Bf - cf, g, rho)
    cell_of = {p: (p[0] * gh // H) * gw + p[1] * gw // W for p in cells_all(H, W)}
    key = _key(score_f, W)
    unsel = [p for p in cells_all(H, W) if p not in base]
    totals = {}
    for p in unsel:
        totals[cell_of[p]] = totals.get(cell_of[p], 0.0) + float(score_f[p])
    ranked = sorted(totals, key=lambda cl: (-totals[cl], cl))
    fused = ranked[:cf]
    ambiguous = 0 < cf < len(ranked) and abs(
        totals[ranked[cf - 1]] - totals[ranked[cf]]
    ) <= tol * max(1.0, abs(totals[ranked[cf]]))
    anchors = {cl: min((p for p in unsel if cell_of[p] == cl), key=key) for cl in fused}
    spare = sorted((p for p in unsel if p not in anchors.values()), key=key)
    extra = spare[: cf - len(fused)]
    outputs = {p: [(p, 1.0)] for p in list(base) + extra}
    for cl in fused:
        members = [p for p in unsel if cell_of[p] == cl and p not in extra]
        weights = [float(score_f[p]) if weight == "score" else 1.0 for p in members]
        if sum(weights) <= 0:
            weights = [1.0] * len(members)
        outputs[anchors[cl]] = list(zip(members, weights, strict=True))
    return outputs, ambiguous


def _morton(i, j):
    """Z-order code of (i, j): row bits at odd places, column bits at even places."""
    code, bit = 0, 0
    while (i >> bit) or (j >> bit):
        code |= ((i >> bit) & 1) << (2 * bit + 1)
        code |= ((j >> bit) & 1) << (2 * bit)
        bit += 1
    return code


def context_frame(score_f, Bf, g=4, rho=0.5, share=0.75):
    """Detail + context (docs/algorithm.md §6b) for one frame: ``D_f = B_f − floor(share·B_f)``
    detail tokens by SPEC §5, the rest walked in Z-order and cut into ``C_f`` runs of equal length
    (run of the r-th = floor(r·C_f/n)), each a plain mean placed at its first member."""
    H, W = score_f.shape
    cf = math.floor(Bf * share + 1e-9)
    base = frame_select(score_f, Bf - cf, g, rho)
    outputs = {p: [(p, 1.0)] for p in base}
    rest = sorted((p for p in cells_all(H, W) if p not in base), key=lambda p: _morton(*p))
    n = len(rest)
    runs = {}
    for r, p in enumerate(rest):
        if cf > 0:
            runs.setdefault(r * cf // n, []).append(p)
    for members in runs.values():
        outputs[members[0]] = [(q, 1.0) for q in members]
    return outputs


def budgets_up_to_ties(budgets, s, K, cfg, tol=1e-5):
    """The oracle's budgets for scores ``s``, or ``budgets`` (the library's) where they differ
    only by how a near-tie of frame weights fell.

    The library computes the weights in float32 and the oracle in float64, so two frames whose
    weights agree to ``tol`` may take the odd token either way (budgets ``[1, 0]`` against
    ``[0, 1]``). Any other difference fails.
    """
    ref = allocate(s, K, cfg.top_q, cfg.alloc_tau, cfg.min_frame_tokens, cfg.max_frame_tokens)
    if list(budgets) == ref:
        return ref
    w = frame_weights(s, cfg.top_q, cfg.alloc_tau)
    differ = [f for f, (a, b) in enumerate(zip(budgets, ref, strict=True)) if a != b]
    spread = max(w[f] for f in differ) - min(w[f] for f in differ)
    assert sum(budgets) == K and spread <= tol * max(w), (list(budgets), ref, w)
    return list(budgets)


def select_full(x, K, cfg, s=None, budgets=None):
    """The whole pipeline of SPEC §1-7 for a config object, with fusion and every entropy_mode.

    Args:
        x: [T, H, W, D] features. K: the budget. cfg: any object with EntropySelectConfig's fields.
        s: [T, H, W] scores to select by (default: :func:`score`), to check §4-7 on given scores.
        budgets: per-frame budgets to use (default: :func:`allocate` on the scores).

    Returns:
        dict with ``keep`` (sorted flat indices), ``tokens`` [K, D] float64, ``assignment`` and
        ``weights`` (lists of N; -1 and 0.0 for dropped inputs), ``scores``, ``budgets`` and
        ``ambiguous`` (a fusion cut tie, see :func:`fuse_frame`).
    """
    x64 = x.double()
    T, H, W, D = x.shape
    m = H * W
    if s is None:
        s = score(x64, cfg)[0]
    s = s.double()
    if budgets is None:
        budgets = allocate(
            s, K, cfg.top_q, cfg.alloc_tau, cfg.min_frame_tokens, cfg.max_frame_tokens
        )
    outputs, ambiguous = {}, False
    for t in range(T):
        if getattr(cfg, "context_share", 0) > 0 and K < T * m:
            frame_out = context_frame(
                s[t], int(budgets[t]), cfg.grid, cfg.coverage, cfg.context_share
            )
        elif cfg.grid_fusion and K < T * m:
            frame_out, amb = fuse_frame(
                s[t],
                int(budgets[t]),
                cfg.grid,
                cfg.coverage,
                getattr(cfg, "fusion_grid", None),
                getattr(cfg, "fusion_share", 0.5),
                getattr(cfg, "fusion_weight", "score"),
            )
            ambiguous = ambiguous or amb
        else:
            kept = frame_select(s[t], int(budgets[t]), cfg.grid, cfg.coverage)
            frame_out = {p: [(p, 1.0)] for p in kept}
        for p, members in frame_out.items():
            outputs[t * m + p[0] * W + p[1]] = [(t * m + q[0] * W + q[1], w) for q, w in members]
    keep = sorted(outputs)
    flat = x64.reshape(T * m, D)
    tokens = torch.zeros(len(keep), D, dtype=torch.float64)
    assignment, weights = [-1] * (T * m), [0.0] * (T * m)
    for slot, pos in enumerate(keep):
        total = sum(w for _, w in outputs[pos])
        for q, w in outputs[pos]:
            tokens[slot] += flat[q] * (w / total)
            assignment[q], weights[q] = slot, w
    return {
        "keep": keep,
        "tokens": tokens,
        "assignment": assignment,
        "weights": weights,
        "scores": s,
        "budgets": list(budgets),
        "ambiguous": ambiguous,
    }


def acceptable_plain_frame(kept, score_f, Bf, g=4, rho=0.5, tol=1e-9):
    """Whether ``kept`` (a set of ``(i, j)``) is a SPEC §5 selection of one frame up to ties.

    Exactly ``Bf`` tokens; every cell gives at least its quota (capped by its size) and no kept
    token of a cell scores below a dropped token of the same cell (minus ``tol``); the kept tokens
    beyond each cell's quota are the frame's best remaining ones: none scores below a dropped token
    of the frame (minus ``tol``). Returns a reason string, or "" when acceptable.
    """
    H, W = score_f.shape
    if len(kept) != Bf:
        return f"{len(kept)} kept, budget {Bf}"
    gh, gw = min(g, H), min(g, W)
    c = gh * gw
    kc = math.floor(Bf * rho / c + 1e-9)
    if kc == 0 and Bf >= c:
        kc = 1
    if Bf < c:
        kc = 0
    cells = {}
    for p in cells_all(H, W):
        cells.setdefault((p[0] * gh // H, p[1] * gw // W), []).append(p)
    dropped = [float(score_f[p]) for p in cells_all(H, W) if p not in kept]
    best_dropped = max(dropped, default=-math.inf)
    for members in cells.values():
        k_in = sorted((float(score_f[p]) for p in members if p in kept), reverse=True)
        d_in = [float(score_f[p]) for p in members if p not in kept]
        if len(k_in) < min(kc, len(members)):
            return f"cell under quota: {len(k_in)} < {kc}"
        if k_in and d_in and min(k_in) < max(d_in) - tol:
            return f"cell keeps {min(k_in)} but drops {max(d_in)}"
        beyond = k_in[kc:]  # the cell's kept tokens not needed for its quota
        if beyond and min(beyond) < best_dropped - tol:
            return f"fill keeps {min(beyond)} but the frame drops {best_dropped}"
    return ""

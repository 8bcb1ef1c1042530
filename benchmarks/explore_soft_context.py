"""Round 4 on the DEV part (prototype): score-weighted context runs.

Every frame's budget ``B_f`` is split into ``D_f`` detail tokens (SPEC §5 on the score) and
``C_f`` context runs (the other tokens in Z-order, cut into equal-count runs). Round 2 pooled each
run into its plain mean; here each run is pooled with weights ``w_i = exp((S_i − max_run S)/τ)``:
a run over flat background is its plain mean, a run holding a token that stands out is mostly
that token. ``τ → ∞`` is round 2; ``τ → 0`` keeps the best token of each run.

    python benchmarks/explore_soft_context.py --out DIR [--needle-cache FILE]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import dev_needle_videos, dev_round

from entropy_select import selectors
from entropy_select.core.checks import resolve_budget
from entropy_select.core.config import EntropySelectConfig
from entropy_select.core.context import morton_order
from entropy_select.core.grid import grid_quota_topk
from entropy_select.core.select import fused_scores, plan_frame_budget
from entropy_select.core.selection import Selection, assemble_selection
from entropy_select.encoders import get_encoder


def soft_context(share: float, tau: float, alloc_tau: float | None = None, **cfg_kw):
    cfg = EntropySelectConfig(grid_fusion=False, **cfg_kw)
    if alloc_tau is not None:
        cfg = EntropySelectConfig(grid_fusion=False, alloc_tau=alloc_tau, **cfg_kw)

    def run(x: torch.Tensor, retention: float) -> Selection:
        T, H, W, D = x.shape
        m = H * W
        N = T * m
        K = resolve_budget(N, retention, None)
        with torch.no_grad():
            score, ent, grad = fused_scores(x[None].float(), cfg)
            fb, K = plan_frame_budget(score, cfg, budget=K)
        score, ent, grad, fb = score[0], ent[0], grad[0], fb[0]
        ctx = torch.floor(fb.double() * share + 1e-9).long()
        det_b = fb - ctx
        det = grid_quota_topk(score, det_b, cfg.grid, cfg.coverage).flatten(-2)  # [T, m]
        code = morton_order(H, W)
        xf = x.reshape(T, m, D).float()
        s = score.reshape(T, m).double()
        keep = det.clone()
        assign_local = torch.full((T, m), -1, dtype=torch.long)  # anchor position per input
        weights = torch.zeros(T, m, dtype=torch.float64)
        out_tok = {}
        for t in range(T):
            rest = (~det[t]).nonzero().flatten()
            rest = rest[torch.argsort(code[rest], stable=True)]
            c = int(ctx[t])
            n = len(rest)
            weights[t, det[t]] = 1.0
            assign_local[t, det[t]] = det[t].nonzero().flatten()
            if c == 0 or n == 0:
                continue
            run_of = (torch.arange(n) * c) // n
            for g in range(c):
                mem = rest[run_of == g]
                sv = s[t, mem]
                if tau > 0:
                    w = torch.exp((sv - sv.max()) / tau)
                else:
                    w = torch.ones_like(sv)
                a = int(mem[int(torch.argmax(w))]) if tau > 0 else int(mem[0])
                keep[t, a] = True
                assign_local[t, mem] = a
                weights[t, mem] = w
                out_tok[t * m + a] = (w[:, None].float() * xf[t, mem]).sum(0) / w.sum().float()
        keep_index = keep.flatten().nonzero().flatten()
        assert len(keep_index) == K, (len(keep_index), K)
        tokens = x.reshape(N, D)[keep_index].float().clone()
        for i, k in enumerate(keep_index.tolist()):
            if k in out_tok:
                tokens[i] = out_tok[k]
        slot_of = torch.full((N,), -1, dtype=torch.long)
        slot_of[keep_index] = torch.arange(K)
        glob = assign_local + (torch.arange(T) * m)[:, None]
        assignment = torch.where(assign_local >= 0, slot_of[glob.clamp_min(0)], -1).flatten()
        return assemble_selection(
            None,
            keep.view(1, T, H, W),
            score[None],
            K,
            keep_index=keep_index[None],
            tokens=tokens.to(x.dtype)[None],
            frame_budget=fb[None],
            entropy=ent[None],
            gradient=grad[None],
            assignment=assignment[None],
            weights=weights.flatten().to(x.dtype)[None],
        ).video(0)

    return run


CANDIDATES = {
    "soft:ctx1.0,tau0.03": dict(share=1.0, tau=0.03),
    "soft:ctx1.0,tau0.1": dict(share=1.0, tau=0.1),
    "soft:ctx1.0,tau0.3": dict(share=1.0, tau=0.3),
    "soft:ctx0.75,tau0.05": dict(share=0.75, tau=0.05),
    "soft:ctx0.75,tau0.1": dict(share=0.75, tau=0.1),
    "soft:ctx0.5,tau0.1": dict(share=0.5, tau=0.1),
    "soft:ctx1.0,tau0.1,flatbudget": dict(share=1.0, tau=0.1, alloc_tau=100.0),
    "soft:ctx0.75,tau0.1,flatbudget": dict(share=0.75, tau=0.1, alloc_tau=100.0),
    "plain:ctx1.0": dict(share=1.0, tau=0.0),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/quality/dev")
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--needle-cache", default=None)
    ap.add_argument("--name", default="default_dev_round4")
    args = ap.parse_args()
    torch.manual_seed(0)
    enc = get_encoder("mobilenet_v2")
    start = time.perf_counter()
    vids = dev_needle_videos(enc, args.videos, args.needle_cache)
    sels = {k: soft_context(**v) for k, v in CANDIDATES.items()}
    sels["default"] = selectors.get("entropy_select", impl="reference")
    sels["paper"] = selectors.get("entropy_select", preset="paper", impl="reference")
    sels["balanced"] = selectors.get("entropy_select", preset="balanced", impl="reference")
    for b in ("uniform", "random", "tome", "pooling"):
        sels[b] = selectors.get(b)
    dev_round(vids, enc, sels, CANDIDATES, args.out, args.name, start, controls=False)


if __name__ == "__main__":
    main()

"""Round 5 on the DEV part (prototype): detail tokens plus farthest-point coverage tokens.

Each frame's budget ``B_f`` goes to ``D_f = B_f − C_f`` detail tokens (SPEC §5 on the default's
score) and ``C_f = floor(share·B_f)`` coverage tokens picked greedily among the rest: each pick is
the token least similar (cosine) to everything already kept in the frame (farthest-point /
k-centre). The detail tokens carry what stands out; a few coverage tokens stand for the large flat
regions, so every input has a similar output (the coverage metric, which the scrambled-means
control loses, see docs/choosing-the-default.md).

    python benchmarks/explore_detail_coverage.py --out DIR [--needle-cache FILE]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import dev_needle_videos, dev_round

from entropy_select import selectors
from entropy_select.core.checks import resolve_budget
from entropy_select.core.config import EntropySelectConfig
from entropy_select.core.grid import grid_quota_topk
from entropy_select.core.select import fused_scores, plan_frame_budget
from entropy_select.core.selection import assemble_selection
from entropy_select.encoders import get_encoder


def detail_coverage(share: float, merge: bool = False, **cfg_kw):
    cfg = EntropySelectConfig(grid_fusion=False, **cfg_kw)

    def run(x: torch.Tensor, retention: float):
        T, H, W, D = x.shape
        m = H * W
        K = resolve_budget(T * m, retention, None)
        with torch.no_grad():
            score, ent, grad = fused_scores(x[None].float(), cfg)
            fb, K = plan_frame_budget(score, cfg, budget=K)
            ctx = torch.floor(fb.double() * share + 1e-9).long()
            keep = grid_quota_topk(score, fb - ctx, cfg.grid, cfg.coverage).reshape(1, T, m)
            detail_keep = keep.clone()
            cover = torch.zeros(T, m, dtype=torch.bool)
            xn = F.normalize(x.reshape(T, m, D).float(), dim=-1)
            for t in range(T):
                c = int(ctx[0, t])
                if c == 0:
                    continue
                kept = keep[0, t].clone()
                if kept.any():
                    best = (xn[t] @ xn[t][kept].T).amax(-1)  # [m] similarity to the kept set
                else:
                    best = torch.full((m,), -2.0)
                for _ in range(c):
                    cand = torch.where(kept, torch.full_like(best, 3.0), best)
                    i = int(torch.argmin(cand))
                    kept[i] = True
                    best = torch.maximum(best, xn[t] @ xn[t][i])
                keep[0, t] = kept
                if merge:
                    cover[t] = kept & ~detail_keep[0, t]
        if not merge:
            return assemble_selection(
                x[None],
                keep.view(1, T, H, W),
                score,
                K,
                frame_budget=fb,
                entropy=ent,
                gradient=grad,
            ).video(0)
        # every token not kept joins its most similar coverage token (plain means)
        N = T * m
        keep_flat = keep.reshape(N)
        slot = keep_flat.long().cumsum(0) - 1
        assignment = torch.where(keep_flat, slot, -1).view(T, m)
        for t in range(T):
            anchors = cover[t].nonzero().flatten()
            if len(anchors) == 0:
                continue
            rest = (~keep[0, t]).nonzero().flatten()
            near = anchors[(xn[t][rest] @ xn[t][anchors].T).argmax(-1)]
            assignment[t, rest] = slot[t * m + near]
        assignment = assignment.reshape(N)
        flat = x.reshape(N, D).float()
        sums = torch.zeros(K, D).index_add_(
            0, assignment.clamp_min(0), flat * (assignment >= 0)[:, None]
        )
        cnt = torch.zeros(K).index_add_(0, assignment.clamp_min(0), (assignment >= 0).float())
        tokens = (sums / cnt.clamp_min(1)[:, None]).to(x.dtype)
        return assemble_selection(
            x[None],
            keep.view(1, T, H, W),
            score,
            K,
            tokens=tokens[None],
            frame_budget=fb,
            entropy=ent,
            gradient=grad,
            assignment=assignment[None],
        ).video(0)

    return run


CANDIDATES = {f"detail+cover{s}": dict(share=s) for s in (0.05, 0.1, 0.2, 0.3)}
# round 6 (round 5: coverage picks raise coverage to uniform's at 0.3 with the paper's recall, not
# to random's): the tokens not kept are merged into their most similar coverage token
ROUND6 = {f"detail+covermerge{s}": dict(share=s, merge=True) for s in (0.2, 0.3, 0.4)}
ROUND6["detail+cover0.4"] = dict(share=0.4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/quality/dev")
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--needle-cache", default=None)
    ap.add_argument("--name", default="default_dev_round5")
    ap.add_argument("--round6", action="store_true", help="round 6's candidates")
    args = ap.parse_args()
    enc = get_encoder("mobilenet_v2")
    start = time.perf_counter()
    vids = dev_needle_videos(enc, args.videos, args.needle_cache)
    print(f"needle videos ready after {time.perf_counter() - start:.0f} s", flush=True)
    cands = ROUND6 if args.round6 else CANDIDATES
    sels = {k: detail_coverage(**v) for k, v in cands.items()}
    sels["default"] = selectors.get("entropy_select", impl="reference")
    sels["default,no fusion"] = selectors.get("entropy_select", impl="reference", grid_fusion=False)
    sels["paper"] = selectors.get("entropy_select", preset="paper", impl="reference")
    for b in ("uniform", "random", "divprune", "tome"):
        sels[b] = selectors.get(b)
    dev_round(vids, enc, sels, cands, args.out, args.name, start, controls=True)


if __name__ == "__main__":
    main()

"""Choose the library default on the DEV part only: detail (needles) and gist, side by side.

The protocol and the decision rule are in docs/choosing-the-default.md; they were written before
any result of this script was seen. The TEST part is never touched here: the chosen default is
then reported on it by ``entropy-select eval --task all`` (``benchmarks/eval_quality.py``).

    python benchmarks/choose_default.py --out benchmarks/results/quality [--videos 24]
        [--needle-cache /tmp/dev_needles.pt]

Writes ``default_dev.json`` and ``default_dev.md`` (CPU; about 15 minutes on the 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch
from common import dev_needle_videos

from entropy_select import __version__, selectors
from entropy_select.encoders import get_encoder
from entropy_select.eval import detail
from entropy_select.eval.quality import mean_rank, run_quality, summarize

#: Candidates, as overrides of the paper preset. Named by what they change.
CANDIDATES: dict[str, dict] = {
    "paper": {},
    "v1_default(alpha=1,fusion)": {"alpha": 1.0, "grid_fusion": True},
    "paper+fusion": {"grid_fusion": True},
    "paper+fusion(mean)": {"grid_fusion": True, "fusion_weight": "mean"},
}
for _g in (1, 2, 6, 8):
    CANDIDATES[f"paper+fusion(mean,g{_g})"] = {
        "grid_fusion": True,
        "fusion_weight": "mean",
        "fusion_grid": _g,
    }
CANDIDATES["paper+fusion(mean,g6,share0.35)"] = {
    "grid_fusion": True,
    "fusion_weight": "mean",
    "fusion_grid": 6,
    "fusion_share": 0.35,
}
CANDIDATES["paper+fusion(mean,g8,share0.35)"] = {
    "grid_fusion": True,
    "fusion_weight": "mean",
    "fusion_grid": 8,
    "fusion_share": 0.35,
}
for _g in (4, 6):
    CANDIDATES[f"gradient+fusion(mean,g{_g})"] = {
        "alpha": 0.0,
        "grid_fusion": True,
        "fusion_weight": "mean",
        "fusion_grid": _g,
    }
    CANDIDATES[f"complement_minmax+fusion(mean,g{_g})"] = {
        "entropy_mode": "complement_minmax",
        "grid_fusion": True,
        "fusion_weight": "mean",
        "fusion_grid": _g,
    }
for _g in (4, 6, 8):
    CANDIDATES[f"paper+fusion(mean,g{_g},share0.25)"] = {
        "grid_fusion": True,
        "fusion_weight": "mean",
        "fusion_grid": _g,
        "fusion_share": 0.25,
    }
CANDIDATES["paper,coverage=1+fusion(mean,g6)"] = {
    "coverage": 1.0,
    "grid_fusion": True,
    "fusion_weight": "mean",
    "fusion_grid": 6,
}
# Round 2 (after round 1 showed that saliency + cell summaries never approach uniform's gist):
# detail tokens by a score, the rest of each frame pooled into equal-count context means.
_DETAIL = {
    "paper": {},
    "complement_minmax": {"entropy_mode": "complement_minmax"},
    "paper+rarity0.5": {"rarity": 0.5},
    "rarity": {"rarity": 1.0},
}
for _name, _opts in _DETAIL.items():
    for _share in (0.25, 0.5, 0.75):
        CANDIDATES[f"ctx{_share}:{_name}"] = dict(_opts, context_share=_share)
# Round 3 (round 2: context pooling brings the gist near uniform's, and complement_minmax ranks
# needles best; rarity ranks them worst): sharper boundary scores, so that a smaller detail share
# keeps the needles.
for _tau in (0.1, 0.3):
    for _alpha in (0.5, 0.75, 1.0):
        for _share in (0.5, 0.6):
            CANDIDATES[f"ctx{_share}:complement_minmax,tau={_tau},alpha={_alpha}"] = {
                "entropy_mode": "complement_minmax",
                "tau": _tau,
                "alpha": _alpha,
                "context_share": _share,
            }
BASELINES = ("uniform", "random", "tome", "pooling")


def _git() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:  # pragma: no cover
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/quality")
    ap.add_argument("--videos", type=int, default=40, help="dev needle videos")
    ap.add_argument("--needle-cache", default=None, help="file to cache the dev needle videos in")
    ap.add_argument("--only", default=None, help="';'-separated candidate labels")
    ap.add_argument("--round3", action="store_true", help="only round 3's candidates and paper")
    args = ap.parse_args()
    enc = get_encoder("mobilenet_v2")
    start = time.perf_counter()
    vids = dev_needle_videos(enc, args.videos, args.needle_cache)
    cands = {
        k: v
        for k, v in CANDIDATES.items()
        if (args.only is None or k in args.only.split(";"))
        and (not args.round3 or k == "paper" or "tau=" in k)
    }
    sels = {
        k: selectors.get("entropy_select", preset="paper", impl="reference", **v)
        for k, v in cands.items()
    }
    sels.update({b: selectors.get(b) for b in BASELINES})
    rows = detail.evaluate_needles(vids, sels, enc.classify, progress=False)
    det = detail.summarize_detail(rows)
    # gist on the dev clips (the clean base clips of the needle videos)
    clips = {}
    for v in vids:
        clips.setdefault(v.clip, v.clean)
    gist_rows = run_quality(clips, sels, enc.head(), (0.1, 0.25, 0.35, 0.5), progress=False)
    gist = summarize(gist_rows)
    payload = {
        "meta": {
            "part": "dev",
            "commit": _git(),
            "entropy_select": __version__,
            "torch": torch.__version__,
            "machine": platform.machine(),
            "seconds": time.perf_counter() - start,
            "placements": sum(len(v.needles) for v in vids),
            "clips": sorted(clips),
        },
        "candidates": cands,
        "detail": det,
        "gist": gist,
        "gist_mean_rank": mean_rank(gist),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "default_dev.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = ["# Choosing the default on the dev part", ""]
    lines += ["Needle recall (mean [95% CI]) by retention:", ""]
    rs = list(next(iter(det.values())))
    lines += [
        "| selector | " + " | ".join(f"r={r}" for r in rs) + " |",
        "|---" * (len(rs) + 1) + "|",
    ]
    for s, by_r in det.items():
        cells = [
            f"{by_r[r]['recall'][0]:.2f} [{by_r[r]['recall'][1]:.2f}, {by_r[r]['recall'][2]:.2f}]"
            for r in rs
        ]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "Gist metrics (dev clips) by retention: top1 / KL / coverage / readout", ""]
    lines += [
        "| selector | " + " | ".join(f"r={r}" for r in rs) + " |",
        "|---" * (len(rs) + 1) + "|",
    ]
    for s, by_r in gist.items():
        cells = [
            f"{by_r[r]['top1_agreement']:.3f} / {by_r[r]['kl']:.3f} / {by_r[r]['coverage']:.3f} / "
            f"{by_r[r]['readout_cosine']:.4f}"
            for r in rs
        ]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    (out / "default_dev.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

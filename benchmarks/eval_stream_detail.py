"""Streaming selection on the detail family (needles), next to offline selection.

The protocol of ``entropy-select eval --task detail --split test`` (``entropy_select.eval.detail``:
real object photos pasted into the test part's clips; needle recall with 95% bootstrap intervals),
with the library default's hyper-parameters for every row:

- ``stream:adaptive``: ``StreamingSelector(retention=r)``, frames pushed one by one, outputs
  stacked (``streaming.stack_frames``);
- ``offline:default``: ``select_tokens(x, retention=r)``.

Run (CPU; about 3 minutes on a quiet 2-core machine)::

    PYTHONPATH=src python benchmarks/eval_stream_detail.py

Writes ``benchmarks/results/quality/stream_detail_test.{json,md,png}``.
"""

from __future__ import annotations

import argparse

import torch
from common import RESULTS, metadata

import entropy_select as es
from entropy_select.encoders import get_encoder
from entropy_select.eval import detail
from entropy_select.eval.run import split_clip_features, write_detail_report
from entropy_select.streaming import stack_frames


def _stream(cfg):
    def select(x: torch.Tensor, retention: float):
        stream = es.StreamingSelector(retention=retention, config=cfg)
        return stack_frames([stream.push(f) for f in x])

    return select


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", type=int, default=40)
    args = p.parse_args()
    enc = get_encoder("mobilenet_v2")
    cfg = es.EntropySelectConfig()
    clips = split_clip_features("test", enc)
    lib = detail.needle_library(enc)
    vids = detail.build_needle_videos("test", enc, lib, videos=args.videos, base=clips)
    sels = {
        "stream:adaptive": _stream(cfg),
        "offline:default": lambda x, retention: es.select_tokens(
            x, retention=retention, config=cfg
        ),
    }
    rows = detail.evaluate_needles(vids, sels, enc.classify)
    meta = dict(
        metadata(),
        split="test",
        videos=args.videos,
        placements=sum(len(v.needles) for v in vids),
        clips=list(clips),
    )
    paths = write_detail_report(rows, RESULTS / "quality", meta, "stream_detail_test")
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()

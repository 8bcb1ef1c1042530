"""VisionZip's own CPU cost at real model shapes, beside ENTROPY-SELECT on the same grid.

What VisionZip adds to a patched forward is (1) its scores, recomputed from the queries and keys
of one vision layer (the layer itself runs unchanged), and (2) its selection and merge on the
post-projector grid. Both are timed here on random tensors of the real shapes, interleaved with
ENTROPY-SELECT's ``select_tokens`` (library default) on the same grid:

* LLaVA-OneVision-7B: SigLIP-SO400M, 27×27 = 729 tokens per frame, 16 heads of 72; the received
  attention (``[F, 16, 729, 729]`` in chunks) pooled 2×2 bilinearly to 14×14×3584;
* Qwen2.5-VL-7B: ViT of 16 heads of 80, a 448×448 video (32×32 patches per temporal group of 2
  frames), the mean-query pseudo-CLS, merged 2×2 to 16×16×3584.

The vision tower and the LLM are not run (see ``bench_e2e.py`` for the end-to-end GPU numbers);
this is the extra arithmetic alone, float32 on the CPU.

    PYTHONPATH=src python benchmarks/bench_visionzip.py [--frames 16] [--out FILE.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import RESULTS, metadata, time_cpu, time_cpu_interleaved, write_json

import entropy_select as es
from entropy_select.adapters import visionzip as vz

SHAPES = {
    # name: (vision tokens per side, heads, head dim, LLM grid side, frames per LLM frame)
    "llava_onevision_7b": dict(side=27, heads=16, head_dim=72, grid=14, per_frame=1),
    "qwen2_5_vl_7b": dict(side=32, heads=16, head_dim=80, grid=16, per_frame=2),
}
D_LLM = 3584
RETENTIONS = (0.1, 0.35, 0.5)


def signals(name: str, frames: int, g: torch.Generator):
    """A function computing one video's VisionZip scores and merge keys on the LLM grid."""
    s = SHAPES[name]
    T = frames // s["per_frame"]
    n, h, d = s["side"] ** 2, s["heads"], s["head_dim"]
    q = torch.randn(T, n, h * d, generator=g)
    k = torch.randn(T, n, h * d, generator=g)
    grid = s["grid"]

    if name.startswith("llava"):

        def run():
            scores = vz.received_attention(q, k, h, d**-0.5)  # [T, n]
            keys = k.unflatten(-1, (h, d)).mean(-2)  # [T, n, d]
            side = s["side"]
            both = torch.cat([scores[..., None], keys], -1).view(T, side, side, -1)
            pooled = torch.nn.functional.interpolate(
                both.permute(0, 3, 1, 2), size=(grid, grid), mode="bilinear"
            ).permute(0, 2, 3, 1)  # LLaVA-OV's apply_pooling
            return pooled[..., 0], pooled[..., 1:]

    else:

        def run():
            scores = vz.pseudo_cls_attention(q.view(T, n, h, d), k.view(T, n, h, d), d**-0.5)
            keys = k.view(T, n, h, d).mean(2)  # [T, n, d]
            return scores.view(T, grid, grid, 4).sum(-1), keys.reshape(T, grid, grid, 4 * d)

    return run, T, grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "visionzip_cpu.json")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    rows = []
    for name in SHAPES:
        run, T, grid = signals(name, args.frames, g)
        score_time = time_cpu(run, warmup=1, repeat=args.repeat)
        scores, keys = run()
        features = torch.randn(T, grid, grid, D_LLM, generator=g)
        N = T * grid * grid
        for r in RETENTIONS:
            K = max(1, int(r * N))
            x, s, k = features, scores, keys
            timed = time_cpu_interleaved(
                {
                    "visionzip_select": lambda x=x, s=s, k=k, K=K: vz.visionzip_select(x, s, k, K),
                    "entropy_select": lambda x=x, r=r: es.select_tokens(x, retention=r),
                },
                repeat=args.repeat,
            )
            row = {
                "model": name,
                "frames": args.frames,
                "grid": [T, grid, grid, D_LLM],
                "retention": r,
                "visionzip_signals": score_time,
                **timed,
            }
            rows.append(row)
            print(
                f"{name:20s} r={r:<4} signals {score_time['median_s'] * 1e3:8.1f} ms  "
                f"visionzip_select {timed['visionzip_select']['median_s'] * 1e3:7.1f} ms  "
                f"entropy_select {timed['entropy_select']['median_s'] * 1e3:7.1f} ms"
            )
    write_json(args.out, {"metadata": metadata("cpu"), "rows": rows})


if __name__ == "__main__":
    main()

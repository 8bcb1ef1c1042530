"""Does rounding change the default's selection on real features? (docs/choosing-the-default.md)

For the four sample clips (16 frames, MobileNetV2 features) at retention 0.1 and 0.35: how many
kept tokens differ between the float32 reference and the CPU fast path, and between the float32
and float64 references, under the library default (alpha = 1, grid fusion).

    python benchmarks/check_default_stability.py   # writes results/default_stability.json
"""

from __future__ import annotations

from common import RESULTS, metadata, write_json

import entropy_select as es
from entropy_select.eval.quality import load_clip_features


def main() -> None:
    features, _ = load_clip_features(progress=False)
    rows = []
    for name, x in features.items():
        for r in (0.1, 0.35):
            ref = es.select_tokens(x, retention=r, impl="reference")
            fast = es.select_tokens(x, retention=r, impl="cpu")
            f64 = es.select_tokens(x.double(), retention=r, impl="reference")
            kept = set(ref.keep_index.tolist())
            row = {
                "clip": name,
                "retention": r,
                "K": ref.budget,
                "differ_ref32_vs_cpu": len(kept ^ set(fast.keep_index.tolist())) // 2,
                "differ_ref32_vs_ref64": len(kept ^ set(f64.keep_index.tolist())) // 2,
                "entropy_min": float(ref.entropy.min()),
                "entropy_max": float(ref.entropy.max()),
            }
            rows.append(row)
            print(row)
    write_json(RESULTS / "default_stability.json", {"meta": metadata("cpu"), "rows": rows})


if __name__ == "__main__":
    main()

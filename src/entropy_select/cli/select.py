"""``entropy-select select``: run a selector on a saved feature tensor."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ._common import add_options_argument


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "select",
        help="select tokens of a saved [T, H, W, D] feature tensor",
        description="Select tokens of a [T, H, W, D] feature tensor saved as .safetensors or .npy "
        "and write keep_index, scores and frame_budget to a .safetensors file.",
    )
    p.add_argument("features", help="FEATURES.safetensors or FEATURES.npy ([T, H, W, D] float)")
    amount = p.add_mutually_exclusive_group(required=True)
    amount.add_argument("--retention", type=float, help="fraction of tokens to keep, in (0, 1]")
    amount.add_argument("--budget", type=int, help="exact number of tokens to keep")
    p.add_argument("--out", required=True, help="output .safetensors path")
    p.add_argument("--key", default=None, help="tensor name inside a .safetensors file")
    p.add_argument("--selector", default="entropy_select", help="registered selector name")
    add_options_argument(
        p, help="selector options, e.g. --set tau=0.1 grid_fusion=true preset=paper"
    )
    p.add_argument("--save-tokens", action="store_true", help="also write the output tokens")
    p.set_defaults(func=run)


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; a pair without ``=`` is an error."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"option {pair!r} is not KEY=VALUE")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> int:
    from .. import selectors
    from ..core.checks import check_budget, check_retention
    from ..io import load_features, output_dir, save_tensors

    # The amount is checked before any file is read (its upper bound N once the features are).
    if args.retention is not None:
        check_retention(args.retention, "--retention")
    if args.budget is not None:
        check_budget(args.budget, name="--budget")

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file name ending in .safetensors")
    if not out.name.endswith(".safetensors"):
        raise ValueError(f"--out must end in .safetensors, got {args.out}")
    output_dir(out.parent, create=False)  # a file where a directory should be fails now
    features = load_features(args.features, args.key)
    if features.dim() != 4:
        raise ValueError(
            f"{args.features} holds shape {tuple(features.shape)}, expected [T, H, W, D]"
        )
    selector = selectors.get(args.selector, **parse_options(args.options))
    start = time.perf_counter()
    sel = selector(features, retention=args.retention, budget=args.budget)
    elapsed = time.perf_counter() - start
    T, H, W, D = features.shape
    tensors = {
        "keep_index": sel.keep_index,
        "scores": sel.scores,
        "frame_budget": sel.frame_budget,
        "keep_mask": sel.keep_mask,
    }
    if args.save_tokens:
        tensors["tokens"] = sel.tokens
    summary = {
        "selector": args.selector,
        "shape": [T, H, W, D],
        "N": T * H * W,
        "K": sel.budget,
        "retention": round(sel.retention, 6),
        "frame_budget": sel.frame_budget.tolist(),
        "seconds": round(elapsed, 6),
    }
    save_tensors(args.out, tensors, metadata={"summary": json.dumps(summary)})
    print(
        f"{args.selector}: kept K={summary['K']} of N={summary['N']} tokens "
        f"({100 * sel.retention:.1f}%) from {T}x{H}x{W}x{D} in {1000 * elapsed:.1f} ms"
    )
    print(f"per-frame budgets: {summary['frame_budget']}")
    print(f"wrote {args.out}")
    return 0

"""End-to-end cost of a video LLM with and without ENTROPY-SELECT (the paper's Fig. 1b setting).

Full-size architectures built in code with RANDOM weights (no downloads): LLaVA-OneVision-7B
(SigLIP-so400m-patch14-384 + Qwen2-7B) and Qwen2.5-VL-7B, bf16, SDPA, on one GPU. For each model,
frame count (16, 64), selector (``--selector``, default ``entropy_select``; also the in-model
baselines ``fastv`` and ``dycoke``) and retention (unpatched, 1.0, 0.5, 0.35, 0.1) it reports, in
one run:

* time to first token (``generate(max_new_tokens=1)``: vision encoder + selector + prefill),
* its parts: vision encoder, selector, and the rest (prefill + overhead), timed with CUDA syncs,
* decode tokens/s (``DECODE`` forced new tokens after the first),
* peak GPU memory of the first-token call.

VisionZip (``--selector visionzip``) times its score recomputation and merge as ``selector_s``.
FastV has no feature stage: its ``vision_s`` is the vision encoder inside the model's forward,
``selector_s`` is 0 (its scoring runs inside the prefill) and ``llm_tokens_after_layer`` the
sequence layers >= K see. DyCoke's ``prefill_tokens`` is after its temporal merging; its decode
stage is inside ``decode_tok_s``.

Random weights give real timings (the cost does not depend on the values) but no answers.
Medians over ``--repeats`` runs after a warm-up; the JSON carries the spread and metadata.

    python benchmarks/bench_e2e.py --out $OUT/e2e.json [--png $OUT/e2e.png]
    python benchmarks/bench_e2e.py --tiny --out /tmp/e2e_tiny.json     # CPU smoke run
    python benchmarks/bench_e2e.py --selector entropy_select,fastv,dycoke \
        --retentions 0.5,0.35,0.1 --out $OUT/e2e_in_model.json --png $OUT/e2e_in_model.png
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import entropy_select as es  # noqa: E402

RETENTIONS = (None, 1.0, 0.5, 0.35, 0.1)  # None: the unpatched model
DECODE = 32
VIDEO, IMAGE, V_START, V_END = 151656, 151655, 151652, 151653


def _qwen2_7b_text(tiny: bool) -> dict:
    if tiny:
        return dict(vocab_size=152064, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    return dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6)  # fmt: skip


def build_llava_onevision(tiny: bool, device, dtype):
    import transformers

    vision = dict(model_type="siglip_vision_model", image_size=384, patch_size=14,
                  hidden_size=1152, intermediate_size=4304, num_hidden_layers=26,
                  num_attention_heads=16, vision_use_head=False)  # fmt: skip
    if tiny:
        vision.update(image_size=56, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4)  # fmt: skip
    text = dict(model_type="qwen2", max_position_embeddings=32768, rope_theta=1e6,
                **_qwen2_7b_text(tiny))  # fmt: skip
    cfg = transformers.LlavaOnevisionConfig(
        text_config=text, vision_config=vision, image_token_id=IMAGE, video_token_id=VIDEO,
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        image_grid_pinpoints=[[vision["image_size"]] * 2],
    )  # fmt: skip
    with torch.device(device):
        model = transformers.LlavaOnevisionForConditionalGeneration._from_config(
            cfg, attn_implementation="sdpa", dtype=dtype
        )
    return model.eval()


def build_qwen2_5_vl(tiny: bool, device, dtype):
    import transformers

    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                  fullatt_block_indexes=[7, 15, 23, 31], out_hidden_size=3584)  # fmt: skip
    if tiny:
        vision.update(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, window_size=56,
                      fullatt_block_indexes=[1], out_hidden_size=64)  # fmt: skip
    text = dict(max_position_embeddings=32768, **_qwen2_7b_text(tiny),
                rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                 "mrope_section": [2, 3, 3] if tiny else [16, 24, 24]})  # fmt: skip
    cfg = transformers.Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=IMAGE, video_token_id=VIDEO,
        vision_start_token_id=V_START, vision_end_token_id=V_END,
    )  # fmt: skip
    with torch.device(device):
        model = transformers.Qwen2_5_VLForConditionalGeneration._from_config(
            cfg, attn_implementation="sdpa", dtype=dtype
        )
    return model.eval()


def inputs_llava(model, frames: int, device, dtype) -> dict:
    from entropy_select.adapters.llava_onevision import placeholder_count

    size = model.config.vision_config.image_size
    g = torch.Generator().manual_seed(frames)
    pixels = torch.randn(1, frames, 3, size, size, generator=g).to(device, dtype)
    ids = [11] * 30 + [VIDEO] * placeholder_count(model.config, frames) + [12] * 20
    return {"input_ids": torch.tensor([ids], device=device), "pixel_values_videos": pixels}


def inputs_qwen(model, frames: int, device, dtype, tiny: bool) -> dict:
    from entropy_select.adapters.qwen2_5_vl import pixel_values_from_frames

    size = 112 if tiny else 448
    g = torch.Generator().manual_seed(frames)
    video = torch.randn(frames, 3, size, size, generator=g)
    pixels, grid = pixel_values_from_frames(video, 14, 2, 2)
    n = int(grid.prod()) // 4
    ids = torch.tensor([[11] * 30 + [V_START] + [VIDEO] * n + [V_END] + [12] * 20], device=device)
    return {
        "input_ids": ids,
        "pixel_values_videos": pixels.to(device, dtype),
        "video_grid_thw": grid.to(device),
        "mm_token_type_ids": (ids == VIDEO).int() * 2,
    }


class _Timer:
    """Accumulates synchronised wall time of wrapped callables (the selector, the encoder)."""

    def __init__(self, sync):
        self.sync, self.total = sync, 0.0

    def wrap(self, fn):
        @functools.wraps(fn)  # generate reads the feature method's signature (mm_encoder_outputs)
        def timed(*args, **kwargs):
            self.sync()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            self.sync()
            self.total += time.perf_counter() - t0
            return out

        return timed


def measure(
    model, kwargs: dict, retention, repeats: int, sync, device, selector_name="entropy_select",
    options=None,
) -> dict:  # fmt: skip
    """One configuration: TTFT (+ parts), decode tokens/s, peak memory."""
    from entropy_select.adapters import STATE_ATTR

    if retention is not None:
        es.patch(model, retention=retention, selector=selector_name, **(options or {}))
    vision, selector = _Timer(sync), _Timer(sync)
    nested = False
    if retention is not None:
        state = model.__dict__[STATE_ATTR]
        hook = state.adapter.hook
        if state.selector is None:  # FastV: the encoder runs inside forward, through the hook
            inner = state.adapter.inner_model(model)
            inner.__dict__[hook] = vision.wrap(inner.__dict__[hook])  # unpatch removes it
        elif hasattr(state.selector, "extract_and_select"):  # VisionZip: encoder + selection
            state.originals[hook] = vision.wrap(state.originals[hook])
            zipper = state.selector
            zipper.extract_and_select = selector.wrap(zipper.extract_and_select)
            nested = True  # its timer holds the encoder's time too
        else:
            state.originals[hook] = vision.wrap(state.originals[hook])
            state.selector = selector.wrap(state.selector)
    gen = dict(do_sample=False, use_cache=True)
    ttft, parts_v, parts_s, decode, peaks = [], [], [], [], []
    with torch.inference_mode():
        for rep in range(repeats + 1):  # the first run warms up
            vision.total = selector.total = 0.0
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            sync()
            t0 = time.perf_counter()
            model.generate(**kwargs, max_new_tokens=1, **gen)
            sync()
            t1 = time.perf_counter() - t0
            peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
            v, s = vision.total, selector.total - (vision.total if nested else 0.0)
            sync()
            t0 = time.perf_counter()
            model.generate(**kwargs, max_new_tokens=DECODE + 1, min_new_tokens=DECODE + 1, **gen)
            sync()
            t2 = time.perf_counter() - t0
            if rep == 0:
                continue
            ttft.append(t1)
            parts_v.append(v)
            parts_s.append(s)
            decode.append(DECODE / max(t2 - t1, 1e-9))
            peaks.append(peak)
    short, after_layer = None, None
    if retention is not None:
        state = model.__dict__[STATE_ATTR]
        short = state.last["short_length"] if state.last else None
        if state.in_model is not None and "keep" in state.in_model.last:
            after_layer = int(state.in_model.last["keep"].sum())
        es.unpatch(model)
    med = statistics.median
    return {
        "selector": selector_name if retention is not None else None,
        "options": dict(options or {}) if retention is not None else None,
        "retention": retention,
        "prefill_tokens": short if short is not None else int(kwargs["input_ids"].shape[1]),
        "llm_tokens_after_layer": after_layer,
        "ttft_s": med(ttft),
        "ttft_s_runs": ttft,
        "vision_s": med(parts_v) if retention is not None else None,
        "selector_s": med(parts_s) if retention is not None else 0.0,
        "selector_share": med(parts_s) / med(ttft) if retention is not None else 0.0,
        "decode_tok_s": med(decode),
        "decode_tok_s_runs": decode,
        "peak_mem_gib": max(peaks) / 2**30,
    }


def metadata(device) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()  # fmt: skip
    except Exception:  # no git on the device copy
        commit = None
    import transformers

    return {
        "commit": commit,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "entropy_select": es.__version__,
        "python": platform.python_version(),
        "device": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        ),
        "attn_implementation": "sdpa",
        "decode_tokens": DECODE,
        "weights": "random (architecture only; timings are real, answers are not)",
    }


SHORT = {"entropy_select": "ours", "fastv": "FastV", "dycoke": "DyCoke", "visionzip": "VisionZip"}


def plot(result: dict, path: Path) -> None:
    """Per model and frame count (columns): time to first token as stacked bars (vision /
    selector / prefill + rest), decode tokens/s and peak memory (rows), per setting."""
    from entropy_select.io import require

    plt = require("matplotlib.pyplot", "viz", "plotting the benchmark")
    groups = result["runs"]
    fig, axes = plt.subplots(
        3, len(groups), figsize=(4.2 * len(groups), 8.4), squeeze=False, sharex="col"
    )
    for col, run in enumerate(groups):
        rows = [r for r in run["results"] if r["retention"] is not None]
        base = next(r for r in run["results"] if r["retention"] is None)
        several = len({r.get("spec", r.get("selector")) for r in rows}) > 1
        labels = [
            f"{SHORT.get(r.get('spec') or r['selector'], r.get('spec') or r['selector'])} "
            f"{r['retention']:.2f}"
            if several
            else f"{r['retention']:.2f}"
            for r in rows
        ]
        vis = [r["vision_s"] * 1e3 for r in rows]
        sel = [r["selector_s"] * 1e3 for r in rows]
        rest = [(r["ttft_s"] - r["vision_s"] - r["selector_s"]) * 1e3 for r in rows]
        ax = axes[0][col]
        ax.bar(labels, vis, label="vision encoder")
        ax.bar(labels, sel, bottom=vis, label="selector")
        ax.bar(labels, rest, bottom=[a + b for a, b in zip(vis, sel, strict=True)],
               label="LLM prefill + rest")  # fmt: skip
        ax.axhline(base["ttft_s"] * 1e3, color="k", ls="--", lw=1, label="unpatched")
        ax.set_title(f"{run['model']}, {run['frames']} frames")
        ax.set_ylabel("time to first token (ms)")
        ax = axes[1][col]
        ax.bar(labels, [r["decode_tok_s"] for r in rows], color="tab:purple")
        ax.axhline(base["decode_tok_s"], color="k", ls="--", lw=1)
        ax.set_ylabel("decode tokens/s")
        ax = axes[2][col]
        ax.bar(labels, [r["peak_mem_gib"] for r in rows], color="tab:gray")
        ax.axhline(base["peak_mem_gib"], color="k", ls="--", lw=1)
        ax.set_ylabel("peak memory, first token (GiB)")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7 if several else 9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def _write(path: Path, result: dict, complete: bool) -> None:
    """The JSON so far (``meta.complete`` says whether every setting ran), written atomically."""
    result["meta"]["complete"] = complete
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="JSON result file")
    parser.add_argument("--png", type=Path, help="also draw the stacked-bar figure here")
    parser.add_argument("--tiny", action="store_true", help="tiny configs on CPU (smoke test)")
    parser.add_argument("--models", default="llava_onevision,qwen2_5_vl")
    parser.add_argument("--frames", default=None, help="comma list (default 16,64; tiny: 4,8)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default 3; tiny 1)")
    parser.add_argument(
        "--selector", default="entropy_select",
        help="comma list of selectors, feature-level or in-model (fastv, dycoke, visionzip), "
        "each with options as NAME:KEY=VALUE:... (entropy_select:cuda_graph=false)",
    )  # fmt: skip
    parser.add_argument("--retentions", default=None, help="comma list (default 1.0,0.5,0.35,0.1)")
    parser.add_argument(
        "--layer", type=int, default=None,
        help="layer of the in-model selectors (default: theirs, 2 for FastV and 3 for DyCoke; "
        "tiny: 1, as the tiny models have 2 layers)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    tiny = args.tiny
    device = torch.device("cpu" if tiny or not torch.cuda.is_available() else "cuda")
    if not tiny and device.type != "cuda":
        parser.error("full-size models need a CUDA GPU; use --tiny on CPU")
    dtype = torch.float32 if tiny else torch.bfloat16
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    frames = [int(f) for f in (args.frames or ("4,8" if tiny else "16,64")).split(",")]
    repeats = args.repeats or (1 if tiny else 3)
    from entropy_select.cli.compare import parse_selector_specs

    specs = parse_selector_specs(args.selector)  # "name" or "name:key=value:..."
    retentions = (
        [float(r) for r in args.retentions.split(",")] if args.retentions else RETENTIONS[1:]
    )
    layer = args.layer if args.layer is not None else (1 if tiny else None)
    in_model = es.selectors.in_model_names()
    options = {
        spec: {**({"layer": layer} if layer is not None and name in in_model else {}), **opts}
        for spec, name, opts in specs
    }
    names = {spec: name for spec, name, _ in specs}
    result = {"meta": metadata(device), "runs": []}
    for name in args.models.split(","):
        torch.manual_seed(0)
        build = {"llava_onevision": build_llava_onevision, "qwen2_5_vl": build_qwen2_5_vl}[name]
        model = build(tiny, device, dtype)
        for f in frames:
            if name == "llava_onevision":
                kwargs = inputs_llava(model, f, device, dtype)
            else:
                kwargs = inputs_qwen(model, f, device, dtype, tiny)
            rows = []
            settings = [(None, None)] + [(spec, r) for spec, _, _ in specs for r in retentions]
            block = {"model": name, "frames": f, "results": rows}
            result["runs"].append(block)
            for spec, r in settings:
                sel = names.get(spec)
                rows.append(
                    measure(model, kwargs, r, repeats, sync, device, sel, options.get(spec))
                )
                rows[-1]["spec"] = spec
                rows[-1]["ttft_vs_unpatched"] = rows[-1]["ttft_s"] / rows[0]["ttft_s"]
                print(json.dumps({"model": name, "frames": f, **{k: v for k, v in rows[-1].items()
                                  if not k.endswith("_runs")}}), flush=True)  # fmt: skip
                _write(args.out, result, complete=False)  # a run cut short keeps what it measured
        del model
        gc.collect()  # the model sits in reference cycles: free it before the next one's peak
        if device.type == "cuda":
            torch.cuda.empty_cache()
    _write(args.out, result, complete=True)
    if args.png:
        plot(result, args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

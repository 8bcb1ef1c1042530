"""The CPU path of ``benchmarks/bench_e2e.py`` (tiny random configs) with the in-model selectors.

Timings on the shared CPU mean nothing; what is checked is that every setting runs and reports
what the selector did to the sequence (FastV: the tokens layers >= K see; DyCoke: the prompt
after its temporal merging).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_e2e.py"


def test_tiny_run_measures_the_in_model_selectors(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_e2e", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "e2e.json"
    argv = ["--tiny", "--models", "qwen2_5_vl", "--frames", "4", "--retentions", "0.5"]
    selectors = "fastv,dycoke,visionzip,entropy_select:preset=paper"
    assert bench.main([*argv, "--selector", selectors, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["meta"]["complete"]
    rows = result["runs"][0]["results"]
    assert [(r["selector"], r["retention"]) for r in rows] == [
        (None, None),
        ("fastv", 0.5),
        ("dycoke", 0.5),
        ("visionzip", 0.5),
        ("entropy_select", 0.5),
    ]
    assert rows[4]["spec"] == "entropy_select:preset=paper"
    assert rows[4]["options"] == {"preset": "paper"}
    assert rows[4]["prefill_tokens"] == rows[2]["prefill_tokens"]  # the same K per video
    full = rows[0]["prefill_tokens"]
    fastv, dycoke = rows[1], rows[2]
    assert fastv["prefill_tokens"] == full and fastv["llm_tokens_after_layer"] < full
    assert fastv["options"] == {"layer": 1}  # the tiny models have 2 layers
    assert dycoke["prefill_tokens"] < full
    assert rows[3]["prefill_tokens"] == dycoke["prefill_tokens"]  # the same K per video
    assert rows[3]["vision_s"] > 0 and rows[3]["selector_s"] >= 0
    assert all(r["decode_tok_s"] > 0 and r["ttft_s"] > 0 for r in rows)

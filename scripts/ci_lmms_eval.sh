#!/usr/bin/env bash
# CI job for the lmms-eval plugin: build a separate environment and run its test file.
#
# lmms-eval 0.7.3 requires torchvision, and torchvision from the registry drags a CUDA torch of
# several GB (and does not import beside the CPU torch 2.13.0). So this environment installs
# the CPU torch first, lmms-eval with --no-deps, and only the packages that lmms-eval's registry
# and the three wrapped model modules (llava_hf, qwen2_5_vl, qwen3_vl) import at module level.
# torchvision is NOT installed: the test stands in a tokenizer-only processor for AutoProcessor
# (transformers' video processors need torchvision); everything else is real.
#
# Usage: scripts/ci_lmms_eval.sh            (env: LMMS_VENV=.venv-lmms, PYTHON=python3)
# Wall time on a 2-core machine: 4 min 44 s building the environment from scratch (pip cache
# warm; the CPU torch comes from a local wheel) + tests; 1 min 00 s with it already built; the
# test files themselves run in about 30 s. pip prints "lmms-eval 0.7.3 requires ..., which is not
# installed" for every skipped dependency: expected, that is what --no-deps is for.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LMMS_VENV:-.venv-lmms}"
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

pip_install torch==2.13.0                      # the CPU build; first, so nothing pulls CUDA
pip_install --no-deps lmms-eval==0.7.3         # its declared deps include torchvision
# import-time dependencies of lmms_eval.models + lmms_eval.api.registry + the wrapped modules;
# transformers pinned to the version the adapters are tested with (TESTED_TRANSFORMERS)
pip_install transformers==5.24.0 accelerate loguru pillow pytz jinja2 pydantic decord evaluate \
    pytest
pip_install --no-deps -e .                      # entropy-select itself, with its entry points

# the point of this environment: a CPU torch and no torchvision
"$PY" - <<'PY'
import importlib.util, torch
assert importlib.util.find_spec("torchvision") is None, "torchvision crept in"
assert not torch.version.cuda, f"a CUDA torch crept in: {torch.__version__}"
print("torch", torch.__version__, "(CPU), no torchvision")
PY

PYTHONPATH=src "$PY" -m pytest -q -p no:cacheprovider tests/integrations "$@"

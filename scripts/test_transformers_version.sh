#!/usr/bin/env bash
# Run the adapter tests against another transformers release (default 5.17.0, the one on the
# GPU machine), without touching the environment: that release and its dependencies go into a
# private --target folder put first on PYTHONPATH; everything else comes from the
# active environment (which must already hold entropy-select's test extra).
#
# Usage: scripts/test_transformers_version.sh [VERSION] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-5.17.0}"
shift || true
PY="${PYTHON:-python}"
TARGET="${TF_TARGET:-.ci-transformers-$VERSION}"
if [ ! -f "$TARGET/.done" ]; then
    rm -rf "$TARGET"
    # with its own dependencies (huggingface-hub 1.x, ...); transformers does not pull torch
    "$PY" -m pip install --quiet --disable-pip-version-check --target "$TARGET" \
        "transformers==$VERSION"
    touch "$TARGET/.done"
fi
PYTHONPATH="$TARGET:src" "$PY" - <<PY
import transformers
assert transformers.__version__ == "$VERSION", transformers.__version__
print("transformers", transformers.__version__)
PY
PYTHONPATH="$TARGET:src" "$PY" -m pytest -q -p no:cacheprovider tests/adapters "$@"

#!/usr/bin/env bash
# Mutation testing (mutmut 3) of one package against its targeted tests, in a scratch copy.
#
# Usage: MUTMUT=/path/to/venv/bin/mutmut scripts/mutation.sh PACKAGE "TESTS..." [SAMPLE] [CHILDREN]
#   PACKAGE: a path under src/entropy_select (core, selectors, adapters/_sequence.py, video, ...)
#   TESTS:   the pytest paths that guard it (space separated)
#   SAMPLE:  test a seeded random sample of this many mutants (0: all; default 40)
# mutmut needs an environment with the package's test dependencies (torch, hypothesis, ...); it
# is not a project dependency: install it in a separate venv (see docs/testing.md).
# Prints mutmut's results and writes a summary to $OUT_DIR/<package>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=$1
TESTS=$2
SAMPLE=${3:-40}
CHILDREN=${4:-1}
MUTMUT=${MUTMUT:-mutmut}
OUT_DIR=${OUT_DIR:-${TMPDIR:-/tmp}/entropy-select-mutation}
# One thread: mutmut forks a worker per mutant, and a fork of a process whose OpenMP pool is
# running can deadlock (seen as mutmut "timeouts"); the CI-size machine has 2 cores anyway.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
NAME=$(echo "$PKG" | tr '/.' '__')
WORK="$OUT_DIR/work-$NAME"
rm -rf "$WORK" && mkdir -p "$WORK"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK"
cd "$WORK"
{
  echo "[mutmut]"
  echo "source_paths ="
  echo "    src"
  echo "only_mutate ="
  case "$PKG" in *.py) echo "    src/entropy_select/$PKG" ;; *) echo "    src/entropy_select/$PKG/*" ;; esac
  echo "pytest_add_cli_args_test_selection ="
  for t in $TESTS; do echo "    $t"; done
  echo "also_copy ="
  echo "    tests"
} > setup.cfg
# Generate every mutant and map tests to functions (the filter matches nothing, so none runs).
"$MUTMUT" run --max-children "$CHILDREN" "no-such-mutant" >"$OUT_DIR/$NAME.gen.log" 2>&1 || true
"$MUTMUT" results --all true 2>/dev/null | sed -n 's/^ *\([^ ]*\): .*/\1/p' >all-mutants.txt
python3 - "$SAMPLE" <<'PY' >sample.txt
import random, sys
names = open("all-mutants.txt").read().split()
n = int(sys.argv[1])
print("\n".join(sorted(random.Random(0).sample(names, n)) if 0 < n < len(names) else names))
PY
echo "$PKG: $(wc -l <all-mutants.txt) mutants, testing $(wc -l <sample.txt)" >&2
xargs -a sample.txt "$MUTMUT" run --max-children "$CHILDREN" >"$OUT_DIR/$NAME.run.log" 2>&1 || true
"$MUTMUT" results --all true 2>/dev/null >results-all.txt || true
# Kill rate: killed (and timed out) over the tested sample; the survivors' diffs for review.
python3 - "$PKG" <<'PY' | tee "$OUT_DIR/$NAME.txt"
import collections, sys
sample = set(open("sample.txt").read().split())
status = {}
for line in open("results-all.txt"):
    name, _, verdict = line.strip().rpartition(": ")
    if name in sample:
        status[name] = verdict
counts = collections.Counter(status.values())
tested = sum(v for k, v in counts.items() if k not in ("not checked", "skipped"))
killed = counts["killed"] + counts["timeout"]
print(f"{sys.argv[1]}: {dict(counts)}; kill rate {killed}/{tested} = {killed / max(tested, 1):.1%}")
open("survivors.txt", "w").write("".join(f"{n}\n" for n, v in sorted(status.items()) if v == "survived"))
PY
while read -r m; do "$MUTMUT" show "$m" 2>/dev/null; done <survivors.txt >"$OUT_DIR/$NAME.survivors.txt"

"""Peak extra CPU memory of ``select_tokens`` (issue: memory is bounded by chunking).

Each case runs in a fresh process: peak resident memory (``ru_maxrss``) after building the input,
then after ``select_tokens``; the difference is the selection's extra memory.

    python benchmarks/bench_memory.py        # writes benchmarks/results/memory_cpu.json
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import RESULTS, metadata, write_json

CASES = [
    ((1024, 14, 14, 1152), "reference"),
    ((1024, 14, 14, 1152), "cpu"),
    ((16, 27, 27, 1152), "reference"),
    ((16, 27, 27, 1152), "cpu"),
]

CHILD = """
import resource, sys, time, torch, entropy_select as es
shape, impl = tuple(map(int, sys.argv[1].split("x"))), sys.argv[2]
x = torch.randn(*shape)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
sel = es.select_tokens(x, retention=0.25, impl=impl)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before * 1024, after * 1024, seconds, x.numel() * 4)
"""


def main() -> None:
    rows = []
    for shape, impl in CASES:
        arg = "x".join(map(str, shape))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, arg, impl], capture_output=True, text=True, check=True
        ).stdout.split()
        before, after, seconds, nbytes = int(out[0]), int(out[1]), float(out[2]), int(out[3])
        row = {
            "shape": list(shape),
            "impl": impl,
            "input_bytes": nbytes,
            "peak_rss_before_bytes": before,
            "peak_rss_after_bytes": after,
            "extra_bytes": after - before,
            "extra_over_input": (after - before) / nbytes,
            "seconds": seconds,
        }
        rows.append(row)
        print(json.dumps(row))
    write_json(RESULTS / "memory_cpu.json", {"meta": metadata("cpu"), "rows": rows})


if __name__ == "__main__":
    main()

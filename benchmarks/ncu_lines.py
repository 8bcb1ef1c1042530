"""The hottest source lines of each kernel launch in an Nsight Compute source export.

Reads what ``ncu -i REPORT --page source --csv --print-source cuda,sass`` prints (a report made
with ``--set full --import-source yes``; Triton's kernels carry their Python lines) and prints,
for each profiled launch, its warp-stall samples and executed instructions summed by source line,
the ``--top`` lines by samples first. No GPU needed: the export is text.

    ncu --clock-control none --set full --import-source yes -k regex:_frame_select_kernel \
        -o frame python benchmarks/quick_gpu.py --part ncu          # on the GPU machine
    ncu -i frame.ncu-rep --page source --csv --print-source cuda,sass > frame.csv
    python benchmarks/ncu_lines.py frame.csv --top 25
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict


def launches(path: str) -> list[dict[tuple[str, int], list]]:
    """Per launch: ``{(file, line): [samples, instructions, source]}``. A launch's export lists
    each source file once, so a file seen again starts the next launch."""
    out: list[dict] = []
    seen: set[str] = set()
    current = None
    name = ""
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            if row[0] == "File Path":
                if current is None or row[1] in seen:
                    current = defaultdict(lambda: [0, 0, ""])
                    out.append(current)
                    seen = set()
                seen.add(row[1])
                name = row[1].rsplit("/", 1)[-1]
                continue
            if not row[0].isdigit() or current is None:
                continue  # headers, SASS rows (their line number is empty)
            try:
                samples, executed = int(row[4]), int(row[7])
            except (IndexError, ValueError):
                continue
            entry = current[(name, int(row[0]))]
            entry[0] += samples
            entry[1] += executed
            entry[2] = row[1].strip()[:90]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="ncu --page source --csv --print-source cuda,sass output")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    for i, lines in enumerate(launches(args.csv)):
        samples = sum(v[0] for v in lines.values()) or 1
        executed = sum(v[1] for v in lines.values())
        print(f"== launch {i}: {samples} warp-stall samples, {executed} instructions executed")
        top = sorted(lines.items(), key=lambda kv: -kv[1][0])[: args.top]
        for (name, line), (s, n, src) in top:
            print(f"{s:6d} {100 * s / samples:5.1f}%  {n:9d} instr  {name}:{line}  {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

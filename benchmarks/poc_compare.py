"""Reading a fill: the proof of concept's access pattern against ``convert_fill``, side by side.

The proof of concept (public repo munozariasjm/plt-anomaly-detector, ``LocalFileExplorer``)
reads each file's whole ``/pltaggzero`` table into memory with PyTables, twice (once for the
``data`` column, once for the header columns), sums the raw counts of each row (a count of
zeros, not a rate: no ``-ln``, no colliding bunches) and builds a pandas frame per file. This
benchmark re-implements that access pattern (not its code) and times it, with its peak RSS,
against ``convert_fill`` on the same generated fill, each in a fresh process.

Needs PyTables (``pip install tables``), which the project itself does not use.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from fresh_process import run_child

CHILD = r"""
import json, sys, time
import numpy as np, pandas as pd
mode, fill_dir, out = sys.argv[1:4]
from pltanomaly.channels.convert import convert_fill
from pltanomaly.channels.io import list_fill_files
start = time.perf_counter()
if mode == "poc":
    import tables
    frames = []
    for path in list_fill_files(fill_dir):
        with tables.open_file(str(path)) as handle:
            table = handle.root.pltaggzero
            counts = table[:]["data"]                       # whole table, first read
            sums = [int(row.sum()) for row in counts]       # one raw sum per row
            names = [c for c in table.colnames if c != "data"]
            frame = pd.DataFrame(table[:][names])           # whole table, second read
            frame["data"] = sums
            frames.append(frame)
    rows = len(pd.concat(frames))
else:
    rows = convert_fill(fill_dir, out).rows_read
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": PEAK_RSS_MB}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the generated fill")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from pltanomaly.channels.convert import convert_fill
    from pltanomaly.channels.generate import generate_year

    with tempfile.TemporaryDirectory(prefix="pltanomaly-poc-") as tmp:
        started = time.perf_counter()
        year = generate_year(Path(tmp) / "data", 2022, 1, args.hours, seed=9)
        fill_dir = next(p for p in year.iterdir() if p.is_dir())
        print(f"generated a {args.hours:g} h fill in {time.perf_counter() - started:.1f} s")
        out = Path(tmp) / "series.parquet"
        convert_fill(fill_dir, out)  # numba cache warm, files in the page cache
        runs: dict[str, list[dict[str, float]]] = {"poc": [], "convert": []}
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(run_child(CHILD, mode, fill_dir, out))
        best = {mode: min(r["seconds"] for r in results) for mode, results in runs.items()}
        peak = {mode: max(r["peak_mb"] for r in results) for mode, results in runs.items()}
        rows = runs["convert"][0]["rows"]
        print(f"{rows} rows of 3564 counts")
        for mode, label in (("poc", "proof-of-concept pattern"), ("convert", "pltanomaly convert")):
            print(f"{label:26s} {best[mode]:7.2f} s  peak RSS {peak[mode]:7.0f} MB")
        print(
            f"speed-up {best['poc'] / best['convert']:.1f}x, "
            f"memory {peak['poc'] / peak['convert']:.1f}x less (and convert's peak does not grow "
            f"with the file size, the proof of concept's does)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

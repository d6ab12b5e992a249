"""Convert against the I/O floor, side by side in one run.

Generates a fill (or takes ``--fill-dir``), then times, best of ``--repeat`` with the files in
the page cache:

- the floor: a plain h5py read + blosc decompression of every ``/pltaggzero`` row, in the
  same row blocks, doing nothing with the data;
- ``convert_fill`` on the same files (JIT already compiled);

and prints their ratio, MB/s of raw (uncompressed) data, and the peak RSS of each measured in
a fresh child process. Goal: convert within 1.25x of the floor, peak RSS under 1 GB for a
16-hour fill (``--hours 16``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from fresh_process import add_fill_arguments, generated_fill, run_child

CHILD = r"""
import json, sys, time
import h5py, hdf5plugin
from pltanomaly.channels.convert import convert_fill
from pltanomaly.channels.io import DEFAULT_CHUNK_ROWS, list_fill_files
mode, fill_dir, out = sys.argv[1:4]
start = time.perf_counter()
if mode == "floor":
    rows = 0
    for path in list_fill_files(fill_dir):
        with h5py.File(path, "r") as handle:
            if "pltaggzero" not in handle:
                continue
            table = handle["pltaggzero"]
            for first in range(0, table.shape[0], DEFAULT_CHUNK_ROWS):
                rows += len(table[first : first + DEFAULT_CHUNK_ROWS])
else:
    rows = convert_fill(fill_dir, out).rows_read
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": PEAK_RSS_MB}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_fill_arguments(parser)
    parser.add_argument("--dtype", default="uint32", choices=["uint32", "int32", "float32"])
    args = parser.parse_args()

    from pltanomaly.channels.convert import convert_fill
    from pltanomaly.channels.io import list_fill_files

    with tempfile.TemporaryDirectory(prefix="pltanomaly-bench-") as tmp:
        tmp_path = Path(tmp)
        fill_dir = args.fill_dir or generated_fill(
            tmp_path / "data", args.hours, data_dtype=args.dtype
        )
        files = list_fill_files(fill_dir)
        compressed = sum(p.stat().st_size for p in files)
        for path in files:  # into the page cache, so both sides read from memory
            path.read_bytes()
        out = tmp_path / "series.parquet"

        floor_runs, convert_runs = [], []
        summary = convert_fill(fill_dir, out)  # JIT compile / cache load, not timed
        for _ in range(args.repeat):
            floor_runs.append(run_child(CHILD, "floor", fill_dir, out))
            convert_runs.append(run_child(CHILD, "convert", fill_dir, out))
        warm = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            convert_fill(fill_dir, out)
            warm.append(time.perf_counter() - started)

        floor = min(r["seconds"] for r in floor_runs)
        in_process = min(warm)
        cold = min(r["seconds"] for r in convert_runs)
        raw_mb = summary.rows_read * 3564 * 4 / 1e6
        print(
            f"fill: {len(files)} file(s), {summary.rows_read} rows, "
            f"{compressed / 1e6:.0f} MB on disk, {raw_mb:.0f} MB raw counts"
        )
        print(
            f"floor (h5py read + decompress):  {floor:7.2f} s  {raw_mb / floor:7.0f} MB/s  "
            f"peak RSS {max(r['peak_mb'] for r in floor_runs):6.0f} MB"
        )
        print(
            f"convert (warm, in process):      {in_process:7.2f} s  {raw_mb / in_process:7.0f} MB/s"
        )
        print(
            f"convert (fresh process, JIT cache load included): {cold:7.2f} s  "
            f"peak RSS {max(r['peak_mb'] for r in convert_runs):6.0f} MB"
        )
        print(
            f"ratio convert/floor: warm {in_process / floor:.2f}x, "
            f"fresh process {cold / floor:.2f}x (goal <= 1.25x)"
        )
        print(
            f"peak RSS of convert: {max(r['peak_mb'] for r in convert_runs):.0f} MB "
            f"for {args.hours:g} h (goal < 1024 MB for 16 h)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

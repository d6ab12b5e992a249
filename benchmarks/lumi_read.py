"""Reading the luminometer tables costs only their bytes: convert with and without them
against the h5py floor, side by side in one run.

Generates a fill with luminometer tables (or takes ``--fill-dir``), then times, best of
``--repeat``, each in a fresh process with the files in the page cache:

- floor PLT: a plain h5py read + decompression of every ``/pltaggzero`` row in row blocks;
- floor lumi: a plain h5py read of the luminometer tables' needed columns (run, LS, NB, time,
  ``avg``, ``avgraw``: compound field selection; HDF5 still decompresses whole chunks);
- floor both: the two in one opening of each file;
- convert (the fill job's conversion) without luminometers, and with them
  (``lumi_out``: the luminometer series and the PLT channels' total);
- the fill's whole job (convert, detect, plot: ``run_fill_job`` redoing every step) without
  and with luminometers;

and prints the ratios: convert and the job / floor PLT, with luminometers / floor both, and
what the luminometers add to convert against what they add to the floor.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fresh_process import add_fill_arguments, generated_fill, run_child

CHILD = r"""
import json, sys, time
import h5py, hdf5plugin
from pltanomaly.channels.convert import convert_fill, lumi_path
from pltanomaly.channels.io import DEFAULT_CHUNK_ROWS, list_fill_files
from pltanomaly.luminometers.hd5 import HEADER_COLUMNS, LUMI_TABLES, VALUE_COLUMNS
mode, fill_dir, out = sys.argv[1:4]
start = time.perf_counter()
rows = 0
if mode.startswith("floor"):
    for path in list_fill_files(fill_dir):
        with h5py.File(path, "r") as handle:
            if mode in ("floor-plt", "floor-both") and "pltaggzero" in handle:
                table = handle["pltaggzero"]
                for first in range(0, table.shape[0], DEFAULT_CHUNK_ROWS):
                    rows += len(table[first : first + DEFAULT_CHUNK_ROWS])
            if mode in ("floor-lumi", "floor-both"):
                for name in LUMI_TABLES:
                    if name in handle:
                        table = handle[name]
                        names = [*HEADER_COLUMNS]
                        names += [c for c in VALUE_COLUMNS if c in table.dtype.names]
                        rows += len(table.fields(names)[:])
elif mode == "convert":
    rows = convert_fill(fill_dir, out).rows_read
elif mode == "convert-lumi":
    rows = convert_fill(fill_dir, out, lumi_out=lumi_path(out)).rows_read
else:  # the fill's whole job (convert, detect, plot), with or without luminometers
    from pathlib import Path
    from pltanomaly.channels.fill_job import FillJob, run_fill_job
    job = FillJob(year=2022, fill=int(Path(fill_dir).name), year_dir=Path(out).parent / mode,
                  fill_dir=Path(fill_dir), dead_channels=[6, 8], plots="anomalous",
                  luminometers=mode == "job-lumi")
    run_fill_job(job, redo={"convert", "detect", "plot"})
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": PEAK_RSS_MB}))
"""
MODES = ("floor-plt", "floor-lumi", "floor-both", "convert", "convert-lumi", "job", "job-lumi")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_fill_arguments(parser)
    args = parser.parse_args()

    import h5py
    import hdf5plugin  # noqa: F401

    from pltanomaly.channels.convert import convert_fill, lumi_path
    from pltanomaly.channels.io import list_fill_files
    from pltanomaly.luminometers.generate import add_luminometers
    from pltanomaly.luminometers.hd5 import LUMI_TABLES

    with tempfile.TemporaryDirectory(prefix="pltanomaly-bench-") as tmp:
        tmp_path = Path(tmp)
        fill_dir = args.fill_dir or generated_fill(
            tmp_path / "data",
            args.hours,
            lambda year: add_luminometers(
                year, anomalies=False, luminometers=list(LUMI_TABLES.values())
            ),
        )
        files = list_fill_files(fill_dir)
        raw = {"plt": 0, "lumi": 0, "lumi_needed": 0}
        stored = {"plt": 0, "lumi": 0}
        tables: set[str] = set()
        for path in files:
            path.read_bytes()  # into the page cache, so every side reads from memory
            with h5py.File(path, "r") as handle:
                for name in handle:
                    dataset = handle[name]
                    if name == "pltaggzero":
                        raw["plt"] += dataset.dtype.itemsize * dataset.shape[0]
                        stored["plt"] += dataset.id.get_storage_size()
                    elif name in LUMI_TABLES:
                        tables.add(name)
                        raw["lumi"] += dataset.dtype.itemsize * dataset.shape[0]
                        stored["lumi"] += dataset.id.get_storage_size()
                        raw["lumi_needed"] += 5 * 4 * dataset.shape[0] + 8 * dataset.shape[0]
        out = tmp_path / "series.parquet"
        convert_fill(fill_dir, out, lumi_out=lumi_path(out))  # JIT compile / cache, not timed
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                runs[mode].append(run_child(CHILD, mode, fill_dir, out))
        best = {mode: min(r["seconds"] for r in results) for mode, results in runs.items()}
        peak = {mode: max(r["peak_mb"] for r in results) for mode, results in runs.items()}

        print(
            f"fill: {len(files)} file(s); /pltaggzero {raw['plt'] / 1e6:.0f} MB raw, "
            f"{stored['plt'] / 1e6:.0f} MB stored; {len(tables)} luminometer tables "
            f"({', '.join(sorted(tables))}) {raw['lumi'] / 1e6:.0f} MB raw "
            f"({raw['lumi_needed'] / 1e6:.1f} MB of needed columns), "
            f"{stored['lumi'] / 1e6:.0f} MB stored"
        )
        labels = {
            "floor-plt": "floor: h5py /pltaggzero",
            "floor-lumi": "floor: h5py luminometer columns",
            "floor-both": "floor: both, one opening per file",
            "convert": "convert, no luminometers",
            "convert-lumi": "convert with luminometers",
            "job": "fill job, no luminometers",
            "job-lumi": "fill job with luminometers",
        }
        for mode in MODES:
            print(f"{labels[mode]:36s} {best[mode]:7.2f} s  peak RSS {peak[mode]:6.0f} MB")
        added_convert = best["convert-lumi"] - best["convert"]
        added_floor = best["floor-both"] - best["floor-plt"]
        print(
            f"ratio convert / floor PLT:                        "
            f"{best['convert'] / best['floor-plt']:.2f}x"
        )
        print(
            f"ratio convert with luminometers / floor both:     "
            f"{best['convert-lumi'] / best['floor-both']:.2f}x"
        )
        print(
            f"ratio fill job / floor PLT:                       "
            f"{best['job'] / best['floor-plt']:.2f}x"
        )
        print(
            f"ratio fill job with luminometers / floor both:    "
            f"{best['job-lumi'] / best['floor-both']:.2f}x"
        )
        print(
            f"luminometers add {added_convert:+.2f} s to convert, {added_floor:+.2f} s to the "
            f"floor (their own floor {best['floor-lumi']:.2f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

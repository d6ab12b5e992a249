"""Shared by the workflow benchmarks: a work folder on a generated source, the real
``snakemake`` command line, the floor of a fill (a plain h5py read), and the per-job
benchmark files Snakemake writes."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

FLOOR = r"""
import json, sys, time
started = time.perf_counter()
import h5py, hdf5plugin
imported = time.perf_counter()
rows = 0
for path in sys.argv[1:]:
    with h5py.File(path, "r") as handle:
        if "pltaggzero" not in handle:
            continue
        table = handle["pltaggzero"]
        step = (table.chunks or (2000,))[0] * max(1, 2000 // (table.chunks or (2000,))[0])
        for first in range(0, table.shape[0], step):
            rows += len(table[first : first + step])
done = time.perf_counter()
print(json.dumps({"rows": rows, "read": done - imported, "imports": imported - started}))
"""
"""The floor: a plain h5py read + blosc decompression of every ``/pltaggzero`` row of the
fill, in storage-chunk blocks, doing nothing with the data."""


def fill_files(fill_dir: Path) -> list[Path]:
    return sorted(p for p in fill_dir.iterdir() if p.suffix == ".hd5")


def into_page_cache(paths: list[Path]) -> None:
    """Read the files once, so every timed run reads from memory."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def floor(fill_dir: Path) -> dict[str, float]:
    """The floor of one fill as a whole fresh process (``wall``) and its read alone."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", FLOOR, *map(str, fill_files(fill_dir))],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    measured["wall"] = time.perf_counter() - started
    return measured


def write_workdir(workdir: Path, source: Path, year: int = 2022, **config: object) -> Path:
    """A work folder whose config.yaml points the workflow at ``source`` (a year folder)."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = ["results: results"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    lines += ["years:", f"  {year}:", f"    source: {source}", "    dead_channels: [6, 8]"]
    (workdir / "config.yaml").write_text("\n".join(lines) + "\n")
    return workdir


def snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run the workflow of this checkout on ``workdir``; returns the wall seconds."""
    command = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    command += [*args, "--configfile", str(workdir / "config.yaml")]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"snakemake failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def job_benchmarks(workdir: Path, year: int = 2022) -> dict[int, dict[str, float]]:
    """Per fill, Snakemake's benchmark of its job: wall ``s`` and peak ``max_rss`` (MB)."""
    found = {}
    for path in (workdir / "results" / str(year) / "benchmarks" / "analyse_fill").glob("*.tsv"):
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        found[int(path.stem)] = {"s": float(row["s"]), "max_rss": float(row["max_rss"])}
    return found


def step_seconds(workdir: Path, fill: int, year: int = 2022) -> dict[str, float]:
    """The seconds each step of a fill's last job took (from its status records)."""
    status = workdir / "results" / str(year) / "status"
    return {
        step: json.loads((status / step / f"{fill}.json").read_text()).get("seconds", 0.0)
        for step in ("convert", "detect", "plot")
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")

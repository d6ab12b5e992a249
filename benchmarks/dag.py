"""How long Snakemake takes to plan a year: ``snakemake -n`` on 500 fill folders.

Builds a source tree of ``--fills`` fill folders with ``--files`` small files each (the
planner never opens them), then times ``snakemake -n`` (the real command line, in a
subprocess) three ways:

- first run: nothing processed yet (every fill's job + the aggregation);
- no-op rerun: after a complete run (simulated with ``--touch``, which records the same
  metadata a real run does), nothing to do;
- one new fill: a new fill folder appears after the complete run.

Goal: first run and no-op rerun under 10 s each on a 2-core machine.

    python benchmarks/dag.py [--fills 500] [--files 3] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIRST_FILL = 8000

# --touch sleeps 0.1 s per job before touching; 1500 jobs would take minutes
TOUCH = (
    "import sys, snakemake.executors.touch as t; t.Executor.SLEEPING_TIME = 0; "
    "from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()"
)


def make_tree(root: Path, n_fills: int, n_files: int) -> Path:
    source = root / "source" / "22"
    for index in range(n_fills):
        add_fill(source, FIRST_FILL + 2 * index, n_files)
    (root / "config.yaml").write_text(
        f"results: results\nyears:\n  2022:\n    source: {source}\n    dead_channels: [6, 8]\n"
    )
    return source


def add_fill(source: Path, fill: int, n_files: int) -> None:
    folder = source / str(fill)
    folder.mkdir(parents=True)
    for run in range(n_files):
        name = f"{fill}_{355000 + 10 * fill + run}_2207050013_2207050031.hd5"
        (folder / name).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(56))


def snakemake(workdir: Path, *args: str, touch: bool = False) -> tuple[float, str]:
    command = [
        *([str(BIN / "python"), "-c", TOUCH] if touch else [str(BIN / "snakemake")]),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout + result.stderr


def job_count(output: str) -> int:
    if "Nothing to be done" in output:
        return 0
    match = re.search(r"^total\s+(\d+)\s*$", output, re.MULTILINE)
    if match is None:
        sys.exit(f"cannot find the job count in:\n{output[-3000:]}")
    return int(match.group(1))


def timed(workdir: Path, repeat: int) -> tuple[float, float, int, str]:
    times, jobs, output = [], -1, ""
    for _ in range(repeat):
        seconds, output = snakemake(workdir, "-n")
        times.append(seconds)
        jobs = job_count(output)
    reasons = output[output.find("Reasons:") :] if "Reasons:" in output else ""
    return min(times), statistics.median(times), jobs, reasons


def pretend_complete_run(workdir: Path) -> float:
    """Create every output empty and let ``snakemake --touch`` record their metadata."""
    started = time.perf_counter()
    year_dir = workdir / "results" / "2022"
    (year_dir / "report" / "plots").mkdir(parents=True, exist_ok=True)
    for name in ("report.parquet", "logs.json", "report/table.html"):
        (year_dir / name).write_text("")
    for folder in sorted((workdir / "source" / "22").iterdir()):
        record = year_dir / "status" / "fill" / f"{folder.name}.json"  # the fill job's
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("{}")
    snakemake(workdir, "--touch", "--forceall", "--quiet", touch=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=500)
    parser.add_argument("--files", type=int, default=3, help="files per fill")
    parser.add_argument("--repeat", type=int, default=3, help="timings per case (min, median)")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    args = parser.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pltanomaly-dag-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.iterdir()):
        sys.exit(f"{workdir} is not empty")
    try:
        source = make_tree(workdir, args.fills, args.files)
        print(
            f"source tree: {args.fills} fill folders x {args.files} files; "
            f"{os.cpu_count()} cores; snakemake -n, {args.repeat} runs per case"
        )
        rows = [("first run", *timed(workdir, args.repeat))]
        setup = pretend_complete_run(workdir)
        rows.append(("no-op rerun", *timed(workdir, args.repeat)))
        add_fill(source, FIRST_FILL + 2 * args.fills + 1, args.files)
        rows.append(("one new fill", *timed(workdir, args.repeat)))
        print(f"{'case':<14} {'min s':>7} {'median s':>9} {'jobs':>6}")
        for name, fastest, median, jobs, _ in rows:
            print(f"{name:<14} {fastest:7.2f} {median:9.2f} {jobs:6d}")
        print(f"(complete run simulated with --touch in {setup:.1f} s; goal: < 10 s each)")
        if rows[1][3]:
            print(f"the no-op rerun was not one (code edited meanwhile?):\n{rows[1][4]}")
        ok = rows[0][2] < 10 and rows[1][2] < 10 and rows[1][3] == 0
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

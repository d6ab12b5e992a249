"""A year of short fills through the whole workflow: what Snakemake itself adds per fill.

    python benchmarks/year.py [--fills 100] [--hours 0.1] [--cores 2] [--data build/bench-year]

Generates ``--fills`` short fills once (reused), puts them in the page cache, warms the numba
cache, then times in one run:

- the floors: the plain h5py read of every fill, each a fresh process (summed);
- ``snakemake --cores N`` processing the whole year from nothing (every fill's job and the
  year's aggregation), its wall time per fill;
- the jobs' own time, from their benchmark files (summed, and divided by the cores);
- Snakemake's own time: the wall time the jobs do not fill, ``wall - sum(jobs) / cores``,
  per fill (parsing, planning, scheduling, metadata, the aggregation);
- the no-op rerun (``snakemake -n``-like planning of a finished year).

Goal (issue 11): Snakemake's own overhead < 0.5 s per fill.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from workflow_run import (
    fill_files,
    floor,
    into_page_cache,
    job_benchmarks,
    snakemake,
    write_workdir,
)


def generated_year(data: Path, n_fills: int, hours: float) -> Path:
    from pltanomaly.channels.generate import generate_year

    year_dir = data / f"{n_fills}x{hours:g}h" / "22"
    if not year_dir.is_dir():
        started = time.perf_counter()
        generate_year(year_dir.parent, 2022, n_fills, hours, seed=13)
        print(f"generated {n_fills} fills of {hours:g} h in {time.perf_counter() - started:.0f} s")
    return year_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fills", type=int, default=100)
    parser.add_argument("--hours", type=float, default=0.1, help="length of each fill")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("build/bench-year"))
    args = parser.parse_args(argv)
    source = generated_year(args.data.resolve(), args.fills, args.hours)
    fills = sorted(p for p in source.iterdir() if p.is_dir())
    for folder in fills:
        into_page_cache(fill_files(folder))
    floors = [floor(folder) for folder in fills]
    floor_wall = sum(f["wall"] for f in floors)
    floor_read = sum(f["read"] for f in floors)
    cores = ["--cores", str(args.cores)]
    with tempfile.TemporaryDirectory(prefix="pltanomaly-year-") as tmp:
        warm = write_workdir(Path(tmp) / "warm", source)
        snakemake(warm, *cores)  # the numba cache is warm after it
        shutil.rmtree(warm)
        workdir = write_workdir(Path(tmp) / "year", source)
        wall = snakemake(workdir, *cores)
        jobs = job_benchmarks(workdir)
        noop = snakemake(workdir, *cores)
    n = len(fills)
    job_total = sum(j["s"] for j in jobs.values())
    own = wall - job_total / args.cores
    print(f"{n} fills of {args.hours:g} h, snakemake --cores {args.cores}")
    print(
        f"  floors (h5py read, fresh processes): {floor_wall / n:6.3f} s per fill "
        f"(the reads alone {floor_read / n:.3f} s)"
    )
    print(
        f"  workflow wall time:                  {wall / n:6.3f} s per fill "
        f"({wall:.1f} s in all; {wall / (floor_wall / args.cores):.2f}x the floors spread over "
        f"{args.cores} cores)"
    )
    print(
        f"  fill jobs (benchmark files):          {job_total / n:6.3f} s per fill "
        f"= {job_total / floor_wall:.2f}x the floors"
    )
    verdict = "met" if own / n < 0.5 else "NOT met"
    print(
        f"  Snakemake's own time, wall - jobs/cores: {own / n:6.3f} s per fill "
        f"({own:.1f} s in all)   goal < 0.5 s per fill: {verdict}"
    )
    print(f"  no-op rerun of the finished year:     {noop:6.2f} s")
    if len(jobs) != n:
        print(f"  WARNING: {len(jobs)} job benchmark files for {n} fills")
    return 0


if __name__ == "__main__":
    sys.exit(main())

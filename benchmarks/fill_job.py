"""A fill's whole job against the I/O floor, side by side in one run.

    python benchmarks/fill_job.py [--hours 1 2 12] [--repeat 3] [--data build/bench-fills]

For generated fills of each length (built once under ``--data``, reused), with the files in
the page cache and the numba cache warm, prints (medians of ``--repeat``):

- the floor: a plain h5py read + decompression of the fill's ``/pltaggzero``, as a whole fresh
  process (Python and h5py start-up included: what a user's script would cost) and the read
  alone;
- the fill's job exactly as the workflow runs it: ``snakemake --cores 1`` redoing every step
  (``PLTANOMALY_REDO=all --forcerun analyse_fill``), counted as the workflow counts it, by
  the job's benchmark file (wall seconds, peak RSS), and the steps' seconds inside it;
- the same three steps as three fresh processes (what the three rules cost before), each
  with its peak RSS;
- a 1-h fill without anomaly: its plot step (nothing to plot), and ``pltanomaly --help``.

Goals (issue 11): whole job <= 1.5x the floor at 1 h, <= 1.3x at 2 h, <= 1.1x at 12 h; a
plot step with nothing to plot < 0.2 s; ``pltanomaly --help`` < 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fresh_process import PEAK_RSS_MB, run_fresh
from workflow_run import (
    fill_files,
    floor,
    into_page_cache,
    job_benchmarks,
    median,
    snakemake,
    step_seconds,
    write_workdir,
)

GOALS = {1.0: 1.5, 2.0: 1.3, 12.0: 1.1}
STEP = r"""
import json, sys, time
started = time.perf_counter()
from pltanomaly.channels import report, steps
from pltanomaly.core import steps as records
step, year_dir, fill_dir, fill = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
record = lambda s: records.record_path(year_dir, s, fill)
series, result = f"{year_dir}/fills/{fill}.parquet", f"{year_dir}/fills/{fill}.json"
if step == "convert":
    steps.convert_step(fill_dir, series, record(step), fill=fill, year=2022)
elif step == "detect":
    steps.detect_step(series, record("convert"), result, record(step), fill=fill, year=2022,
                       dead_channels=[6, 8])
else:
    steps.plot_step(series, result, record("detect"), f"{year_dir}/plots/{fill}.png",
                     record(step), fill=fill, year=2022)
print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": PEAK_RSS_MB}))
""".replace("PEAK_RSS_MB", PEAK_RSS_MB)


def generated_fill(data: Path, hours: float, anomalies: bool = True) -> Path:
    """A generated 2022 fill of ``hours`` (made once, then reused); returns its folder."""
    from pltanomaly.channels.generate import generate_year

    name = f"{hours:g}h" + ("" if anomalies else "-clean")
    year_dir = data / name / "22"
    if not year_dir.is_dir():
        started = time.perf_counter()
        generate_year(data / name, 2022, 1, hours, seed=11, anomalies=anomalies, faults=anomalies)
        print(f"generated a {name} fill in {time.perf_counter() - started:.0f} s")
    return next(p for p in year_dir.iterdir() if p.is_dir())


def three_processes(fill_dir: Path, scratch: Path) -> dict[str, dict[str, float]]:
    """The three steps as separate fresh processes: wall seconds and peak RSS of each."""
    year_dir = scratch / "steps" / "2022"
    measured = {}
    for step in ("convert", "detect", "plot"):
        started = time.perf_counter()
        inside = run_fresh(STEP, step, str(year_dir), str(fill_dir), fill_dir.name)
        measured[step] = {"s": time.perf_counter() - started, "max_rss": inside["peak_mb"]}
    return measured


def measure(fill_dir: Path, repeat: int, scratch: Path) -> dict[str, object]:
    files = fill_files(fill_dir)
    into_page_cache(files)
    workdir = write_workdir(scratch / "work", fill_dir.parent)
    snakemake(workdir, "--cores", "1")  # first run: the numba cache is warm after it
    floors, jobs, steps, separate = [], [], [], []
    fill = int(fill_dir.name)
    redo = {"PLTANOMALY_REDO": "all"}
    for _ in range(repeat):
        floors.append(floor(fill_dir))
        snakemake(workdir, "--cores", "1", "--forcerun", "analyse_fill", env=redo)
        jobs.append(job_benchmarks(workdir)[fill])
        steps.append(step_seconds(workdir, fill))
        separate.append(three_processes(fill_dir, scratch))
    anomalous = json.loads((workdir / "results/2022/status/detect" / f"{fill}.json").read_text())
    return {
        "rows": floors[0]["rows"],
        "raw_mb": floors[0]["rows"] * 3564 * 4 / 1e6,
        "floor": median([f["wall"] for f in floors]),
        "read": median([f["read"] for f in floors]),
        "job": median([j["s"] for j in jobs]),
        "job_rss": max(j["max_rss"] for j in jobs),
        "steps": {s: median([x[s] for x in steps]) for s in ("convert", "detect", "plot")},
        "separate": {
            s: {k: median([x[s][k] for x in separate]) for k in ("s", "max_rss")}
            for s in ("convert", "detect", "plot")
        },
        "anomalous": bool(anomalous.get("row", {}).get("anomalous")),
    }


def report_case(name: str, m: dict, goal: float | None) -> None:
    separate = m["separate"]
    total = sum(v["s"] for v in separate.values())
    print(
        f"\n{name}: {m['rows']} rows, {m['raw_mb']:.0f} MB raw counts, anomalous {m['anomalous']}"
    )
    print(
        f"  floor (h5py read, fresh process):  {m['floor']:6.2f} s "
        f"  (the read alone {m['read']:.2f} s)"
    )
    ratio = m["job"] / m["floor"]
    verdict = (
        "" if goal is None else f"   goal <= {goal:g}x: {'met' if ratio <= goal else 'NOT met'}"
    )
    print(
        f"  fill job (workflow benchmark file):  {m['job']:6.2f} s = {ratio:4.2f}x floor "
        f"({m['job'] / m['read']:.2f}x the read alone), peak RSS {m['job_rss']:.0f} MB{verdict}"
    )
    inside = ", ".join(f"{s} {v:.2f} s" for s, v in m["steps"].items())
    print(f"    steps inside it: {inside}")
    parts = " + ".join(f"{s} {v['s']:.2f} s ({v['max_rss']:.0f} MB)" for s, v in separate.items())
    print(f"  three fresh processes: {parts} = {total:.2f} s = {total / m['floor']:.2f}x floor")
    print(f"  one job / three processes: {m['job'] / total:.2f}")


def help_seconds(repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pltanomaly.cli", "--help"], capture_output=True, check=True
        )
        times.append(time.perf_counter() - started)
    return median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 2.0, 12.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("build/bench-fills"))
    args = parser.parse_args(argv)
    args.data = args.data.resolve()
    with tempfile.TemporaryDirectory(prefix="pltanomaly-fill-job-") as tmp:
        for hours in args.hours:
            fill_dir = generated_fill(args.data, hours)
            measured = measure(fill_dir, args.repeat, Path(tmp) / f"{hours:g}h")
            report_case(f"{hours:g} h fill", measured, GOALS.get(hours))
        clean = measure(
            generated_fill(args.data, 1.0, anomalies=False), args.repeat, Path(tmp) / "clean"
        )
        report_case("1 h fill without anomaly", clean, GOALS[1.0])
        plot = clean["steps"]["plot"]
        status = "nothing to plot" if not clean["anomalous"] else "it was flagged: plotted"
        print(
            f"  plot step ({status}): {plot:.3f} s "
            f"  goal < 0.2 s: {'met' if plot < 0.2 else 'NOT met'}"
        )
    seconds = help_seconds()
    print(
        f"\npltanomaly --help: {seconds:.3f} s "
        f"  goal < 0.3 s: {'met' if seconds < 0.3 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

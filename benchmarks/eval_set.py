"""Fixed benchmark set: generate, convert, detect and evaluate synthetic fills.

    python benchmarks/eval_set.py OUT [--set benchmark|tuning] [--fills 30] [--hours 2]

The benchmark set (seed 20240917, 30 fills of 2 h of 2022) is never used to tune the
detector; the tuning set uses other seeds. Fills are generated one at a time (two worker
processes), converted to their fill series, and their ``.hd5`` files deleted at once, so the
disk holds at most two raw fills (~0.4 GB per fill-hour). Series, results and truth are
kept in OUT (``--reuse`` skips fills whose series exists). Prints the evaluation figures and
writes them to ``OUT/evaluation.json``; ``--plots`` also draws the anomalous fills.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from pltanomaly.atomic import write_json_atomic
from pltanomaly.convert import convert_fill
from pltanomaly.detect import DetectorSettings, detect_fill
from pltanomaly.evaluate import evaluate, format_evaluation
from pltanomaly.generate import generate_year, year_profile

SETS = {
    "benchmark": {"seed": 20240917, "year": 2022, "first_fill": 8100},
    "tuning": {"seed": 1002, "year": 2022, "first_fill": 8100},
    "tuning-2016": {"seed": 1003, "year": 2016, "first_fill": 5000},
    "tuning-long": {"seed": 1004, "year": 2024, "first_fill": 9500},
}
"""Named sets: the benchmark set is never used for tuning; the others are."""


def _one_fill(out: Path, year: int, hours: float, seed: int, fill: int) -> tuple[int, dict, float]:
    raw = out / "raw" / str(fill)
    year_dir = generate_year(raw, year, 1, hours, seed, first_fill=fill)
    truth = json.loads((year_dir / "truth.json").read_text())
    t0 = time.perf_counter()
    convert_fill(year_dir / str(fill), out / "series" / f"{fill}.parquet")
    seconds = time.perf_counter() - t0
    shutil.rmtree(raw)
    return fill, truth["fills"][str(fill)], seconds


def build(out: Path, name: str, n_fills: int, hours: float, reuse: bool, jobs: int) -> Path:
    spec = SETS[name]
    year, seed = spec["year"], spec["seed"]
    fills = [spec["first_fill"] + 3 * i for i in range(n_fills)]
    truth_path = out / "truth.json"
    truth = json.loads(truth_path.read_text()) if reuse and truth_path.exists() else {}
    truth.setdefault("fills", {})
    truth.update({"year": year, "generator": {"seed": seed, "hours": hours, "set": name}})
    todo = [
        f
        for f in fills
        if not (reuse and (out / "series" / f"{f}.parquet").exists() and str(f) in truth["fills"])
    ]
    (out / "series").mkdir(parents=True, exist_ok=True)
    convert_seconds = truth.setdefault("convert_seconds", {})
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_one_fill, out, year, hours, seed, f) for f in todo]
        for future in futures:
            fill, fill_truth, seconds = future.result()
            truth["fills"][str(fill)] = fill_truth
            convert_seconds[str(fill)] = seconds
            print(f"  fill {fill}: generated and converted ({seconds:.1f} s convert)", flush=True)
    truth["fills"] = {k: v for k, v in truth["fills"].items() if int(k) in fills}
    write_json_atomic(truth_path, truth)
    return truth_path


def run(out: Path, settings: DetectorSettings, plots: bool) -> dict:
    truth = json.loads((out / "truth.json").read_text())
    year = truth["year"]
    dead = list(year_profile(year).dead) + list(year_profile(year).weak)
    results = out / "results"
    seconds = 0.0
    for fill in sorted(truth["fills"], key=int):
        series = pd.read_parquet(out / "series" / f"{fill}.parquet")
        t0 = time.perf_counter()
        result = detect_fill(
            series, fill=int(fill), year=year, settings=settings, dead_channels=dead
        )
        seconds += time.perf_counter() - t0
        write_json_atomic(results / "fills" / f"{fill}.json", result)
        if plots and result["anomalous"]:
            from pltanomaly.plot import plot_fill

            plot_fill(series, result, results / "plots" / f"{fill}.png", year=year)
    print(f"detection: {seconds:.1f} s for {len(truth['fills'])} fills (incl. JIT warm-up)")
    report = evaluate(out / "truth.json", results)
    write_json_atomic(out / "evaluation.json", report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--set", choices=sorted(SETS), default="benchmark")
    parser.add_argument("--fills", type=int, default=30)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--reuse", action="store_true", help="keep already converted fills")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--settings", type=Path, default=None, help="detector settings JSON/YAML")
    parser.add_argument("--plots", action="store_true")
    parser.add_argument("--details", type=int, default=20)
    args = parser.parse_args(argv)
    from pltanomaly.detect import load_settings

    t0 = time.perf_counter()
    build(args.out, args.set, args.fills, args.hours, args.reuse, args.jobs)
    print(f"set ready in {time.perf_counter() - t0:.0f} s")
    report = run(args.out, load_settings(args.settings), args.plots)
    sys.stdout.write(format_evaluation(report, details=args.details))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Detector speed: time per fill-hour of 16 channels, ratio to conversion, and cold start.

    python benchmarks/detect.py [--hours 2] [--repeat 5] [--workdir DIR]

Generates one fill (fixed seed), converts it (timed after a warm-up conversion, so the
zero-counting kernel's JIT is not counted), then times
:func:`pltanomaly.channels.detect.detect_fill`:

- warm: median of ``--repeat`` calls after a warm-up call, per fill-hour;
- ratio: warm detection time over warm conversion time of the same fill (goal < 5 %);
- cold start: the first call in a fresh Python process, (a) with an empty numba cache
  (compilation, what the first batch job on a new release pays) and (b) with the cache of (a)
  (cache load, what every later batch job pays). Import time is printed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLD = r"""
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from pltanomaly.channels.detect import detect_fill
t1 = time.perf_counter()
series = pd.read_parquet(sys.argv[1])
t2 = time.perf_counter()
detect_fill(series, fill=1, year=2022, dead_channels=[6, 8])
t3 = time.perf_counter()
detect_fill(series, fill=1, year=2022, dead_channels=[6, 8])
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "second": t4 - t3}))
"""


def _cold(series: Path, cache: Path) -> dict[str, float]:
    env = dict(os.environ, PLTANOMALY_NUMBA_CACHE=str(cache))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run(
        [sys.executable, "-c", COLD, str(series)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args(argv)

    import pandas as pd

    from pltanomaly.channels.convert import convert_fill
    from pltanomaly.channels.detect import detect_fill
    from pltanomaly.channels.generate import generate_year

    work = args.workdir or Path(tempfile.mkdtemp(prefix="pltanomaly-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        year_dir = generate_year(work / "raw", 2022, 1, args.hours, args.seed, first_fill=8000)
        fill_dir = year_dir / "8000"
        series_path = work / "8000.parquet"
        convert_fill(fill_dir, series_path)  # warm-up (JIT of the zero-counting kernel)
        convert_times = []
        for _ in range(2):
            t0 = time.perf_counter()
            convert_fill(fill_dir, series_path)
            convert_times.append(time.perf_counter() - t0)
        convert_s = min(convert_times)
        shutil.rmtree(work / "raw")
        series = pd.read_parquet(series_path)
        n_channels = int(series["channel"].nunique())
        detect_fill(series, fill=8000, year=2022, dead_channels=[6, 8])  # warm-up
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            detect_fill(series, fill=8000, year=2022, dead_channels=[6, 8])
            times.append(time.perf_counter() - t0)
        warm = statistics.median(times)
        cache = work / "numba-cache"
        compile_run = _cold(series_path, cache)
        cached_run = _cold(series_path, cache)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    hours = args.hours
    print(f"fill: {hours:g} h, {len(series)} rows, {n_channels} channels")
    print(f"convert (warm):       {convert_s:8.3f} s  = {convert_s / hours:.3f} s per fill-hour")
    print(
        f"detect (warm, median of {args.repeat}): {warm:8.4f} s  = {warm / hours:.4f} s per "
        f"fill-hour; {100 * warm / convert_s:.1f} % of conversion (goal < 5 %)"
    )
    print(
        f"cold start, empty cache (compile): first call {compile_run['first']:.2f} s "
        f"(import {compile_run['import']:.2f} s)"
    )
    print(
        f"cold start, cached kernels (load): first call {cached_run['first']:.2f} s "
        f"(import {cached_run['import']:.2f} s; second call {cached_run['second']:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

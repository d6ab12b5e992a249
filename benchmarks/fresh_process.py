"""Run a benchmark step in a fresh Python process and read back the JSON line it prints; the
fill the read benchmarks work on."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PEAK_RSS_MB = 'int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024'
"""Python expression for the process's peak RSS in MB. VmHWM, not ru_maxrss: Linux carries
ru_maxrss over fork and exec from the parent."""


def run_fresh(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` with ``args`` as ``sys.argv[1:]``; its last output line is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(code: str, mode: str, fill_dir: Path, out: Path) -> dict[str, Any]:
    """Run a benchmark's child script (``PEAK_RSS_MB`` in it standing for :data:`PEAK_RSS_MB`)
    with ``mode fill_dir out`` as its arguments."""
    return run_fresh(code.replace("PEAK_RSS_MB", PEAK_RSS_MB), mode, str(fill_dir), str(out))


def add_fill_arguments(parser: argparse.ArgumentParser) -> None:
    """``--hours``, ``--fill-dir`` and ``--repeat`` of a benchmark on one fill."""
    parser.add_argument("--hours", type=float, default=1.0, help="length of the generated fill")
    parser.add_argument("--fill-dir", type=Path, default=None, help="use this fill folder instead")
    parser.add_argument("--repeat", type=int, default=3)


def generated_fill(
    data: Path, hours: float, then: Callable[[Path], Any] | None = None, **generate: Any
) -> Path:
    """One generated 2022 fill of ``hours`` (seed 7) in ``data``; ``then`` extends its year
    folder (luminometer tables). Prints how long it took."""
    from pltanomaly.channels.generate import generate_year

    started = time.perf_counter()
    year = generate_year(data, 2022, 1, hours, seed=7, **generate)
    if then is not None:
        then(year)
    fill_dir = next(p for p in year.iterdir() if p.is_dir())
    print(f"generated a {hours:g} h fill in {time.perf_counter() - started:.1f} s")
    return fill_dir

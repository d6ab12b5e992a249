"""Run a benchmark step in a fresh Python process and read back the JSON line it prints."""

from __future__ import annotations

import json
import subprocess
import sys
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

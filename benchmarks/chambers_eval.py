"""DT chambers: the detector beside the production check and a zero-fraction rule on
generated runs, and its time per run.

    python benchmarks/chambers_eval.py [--use evaluation|tuning] [--runs 20] [--repeat 5]
                                       [--json OUT]

Scores runs of the chosen seed set (:data:`pltanomaly.chambers.evaluate.SEEDS`; the
evaluation seed is never looked at while changing the detector) and prints the table:
layer precision/recall/F1, sensitivity at specificity 0.99, recall per fault type and size,
dead-block wire overlap, false bad layers per 1000 good by benign feature, low-statistics
chambers called bad. Then times :func:`pltanomaly.chambers.detect.detect_run` warm on one
run of 250 chambers (median of ``--repeat`` calls after a warm-up; goal < 1 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from pltanomaly.chambers.detect import detect_run
from pltanomaly.chambers.evaluate import FIRST_RUN, SEEDS, evaluate, format_table
from pltanomaly.chambers.generate import generate_run


def warm_time(repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of detect_run on one generated run, after a warm-up call
    (CPU time is what the detector costs on a machine shared with other jobs)."""
    chambers, _ = generate_run(FIRST_RUN, SEEDS["tuning"])
    detect_run(FIRST_RUN, chambers)
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        detect_run(FIRST_RUN, chambers)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use", choices=sorted(SEEDS), default="evaluation")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    summary = evaluate(args.use, args.runs)
    wall, cpu = warm_time(args.repeat)
    summary["warm_seconds_per_run"] = {"wall": wall, "cpu": cpu}
    print(format_table(summary))
    print(f"warm detection of one run (250 chambers): {wall:.3f} s wall, {cpu:.3f} s CPU")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

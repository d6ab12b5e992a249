"""The evaluation matrix: the detector on generated regimes of normal behaviour.

    python benchmarks/eval_set.py OUT [--use evaluation|tuning] [--regimes quiet rough ...]
                                      [--fills N] [--hours H] [--settings FILE] [--details N]

Regimes (``pltanomaly.channels.regimes.MATRIX``): quiet (wander ~0.1 %), typical, rough (wander ~1
%, strong pileup dependence), random (normal behaviours drawn from the seed) and clean-long
(6 h fills with no anomaly at all). ``--use evaluation`` (``make evaluation``) scores seeds
never used for tuning; ``--use tuning`` the ones the detector was developed on. Sets are
built once in OUT/{use}/{regime} and reused. Prints the matrix as a Markdown table and, per
regime, the evaluation details; writes OUT/{use}/matrix.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pltanomaly.channels.detect import load_settings
from pltanomaly.channels.evaluate import format_evaluation
from pltanomaly.channels.regimes import MATRIX, SEEDS, format_matrix, run_matrix
from pltanomaly.core.atomic import write_json_atomic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--use", choices=sorted(SEEDS), default="evaluation")
    parser.add_argument("--regimes", nargs="+", choices=list(MATRIX), default=list(MATRIX))
    parser.add_argument("--fills", type=int, default=None, help="fills per regime")
    parser.add_argument("--hours", type=float, default=None, help="hours per fill")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--settings", type=Path, default=None, help="detector settings JSON/YAML")
    parser.add_argument("--details", type=int, default=0, help="list this many misses per regime")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    reports = run_matrix(
        args.out,
        args.use,
        regimes=args.regimes,
        fills=args.fills,
        hours=args.hours,
        settings=load_settings(args.settings).to_dict(),
        jobs=args.jobs,
    )
    if args.details:
        for name, report in reports.items():
            sys.stdout.write(f"\n## {name}\n" + format_evaluation(report, details=args.details))
    print(f"\n{args.use} seeds, {time.perf_counter() - t0:.0f} s\n")
    sys.stdout.write(format_matrix(reports))
    write_json_atomic(args.out / args.use / "matrix.json", reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())

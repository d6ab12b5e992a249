"""The learning curve: channel F1 after 10-100 verdicts chosen by the queue or at random.

    python benchmarks/active_learning.py [--out build/active-learning] [--regime rough]
                                         [--pool-fills 20] [--test-fills 20] [--hours 2]
                                         [--counts 10 25 40 50 100] [--random-seeds 5]
                                         [--batch 1] [--jobs 1]

The pool is the regime's tuning seed, the test set its evaluation seed (other fills, never used
for choosing verdicts); both are built once in OUT/{pool,test} and reused. A simulated expert
answers from the pool's truth (:mod:`pltanomaly.channels.active_learning`). Prints, in one run, the
F1 of the calibration fitted on the queue's and on random verdicts (mean over the seeds) beside
the uncalibrated detector's, for both decisions (calibrated ``P >= 0.5``, and the status
``apply_calibration`` writes) and the threshold ceiling (the best per-type thresholds on the
test set: a reading aid, nothing is fitted to it), the issue's goals, and draws
OUT/learning_curve.png. The defaults take about 15 minutes on two cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pltanomaly.channels.active_learning import (
    CHECKPOINTS,
    LabelledSet,
    channel_confusion,
    format_curve,
    goals,
    learning_curve,
    observations,
    plot_curve,
)
from pltanomaly.channels.regimes import MATRIX, Regime, build, regime_seed, score
from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.calibrate import Calibration, fit


def _set(out: Path, regime: Regime, use: str, fills: int, jobs: int) -> LabelledSet:
    build(out, regime, regime_seed(regime.name, use), fills=fills, jobs=jobs)
    score(out)
    return LabelledSet.load(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/active-learning"))
    parser.add_argument("--regime", choices=list(MATRIX), default="rough")
    parser.add_argument("--pool-fills", type=int, default=20)
    parser.add_argument("--test-fills", type=int, default=20)
    parser.add_argument("--hours", type=float, default=2.0, help="hours per fill")
    parser.add_argument("--counts", type=int, nargs="+", default=list(CHECKPOINTS))
    parser.add_argument("--random-seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1, help="verdicts between refits")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    base = MATRIX[args.regime]
    regime = Regime(base.name, base.normal, base.fills, args.hours, base.anomalies)
    t0 = time.perf_counter()
    out = args.out / args.regime
    pool = _set(out / "pool", regime, "tuning", args.pool_fills, args.jobs)
    test = _set(out / "test", regime, "evaluation", args.test_fills, args.jobs)
    t1 = time.perf_counter()
    curve = learning_curve(
        pool,
        test,
        args.counts,
        random_seeds=range(args.random_seeds),
        batch=args.batch,
        progress=lambda m: print(m, file=sys.stderr),
    )
    t2 = time.perf_counter()
    print(
        f"\n{args.regime}: pool {args.pool_fills} fills x {args.hours:g} h ({curve.pool_size} "
        f"live channels, tuning seed), test {args.test_fills} fills ({curve.test_size} live "
        f"channels, evaluation seed); random: mean of {args.random_seeds} seeds; refit every "
        f"{args.batch} verdict(s); sets {t1 - t0:.0f} s, curve {t2 - t1:.0f} s\n"
    )
    sys.stdout.write(format_curve(curve))
    print()
    for rule in curve.queue:
        print(f"threshold ceiling ({rule}): {curve.ceiling[rule]:.3f}")
        print(f"goals ({rule}): {goals(curve, rule)}")
    n = 50 if 50 in curve.counts else curve.counts[-1]
    queue_fit = fit(observations(pool, curve.queue_picks[:n]))
    for label, calibration in (("uncalibrated", Calibration()), (f"queue {n}", queue_fit)):
        c = channel_confusion(test, calibration)
        pr = ", ".join(
            f"{k} {'n/a' if c[k] is None else f'{c[k]:.3f}'}" for k in ("precision", "recall")
        )
        print(f"{label} (P >= 0.5): {pr} (tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
    for name, f in sorted(queue_fit.types.items()):
        print(
            f"  queue {n} {name}: {f.n_bad} bad, {f.n_good} good; P(bad) at evidence 0.7 / 1 / "
            f"1.5 = {f.probability(0.7):.2f} / {f.probability(1.0):.2f} / {f.probability(1.5):.2f}"
        )
    png = plot_curve(curve, out / "learning_curve.png", f"{args.regime}: calibration from verdicts")
    write_json_atomic(
        out / "learning_curve.json",
        {
            "counts": curve.counts,
            "uncalibrated": curve.uncalibrated,
            "queue": curve.queue,
            "random": curve.random,
            "random_runs": curve.random_runs,
            "ceiling": curve.ceiling,
        },
    )
    print(f"\ncurve drawn to {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generated fills shared by the detector and plot tests (built once per session, cached).

Fills come from the project's generator (``plan_fill`` -> ``write_fill`` -> ``convert_fill``)
with anomalies injected here at known places and sizes, one type per channel, so the
tests know exactly what the detector must find.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pltanomaly.channels.convert import convert_fill
from pltanomaly.channels.generate import FillPlan, plan_fill, write_fill

YEAR = 2022
DEAD = (6, 8)
_WORK = Path(tempfile.mkdtemp(prefix="pltanomaly-detect-tests-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)


@dataclass(frozen=True)
class Injected:
    channel: int
    type: str
    start: float
    end: float
    magnitude: float


@dataclass
class Fill:
    fill: int
    series: pd.DataFrame
    path: Path
    events: list[Injected]
    common: list[dict]
    start: float
    period: float


def _plan(seed: int, fill: int, hours: float, want) -> FillPlan:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        plan = plan_fill(
            rng,
            year=YEAR,
            fill=fill,
            start=1.6568e9 + fill * 1000.0,
            hours=hours,
            counts="zeros",
            anomalies=False,
        )
        if want(plan):
            return plan
    raise RuntimeError("no plan with the wanted features")


def _write(plan: FillPlan, seed: int) -> Path:
    fill_dir = _WORK / "raw" / str(plan.fill)
    write_fill(plan, fill_dir, np.random.default_rng(seed + 1))
    out = _WORK / f"{plan.fill}.parquet"
    convert_fill(fill_dir, out)
    shutil.rmtree(fill_dir)
    return out


def _has_levelling(plan: FillPlan) -> bool:
    return any(c["type"] == "levelling_step" for c in plan.truth["common"])


@functools.cache
def anomaly_fill() -> Fill:
    """1.5 h fill with one anomaly of every type, each on its own channel."""
    plan = _plan(11, 9001, 1.5, lambda p: bool(p.live[13]))
    period = plan.period
    slot = lambda minutes: round(minutes * 60.0 / period)  # noqa: E731
    t = lambda s: plan.start + s * period  # noqa: E731
    rng = np.random.default_rng(5)
    events = []
    # step -5 % on channel 0 from 30 min to the end
    a = slot(30)
    plan.scale[0, a:] *= 0.95
    events.append(Injected(0, "step", t(a), t(plan.n_slots - 1), 0.05))
    # drift +6 %/h on channel 1 from 20 to 75 min, then level
    a, b = slot(20), slot(75)
    hours = (np.arange(a, b + 1) - a) * period / 3600.0
    plan.scale[1, a : b + 1] *= 1 + 0.06 * hours
    plan.scale[1, b + 1 :] *= 1 + 0.06 * hours[-1]
    events.append(Injected(1, "drift", t(a), t(b), 0.06))
    # spike x3 on channel 2 at 25 min, 2 NB4
    a = slot(25)
    plan.scale[2, a : a + 2] *= 3.0
    events.append(Injected(2, "spike", t(a), t(a + 1), 3.0))
    # dropout on channel 3 at 40 min for 15 s
    a, b = slot(40), slot(40) + round(15 / period)
    plan.scale[3, a:b] *= 0.02
    events.append(Injected(3, "dropout", t(a), t(b - 1), 15.0))
    # stuck channel 4 at 45 min for 90 s
    a, b = slot(45), slot(46.5)
    plan.stuck_source[4, a + 1 : b + 1] = a
    events.append(Injected(4, "stuck", t(a), t(b), 90.0))
    # excess noise 3 % on channel 5 from 50 to 65 min
    a, b = slot(50), slot(65)
    plan.scale[5, a:b] *= np.clip(1 + 0.03 * rng.standard_normal(b - a), 0, None)
    events.append(Injected(5, "noise", t(a), t(b - 1), 0.03))
    # gap of 30 s on channel 7 at 35 min
    a, b = slot(35), slot(35.5)
    plan.present[7, a:b] = False
    events.append(Injected(7, "gap", t(a), t(b - 1), 30.0))
    path = _write(plan, 11)
    return Fill(
        plan.fill, pd.read_parquet(path), path, events, plan.truth["common"], plan.start, period
    )


@functools.cache
def clean_fill(scale: float = 1.0) -> Fill:
    """1.2 h fill with emittance scans, levelling steps and a dump, no anomaly; ``scale``
    multiplies every channel's mu (0.05 gives a low-luminosity fill)."""
    plan = _plan(23, 9101, 1.2, _has_levelling)
    plan.scale *= scale
    path = _write(plan, 23 + int(1000 * scale))
    return Fill(
        plan.fill, pd.read_parquet(path), path, [], plan.truth["common"], plan.start, plan.period
    )

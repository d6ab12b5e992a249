"""The evaluation matrix: the detector scored on generated sets of several regimes of normal
behaviour (quiet, typical, rough, and long fills with no anomaly at all).

A regime fixes the normal behaviours of :class:`~pltanomaly.channels.generate.NormalBehaviour`
(``random`` draws them from the seed, over the wide range of a data set of unknown kind).
Each regime has *tuning* seeds, the only ones ever looked at while changing the detector,
and *evaluation* seeds, which ``make evaluation`` scores. Fills are generated one at a time in
worker processes, converted to their fill series through the real reader, and their
``.hd5`` files deleted at once, so the disk holds at most a few raw fills.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pltanomaly.channels.evaluate import DRIFT_CONTRASTS, DRIFT_POSITIONS
from pltanomaly.core.atomic import write_json_atomic


@dataclass(frozen=True)
class Regime:
    """One row of the matrix."""

    name: str
    normal: str
    """A key of :data:`pltanomaly.channels.generate.REGIMES`, or ``random`` (drawn from the
    seed)."""
    fills: int
    hours: float
    anomalies: bool = True
    kinds: tuple[str, ...] = ()
    """Inject anomalies of these types only (empty: every type)."""


MATRIX: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime("quiet", "quiet", 20, 2.0),
        Regime("typical", "typical", 20, 2.0),
        Regime("rough", "rough", 20, 2.0),
        Regime("random", "random", 20, 2.0),
        Regime("clean-long", "typical", 10, 6.0, anomalies=False),
        Regime("drift-typical", "typical", 24, 2.0, kinds=("drift",)),
        Regime("drift-rough", "rough", 24, 2.0, kinds=("drift",)),
        Regime("drift-random", "random", 24, 2.0, kinds=("drift",)),
    )
}
"""The regimes, and per regime of wander a set of drifts only: the mixed regimes hold a few
drifts each, too few to measure a drift recall by position or size."""
SEEDS = {"tuning": 7100, "evaluation": 20261202}
"""Base seeds of the two uses; a regime's seed is the base plus its index in :data:`MATRIX`."""
YEAR = 2022
FIRST_FILL = 8100


def regime_seed(regime: str, use: str) -> int:
    return SEEDS[use] + list(MATRIX).index(regime)


def _one_fill(out: Path, regime: Regime, seed: int, fill: int) -> tuple[int, dict[str, Any]]:
    from pltanomaly.channels.convert import convert_fill
    from pltanomaly.channels.generate import ANOMALY_TYPES, REGIMES, generate_year

    raw = out / "raw" / str(fill)
    year_dir = generate_year(
        raw,
        YEAR,
        1,
        regime.hours,
        seed,
        first_fill=fill,
        anomalies=regime.anomalies,
        normal=REGIMES.get(regime.normal),
        kinds=regime.kinds or ANOMALY_TYPES,
    )
    truth = json.loads((year_dir / "truth.json").read_text())
    convert_fill(year_dir / str(fill), out / "series" / f"{fill}.parquet")
    shutil.rmtree(raw)
    return fill, truth["fills"][str(fill)]


def build(out: Path, regime: Regime, seed: int, *, fills: int | None = None, jobs: int = 2) -> Path:
    """Generate and convert the regime's fills into ``out`` (reusing fills already there for
    the same seed and regime); returns the truth file."""
    n_fills = regime.fills if fills is None else fills
    wanted = [FIRST_FILL + 3 * i for i in range(n_fills)]
    truth_path = out / "truth.json"
    truth: dict[str, Any] = {}
    if truth_path.exists():
        truth = json.loads(truth_path.read_text())
    stamp = {"seed": seed, "regime": regime.name, "hours": regime.hours}
    if truth.get("generator") != stamp:
        truth = {}
    truth.update({"year": YEAR, "generator": stamp})
    truth.setdefault("fills", {})
    todo = [
        f
        for f in wanted
        if not ((out / "series" / f"{f}.parquet").exists() and str(f) in truth["fills"])
    ]
    (out / "series").mkdir(parents=True, exist_ok=True)
    if jobs <= 1:
        built = [_one_fill(out, regime, seed, f) for f in todo]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_one_fill, out, regime, seed, f) for f in todo]
            built = [future.result() for future in futures]
    for fill, fill_truth in built:
        truth["fills"][str(fill)] = fill_truth
    truth["fills"] = {k: v for k, v in truth["fills"].items() if int(k) in wanted}
    write_json_atomic(truth_path, truth)
    return truth_path


def score(
    out: Path,
    settings: Mapping[str, Any] | None = None,
    *,
    configured_dead: Iterable[int] | None = None,
) -> dict[str, Any]:
    """Detect every fill of a built set and evaluate it against the truth."""
    import pandas as pd

    from pltanomaly.channels.detect import detect_fill
    from pltanomaly.channels.evaluate import evaluate
    from pltanomaly.channels.generate import year_profile

    truth = json.loads((out / "truth.json").read_text())
    dead = list(year_profile(YEAR).dead if configured_dead is None else configured_dead)
    results = out / "results"
    seconds = 0.0
    for fill in sorted(truth["fills"], key=int):
        series = pd.read_parquet(out / "series" / f"{fill}.parquet")
        t0 = time.perf_counter()
        result = detect_fill(
            series, fill=int(fill), year=YEAR, settings=settings, dead_channels=dead
        )
        seconds += time.perf_counter() - t0
        write_json_atomic(results / "fills" / f"{fill}.json", result)
    report = evaluate(out / "truth.json", results)
    report["detect_seconds"] = seconds
    write_json_atomic(out / "evaluation.json", report)
    return report


def run_matrix(
    root: Path,
    use: str = "evaluation",
    *,
    regimes: Iterable[str] = tuple(MATRIX),
    fills: int | None = None,
    hours: float | None = None,
    settings: Mapping[str, Any] | None = None,
    jobs: int = 2,
) -> dict[str, dict[str, Any]]:
    """Build (or reuse) and score every regime; ``fills``/``hours`` shrink the sets (tests)."""
    reports = {}
    for name in regimes:
        regime = MATRIX[name]
        if hours is not None:
            regime = dataclasses.replace(regime, hours=hours)
        out = root / use / name
        build(out, regime, regime_seed(name, use), fills=fills, jobs=jobs)
        reports[name] = score(out, settings)
    return reports


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_matrix(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """The matrix as a Markdown table (one row per regime) and the goal recall per type."""
    lines = [
        "| regime | fills | channel P / R / F1 | false events per live ch-h "
        "| false in scans/levelling | fills called anomalous | dead-call accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in reports.items():
        ch, fa = r["channels"], r["false_alarms"]
        lines.append(
            f"| {name} | {r['n_fills']} | {_fmt(ch['precision'])} / {_fmt(ch['recall'])} / "
            f"{_fmt(ch['f1'])} | {_fmt(fa['per_channel_hour'], 4)} ({fa['count']} in "
            f"{fa['live_channel_hours']:.0f} h) | {fa['in_scans_or_levelling']} | "
            f"{r['fills_anomalous']} of {r['n_fills']} | {_fmt(r['dead']['accuracy'], 3)} |"
        )
    kinds = sorted({k for r in reports.values() for k in r["events"]["by_type"]})
    lines += ["", "| regime | " + " | ".join(kinds) + " |", "|" + " --- |" * (len(kinds) + 1)]
    for name, r in reports.items():
        cells = []
        for kind in kinds:
            info = r["events"]["by_type"].get(kind)
            goal = r["events"]["goal"].get(kind)
            if not info:
                cells.append("")
                continue
            text = f"{info['found']}/{info['total']}"
            if goal and goal["total"]:
                text += f" (goal {goal['found']}/{goal['total']})"
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for axis, places, head in (
        ("position", DRIFT_POSITIONS, "drifts at:"),
        ("contrast", DRIFT_CONTRASTS, "drifts of lasting change / wander spread:"),
    ):
        shown = [p for p in places if any(_at(r, axis, p)["total"] for r in reports.values())]
        if not shown:
            continue
        lines += [
            "",
            f"| regime | {head} " + " | ".join(shown) + " |",
            "|" + " --- |" * (len(shown) + 1),
        ]
        for name, r in reports.items():
            cells = [
                f"{at['found']}/{at['total']} (goal {at['goal_found']}/{at['goal_total']})"
                for at in (_at(r, axis, p) for p in shown)
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _at(report: Mapping[str, Any], axis: str, place: str) -> Mapping[str, int]:
    """A regime's drifts at ``place`` of ``axis`` (position or contrast): found and total,
    all and of the goal."""
    empty = {"total": 0, "found": 0, "goal_total": 0, "goal_found": 0}
    return report["events"].get(f"drift_by_{axis}", {}).get(place, empty)

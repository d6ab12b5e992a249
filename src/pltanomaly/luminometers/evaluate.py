"""Score cross-check results, and the public ratio-window rule, against the validation log.

Per luminometer, on the STABLE BEAMS LS where it has data and outside the log's ignore zones:

* **LS level**: precision, recall and F1 of the LS inside events against the LS inside truth
  ranges (:mod:`.validation_log` says which reasons are truth);
* **ranges found**: a truth range counts as found when an event of that luminometer overlaps it;
* **false events**: events overlapping no truth range (events lying mostly in ignore zones are
  neutral), per 100 fill-hours of STABLE BEAMS; without a log every event is false;
* **fill level**: a (fill, luminometer) is truly bad when a truth range touches its data, and
  called bad when it has an event;
* **named by the log**: the same, over the luminometers the log names at all (in a truth range
  or an ignore zone of any of the scored fills). A log that never names a luminometer did not
  validate it: the 2017 log names only PLT, DT and HFET, and lists no missing LS for PCC's
  60 LS without data in fill 6398 while it lists single missing DT LS. Its other
  luminometers' events are neither confirmed nor refuted; the ``all`` row counts them false
  all the same;
* **at beam changes**: false events (not ``scale``, which spans its fill or run) touching an
  LS where the luminosity all luminometers see moves by more than ``BEAM_STEP`` from one LS to
  the next (emittance scans, dumps), within ``BEAM_PAD`` LS, or the first or last ``BEAM_PAD``
  LS of the fill: the issue's goal is none.

``gap`` events (a luminometer with zero or no data for many LS while others see beam) report
lost data, which the log lists as *missing* (an ignore zone), never as an anomaly: they are
counted apart (``gaps``) and left out of the scores above, both ways.

The public rule (:func:`public_rule_result`) is the anchor: per LS the ratio to each other
luminometer, cut at the fill's mean +- 3 sigma but never tighter than [0.95, 1.05].
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pltanomaly.core.bril import LS_SECONDS
from pltanomaly.core.errors import InputError
from pltanomaly.luminometers.brilcalc import luminometer_columns, read_fills, stable_values
from pltanomaly.luminometers.crosscheck import nanmedian_rows
from pltanomaly.luminometers.names import log_name
from pltanomaly.luminometers.results import published_year
from pltanomaly.luminometers.validation_log import FillEntry, read_validation_log
from pltanomaly.luminometers.year_normals import with_year

logger = logging.getLogger(__name__)

KEY = 1_000_000
BEAM_STEP = 0.05
"""Relative LS-to-LS change of the luminosity that marks a beam change (scans move it by
factors, its decay by ~0.01 % per LS)."""
BEAM_PAD = 3
"""LS either side of a beam change, and at the fill's edges, that count as at it."""


def _key(text: str) -> int:
    run, _, ls = text.partition(":")
    return int(run) * KEY + int(ls)


@dataclass
class LuminometerScore:
    """Counts of one luminometer over the scored fills."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    ranges_found: int = 0
    ranges: int = 0
    events: int = 0
    false_events: int = 0
    false_at_beam: int = 0
    gaps: int = 0
    fills_tp: int = 0
    fills_fp: int = 0
    fills_fn: int = 0
    flagged_fills: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else float("nan")

    def add(self, other: LuminometerScore) -> None:
        for name in (
            "tp",
            "fp",
            "fn",
            "ranges_found",
            "ranges",
            "events",
            "false_events",
            "false_at_beam",
            "gaps",
            "fills_tp",
            "fills_fp",
            "fills_fn",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.flagged_fills += other.flagged_fills
        self.missed += other.missed


@dataclass
class Evaluation:
    """Scores per luminometer, their total, and the fill-hours scored."""

    per_luminometer: dict[str, LuminometerScore]
    total: LuminometerScore
    fill_hours: float
    fills: int
    named: frozenset[str] | None = None
    """The luminometers the log names (:func:`named_by_log`); None without a log."""

    @property
    def false_per_100h(self) -> float:
        return self._per_100h(self.total)

    @property
    def named_total(self) -> LuminometerScore:
        """The total over the luminometers the log names (all of them without a log)."""
        total = LuminometerScore()
        for name, score in self.per_luminometer.items():
            if self.named is None or log_name(name) in self.named:
                total.add(score)
        return total

    @property
    def named_false_per_100h(self) -> float:
        return self._per_100h(self.named_total)

    def _per_100h(self, score: LuminometerScore) -> float:
        return 100 * score.false_events / self.fill_hours if self.fill_hours else float("nan")

    def as_dict(self) -> dict:
        def row(score: LuminometerScore) -> dict:
            return {
                **asdict(score),
                "precision": score.precision,
                "recall": score.recall,
                "f1": score.f1,
            }

        return {
            "fills": self.fills,
            "fill_hours": self.fill_hours,
            "false_events_per_100h": self.false_per_100h,
            "total": row(self.total),
            "named_by_log": sorted(self.named) if self.named is not None else None,
            "named_false_events_per_100h": self.named_false_per_100h,
            "named_total": row(self.named_total),
            "luminometers": {name: row(s) for name, s in self.per_luminometer.items()},
        }


def _bound_text(bound: tuple[int, int] | None) -> str:
    return "-1" if bound is None else f"{bound[0]}:{bound[1]}"


def _event_mask(keys: np.ndarray, events: list[dict]) -> np.ndarray:
    mask = np.zeros(keys.shape, dtype=bool)
    for event in events:
        mask |= (keys >= _key(event["first"])) & (keys <= _key(event["last"]))
    return mask


def beam_changes(values: np.ndarray) -> np.ndarray:
    """STABLE BEAMS LS (rows of ``values``, LS x luminometer) at a beam change or a fill edge:
    the median over the luminometers of each one's luminosity relative to its own fill median
    moves by more than ``BEAM_STEP`` to the next LS, within ``BEAM_PAD`` LS; and the fill's
    first and last ``BEAM_PAD`` LS."""
    n = values.shape[0]
    at = np.zeros(n, dtype=bool)
    if n == 0:
        return at
    logs = np.log(values)
    level = nanmedian_rows(logs - nanmedian_rows(logs.T))
    level = pd.Series(level).interpolate(limit_direction="both").to_numpy()
    jumps = np.flatnonzero(np.abs(np.diff(level)) > np.log1p(BEAM_STEP))
    for jump in jumps:
        at[max(0, jump - BEAM_PAD) : jump + 1 + BEAM_PAD + 1] = True
    at[:BEAM_PAD] = True
    at[-BEAM_PAD:] = True
    return at


def score_fill(
    table: pd.DataFrame, result: Mapping, entry: FillEntry | None
) -> dict[str, LuminometerScore]:
    """Scores of one fill's result against its log entry (None: no log, every event false)."""
    stable, values = stable_values(table)
    at_beam = beam_changes(values)
    keys = stable["run"].to_numpy(np.int64) * KEY + stable["ls"].to_numpy(np.int64)
    run, ls = stable["run"].to_numpy(), stable["ls"].to_numpy()
    scores: dict[str, LuminometerScore] = {}
    for column, name in enumerate(luminometer_columns(table)):
        found = result.get("luminometers", {}).get(name)
        if found is None or found.get("status") == "absent":
            continue
        has_data = np.isfinite(values[:, column])
        logged = log_name(name)
        truth_ranges = [r for r in entry.truth if r.luminometer == logged] if entry else []
        ignore = np.zeros(keys.shape, dtype=bool)
        for zone in entry.ignore if entry else []:
            if zone.luminometer == logged:
                ignore |= zone.mask(run, ls)
        universe = has_data & ~ignore
        pairs = [(r, r.mask(run, ls) & universe) for r in truth_ranges]
        pairs = [(r, m) for r, m in pairs if m.any()]
        truth_masks = [m for _, m in pairs]
        truth = np.logical_or.reduce(truth_masks) if truth_masks else np.zeros_like(universe)
        all_events = found.get("events", [])
        events = [e for e in all_events if e.get("type") != "gap"]
        predicted = _event_mask(keys, events) & universe
        score = LuminometerScore(
            tp=int(np.sum(truth & predicted)),
            fp=int(np.sum(predicted & ~truth)),
            fn=int(np.sum(truth & ~predicted)),
            ranges=len(truth_masks),
            events=len(events),
            gaps=len(all_events) - len(events),
        )
        event_masks = [_event_mask(keys, [e]) for e in events]
        for truth_range, m in pairs:
            if any((m & em).any() for em in event_masks):
                score.ranges_found += 1
            else:
                score.missed.append(
                    f"{truth_range.fill} {name} {_bound_text(truth_range.begin)}.."
                    f"{_bound_text(truth_range.end)} {truth_range.reason!r} ({int(m.sum())} LS)"
                )
        for event, em in zip(events, event_masks, strict=True):
            in_data = em & has_data
            if any((em & m).any() for m in truth_masks):
                continue
            if in_data.any() and np.mean(ignore[in_data]) >= 0.5:
                continue
            score.false_events += 1
            score.false_at_beam += int(event.get("type") != "scale" and (em & at_beam).any())
        bad, called = bool(truth_masks), bool(events)
        score.fills_tp, score.fills_fp, score.fills_fn = (
            int(bad and called),
            int(called and not bad),
            int(bad and not called),
        )
        if called:
            score.flagged_fills.append(int(result["fill"]))
        scores[name] = score
    return scores


def evaluate(
    tables: Mapping[int, pd.DataFrame],
    results: Mapping[int, Mapping],
    log: Mapping[int, FillEntry] | None,
) -> Evaluation:
    """Scores over the fills with a result (and a log entry, when a log is given)."""
    per: dict[str, LuminometerScore] = {}
    hours = 0.0
    fills = 0
    for fill, result in sorted(results.items()):
        if fill not in tables or (log is not None and fill not in log):
            continue
        table = tables[fill]
        fills += 1
        hours += int(table["stable"].sum()) * LS_SECONDS / 3600
        entry = log.get(fill) if log is not None else None
        for name, score in score_fill(table, result, entry).items():
            per.setdefault(name, LuminometerScore()).add(score)
    total = LuminometerScore()
    for score in per.values():
        total.add(score)
    named = None
    if log is not None:
        named = named_by_log(entry for fill, entry in log.items() if fill in results)
    return Evaluation(per, total, hours, fills, named)


def named_by_log(entries: Iterable[FillEntry]) -> frozenset[str]:
    """The luminometers (log names) a log's ``entries`` name in a truth range or an ignore
    zone."""
    return frozenset(r.luminometer for entry in entries for r in (*entry.truth, *entry.ignore))


def public_rule_result(table: pd.DataFrame, fill: int, year: int | None = None) -> dict:
    """The public rule as a result dict: an LS of a luminometer is flagged when its ratio to
    more than half of the others (to the one other, with two) leaves [min(mean - 3 sigma,
    0.95), max(mean + 3 sigma, 1.05)] of that pair over the fill's STABLE BEAMS LS."""
    names = luminometer_columns(table)
    stable, values = stable_values(table)
    present = [i for i in range(len(names)) if np.isfinite(values[:, i]).sum() > 0]
    times = stable["time"].to_numpy(float)
    entries: dict[str, dict] = {n: {"status": "absent", "score": 0.0, "events": []} for n in names}
    for i in present:
        others = [j for j in present if j != i]
        if not others:
            entries[names[i]]["status"] = "undecided"
            continue
        votes = np.zeros(len(stable))
        for j in others:
            ratio = values[:, i] / values[:, j]
            finite = ratio[np.isfinite(ratio)]
            if finite.size < 2:
                continue
            mean, sigma = float(np.mean(finite)), float(np.std(finite))
            low, high = min(mean - 3 * sigma, 0.95), max(mean + 3 * sigma, 1.05)
            with np.errstate(invalid="ignore"):
                votes += (ratio < low) | (ratio > high)
        flagged = votes > len(others) / 2 if len(others) > 1 else votes >= 1
        events = []
        where = np.flatnonzero(flagged)
        if where.size:
            breaks = np.flatnonzero(np.diff(where) > 1)
            for first, last in zip(
                np.r_[where[0], where[breaks + 1]], np.r_[where[breaks], where[-1]], strict=True
            ):
                events.append(
                    {
                        "type": "spike",
                        "first": f"{stable['run'].iat[first]}:{stable['ls'].iat[first]}",
                        "last": f"{stable['run'].iat[last]}:{stable['ls'].iat[last]}",
                        "start": float(times[first]),
                        "end": float(times[last]) + LS_SECONDS,
                        "magnitude": 0.0,
                        "score": 1.0,
                    }
                )
        status = "normal" if not events else ("anomalous" if len(others) >= 2 else "undecided")
        entries[names[i]] = {"status": status, "score": float(bool(events)), "events": events}
    return {
        "fill": int(fill),
        "year": year,
        "source": "brilcalc",
        "rule": "public ratio window",
        "anomalous": any(e["status"] == "anomalous" for e in entries.values()),
        "luminometers": entries,
    }


def read_results(folder: str | Path) -> dict[int, dict]:
    """The ``{fill}.json`` results of a ``results/{year}/lumi`` folder."""
    return {
        int(path.stem): json.loads(path.read_text())
        for path in sorted(Path(folder).glob("*.json"))
        if path.stem.isdigit()
    }


def read_tables(folder: str | Path) -> dict[int, pd.DataFrame]:
    """The per-LS tables the workflow kept in a ``results/{year}/lumi`` folder
    (``tables/{fill}.parquet``: what each cross-check saw)."""
    return {
        int(path.stem): pd.read_parquet(path)
        for path in sorted((Path(folder) / "tables").glob("*.parquet"))
        if path.stem.isdigit()
    }


def lumi_folder(results: str | Path) -> Path:
    """The ``lumi`` folder of a ``results/{year}`` folder (or the folder itself)."""
    return Path(results) / "lumi" if (Path(results) / "lumi").is_dir() else Path(results)


def evaluate_against_log(
    results: str | Path, log_path: str | Path, csv: Iterable[str | Path] = ()
) -> tuple[Evaluation, Evaluation]:
    """Ours (with the year's events the aggregation published, :func:`~.results.published_year`;
    else computed here, :func:`~.year_normals.with_year`) and the public rule's scores of a
    results folder against a validation log, on the LS of the brilcalc ``csv`` files, or by
    default of the tables the workflow kept."""
    folder = lumi_folder(results)
    csv = list(csv)
    tables = read_fills(csv).tables if csv else read_tables(folder)
    if not tables:
        raise InputError(f"{folder}: no per-LS table (tables/*.parquet) and no CSV given")
    log = read_validation_log(log_path)
    fills = read_results(folder)
    checked = published_year(folder, fills)
    if checked is None:
        logger.warning(
            "%s: no year-scale.json as new as its fill results: the year's events are "
            "computed here, with the default settings",
            folder,
        )
        checked = with_year(fills, tables)
    ours = evaluate(tables, checked, log)
    rule = evaluate(tables, {f: public_rule_result(t, f) for f, t in tables.items()}, log)
    return ours, rule


def format_table(evaluations: Mapping[str, Evaluation]) -> str:
    """Evaluations side by side (e.g. ``{"ours": ..., "public rule": ...}``) as text."""
    lines = [
        f"{'method':12s} {'luminometer':11s} {'LS P':>6s} {'LS R':>6s} {'LS F1':>6s} "
        f"{'ranges':>7s} {'events':>6s} {'false':>5s} {'beam':>4s} {'gaps':>4s} "
        f"{'fill P':>6s} {'fill R':>6s}"
    ]
    for method, evaluation in evaluations.items():
        rows = [*evaluation.per_luminometer.items(), ("all", evaluation.total)]
        unnamed = [
            name
            for name in evaluation.per_luminometer
            if evaluation.named is not None and log_name(name) not in evaluation.named
        ]
        if unnamed:
            rows.append(("named", evaluation.named_total))
        for name, s in rows:
            fill_p = s.fills_tp / (s.fills_tp + s.fills_fp) if s.fills_tp + s.fills_fp else np.nan
            fill_r = s.fills_tp / (s.fills_tp + s.fills_fn) if s.fills_tp + s.fills_fn else np.nan
            lines.append(
                f"{method:12s} {name:11s} {s.precision:6.2f} {s.recall:6.2f} {s.f1:6.2f} "
                f"{f'{s.ranges_found}/{s.ranges}':>7s} {s.events:6d} {s.false_events:5d} "
                f"{s.false_at_beam:4d} {s.gaps:4d} "
                f"{fill_p:6.2f} {fill_r:6.2f}"
            )
        lines.append(
            f"{method:12s} false events per 100 fill-hours: {evaluation.false_per_100h:.2f} "
            f"({evaluation.fills} fills, {evaluation.fill_hours:.1f} h); "
            f"{evaluation.total.false_at_beam} at a beam change or fill edge ('beam')"
        )
        if unnamed:
            lines.append(
                f"{method:12s} of the luminometers the log names ('named'): "
                f"{evaluation.named_false_per_100h:.2f}; it never names {', '.join(unnamed)}"
            )
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate-lumi", help="score luminometer cross-check results against a validation log"
    )
    parser.add_argument(
        "csv",
        nargs="*",
        type=Path,
        help="the brilcalc CSVs the results came from (default: the tables the workflow kept)",
    )
    parser.add_argument("--results", type=Path, required=True, help="results/{year}[/lumi]")
    parser.add_argument("--validation-log", type=Path, required=True, help="fillValidationLog.json")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.set_defaults(func=_main)


def print_against_log(
    results: Path, log_path: Path, csv: Iterable[Path] = (), json_out: Path | None = None
) -> int:
    """Print (and with ``json_out`` write) ours beside the public rule against a log."""
    from pltanomaly.core.atomic import write_json_atomic

    ours, rule = evaluate_against_log(results, log_path, csv)
    print(format_table({"ours": ours, "public rule": rule}))
    if json_out is not None:
        write_json_atomic(json_out, {"ours": ours.as_dict(), "public_rule": rule.as_dict()})
    return 0


def _main(args: argparse.Namespace) -> int:
    return print_against_log(args.results, args.validation_log, args.csv, args.json)

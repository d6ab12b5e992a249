"""The luminometer cross-check against the luminometer verdicts of the review app.

Each STABLE BEAMS LS of a luminometer with data takes the state its verdicts give it:
``bad`` (positive), ``good`` (negative), ``ignore`` or no verdict (left out). Verdicts of the
validation log are laid first and an expert's own verdicts over them (an expert can correct the
log); within one source ``ignore`` beats ``bad`` beats ``good``. The states become a
validation-log entry (bad runs as truth ranges, the rest outside the good LS as ignore zones),
which :func:`pltanomaly.luminometers.evaluate.score_fill` scores as it scores the log itself:

* **LS level**: precision, recall, F1 of the LS inside events vs the bad LS;
* **ranges**: bad ranges an event overlaps; events overlapping none (false events);
* **fill level**: a labelled (fill, luminometer) is bad when it has bad LS, good otherwise, and
  called bad when it has an event.

A fill whose per-LS table (``lumi/tables/{fill}.parquet``) was not kept is scored at fill
level only, from its verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from pltanomaly.core.metrics import confusion
from pltanomaly.luminometers.brilcalc import luminometer_columns, stable_values
from pltanomaly.luminometers.evaluate import LuminometerScore, score_fill
from pltanomaly.luminometers.labels import LOG_SOURCE, LumiLabels, LumiVerdict, bound_key
from pltanomaly.luminometers.names import log_name
from pltanomaly.luminometers.results import LumiResults
from pltanomaly.luminometers.validation_log import FillEntry, LogRange

UNLABELLED, GOOD, BAD, IGNORE = 0, 1, 2, 3
STATE_OF = {"good": GOOD, "bad": BAD, "ignore": IGNORE}
KEY = 1_000_000


def ls_states(run: np.ndarray, ls: np.ndarray, verdicts: Iterable[LumiVerdict]) -> np.ndarray:
    """The state of each LS (``run``, ``ls`` arrays) by one luminometer's verdicts."""
    keys = np.asarray(run, dtype=np.int64) * KEY + np.asarray(ls, dtype=np.int64)
    states = np.full(keys.shape, UNLABELLED, dtype=np.int8)
    order = sorted(verdicts, key=lambda v: (v.source != LOG_SOURCE, STATE_OF[v.verdict]))
    for v in order:
        inside = (keys >= bound_key(v.first, -1)) & (keys <= bound_key(v.last, np.inf))
        states[inside] = STATE_OF[v.verdict]
    return states


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    where = np.flatnonzero(flags)
    if not where.size:
        return []
    breaks = np.flatnonzero(np.diff(where) > 1)
    return list(
        zip(np.r_[where[0], where[breaks + 1]], np.r_[where[breaks], where[-1]], strict=True)
    )


def states_entry(
    fill: int, luminometer: str, run: np.ndarray, ls: np.ndarray, states: np.ndarray
) -> FillEntry:
    """The LS states as a validation-log entry: bad runs are truth, what is neither bad nor good
    an ignore zone (named as the log names ``luminometer``)."""
    logged = log_name(luminometer)

    def ranges(flags: np.ndarray, truth: bool) -> list[LogRange]:
        return [
            LogRange(
                fill,
                logged,
                (int(run[i]), int(ls[i])),
                (int(run[j]), int(ls[j])),
                "bad" if truth else "not labelled",
                truth,
                "verdict" if truth else "unlabelled",
            )
            for i, j in _runs(flags)
        ]

    return FillEntry(
        fill,
        truth=ranges(states == BAD, True),
        ignore=ranges((states == UNLABELLED) | (states == IGNORE), False),
    )


def score_table(
    table: pd.DataFrame, result: dict[str, Any], verdicts: list[LumiVerdict]
) -> dict[str, tuple[LuminometerScore, bool]]:
    """Per labelled luminometer of one fill: its score and whether it had good LS."""
    stable, values = stable_values(table)
    run, ls = stable["run"].to_numpy(), stable["ls"].to_numpy()
    out: dict[str, tuple[LuminometerScore, bool]] = {}
    for column, name in enumerate(luminometer_columns(table)):
        found = result.get("luminometers", {}).get(name)
        mine = [v for v in verdicts if v.luminometer == name]
        if found is None or not mine:
            continue
        states = ls_states(run, ls, mine)
        has_data = np.isfinite(values[:, column])
        labelled = has_data & ((states == GOOD) | (states == BAD))
        if not labelled.any():
            continue
        entry = states_entry(int(result["fill"]), name, run, ls, states)
        one = {**result, "luminometers": {name: found}}
        score = score_fill(table, one, entry).get(name)
        if score is not None:
            out[name] = (score, bool((has_data & (states == GOOD)).any()))
    return out


def _fill_only(result: dict[str, Any], verdicts: list[LumiVerdict]) -> dict[str, tuple[bool, bool]]:
    """Without a table: per labelled luminometer, (has a bad verdict, has events)."""
    out = {}
    for name, found in result.get("luminometers", {}).items():
        kinds = {v.verdict for v in verdicts if v.luminometer == name}
        if kinds & {"good", "bad"} and found.get("status") != "absent":
            out[name] = ("bad" in kinds, bool(found.get("events")))
    return out


def _row(score: LuminometerScore, fill_tn: int) -> dict[str, Any]:
    ls_level = confusion(score.tp, score.fp, score.fn, 0)
    fills = confusion(score.fills_tp, score.fills_fp, score.fills_fn, fill_tn)
    return {
        "ls": {k: ls_level[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")},
        "ranges": score.ranges,
        "ranges_found": score.ranges_found,
        "events": score.events,
        "false_events": score.false_events,
        "fills": fills,
        "missed": score.missed,
    }


def lumi_agreement(results: LumiResults, labels: LumiLabels) -> dict[str, Any]:
    """Detector vs luminometer verdicts over every labelled fill (see the module doc)."""
    by_fill: dict[tuple[int, int], list[LumiVerdict]] = {}
    for v in labels.all():
        by_fill.setdefault((v.year, v.fill), []).append(v)
    per: dict[str, LuminometerScore] = {}
    tn: dict[str, int] = {}
    missing, fill_level_only = [], []
    for (year, fill), verdicts in sorted(by_fill.items()):
        result = results.load(year, fill)
        if result is None:
            missing.append({"year": year, "fill": fill})
            continue
        table = results.table(year, fill)
        if table is None:
            fill_level_only.append({"year": year, "fill": fill})
            for name, (bad, called) in _fill_only(result, verdicts).items():
                score = per.setdefault(name, LuminometerScore())
                score.fills_tp += int(bad and called)
                score.fills_fp += int(called and not bad)
                score.fills_fn += int(bad and not called)
                tn[name] = tn.get(name, 0) + int(not bad and not called)
            continue
        for name, (score, has_good) in score_table(table, result, verdicts).items():
            per.setdefault(name, LuminometerScore()).add(score)
            not_bad = not score.ranges and not score.events
            tn[name] = tn.get(name, 0) + int(not_bad and has_good)
    total = LuminometerScore()
    for score in per.values():
        total.add(score)
    return {
        "n_verdicts": sum(len(v) for v in by_fill.values()),
        "n_fills": len(by_fill),
        "missing": missing,
        "fill_level_only": fill_level_only,
        "luminometers": {name: _row(per[name], tn.get(name, 0)) for name in sorted(per)},
        "total": _row(total, sum(tn.values())),
    }

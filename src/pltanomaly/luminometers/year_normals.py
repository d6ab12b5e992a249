"""Fills judged again with the year's usual measures of normal.

A fill's cross-check learns each luminometer's noise, slow wander and heavy-tail factors
from the fill itself. An anomaly covering much of a short fill (a wave over half of a 1-h
fill, a drift from its middle to its end) sets those measures itself and hides. Across a
year it cannot: per luminometer, its usual slow ``wander`` (of the residual, and
``smooth_wander`` of the smoothed residual a long excursion is judged on, where the
LS-to-LS noise that dominates the first is averaged away) and its usual ``tail`` and
``long_tail`` factors are their medians over the year's fills where it was judged
(:func:`~.year_scale.judged_entries`; at least :data:`~.year_scale.MIN_FILLS` fills). A fill
where a luminometer's own measure exceeds what its usual one allows
(:func:`~.crosscheck.usual_cap`) is judged again with it capped there
(:func:`~.crosscheck.crosscheck_fill` ``usual``). The events that second judgement finds for
a luminometer without any event of its own in the fill are its events against the year
(``"against": "year"``), listed with the year's ``scale`` events in ``lumi/year-scale.json``
(``rejudged``). A luminometer with events of its own keeps its own judgement: they are what
sets its measures above the usual (BCM1FSI in the 2017 set, jumpy in several fills, would
otherwise get single-LS jumps between its noise events).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from pltanomaly.luminometers.crosscheck import CrosscheckConfig, crosscheck_fill, usual_cap
from pltanomaly.luminometers.year_scale import (
    JUDGED,
    MIN_FILLS,
    add_events,
    judged_entries,
    with_year_scale,
)

log = logging.getLogger(__name__)

MEASURES = ("wander", "smooth_wander", "tail", "long_tail")
"""The measures of normal a fill's summary gives per luminometer, and the year's usual."""


def usual_measures(results: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per luminometer, the median over the year's fills (where it was judged) of each of
    its :data:`MEASURES`."""
    values: dict[str, list[list[float]]] = {}
    for _, name, entry in judged_entries(results):
        if all(isinstance(entry.get(m), (int, float)) for m in MEASURES):
            values.setdefault(name, []).append([float(entry[m]) for m in MEASURES])
    return {
        name: dict(zip(MEASURES, np.median(np.array(rows), axis=0).tolist(), strict=True))
        for name, rows in values.items()
        if len(rows) >= MIN_FILLS
    }


def beyond_usual(
    result: Mapping[str, Any], usual: Mapping[str, Mapping[str, float]], config: CrosscheckConfig
) -> bool:
    """Whether a luminometer of the fill exceeds one of its usual measures (so that judging
    the fill again with them can change anything)."""
    for name, entry in result.get("luminometers", {}).items():
        normal = usual.get(name)
        if normal is None or entry.get("status") not in JUDGED:
            continue
        if any(entry.get(m, 0.0) > usual_cap(m, normal, config) for m in MEASURES):
            return True
    return False


def rejudged_events(
    results: Mapping[int, Mapping[str, Any]],
    table_of: Callable[[int], pd.DataFrame | None],
    config: CrosscheckConfig | None = None,
) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Per fill and luminometer, the events a judgement with the year's usual measures
    (:func:`usual_measures`) finds for a luminometer without any event in its fill's own
    result (one with events keeps its own judgement: they are what sets its measures above
    the usual); ``table_of(fill)`` gives the fill's per-LS table (None: not kept)."""
    config = config or CrosscheckConfig()
    usual = usual_measures(results)
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for fill, result in sorted(results.items()):
        if not usual or not beyond_usual(result, usual, config):
            continue
        table = table_of(fill)
        if table is None:
            continue
        try:
            again = crosscheck_fill(table, fill, result.get("year"), config, usual)
        except MemoryError:
            raise
        except Exception:  # the fill keeps its own judgement; the year goes on
            log.exception("fill %s: judging it again with the year's measures failed", fill)
            continue
        for name, entry in again["luminometers"].items():
            if result.get("luminometers", {}).get(name, {}).get("events"):
                continue  # its own events are what sets its measures above the usual
            added = [{**event, "against": "year"} for event in entry.get("events", [])]
            if added:
                out.setdefault(int(fill), {})[name] = added
    return out


def with_year(
    results: Mapping[int, Mapping[str, Any]],
    tables: Mapping[int, pd.DataFrame],
    config: CrosscheckConfig | None = None,
) -> dict[int, dict[str, Any]]:
    """``results`` with the year's ``scale`` events (:mod:`~.year_scale`) and the events of
    the fills judged again with the year's usual measures added; the input is not changed."""
    out = with_year_scale(results, config=config)
    for fill, named in rejudged_events(results, tables.get, config).items():
        out[fill] = add_events(out[fill], named)
    return out

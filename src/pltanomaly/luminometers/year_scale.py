"""Whole fills off against the year: a luminometer's fill offset against its offsets in the
year's other fills.

A fill's cross-check can call a whole fill off (``scale``) only beyond the spread of
calibrations between luminometers (``CrosscheckConfig.scale_limit``, 10 %): within one fill a
luminometer 6 % low cannot be told from one calibrated 6 % low. Across a year it can. A
luminometer keeps its calibration from fill to fill (in the 2015 and 2017 sets of
``shared/real-data/lumi`` its fill offset moves by a median 0.04-0.46 % from one fill to the
next), so a fill where it sits far from its usual offset is off.

Per luminometer, over the year's fills where it was judged (at least :data:`MIN_LS` LS, three
or more luminometers, status ``normal`` or ``anomalous``, LS-to-LS noise under the
cross-check's ``scale_limit``: one noisier is at its background floor, where its median means
no calibration): its fill offset is the log of the cross-check's ``median_ratio``. A fill's
ratios are taken to its median luminometer, which moves when some of its luminometers are off
(two of six 8 % low move the others' offsets by up to 3 %); so each fill's common shift, the
median over its luminometers of their departures from their usual offsets, is taken out first
(:func:`recentred_offsets`). The usual offset is then their median, and the normal spread
their robust standard deviation. A fill is off when its offset departs from the usual one by more
than :data:`Z` normal spreads and at least ``min_change``, and the luminometers of the fill
that do are fewer than half of those compared in it, three at least (when half or more do,
the consensus of that fill is in doubt, and nobody is named). Each gets a ``scale`` event
over its judged LS, marked ``"against": "year"``, unless its fill already has one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from pltanomaly.core.robust import robust_sigma
from pltanomaly.luminometers.crosscheck import CrosscheckConfig

MIN_FILLS = 5
"""Fewest fills with a judged offset for a luminometer's usual offset to be known."""
MIN_LS = 30
"""Fewest judged LS for a fill's offset to count (a fill lost after minutes has only its
start, where luminometers settle at different speeds)."""
Z = 5.0
"""Normal spreads of the fill offsets beyond which a fill is off (a tail no Gaussian spread
of a year's few hundred fill offsets reaches)."""
MIN_CHANGE = 0.02
"""Smallest relative departure from the usual offset called off (the size of the anomalies
the experts record)."""
JUDGED = ("normal", "anomalous")


def _judged(entries: Mapping[str, Mapping[str, Any]]) -> int:
    """How many luminometers of a fill were judged (not absent nor undecided)."""
    return sum(e.get("status") in JUDGED for e in entries.values())


def judged_entries(
    results: Mapping[int, Mapping[str, Any]],
) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """(fill, luminometer, its entry) wherever a luminometer was judged over at least
    :data:`MIN_LS` LS, in a fill where three luminometers or more were: what a year's usual
    values of a luminometer are learnt from."""
    for fill, result in results.items():
        entries = result.get("luminometers", {})
        if _judged(entries) < 3:
            continue
        for name, entry in entries.items():
            judged = entry.get("judged") or {}
            if entry.get("status") in JUDGED and judged.get("n_ls", 0) >= MIN_LS:
                yield int(fill), name, entry


def fill_offsets(
    results: Mapping[int, Mapping[str, Any]], scale_limit: float = CrosscheckConfig.scale_limit
) -> dict[str, dict[int, float]]:
    """Per luminometer, its log fill offset in every fill where it was judged above its
    background floor (LS-to-LS noise under the cross-check's ``scale_limit``)."""
    offsets: dict[str, dict[int, float]] = {}
    for fill, name, entry in judged_entries(results):
        ratio = entry.get("median_ratio")
        if ratio and ratio > 0 and entry.get("noise", 0.0) < scale_limit:
            offsets.setdefault(name, {})[fill] = math.log(ratio)
    return offsets


def common_shift(departures: Sequence[float]) -> float:
    """The median of a fill's departures from the usual offsets, when three or more
    luminometers give one and most of them lie within :data:`MIN_CHANGE` of it; else 0 (the
    luminometers of the fill disagree: which one is off is in doubt)."""
    if len(departures) < 3:
        return 0.0
    shift = float(np.median(departures))
    close = np.abs(np.asarray(departures) - shift) <= math.log1p(MIN_CHANGE)
    return shift if 2 * int(close.sum()) > len(departures) else 0.0


def recentred_offsets(
    offsets: Mapping[str, Mapping[int, float]], iterations: int = 3
) -> dict[str, dict[int, float]]:
    """``offsets`` (luminometer -> fill -> log offset) less each fill's common shift
    (:func:`common_shift` of the departures from their usual offsets of the fill's
    luminometers that have one, :data:`MIN_FILLS` fills; the usual offsets are learnt again
    from the recentred ones, ``iterations`` times)."""
    known = [name for name, by_fill in offsets.items() if len(by_fill) >= MIN_FILLS]
    shift: dict[int, float] = {}
    for _ in range(iterations):
        departures: dict[int, list[float]] = {}
        for name in known:
            usual = float(np.median([v - shift.get(f, 0.0) for f, v in offsets[name].items()]))
            for fill, value in offsets[name].items():
                departures.setdefault(fill, []).append(value - usual)
        shift = {f: common_shift(d) for f, d in departures.items()}
    return {
        name: {fill: value - shift.get(fill, 0.0) for fill, value in by_fill.items()}
        for name, by_fill in offsets.items()
    }


def year_scale_events(
    results: Mapping[int, Mapping[str, Any]],
    min_change: float = MIN_CHANGE,
    config: CrosscheckConfig | None = None,
) -> dict[int, dict[str, dict[str, Any]]]:
    """Per fill and luminometer, the ``scale`` event of a fill off against the year (none
    where the fill's own cross-check, with ``config``, already found a ``scale``)."""
    scale_limit = (config or CrosscheckConfig()).scale_limit
    departures: dict[int, dict[str, tuple[float, float]]] = {}
    compared: dict[int, int] = {}
    for name, by_fill in recentred_offsets(fill_offsets(results, scale_limit)).items():
        if len(by_fill) < MIN_FILLS:
            continue
        values = np.array(list(by_fill.values()))
        usual = float(np.median(values))
        spread = robust_sigma(values)
        limit = max(Z * spread, math.log1p(min_change))
        for fill, value in by_fill.items():
            compared[fill] = compared.get(fill, 0) + 1
            if abs(value - usual) > limit:
                departures.setdefault(fill, {})[name] = (value - usual, spread)
    events: dict[int, dict[str, dict[str, Any]]] = {}
    for fill, off in departures.items():
        entries = results[fill]["luminometers"]
        if compared[fill] < 3 or 2 * len(off) >= compared[fill]:
            continue
        for name, (departure, spread) in off.items():
            entry = entries[name]
            if any(e["type"] == "scale" for e in entry.get("events", [])):
                continue
            z = abs(departure) / spread if spread > 0 else math.inf
            events.setdefault(fill, {})[name] = {
                "type": "scale",
                **entry["judged"],
                "magnitude": round(math.expm1(departure), 6),
                "score": round(1.0 - 0.5 ** min(z / Z, 50.0), 4),
                "against": "year",
            }
    return events


def with_year_scale(
    results: Mapping[int, Mapping[str, Any]],
    min_change: float = MIN_CHANGE,
    config: CrosscheckConfig | None = None,
) -> dict[int, dict[str, Any]]:
    """``results`` (fill -> cross-check result, with ``config``) with the year's ``scale``
    events added (:func:`add_events`); the input is not changed."""
    out = {fill: dict(result) for fill, result in results.items()}
    for fill, named in year_scale_events(results, min_change, config).items():
        out[fill] = add_events(results[fill], named)
    return out


def add_events(result: Mapping[str, Any], named: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a fill's cross-check ``result`` with the year's events ``named`` (luminometer
    -> an event, or a list of them) added to their luminometers, which become
    ``anomalous``."""
    out = copy.deepcopy(dict(result))
    for name, added in named.items():
        entry = out.get("luminometers", {}).get(name)
        added = [added] if isinstance(added, Mapping) else list(added or [])
        if not isinstance(entry, dict) or not added:
            continue
        events = [*entry.get("events", []), *(dict(event) for event in added)]
        entry["events"] = sorted(events, key=lambda e: e.get("start") or 0.0)
        entry["status"] = "anomalous"
        entry["score"] = max(entry.get("score", 0.0), *(e.get("score", 0.0) for e in added))
        out["anomalous"] = True
    return out

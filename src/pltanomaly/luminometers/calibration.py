"""Calibration of the luminometer cross-check from luminometer verdicts.

Per event type (``dip``, ``spike``, ``step``, ``drift``, ``wave``, ``scale``, ``noise``,
``gap``) the same model as the PLT channels (:mod:`pltanomaly.core.calibrate`):
``logit P = a + b ln(evidence)``. What a verdict teaches:

* an event overlapping a ``bad`` range of its luminometer is a positive of the event's type;
* otherwise, an event lying inside a ``good`` range is a negative;
* events touching an ``ignore`` range (and not a bad one), or unlabelled, teach nothing; nor do
  bad ranges without an event (no evidence to calibrate).

The cross-check's events carry a ``score``, ``1 - 0.5**(|z| / threshold)``, not an evidence;
the evidence is taken as ``|z| / threshold = -log2(1 - score)`` (an event's own ``evidence``
wins when it has one): 1 at the cross-check's threshold (score 0.5), where the prior's P is
0.5 too, so with no verdicts the calibration keeps the cross-check's decision. Scores are
clipped to ``1 - 1e-4`` (they are written with four decimals).

The fits are written in the calibration file's ``luminometers`` section
(``{"observations": n, "types": {type: fit}}``), beside the PLT ``types``, which stay as they are.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from pltanomaly.core.calibrate import Calibration, Observation, TypeFit, fit
from pltanomaly.luminometers.labels import LumiLabels, LumiVerdict, parse_bound
from pltanomaly.luminometers.results import LumiResults

log = logging.getLogger(__name__)

SECTION = "luminometers"
MAX_SCORE = 1 - 1e-4


def event_evidence(event: dict[str, Any]) -> float | None:
    """The evidence of a cross-check event (see the module doc), None without one."""
    for key in ("evidence", "score"):
        value = event.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            if key == "evidence":
                return float(value)
            return -math.log2(1 - min(max(float(value), 0.0), MAX_SCORE))
    return None


def event_observation(event: dict[str, Any], verdicts: list[LumiVerdict]) -> Observation | None:
    """What the verdicts on an event's luminometer teach about the event, if anything."""
    evidence = event_evidence(event)
    try:
        first, last = parse_bound(event.get("first")), parse_bound(event.get("last"))
    except ValueError:
        return None
    if evidence is None or first is None or last is None:
        return None
    bad = any(v.verdict == "bad" and v.overlaps(first, last) for v in verdicts)
    ignored = any(v.verdict == "ignore" and v.overlaps(first, last) for v in verdicts)
    good = any(v.verdict == "good" and v.covers(first, last) for v in verdicts)
    if bad:
        return Observation(str(event.get("type")), evidence, True)
    if good and not ignored:
        return Observation(str(event.get("type")), evidence, False)
    return None


def lumi_observations(results: LumiResults, labels: LumiLabels) -> list[Observation]:
    """The luminometer verdicts joined with the events of the cross-check's results."""
    by_key: dict[tuple[int, int, str], list[LumiVerdict]] = {}
    for v in labels.all():
        by_key.setdefault((v.year, v.fill, v.luminometer), []).append(v)
    out: list[Observation] = []
    for year, fill in sorted({(y, f) for y, f, _ in by_key}):
        result = results.load(year, fill)
        if result is None:
            continue
        for name, entry in result["luminometers"].items():
            verdicts = by_key.get((year, fill, name))
            if not verdicts or not isinstance(entry, dict):
                continue
            for event in entry.get("events") or []:
                found = event_observation(event, verdicts)
                if found is not None:
                    out.append(found)
    return out


def lumi_section(
    results_dir: str | os.PathLike[str], labels_db: str | os.PathLike[str]
) -> dict[str, Any] | None:
    """The calibration file's ``luminometers`` section, None when no verdict teaches anything."""
    from pltanomaly.review.labels import LabelStore

    store = LabelStore(Path(labels_db), create=False)
    observations = lumi_observations(LumiResults(results_dir), LumiLabels(store))
    if not observations:
        return None
    calibration = fit(observations)
    for name, f in sorted(calibration.types.items()):
        log.info(
            "luminometer %s: %d bad, %d good events; P(bad) at evidence 1 = %.2f",
            name,
            f.n_bad,
            f.n_good,
            f.probability(1.0),
        )
    return {
        "observations": len(observations),
        "types": {t: f.to_json() for t, f in sorted(calibration.types.items())},
    }


def load_lumi_calibration(path: str | os.PathLike[str]) -> Calibration:
    """The ``luminometers`` section of a calibration file (the prior alone without one)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    section = data.get(SECTION) if isinstance(data, dict) else None
    types = {}
    for name, entry in ((section or {}).get("types") or {}).items():
        types[str(name)] = TypeFit.from_json(entry)
    return Calibration(types, str(path))

"""What the review verdicts on PLT channels teach, and a fill result re-scored with a
calibration (:mod:`pltanomaly.core.calibrate` holds the model and its fit).

Verdicts are joined with the channels' ``evidence_by_type`` in ``fills/{fill}.json``; which
verdict teaches which type is :func:`pltanomaly.core.calibrate.observations_of`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.core.calibrate import THRESHOLD, Calibration, Observation, observations_of
from pltanomaly.review.labels import LabelStore, default_labels_path
from pltanomaly.review.results import ResultsError, ResultsReader


def verdict_observations(
    results_dir: str | os.PathLike[str], labels_db: str | os.PathLike[str] | None = None
) -> list[Observation]:
    """The label database's verdicts joined with the results' ``evidence_by_type``."""
    store = LabelStore(Path(labels_db or default_labels_path(results_dir)), create=False)
    return observations_from(store.all(), ResultsReader(results_dir))


def observations_from(verdicts: Iterable[Any], reader: Any) -> list[Observation]:
    """Verdicts (pltanomaly.review.labels.Verdict) joined with the results a
    pltanomaly.review.results.ResultsReader reads; verdicts on unreadable fills are left out."""
    out: list[Observation] = []
    results: dict[tuple[int, int], dict[str, Any] | None] = {}
    for v in verdicts:
        key = (v.year, v.fill)
        if key not in results:
            try:
                results[key] = reader.load_fill(v.year, v.fill)
            except ResultsError:
                results[key] = None
        result = results[key]
        channel = None if result is None else result["channels"].get(v.channel)
        if channel is not None:
            out.extend(observations_of(v.verdict, v.anomaly_type, channel))
    return out


def apply_calibration(result: Mapping[str, Any], calibration: Calibration) -> dict[str, Any]:
    """``result`` (a ``fills/{fill}.json``) re-scored with ``calibration``; a new dict.

    Events score P(bad) of their type at their evidence and are kept from 0.5 up (the others
    are dropped); the channel's ``near_misses`` (placed sub-threshold candidates) score the
    same way, and one reaching 0.5 is promoted to an event (``promoted: true``), so the
    calibration can raise recall as well as precision. A live channel scores the largest P
    over its ``evidence_by_type`` and is anomalous when it keeps or gains an event (a normal
    channel stays below 0.5, as the detector writes it). Channels without evidence (dead, or
    an older result) are left as they are.
    """
    out = json.loads(json.dumps(result))
    channels = out.get("channels") or {}
    for channel in channels.values():
        evidence = channel.get("evidence_by_type")
        if channel.get("status") == "dead" or not isinstance(evidence, Mapping) or not evidence:
            continue
        events = []
        for ev in channel.get("events") or []:
            if isinstance(ev.get("evidence"), int | float):
                ev["score"] = round(calibration.probability(ev["type"], ev["evidence"]), 6)
            if ev.get("score", 0.0) >= THRESHOLD:
                events.append(ev)
        near_misses = []
        for ev in channel.get("near_misses") or []:
            if not isinstance(ev.get("evidence"), int | float):
                near_misses.append(ev)
                continue
            ev["score"] = round(calibration.probability(ev["type"], ev["evidence"]), 6)
            if ev["score"] >= THRESHOLD:
                events.append({**ev, "promoted": True})
            else:
                near_misses.append(ev)
        if "near_misses" in channel:
            channel["near_misses"] = near_misses
        events.sort(key=lambda e: float(e.get("start", 0.0)))
        score = max(calibration.probability(t, float(x)) for t, x in evidence.items())
        score = max([score] + [float(e.get("score", 0.0)) for e in events])
        channel["events"] = events
        channel["status"] = "anomalous" if events else "normal"
        channel["score"] = round(score if events else min(score, 0.4999), 6)
    out["anomalous"] = any(c.get("status") == "anomalous" for c in channels.values())
    out["calibration"] = {"file": calibration.file, "sha256": calibration.sha256}
    return out

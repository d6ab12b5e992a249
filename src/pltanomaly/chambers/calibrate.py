"""What DT verdicts teach ``pltanomaly calibrate``: observations per DT event type.

Each DT event type is calibrated as a PLT one (:mod:`pltanomaly.core.calibrate`: logit P =
a + b ln(evidence), the same prior and fit), under its own name prefixed ``dt:`` in the
calibration file's ``types`` (``dt:dead_layer``, ...), so PLT types are untouched. A layer's
evidence for a type is the largest ``evidence`` of its events of that type; an event without
one (an older result) stands for the evidence its score means under the uncalibrated detector
(score 0.5 at evidence 1). The verdict rules are the PLT ones (``observations_of``): ``good``
teaches the types of the layer's events, ``bad`` with a type teaches that type, ``bad`` without
one (or ``other``) the layer's strongest type; a layer without events teaches nothing, nor do
skips.

The review app's DT queue ranks layers by :func:`layer_probability` under the calibration
fitted on the verdicts so far, so the verdicts steer which chamber comes next.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pltanomaly.core.calibrate import (
    Calibration,
    Observation,
    finite,
    observations_of,
    score_evidence,
)

PREFIX = "dt:"


def layer_evidence(layer: Mapping[str, Any]) -> dict[str, float]:
    """Event type -> the largest evidence of the layer's events of that type."""
    out: dict[str, float] = {}
    for ev in layer.get("events") or []:
        evidence = finite(ev.get("evidence"))
        if evidence is None and (score := finite(ev.get("score"))) is not None:
            evidence = score_evidence(score)
        if evidence is not None and isinstance(ev.get("type"), str):
            out[ev["type"]] = max(out.get(ev["type"], 0.0), evidence)
    return out


def layer_observations(
    verdict: str, fault_type: str | None, layer: Mapping[str, Any]
) -> list[Observation]:
    """What one verdict on one layer teaches, types prefixed ``dt:``."""
    as_channel = {"evidence_by_type": layer_evidence(layer), "events": layer.get("events") or []}
    return [
        Observation(PREFIX + o.type, o.evidence, o.bad)
        for o in observations_of(verdict, fault_type, as_channel)
    ]


def layer_probability(layer: Mapping[str, Any], calibration: Calibration) -> float | None:
    """P(an expert calls the layer bad): the largest calibrated P of its events' types, or,
    for a layer without events, the detector's score (None when it has none)."""
    evidence = layer_evidence(layer)
    if not evidence:
        return finite(layer.get("score"))
    return max(calibration.probability(PREFIX + t, x) for t, x in evidence.items())


def observations_from(verdicts: Iterable[Any], results: Any) -> list[Observation]:
    """Layer verdicts (:class:`~pltanomaly.chambers.labels.LayerVerdict`) joined with the run
    results a :class:`~pltanomaly.chambers.review_service.DtResults` reads; verdicts on runs,
    chambers or layers without a readable result are left out."""
    from pltanomaly.chambers.review_service import RunUnreadable, layers_of

    runs: dict[int, dict[str, Any] | None] = {}
    out: list[Observation] = []
    for v in verdicts:
        if v.run not in runs:
            try:
                runs[v.run] = results.load(v.run)
            except RunUnreadable:
                runs[v.run] = None
        layer = layers_of(((runs[v.run] or {}).get("chambers") or {}).get(v.chamber)).get(v.layer)
        if layer is not None:
            out.extend(layer_observations(v.verdict, v.fault_type, layer))
    return out


def verdict_observations(
    results_dir: str | os.PathLike[str], labels_db: str | os.PathLike[str] | None = None
) -> list[Observation]:
    """The label database's DT verdicts joined with ``{results_dir}/dt/``."""
    from pltanomaly.chambers.labels import ChamberLabels
    from pltanomaly.chambers.review_service import DtResults
    from pltanomaly.review.labels import LabelStore, default_labels_path

    store = LabelStore(Path(labels_db or default_labels_path(results_dir)), create=False)
    verdicts = ChamberLabels(store, create=False).all()
    return observations_from(verdicts, DtResults(Path(results_dir) / "dt"))

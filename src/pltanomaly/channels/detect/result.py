"""The fill result of the results contract (``fills/{fill}.json``) from an analysis."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from pltanomaly import __version__
from pltanomaly.channels.detect.errors import DetectorInputError
from pltanomaly.channels.detect.pipeline import Analysis, analyse
from pltanomaly.channels.detect.score import (
    NEAR_MISS_MIN,
    NEAR_MISSES_PER_TYPE,
    Candidate,
    evidence_score,
)
from pltanomaly.channels.detect.settings import DetectorSettings

NORMAL_SCORE_CAP = 0.4999
"""A channel without events scores below the decision score, whatever its near misses."""


def detect_fill(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> dict[str, Any]:
    """Detect the anomalies of one fill; returns the ``fills/{fill}.json`` dict.

    Raises :class:`~pltanomaly.channels.detect.DetectorInputError` for a series the detector cannot
    use (no column ``timestamp``/``channel``/``rate``, or no valid row) or invalid settings.
    """
    return detect_fill_analysis(
        series, fill=fill, year=year, settings=settings, dead_channels=dead_channels
    )[0]


def detect_fill_analysis(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> tuple[dict[str, Any], Analysis]:
    """:func:`detect_fill`, with the analysis behind it (the plot draws its ratios)."""
    analysis = analyse(series, fill=fill, year=year, settings=settings, dead_channels=dead_channels)
    result = fill_result(analysis)
    if analysis.cfg.calibration:
        from pltanomaly.channels.calibration import apply_calibration
        from pltanomaly.core.calibrate import load_calibration

        try:
            calibration = load_calibration(analysis.cfg.calibration)
        except (OSError, ValueError) as exc:
            reason = f"calibration {analysis.cfg.calibration}: {exc}"
            raise DetectorInputError(fill, reason) from exc
        result = apply_calibration(result, calibration)
    return result, analysis


def fill_result(analysis: Analysis) -> dict[str, Any]:
    """The ``fills/{fill}.json`` dict: per channel status, score, events, evidence.

    Each live channel also lists its ``near_misses``: the placed sub-threshold candidates of
    evidence 0.3 to 1 (fields of an event, ``below_threshold: true``; the strongest three per
    type), which are not events and change neither status nor score; a calibration from
    verdicts may promote them (:func:`pltanomaly.channels.calibration.apply_calibration`). Gaps and
    stuck data are in it only as their sub-threshold candidates (short runs); the ratio
    detectors add where their evidence came closest to the threshold."""
    grid, cfg = analysis.grid, analysis.cfg
    end_time = float(grid.times[-1] + grid.period)
    n_rows = len(grid.times)
    candidates: dict[int, list[Candidate]] = {ch: [] for ch in grid.channels}
    near_miss: dict[int, dict[str, float]] = {ch: {} for ch in grid.channels}
    near: dict[int, list[Candidate]] = {ch: [] for ch in grid.channels}
    for findings in analysis.findings:
        for ch, found in findings.candidates.items():
            candidates[ch].extend(found)
        for ch, found in findings.near.items():
            near[ch].extend(found)
        for ch, value in findings.near_miss.items():
            near_miss[ch][findings.type] = value
    live_columns = {ch: c for c, ch in enumerate(grid.channels) if analysis.liveness.live[c]}
    channels: dict[str, Any] = {}
    for ch in grid.channels:
        if ch not in live_columns:
            channels[str(ch)] = {
                "status": "dead",
                "score": 0.0,
                "events": [],
                "reason": analysis.liveness.reason.get(ch, "dead"),
            }
            continue
        events = [
            _event(cand, grid.times, grid.period, end_time, n_rows, cfg.score_exponent)
            for cand in candidates[ch]
            if cand.x >= 1.0
        ]
        events.sort(key=lambda e: float(e["start"]))
        near_misses = [
            {
                **_event(cand, grid.times, grid.period, end_time, n_rows, cfg.score_exponent),
                "below_threshold": True,
            }
            for cand in _strongest(
                near[ch] + [c for c in candidates[ch] if NEAR_MISS_MIN <= c.x < 1.0]
            )
        ]
        by_type = dict(near_miss[ch])
        for cand in candidates[ch]:
            by_type[cand.type] = round(max(by_type.get(cand.type, 0.0), cand.x), 4)
        best = max(
            [cand.x for cand in candidates[ch]] + [min(v, 0.999) for v in near_miss[ch].values()],
            default=0.0,
        )
        score = evidence_score(best, cfg.score_exponent)
        if not events:
            score = min(score, NORMAL_SCORE_CAP)
        entry: dict[str, Any] = {
            "status": "anomalous" if events else "normal",
            "score": round(score, 6),
            "events": events,
            "evidence": round(best, 4),
            "evidence_by_type": by_type,
            "near_misses": near_misses,
        }
        if ch in analysis.liveness.efficiency:
            entry["efficiency"] = analysis.liveness.efficiency[ch]
        column = live_columns[ch]
        if analysis.ratios is not None:
            entry["ratio_median"] = round(analysis.ratios.baseline[column], 5)
            entry["pileup"] = analysis.ratios.pileup[column]
        channels[str(ch)] = entry
    return {
        "fill": int(analysis.fill),
        "year": int(analysis.year),
        "start": float(grid.times[0]),
        "end": end_time,
        "anomalous": any(v["status"] == "anomalous" for v in channels.values()),
        "channels": channels,
        "n_nb4": int(n_rows),
        "n_live": int(analysis.liveness.live.sum()),
        "notes": analysis.notes,
        "noise_model": analysis.noise_model,
        "false_alarm_z": analysis.false_alarm_z,
        "version": __version__,
        "settings": cfg.to_dict(),
    }


def _strongest(near: list[Candidate]) -> list[Candidate]:
    """The strongest :data:`NEAR_MISSES_PER_TYPE` near misses of each type, in time order."""
    by_type: dict[str, list[Candidate]] = {}
    for cand in sorted(near, key=lambda c: -c.x):
        kept = by_type.setdefault(cand.type, [])
        if len(kept) < NEAR_MISSES_PER_TYPE:
            kept.append(cand)
    return sorted((c for kept in by_type.values() for c in kept), key=lambda c: (c.first, c.type))


def _event(
    cand: Candidate, times: Any, period: float, end_time: float, n_rows: int, exponent: float
) -> dict[str, Any]:
    last_time = float(times[cand.last]) + period
    return {
        "type": cand.type,
        "start": float(times[cand.first]),
        "end": end_time if cand.last >= n_rows - 1 else last_time,
        "score": round(evidence_score(cand.x, exponent), 6),
        "magnitude": round(float(cand.magnitude), 6),
        "unit": cand.unit,
        "evidence": round(float(cand.x), 4),
    }

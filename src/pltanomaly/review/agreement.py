"""How well the detector agrees with the human verdicts (``pltanomaly evaluate --labels``).

A labelled channel is *positive for the human* when the verdict is ``bad`` and *positive for the
detector* when its current result says ``anomalous``; ``skipped`` verdicts are ignored. Per anomaly
type T (of the human verdict):

- ``labelled``: channels the experts called bad with type T;
- ``detected``: of those, how many the detector flagged anomalous (any type);
- ``flagged``: labelled channels (good or bad) where the detector reported an event of type T;
- ``matched``: channels both bad-with-T for the human and with a T event from the detector;
- ``precision`` = matched / flagged, ``recall`` = matched / labelled, ``recall_any`` = detected /
  labelled.

``auc`` is the probability that a random bad channel has a higher detector score than a random good
one (ties count half): how well the score ranks, whatever the threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from pltanomaly.core.metrics import confusion, ratio
from pltanomaly.review.labels import ANOMALY_TYPES, LabelStore, default_labels_path
from pltanomaly.review.results import FillNotFound, FillUnreadable, ResultsReader

UNSPECIFIED = "unspecified"


def _auc(bad: list[float], good: list[float]) -> float | None:
    if not bad or not good:
        return None
    wins = 0.0
    for b in bad:
        for g in good:
            wins += 1.0 if b > g else 0.5 if b == g else 0.0
    return wins / (len(bad) * len(good))


def score_against_labels(
    results_dir: str | Path, labels_db: str | Path | None = None
) -> dict[str, Any]:
    """Compare the detector's current results with the human verdicts; see the module doc.

    ``labels_db`` defaults to ``{results_dir}.labels.sqlite``; a missing database raises
    FileNotFoundError (nothing is created).
    """
    reader = ResultsReader(results_dir)
    db = Path(labels_db) if labels_db is not None else default_labels_path(results_dir)
    store = LabelStore(db, create=False)
    verdicts = store.all()

    tp = fp = fn = tn = 0
    n_skipped = 0
    missing: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    bad_scores: list[float] = []
    good_scores: list[float] = []
    types = [*ANOMALY_TYPES, UNSPECIFIED]
    by_type: dict[str, dict[str, Any]] = {
        t: {"labelled": 0, "detected": 0, "flagged": 0, "matched": 0} for t in types
    }
    dead_labelled = 0
    fills: dict[tuple[int, int], dict[str, Any] | None] = {}

    for v in verdicts:
        if v.verdict not in ("good", "bad"):
            n_skipped += 1
            continue
        key = (v.year, v.fill)
        if key not in fills:
            try:
                fills[key] = reader.load_fill(v.year, v.fill)
            except (FillNotFound, FillUnreadable):
                fills[key] = None
        result = fills[key]
        channel = None if result is None else result["channels"].get(v.channel)
        if channel is None:
            missing.append({"year": v.year, "fill": v.fill, "channel": v.channel})
            continue
        det_pos = channel["status"] == "anomalous"
        human_pos = v.verdict == "bad"
        det_types = {ev["type"] for ev in channel["events"]}
        if channel["status"] == "dead":
            dead_labelled += 1
        if channel["score"] is not None:
            (bad_scores if human_pos else good_scores).append(channel["score"])
        if human_pos and det_pos:
            tp += 1
        elif det_pos:
            fp += 1
        elif human_pos:
            fn += 1
        else:
            tn += 1
        human_type = (v.anomaly_type or UNSPECIFIED) if human_pos else None
        for t in det_types & set(by_type):
            by_type[t]["flagged"] += 1
        if human_type is not None:
            row = by_type[human_type]
            row["labelled"] += 1
            row["detected"] += int(det_pos)
            row["matched"] += int(human_type in det_types)
        if human_pos != det_pos:
            disagreements.append(
                {
                    "year": v.year,
                    "fill": v.fill,
                    "channel": v.channel,
                    "verdict": v.verdict,
                    "anomaly_type": v.anomaly_type,
                    "detector_status": channel["status"],
                    "score": channel["score"],
                    "detector_types": sorted(det_types),
                    "comment": v.comment,
                }
            )

    for row in by_type.values():
        row["precision"] = ratio(row["matched"], row["flagged"])
        row["recall"] = ratio(row["matched"], row["labelled"])
        row["recall_any"] = ratio(row["detected"], row["labelled"])
    n_scored = tp + fp + fn + tn
    return {
        "results_dir": str(results_dir),
        "labels_db": str(db),
        "n_verdicts": len(verdicts),
        "n_scored": n_scored,
        "n_skipped": n_skipped,
        "n_missing": len(missing),
        "n_dead_labelled": dead_labelled,
        "missing": missing,
        "overall": {
            **confusion(tp, fp, fn, tn),
            "accuracy": ratio(tp + tn, n_scored),
            "auc": _auc(bad_scores, good_scores),
        },
        "by_type": {t: row for t, row in by_type.items() if row["labelled"] or row["flagged"]},
        "luminometers": _luminometers(results_dir, store),
        "disagreements": sorted(
            disagreements, key=lambda d: (-(d["score"] or 0.0), d["year"], d["fill"])
        ),
    }


def _luminometers(results_dir: str | Path, store: LabelStore) -> dict[str, Any]:
    """The luminometer cross-check vs the luminometer verdicts (pltanomaly.luminometers)."""
    from pltanomaly.luminometers.agreement import lumi_agreement
    from pltanomaly.luminometers.labels import LumiLabels
    from pltanomaly.luminometers.results import LumiResults

    return lumi_agreement(LumiResults(results_dir), LumiLabels(store))


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:5.1f}%"


def format_agreement(result: dict[str, Any], *, max_disagreements: int = 20) -> str:
    """A plain-text report of :func:`score_against_labels`."""
    o = result["overall"]
    lines = [
        f"Detector vs human verdicts ({result['labels_db']})",
        f"  verdicts: {result['n_verdicts']}  scored: {result['n_scored']}  "
        f"skipped: {result['n_skipped']}  not in results: {result['n_missing']}",
    ]
    if result["n_scored"] == 0:
        lines.append("  no good/bad verdict matches a result yet: nothing to score.")
        return "\n".join(lines) + "\n"
    auc = "n/a" if o["auc"] is None else f"{o['auc']:.3f}"
    lines += [
        f"  bad & flagged (tp) {o['tp']}   good but flagged (fp) {o['fp']}   "
        f"bad but not flagged (fn) {o['fn']}   good & not flagged (tn) {o['tn']}",
        f"  precision {_pct(o['precision'])}   recall {_pct(o['recall'])}   "
        f"accuracy {_pct(o['accuracy'])}   score AUC {auc}",
        "",
        f"  {'type':<12}{'labelled':>9}{'flagged':>9}{'matched':>9}"
        f"{'precision':>11}{'recall':>9}{'recall(any)':>13}",
    ]
    for t, row in result["by_type"].items():
        lines.append(
            f"  {t:<12}{row['labelled']:>9}{row['flagged']:>9}{row['matched']:>9}"
            f"{_pct(row['precision']):>11}{_pct(row['recall']):>9}{_pct(row['recall_any']):>13}"
        )
    if result["disagreements"]:
        lines += ["", "  disagreements (highest score first):"]
        for d in result["disagreements"][:max_disagreements]:
            score = "n/a" if d["score"] is None else f"{d['score']:.3f}"
            lines.append(
                f"    {d['year']} fill {d['fill']} ch {d['channel']:>2}: human {d['verdict']}"
                f"{'/' + d['anomaly_type'] if d['anomaly_type'] else ''}, detector "
                f"{d['detector_status']} (score {score}"
                f"{', ' + ','.join(d['detector_types']) if d['detector_types'] else ''})"
            )
        extra = len(result["disagreements"]) - max_disagreements
        if extra > 0:
            lines.append(f"    ... and {extra} more")
    return "\n".join(lines) + "\n"


def print_agreement(result: dict[str, Any], file: TextIO | None = None) -> None:
    """Print :func:`format_agreement` to ``file`` (default stdout)."""
    (file or sys.stdout).write(format_agreement(result))

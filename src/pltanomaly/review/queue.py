"""The evaluation queue: which unlabelled channel a verdict would teach the calibration most.

Each live channel's P(expert calls bad) comes from the calibration fitted on the verdicts so far
(:mod:`pltanomaly.core.calibrate`; the uncalibrated detector while there are none), for the type
that makes it most likely bad. Its predictive uncertainty is the binary entropy of the moderated
prediction ``sigmoid((m - logit t) / sqrt(1 + pi s^2 / 8))`` (MacKay), with ``m, s`` the mean
and spread of the log-odds and ``t`` the decision threshold: highest where the calibration
cannot tell on which side of the threshold the expert will put the channel, and higher where it
has seen few verdicts. The queue is ranked greedily, each pick lowering the channels of the same
fill and of the same type by ``SPREAD`` bits, so that one long fill or one type does not fill it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pltanomaly.core.calibrate import Calibration, score_evidence

#: bits by which each earlier pick of the same fill (or type) lowers a channel
SPREAD = 0.15


@dataclass(frozen=True)
class Candidate:
    """An unlabelled live channel."""

    year: int
    fill: int
    channel: int
    score: float
    status: str
    evidence_by_type: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Pick:
    candidate: Candidate
    type: str | None
    evidence: float
    p_bad: float
    p_sd: float
    uncertainty: float
    why: str = ""

    def to_json(self, threshold: float) -> dict[str, Any]:
        c = self.candidate
        return {
            "year": c.year,
            "fill": c.fill,
            "channel": c.channel,
            "score": c.score,
            "status": c.status,
            "distance": abs(c.score - threshold),
            "type": self.type,
            "evidence": self.evidence,
            "p_bad": self.p_bad,
            "p_sd": self.p_sd,
            "uncertainty": self.uncertainty,
            "why": self.why,
        }


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _entropy(p: float) -> float:
    if p <= 0 or p >= 1:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def assess(candidate: Candidate, calibration: Calibration, threshold: float) -> Pick:
    """The channel's P(bad), its spread and its predictive uncertainty at ``threshold``."""
    options: list[tuple[str | None, float]] = [
        (str(t), float(x)) for t, x in candidate.evidence_by_type.items()
    ] or [(None, score_evidence(candidate.score))]
    type_, evidence = max(options, key=lambda o: calibration.probability(o[0] or "", o[1]))
    fit = calibration.fit_for(type_ or "")
    mean, sd = fit.logit(evidence)
    moderated = 1 / (1 + math.exp(-(mean - _logit(threshold)) / math.sqrt(1 + math.pi * sd**2 / 8)))
    return Pick(
        candidate,
        type_,
        evidence,
        fit.probability(evidence),
        fit.uncertainty(evidence),
        _entropy(moderated),
    )


def _why(pick: Pick, calibration: Calibration, lowered: int) -> str:
    if pick.type is None:
        source = (
            f"no evidence_by_type in this result: score {pick.candidate.score:.3f} read as "
            f"evidence {pick.evidence:.2f} under the uncalibrated detector"
        )
    else:
        fit = calibration.types.get(pick.type)
        n = 0 if fit is None else fit.n_bad + fit.n_good
        source = f"{pick.type} evidence {pick.evidence:.2f}, {n} {pick.type} verdict(s) so far"
    text = (
        f"P(bad) = {pick.p_bad:.2f} ± {pick.p_sd:.2f} ({source}); predictive uncertainty "
        f"{pick.uncertainty:.2f} bit, the highest left"
    )
    if lowered:
        text += f" after spreading ({lowered} channel(s) of the same fill or type went first)"
    return text


def rank(
    candidates: Iterable[Candidate],
    calibration: Calibration,
    threshold: float,
    limit: int | None = None,
) -> list[Pick]:
    """The first ``limit`` (default: all) candidates in queue order, each with why it is there."""
    pool = [assess(c, calibration, threshold) for c in candidates]
    pool.sort(
        key=lambda p: (-p.uncertainty, p.candidate.year, p.candidate.fill, p.candidate.channel)
    )
    fills: Counter[tuple[int, int]] = Counter()
    types: Counter[str | None] = Counter()
    out: list[Pick] = []
    n = len(pool) if limit is None else min(limit, len(pool))
    while len(out) < n:
        best_i, best = 0, -math.inf
        for i, p in enumerate(pool):
            if p.uncertainty <= best:
                break  # sorted: nothing further can beat it, penalties only lower values
            value = p.uncertainty - SPREAD * (
                fills[(p.candidate.year, p.candidate.fill)] + types[p.type]
            )
            if value > best:
                best_i, best = i, value
        pick = pool.pop(best_i)
        lowered = fills[(pick.candidate.year, pick.candidate.fill)] + types[pick.type]
        out.append(replace(pick, why=_why(pick, calibration, lowered)))
        fills[(pick.candidate.year, pick.candidate.fill)] += 1
        types[pick.type] += 1
    return out


def precision_recall(
    verdicts: Iterable[tuple[float | None, str]], threshold: float
) -> dict[str, Any]:
    """The detector's precision and recall at ``threshold`` by the verdicts so far.

    ``verdicts``: (the detector's score when the verdict was given, ``good``/``bad``); skips and
    verdicts without a score are left out. None where a ratio has no denominator yet.
    """
    tp = fp = fn = tn = 0
    for score, verdict in verdicts:
        if score is None or verdict not in ("good", "bad"):
            continue
        flagged, bad = score >= threshold, verdict == "bad"
        tp += flagged and bad
        fp += flagged and not bad
        fn += bad and not flagged
        tn += not bad and not flagged
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "n": tp + fp + fn + tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }

"""Candidates, their evidence and the decision score shared by every detector.

A detector gives candidates with an *evidence* ``x``: its statistic over the threshold the
calibration set, so ``x = 1`` is exactly at the decision threshold and a candidate is an
event when ``x >= 1``. The score ``x**p / (1 + x**p)`` is monotone in the evidence and is
:data:`DECISION_SCORE` exactly at the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DECISION_SCORE = 0.5
"""Channels (and events) scoring at least this are anomalous."""


def evidence_score(x: float, exponent: float = 2.0) -> float:
    """Score in [0, 1] of evidence ``x`` (0.5 at ``x = 1``), monotone increasing."""
    if not np.isfinite(x) or x <= 0:
        return 1.0 if np.isposinf(x) else 0.0
    power = x**exponent
    return float(power / (1.0 + power)) if np.isfinite(power) else 1.0


@dataclass
class Candidate:
    """A possible event on one channel, over NB4 rows ``first..last`` (inclusive)."""

    type: str
    first: int
    last: int
    x: float
    magnitude: float
    unit: str


@dataclass
class Findings:
    """What one detector found on each live channel: candidates and, per channel, the
    largest evidence below 1 (how close the channel came to an event of that type)."""

    type: str
    candidates: dict[int, list[Candidate]] = field(default_factory=dict)
    near_miss: dict[int, float] = field(default_factory=dict)

    def add(self, channel: int, candidate: Candidate) -> None:
        self.candidates.setdefault(channel, []).append(candidate)

    def note(self, channel: int, evidence: np.ndarray | float) -> None:
        """Record the largest finite evidence below 1 of ``evidence`` for ``channel``."""
        values = np.atleast_1d(np.asarray(evidence, dtype=np.float64))
        below = values[np.isfinite(values) & (values < 1.0)]
        best = round(float(below.max()), 4) if below.size else 0.0
        self.near_miss[channel] = max(self.near_miss.get(channel, 0.0), best)

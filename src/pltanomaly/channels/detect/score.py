"""Candidates, their evidence and the decision score shared by every detector.

A detector gives candidates with an *evidence* ``x``: its statistic over the threshold the
calibration set, so ``x = 1`` is exactly at the decision threshold and a candidate is an
event when ``x >= 1``. The score ``x**p / (1 + x**p)`` is monotone in the evidence and is
:data:`DECISION_SCORE` exactly at the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pltanomaly.channels.detect.intervals import runs

DECISION_SCORE = 0.5
"""Channels (and events) scoring at least this are anomalous."""
NEAR_MISS_MIN = 0.3
"""Sub-threshold candidates from this evidence up are kept, with their place, as near misses
(what a calibration from verdicts may promote to events); below it the detector saw nothing."""
NEAR_MISSES_PER_TYPE = 3
"""At most this many near misses per type and channel are kept (the strongest)."""


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
    """What one detector found on each live channel: candidates, per channel the largest
    evidence below 1 (how close the channel came to an event of that type), and the placed
    sub-threshold candidates of evidence :data:`NEAR_MISS_MIN` to 1 (``near``: never events,
    they change no score)."""

    type: str
    candidates: dict[int, list[Candidate]] = field(default_factory=dict)
    near_miss: dict[int, float] = field(default_factory=dict)
    near: dict[int, list[Candidate]] = field(default_factory=dict)

    def add(self, channel: int, candidate: Candidate) -> None:
        self.candidates.setdefault(channel, []).append(candidate)

    def add_near(self, channel: int, candidate: Candidate) -> None:
        """Keep ``candidate`` as a near miss when its evidence is in [NEAR_MISS_MIN, 1)."""
        if NEAR_MISS_MIN <= candidate.x < 1.0:
            kept = self.near.setdefault(channel, [])
            kept.append(candidate)
            if len(kept) > NEAR_MISSES_PER_TYPE:
                kept.remove(min(kept, key=lambda c: c.x))

    def note(self, channel: int, evidence: np.ndarray | float) -> None:
        """Record the largest finite evidence below 1 of ``evidence`` for ``channel``."""
        values = np.atleast_1d(np.asarray(evidence, dtype=np.float64))
        below = values[np.isfinite(values) & (values < 1.0)]
        best = round(float(below.max()), 4) if below.size else 0.0
        self.near_miss[channel] = max(self.near_miss.get(channel, 0.0), best)


def peak_run(values: np.ndarray, max_rows: int | None = None) -> tuple[int, int, float] | None:
    """``(first, last, x)`` around the largest finite value below 1 of ``values`` (a
    channel's per-row evidence with its events masked out), over the rows from half the peak
    up (at most ``max_rows``, centred on the peak); None below :data:`NEAR_MISS_MIN`."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isfinite(v) & (v < 1.0), v, 0.0)
    if v.size == 0:
        return None
    k = int(np.argmax(v))
    peak = float(v[k])
    if peak < NEAR_MISS_MIN:
        return None
    first, last = next((a, b) for a, b in runs(v >= 0.5 * peak) if a <= k <= b)
    if max_rows is not None and last - first + 1 > max_rows:
        first = max(first, k - max_rows // 2)
        last = min(last, first + max_rows - 1)
    return first, last, peak

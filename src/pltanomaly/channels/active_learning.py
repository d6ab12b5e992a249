"""The learning curve of the calibration: verdicts chosen by the evaluation queue or at random.

A simulated expert answers from a generated set's truth (``bad`` when the channel's truth
status is ``anomalous``, tagged with the truth's type, ``good`` when ``normal``; dead channels
are never asked). From a *pool* set, verdicts are chosen (a) by
:func:`pltanomaly.review.queue.rank`, refitting the calibration after every ``batch`` verdicts
as the review app does, and (b) uniformly at random (several seeds). After each number of
verdicts the calibration fitted on them scores a separate *test* set, never used for
choosing, and its channel F1 is set beside the uncalibrated detector's.

Two decisions are scored. ``P >= 0.5``: a live channel is anomalous when the calibrated P(bad)
of any type in its ``evidence_by_type`` reaches 0.5. ``applied``: the channel status that
:func:`pltanomaly.channels.calibration.apply_calibration` writes: it keeps or drops the
detector's events (written at evidence >= 1) and promotes the channel's placed
``near_misses`` (evidence 0.3 to 1) that reach 0.5, so it can raise recall too.

To read the curve, :func:`threshold_ceiling` is the F1 the best per-type thresholds on the
evidence reach on the test set itself (an oracle, never used for choosing or fitting).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pltanomaly.channels.calibration import apply_calibration
from pltanomaly.core.calibrate import (
    THRESHOLD,
    Calibration,
    Observation,
    channel_evidence,
    fit,
    observations_of,
)
from pltanomaly.core.metrics import confusion, precision_recall_f1
from pltanomaly.review.queue import Candidate, rank

CHECKPOINTS = (10, 25, 40, 50, 100)
RULES = ("P >= 0.5", "applied")

#: (fill, channel) of a channel in a set
Key = tuple[int, int]


@dataclass(frozen=True)
class LabelledSet:
    """A generated set's detector results and truth, by fill."""

    year: int
    results: dict[int, dict[str, Any]]
    truth: dict[int, dict[str, Any]]

    @classmethod
    def load(cls, out: Path) -> LabelledSet:
        """``out/truth.json`` and ``out/results/fills/{fill}.json`` as built and scored by
        :func:`pltanomaly.channels.regimes.build` and :func:`~pltanomaly.channels.regimes.score`."""
        truth = json.loads((out / "truth.json").read_text())
        fills = {int(f): t for f, t in truth["fills"].items()}
        results = {
            f: json.loads((out / "results" / "fills" / f"{f}.json").read_text()) for f in fills
        }
        return cls(int(truth["year"]), results, fills)

    def truth_status(self, key: Key) -> str:
        fill, channel = key
        return str(self.truth[fill]["channels"][str(channel)]["status"])

    def channel(self, key: Key) -> dict[str, Any]:
        fill, channel = key
        return dict(self.results[fill]["channels"].get(str(channel)) or {"status": "normal"})

    def live_keys(self) -> list[Key]:
        """Channels live in the truth and in the result, in (fill, channel) order."""
        return [
            (fill, int(ch))
            for fill in sorted(self.truth)
            for ch, info in sorted(self.truth[fill]["channels"].items(), key=lambda kv: int(kv[0]))
            if info["status"] != "dead" and self.channel((fill, int(ch))).get("status") != "dead"
        ]


@dataclass(frozen=True)
class Verdict:
    key: Key
    verdict: str
    anomaly_type: str | None


def expert_verdict(pool: LabelledSet, key: Key) -> Verdict:
    """The simulated expert: the truth status, tagged with the truth's type (of several, the
    one the detector has most evidence of; no type only when the truth lists none)."""
    status = pool.truth_status(key)
    if status == "dead":
        raise ValueError(f"fill {key[0]} channel {key[1]} is dead: the expert is never asked")
    if status != "anomalous":
        return Verdict(key, "good", None)
    evidence = channel_evidence(pool.channel(key))
    fill, channel = key
    types = [e["type"] for e in pool.truth[fill]["channels"][str(channel)].get("events", [])]
    if not types:
        return Verdict(key, "bad", None)
    return Verdict(key, "bad", max(types, key=lambda t: evidence.get(t, -1.0)))


def observations(pool: LabelledSet, verdicts: Iterable[Verdict]) -> list[Observation]:
    return [
        o for v in verdicts for o in observations_of(v.verdict, v.anomaly_type, pool.channel(v.key))
    ]


def _candidate(pool: LabelledSet, key: Key) -> Candidate:
    channel = pool.channel(key)
    return Candidate(
        pool.year,
        key[0],
        key[1],
        float(channel.get("score", 0.0)),
        str(channel.get("status", "normal")),
        channel_evidence(channel),
    )


def queue_verdicts(pool: LabelledSet, n: int, batch: int = 1) -> list[Verdict]:
    """``n`` verdicts in the queue's order, the calibration refitted after every ``batch``."""
    verdicts: list[Verdict] = []
    asked: set[Key] = set()
    keys = pool.live_keys()
    while len(verdicts) < min(n, len(keys)):
        calibration = fit(observations(pool, verdicts))
        left = [_candidate(pool, k) for k in keys if k not in asked]
        for pick in rank(left, calibration, THRESHOLD, limit=min(batch, n - len(verdicts))):
            key = (pick.candidate.fill, pick.candidate.channel)
            asked.add(key)
            verdicts.append(expert_verdict(pool, key))
    return verdicts


def random_verdicts(pool: LabelledSet, n: int, seed: int) -> list[Verdict]:
    keys = pool.live_keys()
    return [expert_verdict(pool, k) for k in random.Random(seed).sample(keys, min(n, len(keys)))]


def is_anomalous(channel: Mapping[str, Any], calibration: Calibration) -> bool:
    """The ``P >= 0.5`` decision: any type's calibrated P(bad) reaches the threshold."""
    evidence = channel_evidence(channel)
    return any(calibration.probability(t, x) >= THRESHOLD for t, x in evidence.items())


def channel_confusion(
    test: LabelledSet, calibration: Calibration, rule: str = RULES[0]
) -> dict[str, float | int | None]:
    """Channel P/R/F1 of the calibrated detector on ``test`` by ``rule`` (one of :data:`RULES`)."""
    tp = fp = fn = tn = 0
    applied: dict[int, dict[str, Any]] = {}
    for fill, ch in test.live_keys():
        if rule == RULES[0]:
            predicted = is_anomalous(test.channel((fill, ch)), calibration)
        else:
            if fill not in applied:
                applied[fill] = apply_calibration(test.results[fill], calibration)
            predicted = applied[fill]["channels"][str(ch)]["status"] == "anomalous"
        bad = test.truth_status((fill, ch)) == "anomalous"
        tp += bad and predicted
        fp += predicted and not bad
        fn += bad and not predicted
        tn += not bad and not predicted
    return confusion(tp, fp, fn, tn)


def _f1(test: LabelledSet, calibration: Calibration, rule: str) -> float:
    return float(channel_confusion(test, calibration, rule)["f1"] or 0.0)


def decision_evidence(channel: Mapping[str, Any], rule: str = RULES[0]) -> dict[str, float]:
    """Per type, the evidence ``rule`` can decide a channel on: its ``evidence_by_type`` for
    ``P >= 0.5``; its events' and placed near misses' largest evidence for ``applied``."""
    if rule == RULES[0]:
        return channel_evidence(channel)
    out: dict[str, float] = {}
    for ev in list(channel.get("events") or []) + list(channel.get("near_misses") or []):
        x = ev.get("evidence")
        if isinstance(x, int | float) and not isinstance(x, bool):
            out[str(ev["type"])] = max(out.get(str(ev["type"]), 0.0), float(x))
    return out


def threshold_ceiling(test: LabelledSet, rule: str = RULES[0], passes: int = 4) -> float:
    """The best channel F1 on ``test`` of any per-type evidence thresholds (anomalous when some
    type reaches its threshold), found by coordinate ascent from the uncalibrated thresholds
    (1 for every type): what a perfect per-type calibration could reach with ``rule``'s
    evidence. For reading the curve only: it looks at the test set's truth."""
    rows = [
        (decision_evidence(test.channel(k), rule), test.truth_status(k) == "anomalous")
        for k in test.live_keys()
    ]
    types = sorted({t for ev, _ in rows for t in ev})
    thresholds = dict.fromkeys(types, 1.0)

    def f1(th: Mapping[str, float]) -> float:
        tp = fp = fn = 0
        for ev, bad in rows:
            predicted = any(x >= th[t] for t, x in ev.items())
            tp += bad and predicted
            fp += predicted and not bad
            fn += bad and not predicted
        return precision_recall_f1(tp, fp, fn)[2] or 0.0

    best = f1(thresholds)
    for _ in range(passes):
        improved = False
        for t in types:
            values = sorted({ev[t] for ev, _ in rows if t in ev and ev[t] > 0})
            for value in [*values, math.inf]:
                trial = {**thresholds, t: value}
                score = f1(trial)
                if score > best + 1e-12:
                    best, thresholds, improved = score, trial, True
        if not improved:
            break
    return best


@dataclass
class LearningCurve:
    """F1 on the test set after each number of verdicts, per decision rule."""

    counts: list[int]
    uncalibrated: dict[str, float]
    queue: dict[str, list[float]]
    random: dict[str, list[float]]
    """Mean over the random seeds."""
    random_runs: dict[str, list[list[float]]] = field(default_factory=dict)
    queue_picks: list[Verdict] = field(default_factory=list)
    pool_size: int = 0
    test_size: int = 0
    ceiling: dict[str, float] = field(default_factory=dict)
    """:func:`threshold_ceiling` per rule."""


def learning_curve(
    pool: LabelledSet,
    test: LabelledSet,
    counts: Sequence[int] = CHECKPOINTS,
    *,
    random_seeds: Sequence[int] = (0, 1, 2, 3, 4),
    batch: int = 1,
    progress: Callable[[str], None] | None = None,
) -> LearningCurve:
    """Queue and random verdicts on ``pool``, scored on ``test`` after each of ``counts``."""
    counts = sorted(counts)

    def curve(verdicts: list[Verdict]) -> dict[str, list[float]]:
        fits = [fit(observations(pool, verdicts[:k])) for k in counts]
        return {rule: [_f1(test, c, rule) for c in fits] for rule in RULES}

    picks = queue_verdicts(pool, counts[-1], batch)
    if progress:
        progress(f"queue: {len(picks)} verdicts")
    queue = curve(picks)
    runs: dict[str, list[list[float]]] = {rule: [] for rule in RULES}
    for seed in random_seeds:
        for rule, values in curve(random_verdicts(pool, counts[-1], seed)).items():
            runs[rule].append(values)
        if progress:
            progress(f"random seed {seed}")
    return LearningCurve(
        list(counts),
        {rule: _f1(test, Calibration(), rule) for rule in RULES},
        queue,
        {rule: [statistics.fmean(col) for col in zip(*v, strict=True)] for rule, v in runs.items()},
        runs,
        picks,
        len(pool.live_keys()),
        len(test.live_keys()),
        {rule: threshold_ceiling(test, rule) for rule in RULES},
    )


def goals(curve: LearningCurve, rule: str = RULES[0], margin: float = 0.02) -> dict[str, Any]:
    """The issue's goals: F1 at 50 queue verdicts above the uncalibrated detector's by at least
    ``margin``, and the queue at <= 40 verdicts reaching random's F1 at 100."""
    at = dict(zip(curve.counts, curve.queue[rule], strict=True))
    random_at = dict(zip(curve.counts, curve.random[rule], strict=True))
    out: dict[str, Any] = {}
    if 50 in at:
        out["queue_50_above_uncalibrated"] = at[50] >= curve.uncalibrated[rule] + margin
    if 100 in random_at:
        reached = [k for k in curve.counts if k <= 40 and at[k] >= random_at[100]]
        out["queue_40_reaches_random_100"] = bool(reached)
        out["queue_verdicts_to_random_100"] = min(
            (k for k in curve.counts if at[k] >= random_at[100]), default=None
        )
    return out


def format_curve(curve: LearningCurve) -> str:
    """The curve as a Markdown table: one row per number of verdicts, per rule."""
    head = "queue / random / uncalibrated / ceiling"
    lines = [
        "| verdicts | " + " | ".join(f"{head} ({r})" for r in RULES) + " |",
        "| --- |" + " --- |" * len(RULES),
    ]
    for i, k in enumerate(curve.counts):
        cells = [
            f"{curve.queue[r][i]:.3f} / {curve.random[r][i]:.3f} / {curve.uncalibrated[r]:.3f}"
            f" / {curve.ceiling.get(r, math.nan):.3f}"
            for r in RULES
        ]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curve(curve: LearningCurve, path: Path, title: str = "") -> Path:
    """F1 against verdicts, queue and random, the uncalibrated detector as a line (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(RULES), figsize=(5 * len(RULES), 4), sharey=True)
    for ax, rule in zip(axes, RULES, strict=True):
        ax.plot(curve.counts, curve.queue[rule], "o-", label="queue")
        ax.plot(curve.counts, curve.random[rule], "s--", label="random (mean)")
        ax.axhline(curve.uncalibrated[rule], color="grey", linestyle=":", label="uncalibrated")
        if rule in curve.ceiling:
            ax.axhline(curve.ceiling[rule], color="black", linestyle="--", label="ceiling")
        ax.set_xlabel("verdicts")
        ax.set_title(f"decision: {rule}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("channel F1 on the test fills")
    axes[0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""Calibration from verdicts: the map from the detector's evidence to P(an expert calls it bad).

Per anomaly type, ``logit P = a + b * ln(evidence)``, fitted by maximum a posteriori from the
verdicts of the review app (its label database) joined with the channels' ``evidence_by_type``
in ``fills/{fill}.json``. The prior is centred on the uncalibrated detector, ``a = 0, b = 2``
(score ``x**2 / (1 + x**2)``: P = 0.5 at evidence 1), so with few verdicts the calibration
keeps the detector's behaviour: ``a`` is Gaussian, and the slope is fitted as ``ln b``
(Gaussian around ``ln 2``, so ``b`` is log-normal), which keeps the map strictly increasing
with no bound for the optimum to sit on (at a bound ``b = 0`` the map is flat: P the same at
every evidence). The Laplace approximation (inverse Hessian at the optimum, in
``(a, ln b)``, carried to ``(a, b)`` by the delta method) gives the parameters' covariance,
hence the uncertainty of P at any evidence, which the evaluation queue uses.

Why a logistic fit with a prior (scipy.optimize) and not isotonic regression (scikit-learn):
isotonic regression has no prior, so twenty verdicts would replace the detector's curve by a
staircase through them, and it gives no uncertainty; the two-parameter logistic fit shrinks to
the detector's curve, is monotone by construction, extrapolates smoothly and has a posterior.

Which verdict teaches which type: a verdict teaches the types that decided the channel, not
every type with some evidence in it (a channel called good says nothing about a step whose
evidence 0.6 the detector already ignored, and counting it as a negative would pull every
type's P at evidence 1 below 0.5). ``good`` is a negative for the types of the channel's
events, or, when it has none, for its strongest type; ``bad`` with a type is a positive for
that type; ``bad`` without a type (or ``other``) is a positive for the channel's strongest
type. Evidence below :data:`MIN_INFORMATIVE` teaches nothing (the detector saw nothing there
to calibrate). Skips teach nothing.

The families gather their verdicts themselves (:mod:`pltanomaly.channels.calibration`,
:mod:`pltanomaly.chambers.calibrate`, :mod:`pltanomaly.luminometers.calibration`), and
``pltanomaly calibrate`` (:mod:`pltanomaly.calibrate_command`) writes them into one file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
#: the uncalibrated detector: logit P = 0 + 2 ln(evidence) (the prior's a and median b)
PRIOR_MEAN = (0.0, 2.0)
#: prior standard deviations of a and of ln b: about ten verdicts move the curve visibly
PRIOR_SD = (1.0, 1.5)
THRESHOLD = 0.5
MIN_EVIDENCE = 1e-6
#: evidence below this teaches nothing: the detector saw nothing of that type there
MIN_INFORMATIVE = 0.3


@dataclass(frozen=True)
class Observation:
    """One verdict as the fit sees it."""

    type: str
    evidence: float
    bad: bool


@dataclass(frozen=True)
class TypeFit:
    """logit P = a + b ln(evidence), with the covariance of (a, b)."""

    a: float
    b: float
    cov: tuple[tuple[float, float], tuple[float, float]]
    n_bad: int = 0
    n_good: int = 0

    def logit(self, evidence: float) -> tuple[float, float]:
        """(mean, standard deviation) of logit P at ``evidence``."""
        u = math.log(max(evidence, MIN_EVIDENCE))
        (caa, cab), (_, cbb) = self.cov
        var = caa + 2 * u * cab + u * u * cbb
        return self.a + self.b * u, math.sqrt(max(var, 0.0))

    def probability(self, evidence: float) -> float:
        return _sigmoid(self.logit(evidence)[0])

    def uncertainty(self, evidence: float) -> float:
        """Standard deviation of P at ``evidence`` (delta method)."""
        mean, sd = self.logit(evidence)
        p = _sigmoid(mean)
        return p * (1 - p) * sd

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "cov": [list(r) for r in self.cov],
            "n_bad": self.n_bad,
            "n_good": self.n_good,
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> TypeFit:
        """The fit :meth:`to_json` wrote."""
        cov = entry["cov"]
        return cls(
            float(entry["a"]),
            float(entry["b"]),
            ((float(cov[0][0]), float(cov[0][1])), (float(cov[1][0]), float(cov[1][1]))),
            n_bad=int(entry.get("n_bad", 0)),
            n_good=int(entry.get("n_good", 0)),
        )


PRIOR_FIT = TypeFit(
    PRIOR_MEAN[0],
    PRIOR_MEAN[1],
    ((PRIOR_SD[0] ** 2, 0.0), (0.0, (PRIOR_MEAN[1] * PRIOR_SD[1]) ** 2)),
)
"""The prior alone, its covariance of (a, b) by the delta method from (a, ln b)."""


@dataclass(frozen=True)
class Calibration:
    """Per-type fits; a type without verdicts uses the prior (the uncalibrated detector)."""

    types: dict[str, TypeFit] = field(default_factory=dict)
    file: str | None = None
    sha256: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def fit_for(self, type_: str) -> TypeFit:
        return self.types.get(type_, PRIOR_FIT)

    def probability(self, type_: str, evidence: float) -> float:
        return self.fit_for(type_).probability(evidence)

    def uncertainty(self, type_: str, evidence: float) -> float:
        return self.fit_for(type_).uncertainty(evidence)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "model": "logit P = a + b ln(evidence), Gaussian prior on (a, ln b), Laplace "
            "covariance",
            "prior": {
                "a": {"mean": PRIOR_MEAN[0], "sd": PRIOR_SD[0]},
                "ln b": {"mean": math.log(PRIOR_MEAN[1]), "sd": PRIOR_SD[1]},
            },
            **self.meta,
            "types": {t: f.to_json() for t, f in sorted(self.types.items())},
        }


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def score_evidence(score: float) -> float:
    """The evidence an uncalibrated score stands for (score = x^2 / (1 + x^2))."""
    s = min(max(score, 1e-9), 1 - 1e-9)
    return math.sqrt(s / (1 - s))


def fit_type(observations: Iterable[Observation]) -> TypeFit:
    """The MAP fit of one type's verdicts (the prior alone when there are none)."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit

    obs = list(observations)
    if not obs:
        return PRIOR_FIT
    u = np.log(np.maximum([o.evidence for o in obs], MIN_EVIDENCE))
    y = np.array([1.0 if o.bad else 0.0 for o in obs])
    # theta = (a, c = ln b)
    mean = np.array([PRIOR_MEAN[0], math.log(PRIOR_MEAN[1])])
    precision = np.diag(1.0 / np.square(PRIOR_SD))

    def loss(theta: Any) -> tuple[float, Any]:
        slope = np.exp(min(theta[1], 50.0))
        z = theta[0] + slope * u
        # -log likelihood of Bernoulli(sigmoid(z)), written stably
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        d = theta - mean
        r = expit(z) - y
        grad = np.array([np.sum(r), slope * np.sum(r * u)]) + precision @ d
        return nll + 0.5 * float(d @ precision @ d), grad

    done = minimize(loss, mean, jac=True, method="L-BFGS-B")
    a, c = (float(v) for v in done.x)
    b = math.exp(min(c, 50.0))
    p = expit(a + b * u)
    w = p * (1 - p)
    bu = b * u
    # the Hessian of the negative log posterior in (a, c), with the curvature of b = e^c
    hessian = precision + np.array(
        [
            [np.sum(w), np.sum(w * bu)],
            [np.sum(w * bu), np.sum(w * bu * bu) + np.sum((p - y) * bu)],
        ]
    )
    if np.linalg.det(hessian) <= 0 or hessian[1, 1] <= 0:  # not at a clean optimum
        hessian[1, 1] -= float(np.sum((p - y) * bu))
    jacobian = np.diag([1.0, b])  # (a, c) -> (a, b)
    cov = jacobian @ np.linalg.inv(hessian) @ jacobian
    return TypeFit(
        a,
        b,
        ((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
        n_bad=int(y.sum()),
        n_good=int(len(y) - y.sum()),
    )


def fit(observations: Iterable[Observation]) -> Calibration:
    """One fit per type seen in ``observations``."""
    by_type: dict[str, list[Observation]] = {}
    for o in observations:
        by_type.setdefault(o.type, []).append(o)
    return Calibration({t: fit_type(obs) for t, obs in sorted(by_type.items())})


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def channel_evidence(channel: Mapping[str, Any]) -> dict[str, float]:
    """A channel's ``evidence_by_type``, finite numbers only ({} when it has none)."""
    raw = channel.get("evidence_by_type")
    if not isinstance(raw, Mapping):
        return {}
    return {str(t): x for t, v in raw.items() if (x := finite(v)) is not None}


def observations_of(
    verdict: str, anomaly_type: str | None, channel: Mapping[str, Any]
) -> list[Observation]:
    """What one verdict on one channel teaches (module docstring); [] when nothing."""
    evidence = channel_evidence(channel)
    if not evidence or channel.get("status") == "dead" or verdict not in ("good", "bad"):
        return []
    strongest = max(evidence, key=lambda t: evidence[t])
    if verdict == "good":
        types = sorted({str(ev.get("type")) for ev in channel.get("events") or []} & set(evidence))
        taught = types or [strongest]
    elif anomaly_type in (None, "other"):
        taught = [strongest]
    elif anomaly_type in evidence:
        taught = [str(anomaly_type)]
    else:
        return []  # a type the detector saw no evidence of: nothing to calibrate
    bad = verdict == "bad"
    return [Observation(t, evidence[t], bad) for t in taught if evidence[t] >= MIN_INFORMATIVE]


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """A calibration file as :func:`calibrate` wrote it; ValueError when it is not one."""
    raw = Path(path).read_bytes()
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a pltanomaly calibration (version {FORMAT_VERSION})")
    types = {}
    for name, entry in (data.get("types") or {}).items():
        types[str(name)] = TypeFit.from_json(entry)
    meta = {
        k: data[k] for k in ("created", "results", "observations", "dt_observations") if k in data
    }
    return Calibration(types, str(path), hashlib.sha256(raw).hexdigest(), meta)

"""The detector settings: one validated object, built once from the config and passed on as
that object or its ``to_dict()`` form (which :meth:`DetectorSettings.from_mapping` reads back).

Thresholds are not raw cuts fitted to a generator: each calibrated detector (spike, noise,
step, drift) measures the normal spread of its statistic in the fill it is given (robustly,
across the live channels and along the fill) and calls an anomaly what stands out of it by
more than the false-alarm rate allows (:mod:`pltanomaly.channels.detect.calibration`). The ``*_min``
settings are floors an expert sets (the smallest change worth reporting), not the threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DetectorSettings:
    """Detector settings. Durations are in seconds; relative sizes are fractions of the
    channel's ratio to the reference (0.02 = 2 %)."""

    # how rare a false alarm may be
    false_alarm_rate: float = 0.001
    """Expected false events per live channel-hour, all calibrated detectors together (a
    6 h fill with 12 live channels then has a false event with probability ~7 %)."""
    # usable data
    min_level: float = 0.02
    """NB4s whose reference is below this fraction of its bright level are not judged."""
    steady_fraction: float = 0.5
    """Level detectors skip NB4s below this fraction of the reference's running maximum."""
    steady_window_s: float = 600.0
    """Window of that running maximum (longer than an emittance scan step)."""
    min_reference_channels: int = 2
    """Ratio-based detectors need at least this many other live channels."""
    # dead channels
    dead_fraction: float = 0.02
    """A channel below this fraction of the median channel's rate has no hits: dead."""
    dead_missing_fraction: float = 0.9
    """A channel missing or stuck in more than this fraction of beam-on NB4s is dead."""
    dead_scatter: float = 0.5
    """A channel whose rate scatters by more than this (relative, robust) around its level
    times the luminosity is pure noise: dead. A weak channel is noisier, not dead."""
    # data faults
    gap_min_rows: int = 2
    """Fewest consecutive missing NB4s (while most channels have theirs) for a gap."""
    stuck_min_rows: int = 3
    """Fewest consecutive repeated rows for stuck data."""
    # point anomalies
    dropout_level: float = 0.3
    """Ratio below this fraction of the channel's running level is a dropout."""
    dropout_window_s: float = 900.0
    """Window of the running level dropouts are measured against."""
    spike_min: float = 0.25
    """Smallest relative excess over the running median reported as a spike."""
    spike_max_s: float = 8.0
    """Longest spike; longer excursions are left to the level detectors."""
    spike_window_s: float = 30.0
    """Window of the running median spikes are measured against."""
    # noise
    noise_min_factor: float = 2.0
    """Smallest excess-noise variance, as a factor of the channel's normal variance."""
    noise_window_s: float = 240.0
    """Window of the running scatter."""
    noise_min_s: float = 120.0
    """Shortest excess-noise period."""
    level_jump: float = 0.02
    """NB4 pairs across a relative jump of the reference above this (scan and levelling
    steps) are not used to measure noise."""
    # pileup dependence
    pileup_window_s: float = 300.0
    """The pileup coefficient of a channel is fitted on the ratio's changes that follow the
    luminosity's within this time (scan and levelling steps), which a drift does not make."""
    # level changes
    bin_s: float = 12.0
    """The ratio is binned in medians of this length for the level detectors."""
    baseline_s: float = 1800.0
    """Ratios are normalised to 1 over the first this-many seconds of steady beam."""
    step_min: float = 0.01
    """Smallest relative step reported."""
    step_window_s: float = 300.0
    """Length of the windows compared before and after a step."""
    drift_min_change: float = 0.01
    """Smallest total relative change of a drift."""
    drift_window_s: float = 1200.0
    """Shortest drift window (drifts are looked for over this and longer windows, up to the
    whole fill)."""
    # scores
    score_exponent: float = 2.0
    """Score = x**p / (1 + x**p) for evidence x (1 = at the decision threshold)."""
    calibration: str = ""
    """A calibration file from the experts' verdicts (``pltanomaly calibrate``): scores and
    decisions become P(an expert calls it bad) per anomaly type. Empty: uncalibrated."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> DetectorSettings:
        """Settings from a mapping; unknown keys or values of the wrong kind are an error."""
        values = dict(values or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown detector setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        converted: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(getattr(cls, name), str):
                if value is None:
                    value = ""
                if not isinstance(value, str):
                    raise ValueError(f"detector setting {name} must be a file name, not {value!r}")
                converted[name] = value
                continue
            kind = int if isinstance(getattr(cls, name), int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"detector setting {name} must be a number, not {value!r}")
            if kind is int and float(value) != int(value):
                raise ValueError(f"detector setting {name} must be an integer, not {value!r}")
            if not math.isfinite(float(value)) or value < 0:
                raise ValueError(f"detector setting {name} must be finite and >= 0: {value!r}")
            converted[name] = kind(value)
        if "false_alarm_rate" in converted and not 0 < converted["false_alarm_rate"] < 1:
            raise ValueError("detector setting false_alarm_rate must be in (0, 1) per hour")
        return cls(**converted)

    @classmethod
    def of(cls, settings: DetectorSettings | Mapping[str, Any] | None) -> DetectorSettings:
        """``settings`` as a :class:`DetectorSettings` (defaults for ``None``)."""
        if isinstance(settings, DetectorSettings):
            return settings
        return cls.from_mapping(settings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_settings(path: str | Path | None) -> DetectorSettings:
    """Settings from a JSON or YAML file (a top-level ``detector:`` section is accepted)."""
    if path is None:
        return DetectorSettings()
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # type: ignore[import-untyped]

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("detector"), dict):
        data = data["detector"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: detector settings must be a mapping")
    return DetectorSettings.from_mapping(data)

"""Per-channel anomaly detector: one fill series -> the fill result of the results contract.

Each live channel is compared with the other live channels (:mod:`.reference`: the ratio to
the leave-one-out median, with the channel's pileup dependence removed), so everything
common to all channels cancels. What is normal is measured from the fill itself
(:mod:`.calibration`): each calibrated detector's threshold is the number of normal spreads
of its statistic that the false-alarm rate (``DetectorSettings.false_alarm_rate``, per live
channel-hour) allows. One module per anomaly type:

- :mod:`.faults`: ``gap`` and ``stuck`` (no reference needed);
- :mod:`.dropout`, :mod:`.spike`, :mod:`.noise`: point anomalies and excess noise;
- :mod:`.step`, :mod:`.drift`: lasting level changes, fast and slow;
- :mod:`.dead`: dead channels (configured, no hits, pure noise; weak is not dead);
- :mod:`.score`: candidates, evidence and the decision score; :mod:`.result`: the result;
- :mod:`.kernels`: numba kernels with their numpy references.

The evidence ``x`` of a candidate is its statistic over its threshold; a channel's score is
``x**p / (1 + x**p)`` of its largest evidence, so it is anomalous exactly when its score is at
least :data:`DECISION_SCORE`. Dead channels score 0.
"""

from __future__ import annotations

import importlib
from typing import Any

from pltanomaly.channels.detect.errors import DetectorInputError
from pltanomaly.channels.detect.score import DECISION_SCORE, evidence_score
from pltanomaly.channels.detect.settings import DetectorSettings, load_settings

_HEAVY = {
    "detect_fill": "pltanomaly.channels.detect.result",
    "detect_fill_analysis": "pltanomaly.channels.detect.result",
    "RatioView": "pltanomaly.channels.detect.view",
    "ratio_view": "pltanomaly.channels.detect.view",
    "view_of": "pltanomaly.channels.detect.view",
    "detect_file": "pltanomaly.channels.detect.cli",
    "register": "pltanomaly.channels.detect.cli",
}
"""Imported when first used: the settings, the error and the score need no numba or pandas
(the workflow's parse step, the CLI's help and the config check import this package)."""


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        return getattr(importlib.import_module(_HEAVY[name]), name)
    raise AttributeError(f"module 'pltanomaly.channels.detect' has no attribute {name!r}")


__all__ = [
    "DECISION_SCORE",
    "DetectorInputError",
    "DetectorSettings",
    "RatioView",
    "detect_file",
    "detect_fill",
    "detect_fill_analysis",
    "evidence_score",
    "load_settings",
    "ratio_view",
    "register",
    "view_of",
]

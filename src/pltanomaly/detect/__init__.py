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

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from pltanomaly.detect.cli import detect_file, register
from pltanomaly.detect.grid import DetectorInputError
from pltanomaly.detect.pipeline import analyse
from pltanomaly.detect.result import fill_result
from pltanomaly.detect.score import DECISION_SCORE, evidence_score
from pltanomaly.detect.settings import DetectorSettings, load_settings
from pltanomaly.detect.view import RatioView, ratio_view


def detect_fill(
    series: pd.DataFrame,
    *,
    fill: int,
    year: int,
    settings: DetectorSettings | Mapping[str, Any] | None = None,
    dead_channels: Iterable[int] = (),
) -> dict[str, Any]:
    """Detect the anomalies of one fill; returns the ``fills/{fill}.json`` dict.

    Raises :class:`DetectorInputError` for a series the detector cannot use (no column
    ``timestamp``/``channel``/``rate``, or no valid row) or invalid settings.
    """
    analysis = analyse(series, fill=fill, year=year, settings=settings, dead_channels=dead_channels)
    return fill_result(analysis)


__all__ = [
    "DECISION_SCORE",
    "DetectorInputError",
    "DetectorSettings",
    "RatioView",
    "detect_file",
    "detect_fill",
    "evidence_score",
    "load_settings",
    "ratio_view",
    "register",
]

"""``pltanomaly calibrate``: one calibration file from the verdicts on every family.

The PLT channels' and the DT chambers' event types share the ``types`` map (DT under
``dt:{type}``, :mod:`pltanomaly.chambers.calibrate`); the luminometers write their own section
(:mod:`pltanomaly.luminometers.calibration`). The model and its fit are
:mod:`pltanomaly.core.calibrate`; this module only gathers the families' verdicts.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pltanomaly.chambers import calibrate as dt
from pltanomaly.channels import calibration as channels
from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.calibrate import Calibration, fit, load_calibration
from pltanomaly.luminometers import calibration as luminometers
from pltanomaly.review.labels import add_labels_option, default_labels_path

log = logging.getLogger(__name__)


def calibrate(
    results_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    labels_db: str | os.PathLike[str] | None = None,
) -> Calibration:
    """Fit from the PLT and DT verdicts on ``results_dir`` and write the calibration file
    ``out``."""
    observations = channels.verdict_observations(results_dir, labels_db)
    dt_observations = dt.verdict_observations(results_dir, labels_db)
    calibration = fit(observations + dt_observations)
    meta = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "results": str(results_dir),
        "observations": len(observations),
        "dt_observations": len(dt_observations),
    }
    payload = {**calibration.to_json(), **meta}
    payload.update(_family_sections(results_dir, labels_db))
    write_json_atomic(Path(out), payload)
    return load_calibration(out)


def _family_sections(
    results_dir: str | os.PathLike[str], labels_db: str | os.PathLike[str] | None
) -> dict[str, Any]:
    """The families' own sections of the calibration file (luminometers: their event types,
    :mod:`pltanomaly.luminometers.calibration`); the PLT ``types`` are not touched."""
    lumi = luminometers.lumi_section(results_dir, labels_db or default_labels_path(results_dir))
    return {} if lumi is None else {luminometers.SECTION: lumi}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="fit evidence -> P(expert calls bad) per anomaly type from the review verdicts",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--results", type=Path, required=True, help="results folder")
    add_labels_option(parser)
    parser.add_argument("--out", type=Path, required=True, help="calibration file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    calibration = calibrate(args.results, args.out, args.labels)
    for name, f in sorted(calibration.types.items()):
        log.info(
            "%s: %d bad, %d good verdicts; P(bad) at evidence 1 = %.2f",
            name,
            f.n_bad,
            f.n_good,
            f.probability(1.0),
        )
    log.info("calibration written to %s (sha256 %s)", args.out, calibration.sha256)
    return 0

"""Snakemake wrapper: detect the anomalies of one fill (pltanomaly.report.detect_step)."""

import os
import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))
os.environ["PLTANOMALY_THREADS"] = str(smk.threads)

from pltanomaly.report import detect_step, job_logging  # noqa: E402

job_logging(smk.log[0])
detect_step(
    smk.params.series,
    smk.input.convert,
    smk.params.result,
    smk.output[0],
    fill=int(smk.wildcards.fill),
    year=int(smk.wildcards.year),
    settings=smk.params.settings,
    dead_channels=smk.params.dead_channels,
    min_fill_hours=smk.params.min_fill_hours,
    settings_hash=smk.params.settings_hash,
)

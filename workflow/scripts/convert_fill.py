"""Snakemake wrapper: convert one fill folder (pltanomaly.report.convert_step)."""

import os
import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))
os.environ["PLTANOMALY_THREADS"] = str(smk.threads)

from pltanomaly.report import convert_step, job_logging  # noqa: E402

job_logging(smk.log[0])
convert_step(
    smk.params.fill_dir,
    smk.params.series,
    smk.output[0],
    fill=int(smk.wildcards.fill),
    year=int(smk.wildcards.year),
    counts=smk.params.counts,
)

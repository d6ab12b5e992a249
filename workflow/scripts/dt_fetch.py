"""Snakemake wrapper: fetch one DT run from the DQM GUI (pltanomaly.chambers.job.fetch_step)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.chambers.job import fetch_step  # noqa: E402
from pltanomaly.chambers.source import dqm_source  # noqa: E402
from pltanomaly.core.steps import job_logging  # noqa: E402

job_logging(smk.log[0])
fetch_step(int(smk.wildcards.run), dqm_source(smk.config), smk.output.occupancy, smk.output.record)

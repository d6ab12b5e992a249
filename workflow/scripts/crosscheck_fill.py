"""Snakemake wrapper: one fill's luminometer cross-check, with its status record
(pltanomaly.luminometers.steps.crosscheck_step)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.core.steps import job_logging  # noqa: E402
from pltanomaly.luminometers.steps import crosscheck_step  # noqa: E402

job_logging(smk.log[0])
crosscheck_step(
    smk.params.lumi_dir,
    fill=int(smk.wildcards.fill),
    year=int(smk.wildcards.year),
    settings=smk.params.settings,
    plots=smk.params.plots,
    settings_hash=smk.params.settings_hash,
    channel_result=smk.params.channel_result,
)

"""Snakemake wrapper: a year's lumi/report.parquet, lumi/logs.json and offsets plot
(pltanomaly.luminometers.report.aggregate_lumi)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.core.steps import job_logging  # noqa: E402
from pltanomaly.luminometers.report import aggregate_lumi  # noqa: E402

job_logging(smk.log[0])
aggregate_lumi(
    int(smk.wildcards.year),
    smk.params.fills,
    smk.params.lumi_dir,
    meta={"settings_hash": smk.params.settings_hash},
    settings=smk.params.settings,
    channels_dir=smk.params.channels_dir,
)

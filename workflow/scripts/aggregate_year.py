"""Snakemake wrapper: the luminometer aggregation of the fills the fill jobs cross-checked
(pltanomaly.luminometers.report.aggregate_lumi), then a year's report.parquet, logs.json,
report table and report plots (pltanomaly.channels.report.aggregate_year) with its
luminometer verdicts."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.channels.report import aggregate_year  # noqa: E402
from pltanomaly.core.steps import job_logging  # noqa: E402
from pltanomaly.luminometers.report import aggregate_lumi  # noqa: E402

job_logging(smk.log[0])
lumi_rows = {}
if smk.params.lumi_fills:  # first: the report takes the year's luminometer verdicts
    lumi = aggregate_lumi(
        int(smk.wildcards.year),
        smk.params.lumi_fills,
        f"{smk.params.year_dir}/lumi",
        settings=smk.params.lumi_settings,
        channels_dir=f"{smk.params.year_dir}/fills",
    )
    lumi_rows = {row["fill"]: row for row in lumi.to_pylist()}
aggregate_year(
    int(smk.wildcards.year),
    smk.params.fills,
    smk.params.year_dir,
    report_out=smk.output.report,
    logs_out=smk.output.logs,
    table_out=smk.output.table,
    plots_out=smk.output.plots,
    excluded=smk.params.excluded,
    meta={"source": smk.params.source, "settings_hash": smk.params.settings_hash},
    lumi_rows=lumi_rows,
)

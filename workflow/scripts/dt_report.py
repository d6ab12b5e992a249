"""Snakemake wrapper: the DT runs' report.parquet, logs.json, report table and report plots
(pltanomaly.chambers.report.aggregate_runs)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.chambers.report import aggregate_runs  # noqa: E402
from pltanomaly.core.steps import job_logging  # noqa: E402

job_logging(smk.log[0])
aggregate_runs(
    smk.params.runs,
    smk.params.dt_dir,
    report_out=smk.output.report,
    logs_out=smk.output.logs,
    table_out=smk.output.table,
    plots_out=smk.output.plots,
    meta={"dqmgui": smk.params.dqmgui},
)

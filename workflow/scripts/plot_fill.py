"""Snakemake wrapper: plot one fill if it needs a plot (pltanomaly.report.plot_step)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.report import job_logging, plot_step  # noqa: E402

job_logging(smk.log[0])
plot_step(
    smk.params.series,
    smk.params.result,
    smk.input.detect,
    smk.params.png,
    smk.output[0],
    fill=int(smk.wildcards.fill),
    year=int(smk.wildcards.year),
    settings=smk.params.settings,
    plots=smk.params.plots,
)

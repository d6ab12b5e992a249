"""Snakemake wrapper: plot one DT run (pltanomaly.chambers.job.plot_step)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.chambers.job import plot_step  # noqa: E402
from pltanomaly.core.steps import job_logging  # noqa: E402

job_logging(smk.log[0])
plot_step(
    int(smk.wildcards.run),
    smk.input.result,
    smk.input.occupancy,
    smk.output.map,
    smk.params.chamber_dir,
    smk.output.record,
)

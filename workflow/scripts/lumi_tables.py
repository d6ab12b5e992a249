"""Snakemake wrapper: a year's brilcalc files -> one per-LS table per fill, with its status
record (pltanomaly.luminometers.steps.split_brilcalc)."""

import sys
from pathlib import Path

smk = snakemake  # type: ignore[name-defined]  # noqa: F821 (set by Snakemake)
sys.path.insert(0, str(Path(smk.scriptdir).resolve().parents[1] / "src"))

from pltanomaly.core.atomic import write_json_atomic  # noqa: E402
from pltanomaly.core.steps import job_logging  # noqa: E402
from pltanomaly.luminometers.steps import split_brilcalc  # noqa: E402

job_logging(smk.log[0])
records = split_brilcalc(
    smk.input, smk.params.lumi_dir, smk.params.fills, year=int(smk.wildcards.year)
)
write_json_atomic(smk.output[0], {str(fill): record["status"] for fill, record in records.items()})

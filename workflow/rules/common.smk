# The shared core of the workflow, done once per Snakemake invocation: the package of this
# checkout, the config validated against its one schema, the results folder, the jobs'
# Python, and the removal of temporary files left by killed writes. Each family's rules
# (channels_*.smk, ...) add their result folders to RESULT_DIRS and their targets to TARGETS.

import json
import os
import sys
import time
from pathlib import Path

_SRC = Path(workflow.basedir) / "src"
if (_SRC / "pltanomaly").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))  # the package of this checkout, as the scripts use

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

import pltanomaly
import pltanomaly.core.atomic as plt_atomic
import pltanomaly.core.config as plt_config

SCHEMA = "workflow/schemas/config.schema.yaml"  # the config's one schema

try:
    plt_config.validate_config(config, Path(workflow.basedir) / SCHEMA)
except plt_config.ConfigError as exc:
    raise WorkflowError(str(exc)) from None

RESULTS = os.path.normpath(config["results"])
PLOTS = config.get("plots", "anomalous")
PARSED = time.time()
# the fill jobs' Python: this one, or the environment's with --use-conda (as script: does)
PYTHON = "python" if workflow.deployment_settings.deployment_method else sys.executable
RESULT_DIRS = []  # folders whose stale temporary files a run removes
TARGETS = []  # what `rule all` asks for


onstart:
    # temporary files of writes killed in an earlier run (a real run only, never a dry run)
    for folder in RESULT_DIRS:
        for stale in plt_atomic.remove_stale_temps(folder, before=PARSED):
            logger.info(
                f"removed {stale}, left by a write killed in an earlier run"
            )


wildcard_constraints:
    year=r"\d{4}",
    fill=r"\d+",
    run=r"\d+",

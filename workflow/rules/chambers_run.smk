# The DT chambers family, per run: fetch -> detect -> plot, three rules grouped as "dt_run" (one
# batch job per run, or several with group-components). Separate rules, not one job, so that
# Snakemake itself decides what to redo: a new detector setting or detector code reruns
# dt_detect and dt_plot, never the fetch (the Parquet is its output); a plot change reruns
# dt_plot only. The process start-ups this costs (~1 s a step) are small beside fetching 250
# chambers.
#
# What is fetched again: at parse, the main process deletes the fetch record of every run
# whose last fetch is not final (partial, error, unknown_run: pltanomaly.chambers.fetch
# .needs_fetch), so Snakemake reruns dt_fetch for exactly those runs and the new ones. The
# records are targets of `rule all` (chambers_report.smk): Snakemake leaves a missing file
# alone when it is only an intermediate of outputs that are up to date. The new Parquet and
# record then rerun that run's detection, plot and the report. The fetch rule has no params:
# the GUI's certificate paths come from the config inside the job, so a new certificate
# refetches nothing.

import pltanomaly.chambers.fetch as dt_fetch
import pltanomaly.chambers.job as dt_job
import pltanomaly.chambers.source as dt_source
import pltanomaly.core.steps as plt_records
from pltanomaly.core.errors import InputError

DT = f"{RESULTS}/dt"
if "dt" in config:
    try:
        DT_RUNS = dt_source.dqm_source(config).runs
        DT_DETECTOR = dt_job.settings_dict(
            dt_job.detector_settings(config["dt"].get("detector"))
        )
    except InputError as exc:
        raise WorkflowError(str(exc)) from None
else:
    DT_RUNS = ()
    DT_DETECTOR = {}
if workflow.is_main_process:
    for _run in DT_RUNS:
        _record = dt_job.run_paths(DT, _run)["fetch"]
        if _record.exists() and dt_fetch.needs_fetch(_record):
            _record.unlink()
DT_RETRY = {step: plt_records.retry_tokens(DT, step) for step in ("detect", "plot")}
DT_CODE = {
    "detect": plt_config.code_hash(
        "chambers/detect",
        "chambers/features",
        "chambers/kernels",
        "chambers/production",
        "chambers/load",
        "chambers/job",
    ),
    "plot": plt_config.code_hash("chambers/plot", "chambers/load"),
}

if DT_RUNS:
    RESULT_DIRS.append(DT)


rule dt_fetch:
    output:
        occupancy=f"{DT}/{{run}}.parquet",
        record=f"{DT}/status/fetch/{{run}}.json",
    log:
        f"{DT}/logs/dt_fetch/{{run}}.log",
    benchmark:
        f"{DT}/benchmarks/dt_fetch/{{run}}.tsv"
    group:
        "dt_run"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 1000 * attempt,
    script:
        "../scripts/dt_fetch.py"


rule dt_detect:
    input:
        occupancy=f"{DT}/{{run}}.parquet",
        fetch=f"{DT}/status/fetch/{{run}}.json",
    output:
        result=f"{DT}/{{run}}.json",
        record=f"{DT}/status/detect/{{run}}.json",
    log:
        f"{DT}/logs/dt_detect/{{run}}.log",
    benchmark:
        f"{DT}/benchmarks/dt_detect/{{run}}.tsv"
    group:
        "dt_run"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        # the complete settings (defaults filled), the detector's code and the retry token
        # after an internal error: a change of any reruns detection (and plots), not fetches
        detector=DT_DETECTOR,
        code=DT_CODE["detect"],
        retry=lambda wildcards: DT_RETRY["detect"].get(int(wildcards.run), ""),
    script:
        "../scripts/dt_detect.py"


rule dt_plot:
    input:
        result=f"{DT}/{{run}}.json",
        occupancy=f"{DT}/{{run}}.parquet",
    output:
        map=f"{DT}/plots/{{run}}.png",
        record=f"{DT}/status/plot/{{run}}.json",
    log:
        f"{DT}/logs/dt_plot/{{run}}.log",
    benchmark:
        f"{DT}/benchmarks/dt_plot/{{run}}.tsv"
    group:
        "dt_run"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 1000 * attempt,
    params:
        # bad chambers' plots: plots/{run}/{chamber}.png, listed in the record
        chamber_dir=lambda wildcards, output: os.path.splitext(output.map)[0],
        code=DT_CODE["plot"],
        retry=lambda wildcards: DT_RETRY["plot"].get(int(wildcards.run), ""),
    script:
        "../scripts/dt_plot.py"

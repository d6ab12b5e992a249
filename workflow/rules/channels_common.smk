# The PLT channels family: its years, source mounts and fill discovery, done once per
# Snakemake invocation.
#
# The fills of every configured year are discovered here, at parse time, by listing the
# year's source (one folder per fill): a new fill folder becomes new jobs, a new or changed
# file rewrites its fill's manifest (sources/{fill}/files.json), which reruns its conversion.
# sshfs sources are mounted (and checked) first, by the main Snakemake process only.

import pltanomaly.channels.steps as plt_steps
import pltanomaly.channels.years as plt_years
import pltanomaly.core.steps as plt_records

# the same check as `pltanomaly config`: the schema (common.smk), then each year's detector
# settings (defaults filled in), which its params carry, so a change reruns that year's
# detection, and writing out a default value changes nothing
try:
    YEARS = plt_years.year_configs(config)
except plt_config.ConfigError as exc:
    raise WorkflowError(str(exc)) from None
DETECTOR = {year: cfg.detector.to_dict() for year, cfg in YEARS.items()}
try:
    CALIBRATION = {
        year: plt_years.calibration_digest(cfg.detector) for year, cfg in YEARS.items()
    }
except plt_config.ConfigError as exc:
    raise WorkflowError(str(exc)) from None
SETTINGS_HASH = {
    year: plt_config.settings_hash(
        {
            "detector": DETECTOR[year],
            "calibration": CALIBRATION[year],
            "dead_channels": list(cfg.dead_channels),
            "min_fill_hours": cfg.min_fill_hours,
        }
    )
    for year, cfg in YEARS.items()
}

try:
    for _message in plt_config.prepare_sources(YEARS, mount=workflow.is_main_process):
        logger.info(_message)
    _DISCOVERED = {year: plt_years.discover(cfg) for year, cfg in YEARS.items()}
except (plt_config.ConfigError, plt_config.MountError) as exc:
    raise WorkflowError(str(exc)) from None
except OSError as exc:
    raise WorkflowError(f"cannot list the fills of a source: {exc}") from None
FILLS = {year: found[0] for year, found in _DISCOVERED.items()}
EXCLUDED = {year: found[1] for year, found in _DISCOVERED.items()}
if workflow.is_main_process:
    for _year, _fills in FILLS.items():
        for _fill, _files in _fills.items():
            plt_years.write_fill_manifest(
                f"{RESULTS}/{_year}/sources/{_fill}/files.json", _files
            )
RETRY = {
    (year, step): plt_records.retry_tokens(f"{RESULTS}/{year}", step)
    for year in YEARS
    for step in plt_steps.STEPS
}
STEP_CODE = {
    "detect": plt_config.code_hash("channels/detect"),
    "lumi": plt_config.code_hash("luminometers"),
    "plot": plt_config.code_hash("channels/plot"),
}
FILL_JOB_SCRIPT = str(
    Path(workflow.basedir) / "workflow" / "scripts" / "analyse_fill.py"
)


RESULT_DIRS.extend(f"{RESULTS}/{year}" for year in YEARS)
TARGETS.extend(
    f"{RESULTS}/{year}/{name}"
    for year in YEARS
    for name in ("report.parquet", "logs.json", "report/table.html")
)


def _fills_of(wildcards):
    year, fill = int(wildcards.year), int(wildcards.fill)
    try:
        return FILLS[year][fill]
    except KeyError:
        raise WorkflowError(
            f"fill {fill} of {year} is not among the discovered fills "
            f"(source {YEARS[year].source if year in YEARS else 'not configured'})"
        ) from None


def fill_dir(wildcards):
    return str(YEARS[int(wildcards.year)].source / wildcards.fill)


def fill_fingerprint(wildcards):
    """Names, sizes and times of the fill's files (catches a file restored with an old time)."""
    return plt_years.fill_fingerprint(_fills_of(wildcards))


def fill_job(wildcards):
    """The fill's job (pltanomaly.channels.fill_job.FillJob) as JSON: every step's inputs, so a
    change of any reruns the job, which then redoes the steps it changed. The retry
    tokens change after an internal error of a step, so the next run retries it."""
    year, fill = int(wildcards.year), int(wildcards.fill)
    cfg = YEARS[year]
    spec = {
        "year": year,
        "fill": fill,
        "year_dir": f"{RESULTS}/{year}",
        "fill_dir": fill_dir(wildcards),
        "counts": cfg.counts,
        "fingerprint": fill_fingerprint(wildcards),
        "version": pltanomaly.__version__,
        "settings": DETECTOR[year],
        "dead_channels": sorted(cfg.dead_channels),
        "min_fill_hours": cfg.min_fill_hours,
        "settings_hash": SETTINGS_HASH[year],
        "plots": PLOTS,
        # the luminometer family's cross-check of the tables read in the same pass (its
        # settings from luminometers_common.smk); a year with brilcalc files checks those
        "lumi_check": year not in BRILCALC,
        "lumi_settings": LUMI_SETTINGS[year],
        "code": STEP_CODE,
        "retry": {step: RETRY[(year, step)].get(fill, "") for step in plt_steps.STEPS},
    }
    return json.dumps(spec, sort_keys=True)


def year_cfg(wildcards):
    return YEARS[int(wildcards.year)]


def settings_hash(wildcards):
    return SETTINGS_HASH[int(wildcards.year)]


def year_fills(wildcards):
    return sorted(FILLS[int(wildcards.year)])


def fill_job_records(wildcards):
    """The fills' job records, and in a year with brilcalc files the fills' cross-check
    records, whose luminometer columns the year's report gains."""
    records = [
        f"{RESULTS}/{wildcards.year}/status/fill/{fill}.json"
        for fill in year_fills(wildcards)
    ]
    if int(wildcards.year) in BRILCALC:
        records += lumi_fill_records(wildcards)
    return records


def hd5_lumi_fills(wildcards):
    """The fills whose luminometers the fill jobs cross-check (none in a brilcalc year)."""
    return [] if int(wildcards.year) in BRILCALC else year_fills(wildcards)

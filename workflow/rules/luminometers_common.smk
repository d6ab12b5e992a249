# The luminometer family's years, done once per Snakemake invocation: the brilcalc files each
# year names, the fills they hold (listed at parse, through a per-file cache, so a new fill
# in a file becomes new jobs) and the cross-check settings, whose hash reruns the check.

import pltanomaly.luminometers.sources as lumi_sources

try:
    BRILCALC = lumi_sources.brilcalc_years(config)
    LUMI_SETTINGS = (
        {  # the brilcalc years', and the fill sources' (in the PLT fill job)
            year: lumi_sources.crosscheck_settings(config, year)
            for year in set(BRILCALC) | set(YEARS)
        }
    )
    LUMI_FILLS = {
        year: lumi_sources.brilcalc_fills(paths, f"{RESULTS}/{year}/lumi/sources.json")
        for year, paths in BRILCALC.items()
    }
except plt_config.ConfigError as exc:
    raise WorkflowError(str(exc)) from None
LUMI_SETTINGS_HASH = {
    year: plt_config.settings_hash(
        {"settings": settings, "code": plt_config.code_hash("luminometers")}
    )
    for year, settings in LUMI_SETTINGS.items()
}
RESULT_DIRS.extend(f"{RESULTS}/{year}/lumi" for year in BRILCALC if year not in YEARS)
TARGETS.extend(
    f"{RESULTS}/{year}/lumi/{name}"
    for year in BRILCALC
    for name in ("report.parquet", "logs.json")
)


def lumi_dir(wildcards):
    return f"{RESULTS}/{wildcards.year}/lumi"


def brilcalc_files(wildcards):
    return [str(path) for path in BRILCALC[int(wildcards.year)]]


def lumi_fills(wildcards):
    return LUMI_FILLS[int(wildcards.year)]


def lumi_fill_records(wildcards):
    return [
        f"{RESULTS}/{wildcards.year}/lumi/status/crosscheck/{fill}.json"
        for fill in lumi_fills(wildcards)
    ]


def plt_fill_job(wildcards):
    """The PLT fill job of the same fill, when the year has a fill source: its per-channel
    result says which channels explain a PLT event of the cross-check."""
    year, fill = int(wildcards.year), int(wildcards.fill)
    if fill in FILLS.get(year, {}):
        return [f"{RESULTS}/{year}/status/fill/{fill}.json"]
    return []


def channels_dir(wildcards):
    """The PLT channel family's per-fill results of the year: they say which channels
    explain a PLT event."""
    return f"{RESULTS}/{wildcards.year}/fills"


def channel_result(wildcards):
    return f"{channels_dir(wildcards)}/{wildcards.fill}.json"

# Per-fill jobs: convert -> detect -> plot, grouped as "fill" (one batch job per fill on
# HTCondor). Each writes a status record (the tracked output, written last and atomically)
# and publishes its results-contract file only on success: fills/{fill}.parquet,
# fills/{fill}.json, plots/{fill}.png. A corrupt or empty fill gives "failed" records, never
# a failed job, so the year's aggregation always runs.


rule convert_fill:
    input:
        # the folder of the manifest of the fill's files (a new time whenever the manifest is
        # replaced, at parse, when a file is added, removed or changed; a folder, so Snakemake
        # never takes its checksum for "unchanged" after a killed job). Not the files: their
        # names may hold characters Snakemake reads as patterns.
        manifest=f"{RESULTS}/{{year}}/sources/{{fill}}",
    output:
        f"{RESULTS}/{{year}}/status/convert/{{fill}}.json",
    log:
        f"{RESULTS}/{{year}}/logs/convert_fill/{{fill}}.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/convert_fill/{{fill}}.tsv"
    group:
        "fill"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        fill_dir=fill_dir,
        series=f"{RESULTS}/{{year}}/fills/{{fill}}.parquet",
        counts=lambda wildcards: year_cfg(wildcards).counts,
        fingerprint=fill_fingerprint,
        version=pltanomaly.__version__,
        retry=retry_token("convert"),
    script:
        "../scripts/convert_fill.py"


rule detect_fill:
    input:
        convert=rules.convert_fill.output[0],
    output:
        f"{RESULTS}/{{year}}/status/detect/{{fill}}.json",
    log:
        f"{RESULTS}/{{year}}/logs/detect_fill/{{fill}}.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/detect_fill/{{fill}}.tsv"
    group:
        "fill"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        series=f"{RESULTS}/{{year}}/fills/{{fill}}.parquet",
        result=f"{RESULTS}/{{year}}/fills/{{fill}}.json",
        settings=detector_settings,
        dead_channels=lambda wildcards: list(year_cfg(wildcards).dead_channels),
        min_fill_hours=lambda wildcards: year_cfg(wildcards).min_fill_hours,
        settings_hash=settings_hash,
        code=DETECT_CODE,
        retry=retry_token("detect"),
    script:
        "../scripts/detect_fill.py"


rule plot_fill:
    input:
        detect=rules.detect_fill.output[0],
    output:
        f"{RESULTS}/{{year}}/status/plot/{{fill}}.json",
    log:
        f"{RESULTS}/{{year}}/logs/plot_fill/{{fill}}.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/plot_fill/{{fill}}.tsv"
    group:
        "fill"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        series=f"{RESULTS}/{{year}}/fills/{{fill}}.parquet",
        result=f"{RESULTS}/{{year}}/fills/{{fill}}.json",
        png=f"{RESULTS}/{{year}}/plots/{{fill}}.png",
        settings=detector_settings,
        plots=PLOTS,
        code=PLOT_CODE,
        retry=retry_token("plot"),
    script:
        "../scripts/plot_fill.py"

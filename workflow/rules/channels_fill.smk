# One job per fill: convert -> detect -> plot in one process (pltanomaly.channels.fill_job), grouped
# as "fill" (several fills per batch job on HTCondor). Each step writes its status record
# (status/{step}/{fill}.json) and publishes its results-contract file only on success:
# fills/{fill}.parquet, fills/{fill}.json, plots/{fill}.png. A corrupt or empty fill gives
# "failed" records, never a failed job, so the year's aggregation always runs.
#
# Snakemake reruns the job when its files or any step's params change; inside, a step whose
# inputs are unchanged is reused (a detector setting redoes detection and plots, never the
# conversion). The tracked output, the job's record, is written last and atomically.


rule analyse_fill:
    input:
        # the folder of the manifest of the fill's files (a new time whenever the manifest is
        # replaced, at parse, when a file is added, removed or changed; a folder, so Snakemake
        # never takes its checksum for "unchanged" after a killed job). Not the files: their
        # names may hold characters Snakemake reads as patterns.
        manifest=f"{RESULTS}/{{year}}/sources/{{fill}}",
    output:
        f"{RESULTS}/{{year}}/status/fill/{{fill}}.json",
    log:
        f"{RESULTS}/{{year}}/logs/analyse_fill/{{fill}}.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/analyse_fill/{{fill}}.tsv"
    group:
        "fill"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 45 * attempt,
        htcondor_request_mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        job=fill_job,
        # a new Python or checkout reruns the jobs, which then reuse every step
        python=PYTHON,
        script=FILL_JOB_SCRIPT,
    shell:
        "{params.python:q} {params.script:q} --log {log:q} --threads {threads} {params.job:q}"

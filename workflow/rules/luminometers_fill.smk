# The luminometer cross-check of the years that name brilcalc files: the files are read once
# per year and split into one per-LS table per fill (a broken file fails only the fills it
# would have given), then each fill is cross-checked in its own job, grouped as "lumi" on
# HTCondor. Each step writes its status records (lumi/status/{step}/{fill}.json) and
# publishes its results-contract file, lumi/{fill}.json, only on success.


rule lumi_tables:
    input:
        brilcalc_files,
    output:
        f"{RESULTS}/{{year}}/lumi/status/tables.json",
    log:
        f"{RESULTS}/{{year}}/logs/lumi_tables.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/lumi_tables.tsv"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        htcondor_request_mem_mb=4000,
    params:
        lumi_dir=lumi_dir,
        fills=lumi_fills,
    script:
        "../scripts/lumi_tables.py"


rule crosscheck_fill:
    input:
        tables=f"{RESULTS}/{{year}}/lumi/status/tables.json",
        plt_fill_job=plt_fill_job,
    output:
        f"{RESULTS}/{{year}}/lumi/status/crosscheck/{{fill}}.json",
    log:
        f"{RESULTS}/{{year}}/logs/crosscheck_fill/{{fill}}.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/crosscheck_fill/{{fill}}.tsv"
    group:
        "lumi"
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        htcondor_request_mem_mb=2000,
    params:
        lumi_dir=lumi_dir,
        settings=lambda wildcards: LUMI_SETTINGS[int(wildcards.year)],
        settings_hash=lambda wildcards: LUMI_SETTINGS_HASH[int(wildcards.year)],
        plots=PLOTS,
        channel_result=channel_result,
    script:
        "../scripts/crosscheck_fill.py"

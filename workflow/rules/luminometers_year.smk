# Per-year aggregation of the luminometer cross-check: lumi/report.parquet, lumi/logs.json,
# the year's per-fill offsets of each luminometer (lumi/offsets.png, in the report), and the
# fills whose luminometer is off against the year or judged again with the year's usual
# measures of normal (lumi/year-scale.json).


rule aggregate_lumi:
    input:
        lumi_fill_records,
    output:
        report=f"{RESULTS}/{{year}}/lumi/report.parquet",
        logs=f"{RESULTS}/{{year}}/lumi/logs.json",
        year_scale=f"{RESULTS}/{{year}}/lumi/year-scale.json",
        offsets=report(
            f"{RESULTS}/{{year}}/lumi/offsets.png",
            caption="../report/offsets.rst",
            category="Luminometers",
            subcategory="{year}",
            labels={"year": "{year}", "plot": "offsets"},
        ),
    log:
        f"{RESULTS}/{{year}}/logs/aggregate_lumi.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/aggregate_lumi.tsv"
    localrule: True
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        htcondor_request_mem_mb=2000,
    params:
        lumi_dir=lumi_dir,
        channels_dir=channels_dir,
        fills=lumi_fills,
        settings=lambda wildcards: LUMI_SETTINGS[int(wildcards.year)],
        settings_hash=lambda wildcards: LUMI_SETTINGS_HASH[int(wildcards.year)],
    script:
        "../scripts/aggregate_lumi.py"

# Per-year aggregation of the fills' status records into report.parquet and logs.json
# (results contract), plus the report table and the year's plots for `snakemake --report`;
# and of the luminometer cross-checks the fill jobs ran, into lumi/report.parquet, logs.json
# and offsets.png (a year with brilcalc files has rule aggregate_lumi for those).
# Its input is the list of discovered fills: a new fill folder reruns it.


rule aggregate_year:
    input:
        fill_jobs=fill_job_records,
    output:
        report=f"{RESULTS}/{{year}}/report.parquet",
        logs=f"{RESULTS}/{{year}}/logs.json",
        table=report(
            f"{RESULTS}/{{year}}/report/table.html",
            caption="../report/table.rst",
            category="Report tables",
            subcategory="{year}",
            labels={"year": "{year}", "table": "fills"},
        ),
        plots=report(
            directory(f"{RESULTS}/{{year}}/report/plots"),
            patterns=["{fill}.png"],
            caption="../report/plot.rst",
            category="Plots",
            subcategory="{year}",
            labels={"year": "{year}", "fill": "{fill}"},
        ),
    log:
        f"{RESULTS}/{{year}}/logs/aggregate_year.log",
    benchmark:
        f"{RESULTS}/{{year}}/benchmarks/aggregate_year.tsv"
    localrule: True
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        htcondor_request_mem_mb=2000,
    params:
        year_dir=f"{RESULTS}/{{year}}",
        fills=year_fills,
        excluded=lambda wildcards: EXCLUDED[int(wildcards.year)],
        source=lambda wildcards: str(year_cfg(wildcards).source),
        settings_hash=settings_hash,
        lumi_fills=hd5_lumi_fills,
        lumi_settings=lambda wildcards: LUMI_SETTINGS[int(wildcards.year)],
    script:
        "../scripts/aggregate_year.py"

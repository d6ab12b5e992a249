# The DT runs' aggregation into report.parquet and logs.json (pltanomaly.chambers.report), plus
# the report table and the runs' maps for `snakemake --report`. Its inputs are every configured
# run's fetch record, result and plot record: a new run, or any run redone, reruns it. The fetch
# records are targets too, so that one deleted at parse (a fetch to redo) is made again.

if DT_RUNS:
    TARGETS.extend(
        f"{DT}/{name}" for name in ("report.parquet", "logs.json", "report/table.html")
    )
    TARGETS.extend(f"{DT}/status/fetch/{run}.json" for run in DT_RUNS)


rule dt_report:
    input:
        fetches=expand(f"{DT}/status/fetch/{{run}}.json", run=DT_RUNS),
        results=expand(f"{DT}/{{run}}.json", run=DT_RUNS),
        plots=expand(f"{DT}/status/plot/{{run}}.json", run=DT_RUNS),
    output:
        report=f"{DT}/report.parquet",
        logs=f"{DT}/logs.json",
        table=report(
            f"{DT}/report/table.html",
            caption="../report/dt_table.rst",
            category="Report tables",
            subcategory="DT",
            labels={"family": "DT", "table": "runs"},
        ),
        plots=report(
            directory(f"{DT}/report/plots"),
            patterns=["{run}.png"],
            caption="../report/dt_plot.rst",
            category="Plots",
            subcategory="DT",
            labels={"family": "DT", "run": "{run}"},
        ),
    log:
        f"{DT}/logs/dt_report.log",
    benchmark:
        f"{DT}/benchmarks/dt_report.tsv"
    localrule: True
    conda:
        "../../envs/pltanomaly.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        htcondor_request_mem_mb=2000,
    params:
        dt_dir=lambda wildcards, output: os.path.dirname(output.report),
        runs=list(DT_RUNS),
        dqmgui=config.get("dt", {}).get("dqmgui"),
    script:
        "../scripts/dt_report.py"

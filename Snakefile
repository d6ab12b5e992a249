# pltanomaly: anomalies in CMS PLT data, fill by fill, year by year, and in the DT chambers'
# occupancy, run by run.
#   snakemake --cores N                                   (this machine)
#   snakemake --profile profiles/lxplus-condor            (lxplus HTCondor)
#   snakemake --cores N --configfile other.yaml           (another source tree)
#   snakemake --report report.html                        (plots + report tables)
# Layout and design: docs/DESIGN.md; outputs: results-contract.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/channels_common.smk"
include: "workflow/rules/channels_fill.smk"
include: "workflow/rules/channels_year.smk"
include: "workflow/rules/luminometers_common.smk"
include: "workflow/rules/luminometers_fill.smk"
include: "workflow/rules/luminometers_year.smk"
include: "workflow/rules/chambers_run.smk"
include: "workflow/rules/chambers_report.smk"


rule all:
    default_target: True
    input:
        TARGETS,
    localrule: True

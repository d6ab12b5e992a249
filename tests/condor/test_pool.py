"""A tiny self-contained workflow through the lxplus profile (derived) on the real test pool."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_profile
from condor_helpers import (
    SUBMITTED,
    Pool,
    render_submit_file,
    run_snakemake,
    submit_descriptions,
    write_profile,
)

pytestmark = pytest.mark.condor

TINY_SNAKEFILE = textwrap.dedent(
    """
    SAMPLES = ["a", "b"]

    rule all:
        input: "out/summary.txt"
        localrule: True

    rule make_text:
        output: "out/text/{sample}.txt"
        threads: 1
        resources: htcondor_request_mem_mb=256
        group: "tiny"
        shell: "printf 'one two three {wildcards.sample}\\\\n' > {output}"

    rule count_words:
        input: "out/text/{sample}.txt"
        output: "out/count/{sample}.txt"
        threads: 2
        resources: htcondor_request_mem_mb=256
        group: "tiny"
        run:
            import os
            words = len(open(input[0]).read().split())
            slot = os.environ.get("_CONDOR_SLOT_NAME", os.environ.get("_CONDOR_SLOT", "none"))
            with open(output[0], "w") as out:
                out.write(f"{wildcards.sample} {words} {slot}\\n")

    rule summary:
        input: expand("out/count/{sample}.txt", sample=SAMPLES)
        output: "out/summary.txt"
        localrule: True
        shell: "cat {input} > {output}"
    """
)


def test_derived_profile_differs_only_in_site_paths_and_tuning(condor_workdir: Path) -> None:
    original = make_profile.load_lxplus_profile()
    derived = make_profile.derive(
        original, jobdir=condor_workdir / "jobs", numba_cache=condor_workdir / "numba"
    )
    assert make_profile.changed_keys(original, derived) == sorted(
        ["htcondor-jobdir", "default-resources", *make_profile.TEST_TUNING]
    )
    changed = [
        (a, b)
        for a, b in zip(original["default-resources"], derived["default-resources"], strict=True)
        if a != b
    ]
    assert len(changed) == 1 and changed[0][1].startswith("environment='PLTANOMALY_NUMBA_CACHE=")


def test_tiny_workflow_on_the_pool(condor_pool: Pool, condor_workdir: Path) -> None:
    (condor_workdir / "Snakefile").write_text(TINY_SNAKEFILE)
    profile = write_profile(condor_workdir)
    args = ["--profile", str(profile), "--verbose"]
    first_cluster = condor_pool.last_cluster()

    done = run_snakemake(args, cwd=condor_workdir, env=condor_pool.env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]

    # outputs, computed in the pool's slots
    summary = (condor_workdir / "out/summary.txt").read_text().split("\n")
    rows = [line.split() for line in summary if line]
    assert [r[:2] for r in rows] == [["a", "4"], ["b", "4"]]
    assert all(r[2].startswith("slot1_") for r in rows), rows

    # one batch job per group component, each running both rules with 2 cores
    descriptions = submit_descriptions(log)
    clusters = [int(c) for c in SUBMITTED.findall(log)]
    assert len(descriptions) == len(clusters) == 2, log[-4000:]
    for cluster, description in zip(clusters, descriptions, strict=True):
        assert "--allowed-rules" in description["arguments"]
        assert "make_text" in description["arguments"]
        assert "count_words" in description["arguments"]
        assert description["request_cpus"] == "2"
        assert description["getenv"] == "True"
        # the ClassAd gets exactly one pair of quotes (no ""espresso"")
        assert description["+JobFlavour"] == '"espresso"'
        submit_file = render_submit_file(description)
        (profile.parent / "condor-jobs" / f"submit-{cluster}.sub").write_text(submit_file)
        assert '+JobFlavour = "espresso"' in submit_file.splitlines()

    # ... and the job ads the schedd kept agree (raw ClassAd values keep their quotes)
    constraint = f"ClusterId > {first_cluster}"
    ads = condor_pool.history(constraint, "ClusterId", "JobFlavour", "RequestCpus", "Owner")
    assert sorted(int(a[0]) for a in ads) == sorted(clusters)
    for _, flavour, cpus, owner in ads:
        assert flavour == '"espresso"'
        assert cpus == "2"
        assert owner == '"pltcondor"'

    # a rerun finds everything up to date and submits nothing
    again = run_snakemake(args, cwd=condor_workdir, env=condor_pool.env)
    log_again = again.stdout + again.stderr
    assert again.returncode == 0, log_again[-4000:]
    assert "Nothing to be done" in log_again
    assert not SUBMITTED.search(log_again)
    assert condor_pool.last_cluster() == max(clusters)

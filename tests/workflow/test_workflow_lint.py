"""What CI checks of the workflow's code: snakemake --lint, snakefmt, ruff on the scripts, and
the conda env against pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from wf_helpers import ROOT, fill_folders, link_tree, snakemake, write_config

BIN = Path(sys.executable).parent


def test_snakemake_lint_is_clean(tmp_path, source_tree):
    link_tree(fill_folders(source_tree / "22")[0], tmp_path / "data" / "22" / "7920")
    write_config(tmp_path, {"years": {2022: {"source": "data/22"}}})
    result = snakemake(tmp_path, "--lint", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition" in output


def test_snakefmt_check_is_clean():
    files = ["Snakefile", "workflow"]
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


PER_UNIT_RULES = {"analyse_fill", "crosscheck_fill", "dt_fetch", "dt_detect", "dt_plot"}
"""Rules run once per fill or run: grouped, so HTCondor packs several units per batch job."""
PER_YEAR_RULES = {"aggregate_year", "lumi_tables", "aggregate_lumi", "dt_report"}


def test_every_rule_has_log_benchmark_resources_and_constraints():
    text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    rules = re.split(r"^rule ", text, flags=re.MULTILINE)[1:]
    names = {r.split(":")[0] for r in rules}
    assert PER_UNIT_RULES | PER_YEAR_RULES <= names
    for rule in rules:
        name = rule.split(":")[0]
        for directive in ("log:", "benchmark:", "resources:", "conda:"):
            assert f"\n    {directive}" in rule, f"{name} lacks {directive}"
        assert "\n    script:" in rule or "\n    shell:" in rule, f"{name} runs nothing"
        for resource in ("mem_mb=", "runtime=", "htcondor_request_mem_mb="):
            assert resource in rule, f"{name} lacks {resource}"
        if name in PER_UNIT_RULES:
            assert "\n    group:" in rule, f"{name} is not grouped"
    assert "wildcard_constraints:" in text


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0].lower()


def test_conda_env_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "pltanomaly.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    normalize = lambda specs: {_requirement_name(s): s.replace(" ", "") for s in specs}  # noqa: E731
    assert normalize(pip) == normalize(pyproject["dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = pyproject["requires-python"].removeprefix(">=")
    assert f">={minimum}" in python.replace(" ", "")
    assert "conda-forge" in env["channels"]

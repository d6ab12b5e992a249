"""Derive the test pool's Snakemake profile from the lxplus one.

The test profile is ``profiles/lxplus-condor/config.yaml`` with only these keys changed:

* site paths: ``htcondor-jobdir`` (AFS on lxplus, a folder under the test's work folder
  here) and the ``PLTANOMALY_NUMBA_CACHE`` path in the ``environment`` default resource;
* test-pool tuning: ``seconds-between-status-checks: 2`` (halves wall time) and
  ``htcondor-held-timeout: 0`` (a held job fails at once instead of after the lxplus wait).

Everything else (executor, grouping, resources, flavours, restarts, keep-going, ...) is the
lxplus profile itself, so the condor tests run what lxplus runs. Usage::

    python tests/condor/make_profile.py OUT_DIR --jobdir DIR --numba-cache DIR
    snakemake --profile OUT_DIR ...
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
LXPLUS_PROFILE = REPO / "profiles" / "lxplus-condor" / "config.yaml"

SITE_KEYS = ("htcondor-jobdir", "default-resources: environment")
TEST_TUNING: dict[str, Any] = {
    "seconds-between-status-checks": 2,
    "htcondor-held-timeout": 0,
}


def load_lxplus_profile(path: Path = LXPLUS_PROFILE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        profile = yaml.safe_load(handle)
    if not isinstance(profile, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return profile


def _replace_environment(resources: list[str], numba_cache: Path) -> list[str]:
    """The ``environment`` default resource with the numba cache path replaced."""
    out = []
    found = False
    for item in resources:
        name = item.split("=", 1)[0].strip()
        if name == "environment":
            item = f"environment='PLTANOMALY_NUMBA_CACHE={numba_cache}'"
            found = True
        out.append(item)
    if not found:
        raise ValueError("the lxplus profile has no 'environment' default resource to replace")
    return out


def derive(profile: dict[str, Any], *, jobdir: Path, numba_cache: Path) -> dict[str, Any]:
    """The lxplus profile with site paths and test-pool tuning replaced (a new dict)."""
    if "htcondor-jobdir" not in profile:
        raise ValueError("the lxplus profile has no htcondor-jobdir to replace")
    derived = dict(profile)
    derived["htcondor-jobdir"] = str(jobdir)
    derived["default-resources"] = _replace_environment(
        list(profile.get("default-resources", [])), numba_cache
    )
    derived.update(TEST_TUNING)
    return derived


def changed_keys(original: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    """Top-level keys whose values differ (for tests and documentation)."""
    keys = set(original) | set(derived)
    return sorted(k for k in keys if original.get(k) != derived.get(k))


def write_test_profile(
    out_dir: Path, *, jobdir: Path, numba_cache: Path, source: Path = LXPLUS_PROFILE
) -> Path:
    """Write ``out_dir/config.yaml`` derived from the lxplus profile; return the folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    derived = derive(load_lxplus_profile(source), jobdir=jobdir, numba_cache=numba_cache)
    header = (
        f"# Derived from {source} by tests/condor/make_profile.py; do not edit.\n"
        "# Differs only in site paths and test-pool tuning: "
        + ", ".join([*SITE_KEYS, *TEST_TUNING])
        + "\n"
    )
    text = header + yaml.safe_dump(derived, sort_keys=False, default_flow_style=False)
    (out_dir / "config.yaml").write_text(text, encoding="utf-8")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="profile folder to write (config.yaml)")
    parser.add_argument("--jobdir", type=Path, required=True, help="htcondor-jobdir")
    parser.add_argument("--numba-cache", type=Path, required=True, help="PLTANOMALY_NUMBA_CACHE")
    parser.add_argument("--source", type=Path, default=LXPLUS_PROFILE, help="lxplus profile")
    args = parser.parse_args(argv)
    out = write_test_profile(
        args.out_dir,
        jobdir=args.jobdir.resolve(),
        numba_cache=args.numba_cache.resolve(),
        source=args.source,
    )
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

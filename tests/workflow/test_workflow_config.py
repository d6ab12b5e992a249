"""The workflow config: schema validation (package and Snakemake), year settings, fill
discovery, and what a user sees for a bad config."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from wf_helpers import ROOT, fill_folders, link_tree, planned, snakemake, write_config

from pltanomaly.channels import years as plt_years
from pltanomaly.channels.detect import DetectorSettings
from pltanomaly.core import config as plt_config

GOOD = {
    "results": "results",
    "years": {2022: {"source": "data/22", "dead_channels": [6, 8, 9]}},
}


def validated(config: dict) -> dict:
    return plt_config.validate_config(copy.deepcopy(config))


def test_repo_config_is_valid_and_defaults_are_filled():
    with open(ROOT / "config" / "config.yaml") as handle:
        config = yaml.safe_load(handle)
    config = plt_config.validate_config(config)
    year = config["years"]["2022"]
    assert year["source"] == "demo-data/22"
    assert year["dead_channels"] == [6, 8]  # channel 9 is weak, not dead
    assert year["min_fill_hours"] == 0 and year["counts"] == "auto"
    assert config["detector"] == {} and config["plots"] == "anomalous"


def test_issue_example_shape_is_valid():
    config = validated(GOOD)
    years = plt_years.year_configs(config)
    assert list(years) == [2022]
    assert years[2022].source == Path("data/22")
    assert years[2022].dead_channels == (6, 8, 9)
    assert years[2022].sshfs is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["years"][2022].update(dead_channels=[6, 99]), "dead_channels[1]: 99"),
        (lambda c: c["years"][2022].update(sorce="x"), "'sorce' was unexpected"),
        (lambda c: c["years"][2022].pop("source"), "'source' is a required property"),
        (lambda c: c["years"].update({"22": {"source": "x"}}), "four-digit years"),
        (lambda c: c.update(years={}), "years"),
        (lambda c: c.pop("years"), "give 'years' (the PLT family), 'dt'"),
        (lambda c: c["years"][2022].update(counts="ones"), "'ones' is not one of"),
        (lambda c: c["years"][2022].update(fills={"exclude": ["x"]}), "fills.exclude[0]"),
        (lambda c: c["years"][2022].update(min_fill_hours=-1), "min_fill_hours"),
        (lambda c: c["years"][2022].update(source=5), "not a valid source"),
        (
            lambda c: c["years"][2022].update(source={"sshfs": {"host": "h", "remote": "/r"}}),
            "'identity_file' is a required property",
        ),
        (
            lambda c: c["years"][2022].update(
                source={"sshfs": {"host": "h", "remote": "/r", "password": "x"}}
            ),
            "passwords are never used",
        ),
        (
            lambda c: c["years"][2022].update(
                source={
                    "sshfs": {
                        "host": "h",
                        "remote": "/r",
                        "auth": "kerberos",
                        "ssh_options": {"PasswordAuthentication": "yes"},
                    }
                }
            ),
            "cannot be set",
        ),
    ],
)
def test_bad_config_says_where_and_what(change, message):
    config = copy.deepcopy(GOOD)
    change(config)
    with pytest.raises(plt_config.ConfigError) as info:
        plt_config.validate_config(config)
    assert message in str(info.value)


def test_sshfs_source_defaults_and_command():
    config = copy.deepcopy(GOOD)
    config["years"][2022]["source"] = {
        "sshfs": {
            "host": "bril-gw",
            "user": "me",
            "remote": "/brildata/22",
            "identity_file": "~/.ssh/id_ed25519",
            "jump": "me@gateway",
        }
    }
    year = plt_years.year_configs(validated(config))[2022]
    assert year.sshfs is not None
    assert year.source == Path("mnt/brildata/22") == year.sshfs.mountpoint
    assert year.sshfs.target == "me@bril-gw:/brildata/22"
    command = plt_config.sshfs_command(year.sshfs)
    assert command[:5] == ["sshfs", "-p", "22", "me@bril-gw:/brildata/22", "mnt/brildata/22"]
    options = [command[i + 1] for i, part in enumerate(command) if part == "-o"]
    assert "BatchMode=yes" in options and "PasswordAuthentication=no" in options
    assert "ProxyJump=me@gateway" in options and "ro" in options
    assert f"IdentityFile={os.path.expanduser('~/.ssh/id_ed25519')}" in options


def test_per_year_detector_settings_override_the_global_ones():
    config = copy.deepcopy(GOOD)
    config["detector"] = {"step_min": 0.03, "false_alarm_rate": 0.002}
    config["years"][2022]["detector"] = {"step_min": 0.05}
    config["years"][2023] = {"source": "data/23"}
    years = plt_years.year_configs(validated(config))
    merged = {"step_min": 0.05, "false_alarm_rate": 0.002}
    assert years[2022].detector == DetectorSettings.from_mapping(merged)
    assert years[2023].detector == DetectorSettings(step_min=0.03, false_alarm_rate=0.002)
    assert years[2023].dead_channels == ()
    # validated once, here, naming the year
    config["years"][2023]["detector"] = {"bogus_setting": 3}
    with pytest.raises(plt_config.ConfigError, match=r"years\.2023 detector.*bogus_setting"):
        plt_years.year_configs(validated(config))


def test_discovery_include_exclude_and_fingerprint(tmp_path):
    source = tmp_path / "22"
    for fill, n_files in ((8001, 2), (8002, 1), (8003, 0)):
        folder = source / str(fill)
        folder.mkdir(parents=True)
        for run in range(n_files):
            (folder / f"{fill}_{run}_2207050013_2207050031.hd5").write_bytes(b"x")
        (folder / ".partial.hd5").write_bytes(b"x")  # hidden: a file being copied
        (folder / "notes.txt").write_text("x")
    (source / "truth.json").write_text("{}")
    (source / "old").mkdir()
    config = copy.deepcopy(GOOD)
    config["years"][2022]["source"] = str(source)
    year = plt_years.year_configs(validated(config))[2022]
    fills = plt_years.discover_fills(year)
    assert sorted(fills) == [8001, 8002, 8003]
    assert [Path(f).name for f in fills[8001]] == [
        "8001_0_2207050013_2207050031.hd5",
        "8001_1_2207050013_2207050031.hd5",
    ]
    assert fills[8003] == []  # an empty fill is kept (and fails, loudly)
    config["years"][2022]["fills"] = {"exclude": [8002]}
    assert plt_years.discover(plt_years.year_configs(validated(config))[2022])[1] == [8002]
    config["years"][2022]["fills"] = {"include": [8001, 8002], "exclude": [8002]}
    found, excluded = plt_years.discover(plt_years.year_configs(validated(config))[2022])
    assert (sorted(found), excluded) == ([8001], [8002, 8003])

    before = plt_years.fill_fingerprint(fills[8001])
    path = Path(fills[8001][0])
    stat = path.stat()
    path.write_bytes(b"xy")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time, other size
    assert plt_years.fill_fingerprint(fills[8001]) != before


def test_missing_source_is_a_clear_error(tmp_path):
    config = copy.deepcopy(GOOD)
    config["years"][2022]["source"] = str(tmp_path / "nowhere")
    year = plt_years.year_configs(validated(config))[2022]
    with pytest.raises(plt_config.ConfigError, match=r"nowhere .* is not a folder"):
        plt_years.discover_fills(year)


# ------------------------------------------------------------------ through Snakemake


@pytest.fixture
def small_workdir(tmp_path, source_tree):
    link_tree(fill_folders(source_tree / "22")[0], tmp_path / "data" / "22" / "7920")
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["years"][2022].update(dead_channels=[99]), "dead_channels[0]: 99"),
        (lambda c: c["years"][2022].update(sorce="x"), "'sorce' was unexpected"),
        (lambda c: c.update(detector={"step_minimum": 1}), "unknown detector setting"),
        (lambda c: c["years"][2022].update(source="data/nowhere"), "is not a folder"),
    ],
)
def test_snakemake_reports_bad_config(small_workdir, change, message):
    config = copy.deepcopy(GOOD)
    change(config)
    write_config(small_workdir, config)
    result = snakemake(small_workdir, "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output
    assert "Traceback" not in output


def test_configfile_points_the_workflow_at_another_tree(small_workdir):
    """The repo's default config plus a user's file: no edit of the workflow."""
    config = {"results": "elsewhere", "years": {2022: {"source": "data/22"}}}
    write_config(small_workdir, config, "extra.yaml")
    jobs = planned(small_workdir, configfiles=[ROOT / "config" / "config.yaml", "extra.yaml"])
    assert ("aggregate_year", (("year", "2022"),)) in jobs
    assert ("analyse_fill", (("year", "2022"), ("fill", "7920"))) in jobs


def test_default_config_runs_on_the_demo_fills(tmp_path, source_tree):
    """``snakemake`` with the repo's config/config.yaml on a checkout with demo-data/."""
    for folder in fill_folders(source_tree / "22")[:2]:
        link_tree(folder, tmp_path / "demo-data" / "22" / folder.name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    jobs = planned(tmp_path, configfiles=[])
    fills = {dict(w).get("fill") for rule, w in jobs if rule == "analyse_fill"}
    assert fills == {p.name for p in fill_folders(source_tree / "22")[:2]}


def test_config_command(tmp_path, source_tree):
    link_tree(fill_folders(source_tree / "22")[0], tmp_path / "data" / "22" / "7920")
    write_config(tmp_path, GOOD)
    command = [sys.executable, "-m", "pltanomaly.cli", "config", "config.yaml"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "2022: 1 fills, 1 files in data/22" in result.stdout
    bad = copy.deepcopy(GOOD)
    bad["years"][2022]["dead_channels"] = [16]
    write_config(tmp_path, bad)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "dead_channels[0]: 16 is greater than the maximum of 15" in result.stderr


# ------------------------------------------------------------------ odd source trees


def _numeric_setting() -> str:
    """A real detector setting (names may change; a numeric one is picked, not named)."""
    return next(k for k, v in DetectorSettings().to_dict().items() if isinstance(v, int | float))


@pytest.mark.parametrize(
    "detector",
    [{"bogus_setting": 3}, {_numeric_setting(): -5}, {_numeric_setting(): "many"}],
    ids=["unknown", "negative", "not-a-number"],
)
def test_one_validation_for_the_workflow_and_the_config_command(small_workdir, detector):
    config = copy.deepcopy(GOOD)
    config["years"][2022]["detector"] = detector
    with pytest.raises(plt_config.ConfigError, match=r"years\.2022 detector settings"):
        plt_years.load_years(copy.deepcopy(config))
    write_config(small_workdir, config)
    command = [sys.executable, "-m", "pltanomaly.cli", "config", "config.yaml"]
    done = subprocess.run(command, cwd=small_workdir, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "years.2022 detector settings" in done.stderr, done.stdout
    result = snakemake(small_workdir, "-n", check=False)
    assert result.returncode != 0
    assert "years.2022 detector settings" in result.stdout + result.stderr


def test_config_command_without_mount_says_so_for_an_sshfs_source(tmp_path):
    key = tmp_path / "key"
    key.write_text("not a key")
    config = copy.deepcopy(GOOD)
    config["years"][2022]["source"] = {
        "sshfs": {"host": "h", "remote": "/r", "identity_file": str(key), "mountpoint": "m"}
    }
    write_config(tmp_path, config)
    command = [sys.executable, "-m", "pltanomaly.cli", "config", "config.yaml"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "(not mounted; use --mount)" in done.stdout and "batch" not in done.stdout


def test_config_command_invalid_yaml_is_one_line(tmp_path):
    (tmp_path / "config.yaml").write_text("years: {2022: [\n")
    command = [sys.executable, "-m", "pltanomaly.cli", "config", "config.yaml"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("pltanomaly config: config.yaml: line")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_report_command_on_a_missing_folder_is_one_line(tmp_path):
    command = [sys.executable, "-m", "pltanomaly.cli", "report", str(tmp_path / "2022")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no such results folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_symlink_loops_fail_only_their_fill(tmp_path, source_tree):
    data = tmp_path / "data" / "22"
    link_tree(fill_folders(source_tree / "22")[0], data / "7920")
    os.symlink("8024", data / "8024")  # a fill folder linking to itself
    (data / "8025").mkdir()
    os.symlink("loop.hd5", data / "8025" / "loop.hd5")
    (data / "7920" / "._7920.hd5").write_bytes(b"\x00\x05\x16\x07")  # hidden: not a file
    year = plt_years.YearConfig(year=2022, source=data)
    fills = plt_years.discover_fills(year)
    assert sorted(fills) == [7920, 8024, 8025]
    assert fills[8024] == [] and [Path(f).name for f in fills[8025]] == ["loop.hd5"]
    assert all(not Path(f).name.startswith(".") for f in fills[7920])
    plt_years.fill_fingerprint(fills[8025])  # a loop is fingerprinted, not raised
    write_config(tmp_path, GOOD)
    command = [sys.executable, "-m", "pltanomaly.cli", "config", "config.yaml"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "2022: 3 fills" in done.stdout


def test_recovery_advice_names_unlock_and_rerun_incomplete():
    text = " ".join((ROOT / "config" / "README.md").read_text().split())
    assert "snakemake --unlock" in text and "--rerun-incomplete" in text


def test_calibration_digest_follows_the_file_content(tmp_path):
    path = tmp_path / "cal.json"
    assert plt_years.calibration_digest(DetectorSettings()) == ""
    path.write_text('{"version": 1, "types": {}}')
    first = plt_years.calibration_digest(DetectorSettings(calibration=str(path)))
    path.write_text('{"version": 1, "types": {"step": {}}}')
    second = plt_years.calibration_digest(DetectorSettings(calibration=str(path)))
    assert first and second and first != second
    with pytest.raises(plt_config.ConfigError, match=r"none\.json"):
        plt_years.calibration_digest(DetectorSettings(calibration=str(tmp_path / "none.json")))

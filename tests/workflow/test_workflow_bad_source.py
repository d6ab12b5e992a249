"""The bad-source matrix: one real run over a year holding every odd thing a source tree may
hold beside good fills; the year completes, each odd fill fails (or is processed) alone with
its own reason, and nothing half-written or stale stays in the results."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (blosc filter, to rewrite the copied files)
import pytest
from wf_helpers import fill_folders, link_tree, planned, read_logs, snakemake, write_config

YEAR = 2022
# fill -> (what the folder holds, the status and a piece of the reason the run must give)
FAILING = {
    8024: "symbolic link loop",  # the folder links to itself
    8025: "loop.hd5: cannot stat file (a symbolic link loop)",
    8070: "timestamp before 2008 or in the future",
    8071: "channel id above 15",
    8072: "zero timestamp",
    8080: "no .hd5 file",
}
ODD_NAMES = {8053: "8053_<run>_2207050057.hd5", 8054: "8054_{fill}_x.hd5"}
HIDDEN = 8060
STALE = ("fills/.7000.parquet.abcd1234.tmp", "status/convert/.7000.json.k2j4h5g6.tmp")


def _rewritten(source: Path, target: Path, column: str, value: int) -> None:
    """A copy of ``source`` with every row's ``column`` set to ``value``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        table = handle["pltaggzero"]
        records = table[:]
        records[column] = value
        if column == "timestampsec" and value == 0:
            records["timestampmsec"] = 0
        table[:] = records


@pytest.fixture(scope="module")
def bad_source_run(tmp_path_factory, source_tree):
    workdir = tmp_path_factory.mktemp("bad-source")
    data = workdir / "data" / "22"
    folders = fill_folders(source_tree / "22")
    good = folders[:2]
    for folder in good:
        link_tree(folder, data / folder.name)
    first = sorted(good[0].glob("*.hd5"))[0]
    os.symlink("8024", data / "8024")
    (data / "8025").mkdir()
    os.symlink("loop.hd5", data / "8025" / "loop.hd5")
    _rewritten(first, data / "8070" / first.name, "timestampsec", 4_200_000_000)  # 2103
    _rewritten(first, data / "8071" / first.name, "channelid", 200)
    _rewritten(first, data / "8072" / first.name, "timestampsec", 0)
    (data / "8080").mkdir()
    for fill, name in ODD_NAMES.items():
        (data / str(fill)).mkdir()
        os.link(first, data / str(fill) / name)
    link_tree(good[1], data / str(HIDDEN))
    (data / str(HIDDEN) / "._8060_1_2207050000_2207050100.hd5").write_bytes(b"\0\5\26\7")
    year_dir = workdir / "results" / str(YEAR)
    for name in STALE:  # left by writes killed in an earlier run
        (year_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (year_dir / name).write_text("half")
        os.utime(year_dir / name, (1e9, 1e9))
    write_config(workdir, {"results": "results", "years": {YEAR: {"source": "data/22"}}})
    result = snakemake(workdir, check=False, timeout=900)
    return workdir, [int(p.name) for p in good], result


def test_the_year_completes(bad_source_run):
    workdir, _, result = bad_source_run
    assert result.returncode == 0, result.stderr[-5000:]
    assert (workdir / "results" / str(YEAR) / "report.parquet").is_file()


def test_good_and_odd_fills_each_get_their_own_status(bad_source_run):
    workdir, good, _ = bad_source_run
    fills = read_logs(workdir, YEAR)["fills"]
    expected = {*good, *FAILING, *ODD_NAMES, HIDDEN}
    assert {int(fill) for fill in fills} == expected
    for fill in [*good, *ODD_NAMES, HIDDEN]:  # odd names and hidden files: processed normally
        assert fills[str(fill)]["status"] == "ok", (fill, fills[str(fill)])
    for fill, reason in FAILING.items():
        entry = fills[str(fill)]
        assert entry["status"] == "failed" and reason in entry["reason"], (fill, entry)
    reasons = [fills[str(fill)]["reason"] for fill in FAILING]
    assert len(set(reasons)) == len(reasons)


def test_nothing_half_written_or_stale_stays(bad_source_run):
    workdir, _, _ = bad_source_run
    leftovers = [p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    series = {p.stem for p in (workdir / "results" / str(YEAR) / "fills").glob("*.parquet")}
    assert not series & {str(fill) for fill in FAILING}


def test_a_rerun_plans_nothing(bad_source_run):
    workdir, _, _ = bad_source_run
    assert planned(workdir) == set()

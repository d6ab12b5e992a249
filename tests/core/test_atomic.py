"""Atomic writes, directly beside the target or staged in a job's local scratch folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pltanomaly.core.atomic import _temp_beside, atomic_path, remove_stale_temps, write_json_atomic


@pytest.fixture(autouse=True)
def no_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PLTANOMALY_STAGE_DIR", "_CONDOR_SCRATCH_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_written_beside_the_target_and_renamed(tmp_path: Path) -> None:
    target = tmp_path / "out" / "8000.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["8000.json"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "8000.json"
    write_json_atomic(target, {"old": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n "old": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["8000.json"]


@pytest.mark.parametrize("variable", ["PLTANOMALY_STAGE_DIR", "_CONDOR_SCRATCH_DIR"])
def test_staged_in_local_scratch_then_copied_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    scratch, results = tmp_path / "scratch", tmp_path / "results"
    scratch.mkdir()
    monkeypatch.setenv(variable, str(scratch))
    target = results / "fills" / "8000.parquet"
    with atomic_path(target) as tmp:
        assert tmp.parent == scratch  # the job writes locally, not on AFS/EOS
        tmp.write_bytes(b"x" * 1000)
        assert not target.parent.exists() or not any(target.parent.iterdir())
    assert target.read_bytes() == b"x" * 1000
    assert list(scratch.iterdir()) == [] and [p.name for p in target.parent.iterdir()] == [
        "8000.parquet"
    ]
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("killed")
    assert target.read_bytes() == b"x" * 1000
    assert list(scratch.iterdir()) == [] and [p.name for p in target.parent.iterdir()] == [
        "8000.parquet"
    ]


def test_missing_stage_folder_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_CONDOR_SCRATCH_DIR", str(tmp_path / "gone"))
    with atomic_path(tmp_path / "a.txt") as tmp:
        assert tmp.parent == tmp_path
        tmp.write_text("ok")
    assert (tmp_path / "a.txt").read_text() == "ok"


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path: Path) -> None:
    fills = tmp_path / "2022" / "fills"
    fills.mkdir(parents=True)
    stale = _temp_beside(fills / "8000.parquet")  # the name a killed write leaves
    stale.write_text("half")
    os.utime(stale, (1e9, 1e9))
    fresh = _temp_beside(fills / "8001.parquet")  # a write of the running run
    other = fills / ".notes.tmp"
    other.write_text("not ours")
    os.utime(other, (1e9, 1e9))
    assert remove_stale_temps(tmp_path / "2022", before=time.time() - 60) == [stale]
    assert not stale.exists() and fresh.exists() and other.exists()

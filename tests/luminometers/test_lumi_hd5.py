"""The luminometer tables of the BRIL files: reading, the same pass as /pltaggzero, LS bins."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from lumi_files import T0, lumi_records, plt_records, write_file

from pltanomaly.channels.convert import EmptyFillError, convert_fill, lumi_path
from pltanomaly.channels.io import BrilFileError, open_bril_file
from pltanomaly.luminometers.hd5 import (
    LUMI_TABLES,
    PLT_CHANNELS,
    channel_total,
    lumi_per_ls,
    read_lumi_series,
    read_lumi_tables,
)


def read(path: Path) -> dict:
    with open_bril_file(path) as handle:
        return read_lumi_tables(handle, path)


def test_every_table_present_is_read_with_its_log_name(tmp_path: Path) -> None:
    tables = {
        name: lumi_records(20, float(i + 1), per_bunch=name != "dtlumi")
        for i, name in enumerate(LUMI_TABLES)
    }
    got = read(write_file(tmp_path / "a.hd5", plt_records(2), tables))
    assert sorted(got) == sorted(
        ["pltzero", "hfoc", "hfet", "bcm1f", "bcm1fsi", "bcm1futca", "dt", "ramses"]
    )
    for i, (name, luminometer) in enumerate(LUMI_TABLES.items()):
        rows = got[luminometer]
        assert rows.table == name and len(rows) == 20
        assert rows.ls.tolist() == [1] * 16 + [2] * 4
        assert rows.nb[:3].tolist() == [4, 8, 12]
        assert rows.timestamp[1] == pytest.approx(T0 + 1.4576, abs=1e-3)
        if name == "dtlumi":  # avgraw only
            assert np.isnan(rows.avg).all() and (rows.avgraw == i + 1).all()
        else:
            assert (rows.avg == i + 1).all() and (rows.avgraw == 2 * (i + 1)).all()


def test_absent_and_mixed_tables(tmp_path: Path) -> None:
    assert read(write_file(tmp_path / "none.hd5", plt_records(1), {})) == {}
    mixed = read(
        write_file(
            tmp_path / "mixed.hd5",
            None,
            {"hfoclumi": lumi_records(5, 3.0), "remuslumi": lumi_records(0, 1.0)},
        )
    )
    assert sorted(mixed) == ["hfoc", "ramses"]
    assert len(mixed["hfoc"]) == 5 and len(mixed["ramses"]) == 0


def test_only_the_needed_columns_are_read(tmp_path: Path, monkeypatch) -> None:
    path = write_file(tmp_path / "a.hd5", None, {"hfoclumi": lumi_records(5, 3.0)})
    asked: list[list[str]] = []
    original = h5py.Dataset.fields

    def spy(self, names):
        asked.append(list(names))
        return original(self, names)

    monkeypatch.setattr(h5py.Dataset, "fields", spy)
    read(path)
    assert asked and not {"bx", "bxraw"} & set(asked[0])
    assert {"avg", "avgraw", "runnum", "lsnum", "nbnum"} <= set(asked[0])


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (np.zeros(5, dtype=[("runnum", "<u4"), ("avg", "<f4")]), "lacks columns lsnum"),
        (np.zeros(5, dtype="<f4"), "not a compound table"),
        (
            np.zeros(
                5,
                dtype=[
                    (n, "<u4")
                    for n in ("runnum", "lsnum", "nbnum", "timestampsec", "timestampmsec")
                ]
                + [("avg", "S8")],
            ),
            "column avg has dtype",
        ),
        (
            np.zeros(5, dtype=[(n, "<f8") for n in ("runnum", "lsnum", "nbnum")]),
            "lacks columns timestampsec",
        ),
    ],
)
def test_a_bad_table_fails_naming_file_and_table(tmp_path: Path, data, says: str) -> None:
    path = write_file(tmp_path / "bad.hd5", None, {"hfetlumi": data})
    with pytest.raises(BrilFileError, match=says) as caught:
        read(path)
    assert caught.value.path == path and "/hfetlumi" in str(caught.value)


def test_a_corrupt_table_fails_naming_file_and_table(tmp_path: Path) -> None:
    path = write_file(tmp_path / "bad.hd5", None, {"bcm1flumi": lumi_records(300, 1.0)})
    with h5py.File(path, "r") as handle:
        chunk = handle["bcm1flumi"].id.get_chunk_info(1)
    with path.open("r+b") as raw:  # garbage over the second compressed chunk
        raw.seek(chunk.byte_offset)
        raw.write(b"\xff" * chunk.size)
    with pytest.raises(BrilFileError, match="cannot read /bcm1flumi") as caught:
        read(path)
    assert caught.value.path == path


def fill_with_tables(tmp_path: Path) -> Path:
    fill_dir = tmp_path / "8000"
    write_file(
        fill_dir / "8000_356000_2207010000_2207010100.hd5",
        plt_records(32, seed=1),
        {"hfoclumi": lumi_records(32, 5.0), "dtlumi": lumi_records(32, 4.0, per_bunch=False)},
    )
    write_file(
        fill_dir / "8000_356001_2207010100_2207010200.hd5",
        plt_records(16, run=356001, seed=2),
        {"hfoclumi": lumi_records(16, 6.0, run=356001)},
    )
    return fill_dir


def test_conversion_writes_both_series_opening_each_file_once(tmp_path: Path, monkeypatch) -> None:
    fill_dir = fill_with_tables(tmp_path)
    opened: Counter[str] = Counter()
    real = h5py.File

    def counting(path, *args, **kwargs):
        opened[Path(path).name] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", counting)
    out = tmp_path / "fills" / "8000.parquet"
    summary = convert_fill(fill_dir, out, lumi_out=lumi_path(out))
    monkeypatch.undo()
    assert len(opened) == 2 and set(opened.values()) == {1}
    assert lumi_path(out) == tmp_path / "fills" / "8000.lumi.parquet"
    lumi = read_lumi_series(lumi_path(out))
    assert list(lumi.columns) == [
        "timestamp",
        "run",
        "ls",
        "nb",
        "luminometer",
        "avg",
        "avgraw",
        "stable",
    ]
    assert lumi["stable"].all()  # no /beam status in these files: unknown, counted stable
    assert lumi["timestamp"].is_monotonic_increasing
    counts = lumi["luminometer"].value_counts().to_dict()
    assert counts == {"hfoc": 48, "dt": 32, PLT_CHANNELS: 48}
    assert summary.luminometers == counts and summary.lumi_output == str(lumi_path(out))
    hfoc = lumi[lumi["luminometer"] == "hfoc"]
    assert hfoc.loc[hfoc["run"] == 356001, "avg"].eq(6.0).all()
    # the PLT total is the sum of the channels' rates of the fill series
    series = pd.read_parquet(out)
    total = series.groupby(["run", "ls", "nb"])["rate"].sum().to_numpy()
    plt = lumi[lumi["luminometer"] == PLT_CHANNELS].sort_values(["run", "ls", "nb"])
    np.testing.assert_allclose(plt["avg"].to_numpy(), total, rtol=1e-6)
    # the PLT series is the same without luminometers, and no luminometer file is written
    plain = tmp_path / "plain" / "8000.parquet"
    convert_fill(fill_dir, plain)
    assert not lumi_path(plain).exists()
    pd.testing.assert_frame_equal(pd.read_parquet(plain), series)


def test_fill_without_plt_rows_still_writes_its_luminometers(tmp_path: Path) -> None:
    fill_dir = tmp_path / "8000"
    write_file(
        fill_dir / "8000_356000_2207010000_2207010100.hd5", None, {"hfetlumi": lumi_records(4, 1.0)}
    )
    out = tmp_path / "8000.parquet"
    with pytest.raises(EmptyFillError):
        convert_fill(fill_dir, out, lumi_out=lumi_path(out))
    assert read_lumi_series(lumi_path(out))["luminometer"].tolist() == ["hfet"] * 4


def test_channel_total_scales_up_an_nb4_with_a_missing_channel() -> None:
    n = 3
    channel = np.tile(np.arange(4), n)
    rate = np.tile([10.0, 20.0, 30.0, 0.0], n)  # channel 3 dead
    keep = ~((channel == 1) & (np.repeat(np.arange(n), 4) == 1))  # channel 1 missing in NB4 2
    columns = {
        "timestamp": np.repeat(T0 + np.arange(n) * 1.4576, 4)[keep],
        "run": np.full(4 * n, 1)[keep],
        "ls": np.ones(4 * n)[keep],
        "nb": np.repeat([4, 8, 12], 4)[keep],
        "channel": channel[keep],
        "rate": rate[keep],
    }
    total = channel_total(columns)
    assert total["nb"].tolist() == [4, 8, 12]
    np.testing.assert_allclose(total["avg"], [60.0, 60.0, 60.0])


def test_nb4_rows_are_binned_to_lumisections() -> None:
    def rows(luminometer: str, ls: int, nbs: list[int], avg: list[float], raw: float = 0.0):
        return pd.DataFrame(
            {
                "timestamp": [T0 + (ls - 1) * 23.31 + nb / 4 * 1.4576 for nb in nbs],
                "run": 356000,
                "ls": ls,
                "nb": nbs,
                "luminometer": luminometer,
                "avg": avg,
                "avgraw": raw,
            }
        )

    series = pd.concat(
        [
            rows("hfoc", 1, list(range(4, 65, 4)), list(np.arange(16.0))),  # mean 7.5
            rows("hfoc", 2, [4, 8], [1.0, 3.0]),  # a part LS: mean 2
            rows("pltzero", 2, [4, 8, 12], [2.0, 2.0, 5.0]),  # mean 3
            rows("dt", 1, [64], [np.nan], raw=9.0),  # per LS, avgraw only
            rows("dt", 2, [64], [np.nan], raw=8.0),
        ]
    )
    table = lumi_per_ls(series)
    assert list(table.columns) == ["run", "ls", "time", "stable", "pltzero", "hfoc", "dt"]
    assert table["ls"].tolist() == [1, 2] and table["run"].tolist() == [356000] * 2
    np.testing.assert_allclose(table["hfoc"], [7.5, 2.0])
    np.testing.assert_allclose(table["dt"], [9.0, 8.0])
    assert np.isnan(table["pltzero"][0]) and table["pltzero"][1] == pytest.approx(3.0)
    assert table["time"][0] == pytest.approx(T0 + 1.4576)  # the earliest row of the LS
    assert table["stable"].all()
    assert lumi_per_ls(series, luminometers=["dt"]).columns.tolist()[-1] == "dt"


def test_the_beam_mode_comes_from_the_beam_status(tmp_path: Path) -> None:
    fill_dir = tmp_path / "8000"
    write_file(
        fill_dir / "8000_356000_2207010000_2207010100.hd5",
        plt_records(48, seed=1),
        {"hfoclumi": lumi_records(48, 5.0)},
        beam_status=["FLAT TOP", "STABLE BEAMS", "BEAM DUMP"],
    )
    out = tmp_path / "8000.parquet"
    convert_fill(fill_dir, out, lumi_out=lumi_path(out))
    lumi = read_lumi_series(lumi_path(out))
    assert lumi.groupby("ls")["stable"].all().tolist() == [False, True, False]
    table = lumi_per_ls(lumi)
    assert table["stable"].tolist() == [False, True, False]
    assert table["hfoc"].tolist() == [5.0, 5.0, 5.0]
    metadata = pq.read_schema(lumi_path(out)).metadata
    assert json.loads(metadata[b"pltanomaly"])["stable_source"] == "beam"


def test_a_fill_without_any_row_leaves_no_stale_luminometer_series(tmp_path: Path) -> None:
    fill_dir = tmp_path / "8000"
    path = write_file(
        fill_dir / "8000_356000_2207010000_2207010100.hd5", None, {}, beam_status=["STABLE BEAMS"]
    )
    out = tmp_path / "8000.parquet"
    lumi_path(out).write_text("stale")
    with pytest.raises(EmptyFillError):
        convert_fill(fill_dir, out, lumi_out=lumi_path(out))
    assert path.exists() and not lumi_path(out).exists()

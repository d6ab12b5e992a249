"""Converting a fill folder to the fill series: columns, order, faults, bad input, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bril_files import make_records, write_bril
from hypothesis import given, settings
from hypothesis import strategies as st

from pltanomaly.channels import convert as convert_module
from pltanomaly.channels.convert import (
    SERIES_TYPES,
    EmptyFillError,
    arrow_column,
    convert_fill,
    read_series_metadata,
)
from pltanomaly.channels.generate import generate_year
from pltanomaly.channels.io import BrilFileError

COLUMNS = [
    "timestamp",
    "run",
    "ls",
    "nb",
    "channel",
    "rate",
    "empty_mu",
    "n_bx",
    "checksum",
    "stuck",
]


def convert(fill_dir: Path, tmp_path: Path, **kwargs) -> tuple[pd.DataFrame, dict]:
    out = tmp_path / "out" / f"{fill_dir.name}.parquet"
    convert_fill(fill_dir, out, **kwargs)
    return pd.read_parquet(out), read_series_metadata(out)


def test_generated_fill_converts_to_sorted_nb4_series(generated_year: Path, tmp_path: Path) -> None:
    truth = json.loads((generated_year / "truth.json").read_text())
    fill = next(iter(truth["fills"]))
    series, meta = convert(generated_year / fill, tmp_path)
    assert list(series.columns) == COLUMNS
    assert str(series["timestamp"].dtype) == "float64" and str(series["channel"].dtype) == "uint8"
    assert series["timestamp"].is_monotonic_increasing
    assert not series.duplicated(["run", "ls", "nb", "channel"]).any()
    assert set(series["nb"].unique()) <= set(range(4, 65, 4))
    assert meta["fill"] == int(fill) and meta["counts_mode"] == "zeros" and meta["orbits"] == 16384
    assert (
        meta["colliding_source"] == "beam"
        and meta["n_colliding"][0] == truth["fills"][fill]["n_colliding"]
    )
    assert meta["rows_garbage"] > 0  # the garbage first NB4 of the file
    assert meta["rows_kept"] == len(series)
    per_channel = series.groupby("channel")["rate"].median()
    for channel in truth["fills"][fill]["dead_channels"]:
        if channel != 9:  # 9 is weak, not dead
            assert per_channel[channel] == 0.0
            assert series.loc[series["channel"] == channel, "stuck"].iloc[1:].all()
    live = [c for c in range(16) if c not in truth["fills"][fill]["dead_channels"]]
    start_mu = per_channel[live].median() / truth["fills"][fill]["n_colliding"]
    assert 0.05 < start_mu < 0.25  # mu per colliding bunch, as bril-data.md says


def test_duplicates_missing_channels_and_out_of_order_files(tmp_path: Path) -> None:
    fill_dir = tmp_path / "8000"
    early = make_records(10, t0=1.66e9, seed=1)
    late = make_records(10, t0=1.66e9 + 10 * 1.4576, seed=2)
    late["lsnum"] += 1
    late = np.concatenate([late, late[:5]])  # the same run/LS/NB/channel written twice
    late = late[late["channelid"] != 3]  # channel 3 missing in the later rows
    write_bril(fill_dir / "8000_356000_2207010000_2207010001.hd5", late)  # sorts first by name
    write_bril(fill_dir / "8000_356000_2207010001_2207010002.hd5", early)
    series, meta = convert(fill_dir, tmp_path)
    assert meta["rows_duplicate"] == 5 - 1  # channel 3 was among the five repeated rows
    assert len(series) == 160 + 150
    assert series["timestamp"].is_monotonic_increasing
    assert (series.groupby("timestamp").size().iloc[:10] == 16).all()


@pytest.mark.parametrize("dtype", ["int32", "float32"])
def test_dtypes_give_the_same_series(tmp_path: Path, dtype: str) -> None:
    base = write_bril(tmp_path / "u" / "8000" / "8000_1_2207010000_2207010001.hd5", make_records(8))
    other = write_bril(
        tmp_path / "o" / "8000" / "8000_1_2207010000_2207010001.hd5", make_records(8, dtype=dtype)
    )
    a, _ = convert(base.parent, tmp_path / "a")
    b, meta = convert(other.parent, tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)
    assert meta["files"][0]["dtype"] == dtype


def test_without_beam_table_colliding_bunches_are_inferred(tmp_path: Path) -> None:
    records = make_records(8)
    with_beam, _ = convert(write_bril(tmp_path / "w" / "8000" / "f.hd5", records).parent, tmp_path)
    without, meta = convert(
        write_bril(tmp_path / "n" / "8000" / "f.hd5", records, beam=False).parent, tmp_path
    )
    assert meta["colliding_source"] == "inferred"
    np.testing.assert_allclose(without["rate"], with_beam["rate"], rtol=1e-12)


def test_values_above_orbit_count_drop_only_those_rows(tmp_path: Path) -> None:
    records = make_records(5)
    records["data"][:16:2, 7] = 40000  # half the channels of the first NB4
    series, meta = convert(write_bril(tmp_path / "8000" / "f.hd5", records).parent, tmp_path)
    assert meta["rows_garbage"] == 8 and len(series) == 80 - 8


def test_garbage_header_rows_are_dropped(tmp_path: Path) -> None:
    records = make_records(5)
    records["channelid"][3] = 200
    records["timestampsec"][4] = 0
    records["timestampmsec"][4] = 0
    series, meta = convert(write_bril(tmp_path / "8000" / "f.hd5", records).parent, tmp_path)
    assert meta["rows_garbage"] == 2 and series["channel"].max() <= 15
    assert meta["garbage"] == {"channel id above 15": 1, "zero timestamp": 1}


@pytest.mark.parametrize("seconds", [4.2e9, 1e11])  # the year 2103; beyond pandas' dates
def test_future_timestamps_are_garbage_rows(tmp_path: Path, seconds: float) -> None:
    plain = make_records(5)
    wide = [(n, "<u8" if n == "timestampsec" else plain.dtype[n]) for n in plain.dtype.names]
    records = plain.astype(np.dtype(wide))  # uint64 stamps, as some BRIL files have
    records["timestampsec"][:16] = seconds
    series, meta = convert(write_bril(tmp_path / "8000" / "f.hd5", records).parent, tmp_path)
    assert meta["garbage"] == {"timestamp before 2008 or in the future": 16}
    assert len(series) == 64 and series["timestamp"].max() < 2e9


def test_each_kind_of_garbage_has_its_own_reason(tmp_path: Path) -> None:
    records = make_records(2)
    records["channelid"][:] = 200
    write_bril(tmp_path / "8005" / "f.hd5", records)
    with pytest.raises(EmptyFillError, match=r"all 32 rows are garbage \(32 channel id above 15\)"):
        convert_fill(tmp_path / "8005", tmp_path / "x.parquet")
    records = make_records(2)
    records["timestampsec"][:] = 0
    records["timestampmsec"][:] = 0
    write_bril(tmp_path / "8006" / "f.hd5", records)
    with pytest.raises(EmptyFillError, match=r"\(32 zero timestamp\)"):
        convert_fill(tmp_path / "8006", tmp_path / "x.parquet")


def test_hits_per_nibble_are_averaged_into_nb4(tmp_path: Path) -> None:
    year = generate_year(tmp_path / "gen", 2016, n_fills=1, hours=0.05, seed=5, faults=False)
    fill_dir = next(p for p in year.iterdir() if p.is_dir())
    series, meta = convert(fill_dir, tmp_path)
    assert meta["counts_mode"] == "hits" and meta["orbits"] == 4096
    assert set(series["nb"].unique()) <= set(range(4, 65, 4))
    assert not series.duplicated(["run", "ls", "nb", "channel"]).any()
    truth = json.loads((year / "truth.json").read_text())["fills"][fill_dir.name]
    live = series[~series["channel"].isin(truth["dead_channels"])]
    start_mu = live.groupby("channel")["rate"].median().median() / truth["n_colliding"]
    assert 0.05 < start_mu < 0.25


def test_empty_fill_folder_and_fill_without_table(tmp_path: Path) -> None:
    (tmp_path / "8001").mkdir()
    with pytest.raises(EmptyFillError, match=r"no \.hd5 file"):
        convert_fill(tmp_path / "8001", tmp_path / "x.parquet")
    write_bril(tmp_path / "8002" / "8002_1_2207010000_2207010001.hd5", None)
    with pytest.raises(EmptyFillError, match="8002"):
        convert_fill(tmp_path / "8002", tmp_path / "x.parquet")
    write_bril(tmp_path / "8003" / "f.hd5", make_records(0), compress=False)
    with pytest.raises(EmptyFillError):
        convert_fill(tmp_path / "8003", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_only_garbage_rows_is_an_empty_fill(tmp_path: Path) -> None:
    records = make_records(3)
    records["data"][:, 0] = 99999
    write_bril(tmp_path / "8004" / "f.hd5", records)
    with pytest.raises(EmptyFillError, match="garbage"):
        convert_fill(tmp_path / "8004", tmp_path / "x.parquet")


def test_file_without_table_beside_good_files_is_a_warning(tmp_path: Path) -> None:
    write_bril(tmp_path / "8005" / "8005_1_2207010000_2207010001.hd5", make_records(4))
    write_bril(tmp_path / "8005" / "8005_2_2207010001_2207010002.hd5", None)
    series, meta = convert(tmp_path / "8005", tmp_path)
    assert len(series) == 64 and any("no /pltaggzero" in w for w in meta["warnings"])


def test_truncated_file_fails_the_fill_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    good = write_bril(tmp_path / "8006" / "8006_1_2207010000_2207010001.hd5", make_records(4))
    bad = write_bril(tmp_path / "8006" / "8006_2_2207010001_2207010002.hd5", make_records(40))
    bad.write_bytes(bad.read_bytes()[:5000])
    out = tmp_path / "res" / "8006.parquet"
    with pytest.raises(BrilFileError, match=bad.name):
        convert_fill(good.parent, out)
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))


def test_existing_output_is_replaced_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "res" / "8007.parquet"
    write_bril(tmp_path / "8007" / "f.hd5", make_records(4))
    convert_fill(tmp_path / "8007", out)
    before = out.read_bytes()
    (tmp_path / "8007" / "g.hd5").write_bytes(b"garbage")
    with pytest.raises(BrilFileError):
        convert_fill(tmp_path / "8007", out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["8007.parquet"]


def test_cli_convert(tmp_path: Path) -> None:
    write_bril(tmp_path / "8008" / "f.hd5", make_records(4))
    out = tmp_path / "8008.parquet"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pltanomaly.cli",
            "convert",
            str(tmp_path / "8008"),
            str(out),
            "--summary",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "fill 8008: 64 rows" in done.stdout
    assert json.loads((tmp_path / "s.json").read_text())["rows_kept"] == 64
    assert len(pd.read_parquet(out)) == 64


def _bad_fill(root: Path, case: str) -> Path:
    """A fill folder that is missing, without a usable row, or with a non-HDF5 file."""
    if case == "empty":
        write_bril(root / "8011" / "bad.hd5", None, beam=False)
        return root / "8011"
    if case == "corrupt":
        (root / "8012").mkdir()
        (root / "8012" / "t.hd5").write_bytes(b"x")
        return root / "8012"
    return root / "8010"


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("missing", "8010: fill folder does not exist"),
        ("empty", "8011: none of 1 file(s) has a /pltaggzero row"),
        ("corrupt", "t.hd5: not a readable HDF5 file"),
    ],
)
def test_cli_convert_expected_errors_are_one_line(tmp_path: Path, case: str, said: str) -> None:
    fill_dir = _bad_fill(tmp_path, case)
    command = [sys.executable, "-m", "pltanomaly.cli", "convert", str(fill_dir), "out.parquet"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    verbose = [*command[:3], "-v", *command[3:]]
    done = subprocess.run(verbose, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "Traceback" in done.stderr


def test_file_that_is_a_symlink_loop_fails_the_fill_naming_it(tmp_path: Path) -> None:
    write_bril(tmp_path / "8013" / "a.hd5", make_records(2))
    os.symlink("loop.hd5", tmp_path / "8013" / "loop.hd5")
    with pytest.raises(BrilFileError, match=r"loop\.hd5: cannot stat file \(a symbolic link loop"):
        convert_fill(tmp_path / "8013", tmp_path / "x.parquet")


def test_float_counts_that_are_all_nan_fail_the_file_clearly(tmp_path: Path) -> None:
    records = make_records(3, dtype="float32")
    records["data"][:] = np.nan
    write_bril(tmp_path / "8009" / "nan.hd5", records)
    with pytest.raises(BrilFileError, match=r"nan\.hd5.*zeros from hits"):
        convert_fill(tmp_path / "8009", tmp_path / "x.parquet")


def test_a_short_pool_of_row_blocks_gives_the_same_series(tmp_path, monkeypatch):
    for i in range(2):  # 2 files x 8 blocks of 100 rows, through a pool of 3 blocks
        write_bril(tmp_path / "8014" / f"8014_{i}_22070100{i}0_22070100{i}9.hd5", make_records(50))
    reference, _ = convert(tmp_path / "8014", tmp_path / "deep", chunk_rows=100)
    monkeypatch.setattr(convert_module, "PREFETCH_CHUNKS", 1)
    short, _ = convert(tmp_path / "8014", tmp_path / "short", chunk_rows=100)
    pd.testing.assert_frame_equal(short, reference)


def test_a_failing_file_ends_the_reading_ahead_of_it(tmp_path, monkeypatch):
    write_bril(tmp_path / "8015" / "8015_1_2207010000_2207010001.hd5", make_records(50))
    records = make_records(50, dtype="float32")
    records["data"][:] = np.nan  # fails in the first of its 8 blocks, the reader ahead of it
    write_bril(tmp_path / "8015" / "8015_2_2207010001_2207010009.hd5", records)
    monkeypatch.setattr(convert_module, "PREFETCH_CHUNKS", 1)  # the reader waits for blocks
    raised: list[BaseException] = []

    def run() -> None:
        try:
            convert_fill(tmp_path / "8015", tmp_path / "x.parquet", chunk_rows=100)
        except BaseException as exc:
            raised.append(exc)

    job = threading.Thread(target=run, daemon=True)
    job.start()
    job.join(60)
    assert not job.is_alive(), "conversion hangs on a reader waiting for a row block"
    assert len(raised) == 1 and isinstance(raised[0], BrilFileError)
    assert "8015_2_" in str(raised[0])
    assert not any(t.name == "pltanomaly-prefetch" for t in threading.enumerate())


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=255), min_size=0, max_size=70),
    kind=st.sampled_from(sorted(SERIES_TYPES)),
)
def test_arrow_columns_hold_the_numpy_values(values, kind):
    """Each series column as Arrow (built from buffers, without pandas) equals ``pa.array``."""
    arrow_type = SERIES_TYPES[kind]
    data = np.array(values, dtype=np.int64)
    if arrow_type == pa.bool_():
        data = data % 2 == 1
    column = arrow_column(data, arrow_type)
    assert column.type == arrow_type
    assert column.to_pylist() == pa.array(data, arrow_type).to_pylist()
    assert column.null_count == 0


def test_converting_does_not_import_pandas(tmp_path):
    year = generate_year(tmp_path / "data", 2022, 1, 0.05, seed=3)
    fill_dir = next(p for p in year.iterdir() if p.is_dir())
    code = (
        "import sys\n"
        "from pltanomaly.channels.convert import convert_fill\n"
        f"convert_fill({str(fill_dir)!r}, {str(tmp_path / 'x.parquet')!r})\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"

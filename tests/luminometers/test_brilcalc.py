"""The brilcalc --byls reader: real slices and every quirk on hand-made text."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from pltanomaly.core.errors import InputError
from pltanomaly.luminometers.brilcalc import (
    BrilcalcError,
    read_brilcalc_file,
    read_fills,
    stable_values,
)
from pltanomaly.luminometers.names import LUMINOMETERS, SOURCE_TO_LUMINOMETER, log_name

HEADER = (
    "#Data tag : 19v3 , Norm tag: None\n"
    "#run:fill,ls,time,beamstatus,E(GeV),delivered(hz/ub),recorded(hz/ub),avgpu,source\n"
)


def write(tmp_path: Path, name: str, body: str, *, gz: bool = False) -> Path:
    path = tmp_path / name
    text = HEADER + body
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def test_real_slices_give_one_table_per_fill(real_2016, real_2017):
    fills = read_fills(real_2016)
    assert sorted(fills.tables) == [4947, 4958]
    assert not fills.failed and not fills.dropped
    table = fills.tables[4947]
    assert list(table.columns[:4]) == ["run", "ls", "time", "stable"]
    assert {"pltzero", "hfoc", "pcc", "dt", "ramses"} <= set(table.columns)
    assert table[["run", "ls"]].duplicated().sum() == 0
    assert table["ls"].between(1380, 1500).all()
    later = read_fills(real_2017).tables[6392]
    assert "bcm1fsi" in later.columns
    assert log_name("bcm1fsi") == "bcm1f"


def test_every_source_maps_to_a_known_luminometer():
    assert set(SOURCE_TO_LUMINOMETER.values()) <= set(LUMINOMETERS)


def test_quirks_comments_ls_pairs_zeros_and_beam_modes(tmp_path):
    body = (
        "100:7,1:0,1000,FLAT TOP,6500,0.5,0,0.0,PLTZERO\n"
        "100:7,2:2,1023,STABLE BEAMS,6500,10.0,9.9,1.0,PLTZERO\n"
        "100:7,3:3,1046,STABLE BEAMS,6500,0,0,0.0,PLTZERO\n"
        "100:7,4:4,1069,STABLE BEAMS,6500,-0.04,0,0.0,PLTZERO\n"
        "#Summary:\n#nfill,nrun,nls,ncms,totdelivered(hz/ub),totrecorded(hz/ub)\n#1,1,4,3,1,1\n"
    )
    read = read_brilcalc_file(write(tmp_path, "plt.csv", body))
    rows = read.rows["pltzero"]
    assert rows["ls"].tolist() == [1, 2, 3, 4]
    assert rows["stable"].tolist() == [False, True, True, True]
    assert rows["delivered"].tolist() == [0.5, 10.0, 0.0, -0.04]
    table = read_fills([write(tmp_path, "plt2.csv", body)]).tables[7]
    stable, values = stable_values(table)
    assert len(stable) == 3
    assert values[0, 0] == 10.0 and np.isnan(values[1:, 0]).all()


def test_luminometers_with_other_ls_lists_align_on_run_and_ls(tmp_path):
    plt = write(
        tmp_path,
        "plt.csv.gz",
        "100:7,1:1,1000,STABLE BEAMS,6500,10,10,1,PLTZERO\n"
        "100:7,2:2,1023,STABLE BEAMS,6500,11,11,1,PLTZERO\n"
        "200:8,5:5,9000,STABLE BEAMS,6500,12,12,1,PLTZERO\n",
        gz=True,
    )
    hfoc = write(
        tmp_path,
        "hfoc.csv",
        "100:7,2:2,1023,STABLE BEAMS,6500,21,21,1,HFOC\n"
        "100:7,3:3,1046,STABLE BEAMS,6500,22,22,1,HFOC\n",
    )
    tables = read_fills([plt, hfoc]).tables
    fill7 = tables[7]
    assert fill7["ls"].tolist() == [1, 2, 3]
    assert math.isnan(fill7["hfoc"].iloc[0]) and fill7["hfoc"].iloc[1] == 21
    assert math.isnan(fill7["pltzero"].iloc[2])
    assert "hfoc" not in tables[8].columns


def test_garbage_row_is_dropped_and_named_strict_raises(tmp_path):
    path = write(
        tmp_path,
        "plt.csv",
        "100:7,1:1,1000,STABLE BEAMS,6500,10,10,1,PLTZERO\n"
        "100:7,2:2,1023,STABLE BEAMS,6500,abc,10,1,PLTZERO\n"
        "garbage\n"
        "100:7,3:3,1046,STABLE BEAMS,6500,12,12,1,NOSUCH\n"
        "100:7,4:4,1069,STABLE BEAMS,6500,13,13,1,PLTZERO\n"
        "100:7,4:4,1069,STABLE BEAMS,6500,13,13,1,PLTZERO\n",
    )
    fills = read_fills([path])
    assert fills.tables[7]["ls"].tolist() == [1, 4]
    assert [e.line for e in fills.dropped] == [4, 5, 6, 8]
    assert all(str(path) in str(e) for e in fills.dropped)
    with pytest.raises(BrilcalcError, match=r"plt\.csv:4"):
        read_brilcalc_file(path, strict=True)


def test_wrong_columns_raise_an_input_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("#run:fill,ls,time,source\n100:7,1:1,1000,PLTZERO\n")
    with pytest.raises(InputError, match=r"bad\.csv:1: header lacks column .beamstatus."):
        read_fills([path])


def test_truncated_gzip_fails_only_its_fills(tmp_path):
    rows = "".join(
        f"100:7,{i}:{i},{1000 + 23 * i},STABLE BEAMS,6500,{10 + i},1,1,PLTZERO\n"
        for i in range(1, 3000)
    )
    whole = write(tmp_path, "plt.csv.gz", rows, gz=True)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    other = write(tmp_path, "hfoc.csv", "200:8,1:1,1000,STABLE BEAMS,6500,10,10,1,HFOC\n")
    fills = read_fills([broken, other])
    assert sorted(fills.tables) == [8]
    assert list(fills.failed) == [7]
    assert "broken.csv.gz" in str(fills.failed[7][0])
    with pytest.raises(BrilcalcError, match="breaks off"):
        read_brilcalc_file(broken, strict=True)


def test_files_per_fill_of_one_luminometer_combine(tmp_path):
    first = write(tmp_path, "plt_7.csv", "100:7,1:1,1000,STABLE BEAMS,6500,10,10,1,PLTZERO\n")
    second = write(tmp_path, "plt_8.csv", "200:8,1:1,9000,STABLE BEAMS,6500,11,11,1,PLTZERO\n")
    hfoc = write(
        tmp_path,
        "hfoc.csv",
        "100:7,1:1,1000,STABLE BEAMS,6500,12,12,1,HFOC\n"
        "200:8,1:1,9000,STABLE BEAMS,6500,13,13,1,HFOC\n",
    )
    tables = read_fills([first, second, hfoc]).tables
    assert sorted(tables) == [7, 8]
    assert tables[8][["pltzero", "hfoc"]].iloc[0].tolist() == [11, 13]


def test_times_as_unix_seconds_or_as_brilcalc_dates(tmp_path):
    path = write(
        tmp_path,
        "hfoc.csv",
        "297050:5849,1:1,06/18/17 15:41:11,STABLE BEAMS,6500,28.37,27.61,23.6,HFOC\n"
        "297050:5849,2:2,1497800494,STABLE BEAMS,6500,28.31,27.60,23.5,HFOC\n",
    )
    table = read_fills([path]).tables[5849]
    assert table["time"].tolist() == [1497800471.0, 1497800494.0]

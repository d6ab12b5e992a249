"""The BRIL reader: streaming, accepted variants, and one clear error for bad files."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from bril_files import COLLIDING, make_records, write_bril

from pltanomaly.channels import io
from pltanomaly.channels.io import (
    BrilFileError,
    RowBuffers,
    iter_plt_chunks,
    list_fill_files,
    plt_table_info,
    read_filling_scheme,
)
from pltanomaly.channels.years import FillFolderError


@pytest.mark.parametrize("dtype", ["uint32", "int32", "float32"])
def test_streams_rows_in_chunks_with_headers(tmp_path: Path, dtype: str) -> None:
    records = make_records(25, dtype=dtype)  # 400 rows
    path = write_bril(tmp_path / "f.hd5", records)
    chunks = list(iter_plt_chunks(path, chunk_rows=150))
    assert [len(c) for c in chunks] == [100, 100, 100, 100]  # whole storage chunks of 100 rows
    assert all(c.data.dtype == np.dtype(dtype) and c.data.shape[1] == 3564 for c in chunks)
    timestamps = np.concatenate([c.timestamp for c in chunks])
    expected = records["timestampsec"] + records["timestampmsec"] / 1000
    np.testing.assert_allclose(timestamps, expected)
    np.testing.assert_array_equal(np.concatenate([c.data for c in chunks]), records["data"])
    assert np.concatenate([c.channel for c in chunks]).tolist() == records["channelid"].tolist()


@pytest.mark.parametrize("dtype", ["uint32", "float32"])
def test_pooled_reading_gives_the_same_rows_in_reused_blocks(tmp_path: Path, dtype: str) -> None:
    records = make_records(25, dtype=dtype)  # 400 rows, 4 storage chunks of 100
    path = write_bril(tmp_path / "f.hd5", records)
    buffers = RowBuffers(2)
    blocks, data, timestamps = set(), [], []
    for chunk in iter_plt_chunks(path, chunk_rows=150, buffers=buffers):
        data.append(chunk.data.copy())
        timestamps.append(chunk.timestamp)
        base = chunk.data
        while isinstance(base.base, np.ndarray):
            base = base.base
        blocks.add(id(base))
        buffers.release(chunk.data)
    np.testing.assert_array_equal(np.concatenate(data), records["data"])
    expected = records["timestampsec"] + records["timestampmsec"] / 1000
    np.testing.assert_allclose(np.concatenate(timestamps), expected)
    assert len(blocks) == 1  # each block given back before the next read: one array, reused


def test_buffer_pool_waits_for_a_release_and_not_after_close() -> None:
    layout = np.dtype([("data", "<u4", (4,))])
    buffers = RowBuffers(1)
    first = buffers.take(layout, 10)
    taken: list[np.ndarray] = []
    reader = threading.Thread(target=lambda: taken.append(buffers.take(layout, 10)))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and not taken  # the pool's one block is out
    buffers.release(first[:3]["data"])  # a view is enough
    reader.join(5)
    assert taken and taken[0] is first
    late = threading.Thread(target=lambda: taken.append(buffers.take(layout, 5)))
    buffers.close()
    late.start()
    late.join(5)
    assert not late.is_alive() and len(taken) == 2 and taken[1] is not first


def test_buffer_pool_replaces_a_free_block_of_another_layout() -> None:
    buffers = RowBuffers(1)
    ints = buffers.take(np.dtype([("data", "<u4", (4,))]), 10)
    buffers.release(ints)
    floats = buffers.take(np.dtype([("data", "<f4", (4,))]), 10)
    assert floats.dtype != ints.dtype and len(floats) == 10


def test_missing_table_is_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_bril(tmp_path / "nopl.hd5", None)
    assert plt_table_info(path) is None
    assert list(iter_plt_chunks(path)) == []
    assert "no /pltaggzero" in caplog.text and "nopl.hd5" in caplog.text


def test_empty_table_yields_nothing(tmp_path: Path) -> None:
    path = write_bril(tmp_path / "e.hd5", make_records(0), compress=False)
    assert plt_table_info(path).n_rows == 0
    assert list(iter_plt_chunks(path)) == []


def test_truncated_file_names_the_file(tmp_path: Path) -> None:
    path = write_bril(tmp_path / "trunc.hd5", make_records(30))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(BrilFileError, match=r"trunc\.hd5") as info:
        list(iter_plt_chunks(path))
    assert info.value.path == path


def test_file_truncated_inside_the_data_raises_a_clear_error(tmp_path: Path) -> None:
    path = write_bril(tmp_path / "cut.hd5", make_records(60))
    with h5py.File(path, "r") as handle:
        offset = handle["pltaggzero"].id.get_chunk_info(3).byte_offset
    with path.open("r+b") as stream:  # overwrite a compressed chunk in the middle
        stream.seek(offset)
        stream.write(b"\x00" * 2048)
    with pytest.raises(BrilFileError, match=r"cut\.hd5"):
        list(iter_plt_chunks(path))


@pytest.mark.parametrize("content", [b"", b"this is not hdf5" * 100])
def test_empty_or_garbage_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.hd5"
    path.write_bytes(content)
    with pytest.raises(BrilFileError, match=r"bad\.hd5"):
        plt_table_info(path)


HEADER = ("fillnum", "runnum", "lsnum", "nbnum", "timestampsec", "timestampmsec", "channelid")


def header(kind: str = "<u4") -> list[tuple[str, str]]:
    return [(name, kind) for name in HEADER]


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        ([("channelid", "u1"), ("data", "<u4", (3564,))], "lacks columns"),
        ([*header(), ("data", "<u4", (100,))], "shape"),
        ([*header(), ("data", "S4", (3564,))], "dtype"),
        ([*header("<f4"), ("data", "<u4", (3564,))], "expected integers"),
    ],
)
def test_wrong_layout_or_dtype(tmp_path: Path, dtype: list, message: str) -> None:
    path = tmp_path / "wrong.hd5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("pltaggzero", data=np.zeros(3, dtype=dtype))
    with pytest.raises(BrilFileError, match=message):
        list(iter_plt_chunks(path))


def test_table_that_is_not_compound(tmp_path: Path) -> None:
    path = tmp_path / "flat.hd5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("pltaggzero", data=np.zeros((3, 3564), dtype="u4"))
    with pytest.raises(BrilFileError, match="not a compound table"):
        plt_table_info(path)


@pytest.mark.parametrize("collidable", [True, False])
def test_filling_scheme_from_collidable_or_bxconfig(tmp_path: Path, collidable: bool) -> None:
    path = write_bril(tmp_path / "b.hd5", make_records(2), collidable=collidable)
    scheme = read_filling_scheme(path)
    np.testing.assert_array_equal(scheme.colliding, COLLIDING)
    assert not scheme.varies


def test_no_beam_table(tmp_path: Path) -> None:
    assert read_filling_scheme(write_bril(tmp_path / "nb.hd5", make_records(2), beam=False)) is None


def test_list_fill_files_sorted_and_only_hd5(tmp_path: Path) -> None:
    for name in (
        "8000_2_2207010100_2207010200.hd5",
        "8000_1_2207010000_2207010100.hd5",
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_fill_files(tmp_path)] == [
        "8000_1_2207010000_2207010100.hd5",
        "8000_2_2207010100_2207010200.hd5",
    ]
    with pytest.raises(FillFolderError, match="does not exist"):
        list_fill_files(tmp_path / "missing")


def test_hidden_files_are_not_listed(tmp_path: Path) -> None:
    write_bril(tmp_path / "8000_1_2207010000_2207010100.hd5", make_records(2))
    (tmp_path / "._8000_1_2207010000_2207010100.hd5").write_bytes(b"\x00\x05\x16\x07")
    assert [p.name for p in list_fill_files(tmp_path)] == ["8000_1_2207010000_2207010100.hd5"]


def test_looping_folder_is_not_a_missing_folder(tmp_path: Path) -> None:
    os.symlink("8024", tmp_path / "8024")
    with pytest.raises(FillFolderError, match="symbolic link loop"):
        list_fill_files(tmp_path / "8024")


def test_looping_file_is_listed_and_fails_naming_the_loop(tmp_path: Path) -> None:
    os.symlink("loop.hd5", tmp_path / "loop.hd5")
    assert [p.name for p in list_fill_files(tmp_path)] == ["loop.hd5"]
    with pytest.raises(BrilFileError, match=r"loop\.hd5: .*symbolic link loop"):
        plt_table_info(tmp_path / "loop.hd5")


def test_permission_error_is_not_called_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_bril(tmp_path / "f.hd5", make_records(2))

    def refuse(name: object, mode: str) -> None:  # what h5py raises for an unreadable file
        raise OSError(errno.EACCES, f"Unable to open file (name = {name}, errno = 13)")

    monkeypatch.setattr(io.h5py, "File", refuse)
    with pytest.raises(BrilFileError, match="permission denied") as caught:
        plt_table_info(path)
    assert "corrupt" not in str(caught.value)

"""Facts of the BRIL HDF5 files every family reads: the tables' names, the columns every row
starts with (``/pltaggzero``, ``/beam``, the luminometers), the LHC's bunch slots and the NB4,
and the one error for a file that cannot be read."""

from __future__ import annotations

import os
from pathlib import Path

from pltanomaly.core.errors import InputError

N_BX = 3564
"""Bunch-crossing slots in one LHC orbit."""
NB4_SECONDS = 1.4576
"""Length of one NB4 (bril-data.md)."""
LS_SECONDS = 16 * NB4_SECONDS
"""Length of one lumisection: 16 NB4, 2^18 orbits (23.3 s)."""
PLT_TABLE = "pltaggzero"
BEAM_TABLE = "beam"


class BrilFileError(InputError):
    """A BRIL file that cannot be read: corrupt, truncated, or with the wrong layout."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


#: when a row was published: fill, run, lumi section, NB4 and its time stamp
TIME_FIELDS: list[tuple[str, str]] = [
    ("fillnum", "<u4"),
    ("runnum", "<u4"),
    ("lsnum", "<u4"),
    ("nbnum", "<u4"),
    ("timestampsec", "<u4"),
    ("timestampmsec", "<u4"),
]

#: the time fields, then the payload header of a detector table
HEADER_FIELDS: list[tuple[str, str]] = [
    *TIME_FIELDS,
    ("totsize", "<u4"),
    ("publishnnb", "u1"),
    ("datasourceid", "u1"),
    ("algoid", "u1"),
    ("channelid", "u1"),
    ("payloadtype", "u1"),
]

"""The columns every BRIL DAQ table row starts with (``/pltaggzero``, ``/beam``, luminometers)."""

from __future__ import annotations

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

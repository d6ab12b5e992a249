"""Luminometer tables for synthetic fills (placeholder, filled in below)."""

from __future__ import annotations

import numpy as np

from pltanomaly.channels.io import N_BX


def lumi_record_dtype(per_bunch: bool = True) -> np.dtype:
    """The row layout of a luminometer table (``shared/docs/luminometers.md``): header
    columns, ``calibtag``, ``avgraw``, ``avg``, the per-bunch ``bxraw``/``bx`` (not for
    ``dtlumi``, which also has no ``avg``), ``maskhigh``, ``masklow``."""
    fields: list[tuple] = [
        ("fillnum", "<u4"),
        ("runnum", "<u4"),
        ("lsnum", "<u4"),
        ("nbnum", "<u4"),
        ("timestampsec", "<u4"),
        ("timestampmsec", "<u4"),
        ("totsize", "<u4"),
        ("publishnnb", "u1"),
        ("datasourceid", "u1"),
        ("algoid", "u1"),
        ("channelid", "u1"),
        ("payloadtype", "u1"),
        ("calibtag", "S32"),
        ("avgraw", "<f4"),
    ]
    if per_bunch:
        fields += [("avg", "<f4"), ("bxraw", "<f4", (N_BX,)), ("bx", "<f4", (N_BX,))]
    fields += [("maskhigh", "<u4"), ("masklow", "<u4")]
    return np.dtype(fields)

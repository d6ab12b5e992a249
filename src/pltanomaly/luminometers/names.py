"""Luminometer names: the validation log's names, and how brilcalc ``source`` values map to them."""

from __future__ import annotations

LUMINOMETERS: tuple[str, ...] = (
    "pltzero",
    "hfoc",
    "hfet",
    "bcm1f",
    "bcm1fsi",
    "bcm1futca",
    "dt",
    "ramses",
    "pcc",
)
"""Every luminometer, keyed as in the experts' validation log and the results contract."""

SOURCE_TO_LUMINOMETER: dict[str, str] = {
    "PLTZERO": "pltzero",
    "PLT": "pltzero",
    "HFOC": "hfoc",
    "HFET": "hfet",
    "PXL": "pcc",
    "PCC": "pcc",
    "DT": "dt",
    "RAMSES": "ramses",
    "BCM1F": "bcm1f",
    "BCM1FSI": "bcm1fsi",
    "BCM1FUTCA": "bcm1futca",
}
"""brilcalc ``source`` column (upper case) -> luminometer."""

HD5_TABLES: dict[str, str] = {
    "pltlumizero": "pltzero",
    "hfoclumi": "hfoc",
    "hfetlumi": "hfet",
    "bcm1flumi": "bcm1f",
    "bcm1fsilumi": "bcm1fsi",
    "bcm1futcalumi": "bcm1futca",
    "dtlumi": "dt",
    "remuslumi": "ramses",
}
"""The BRIL HDF5 table of each luminometer (PCC has none: it is computed offline)."""

LOG_NAME: dict[str, str] = {"bcm1fsi": "bcm1f"}
"""Luminometers the validation log knows under another name (its entries then apply to them)."""


def luminometer_of_source(source: str) -> str | None:
    """The luminometer of a brilcalc ``source`` value, or None when unknown."""
    return SOURCE_TO_LUMINOMETER.get(source.strip().upper())


def log_name(luminometer: str) -> str:
    """The name the validation log uses for ``luminometer``."""
    return LOG_NAME.get(luminometer, luminometer)

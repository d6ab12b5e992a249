"""Verdicts on luminometers: a luminometer of a fill is good, bad or to ignore over an LS range.

They live in the review app's label database (:mod:`pltanomaly.review.labels`), table
``lumi_verdicts``, one row per (year, fill, luminometer, LS range)::

    id INTEGER PRIMARY KEY, year, fill, luminometer TEXT,
    first_run, first_ls, last_run, last_ls INTEGER  -- inclusive; NULL = start / end of the fill
    verdict TEXT ('good' | 'bad' | 'ignore'), anomaly_type TEXT, reason TEXT, user TEXT,
    source TEXT ('review': an expert in the app | 'validation-log': imported), updated REAL

A range may cross runs. ``ignore`` marks LS that say nothing about the detector (missing data,
scans, administrative invalidations): scores leave them out. Luminometers are keyed by the names
of the results (``bcm1fsi``, not the log's ``bcm1f``). Every change is also appended to the
store's ``verdict_log`` (action ``lumi_save`` / ``lumi_delete``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from pltanomaly.review.labels import LabelStore, LabelStoreError, log_change

LUMI_VERDICTS = ("good", "bad", "ignore")
LUMI_TYPES = ("dip", "spike", "step", "drift", "wave", "scale", "noise", "gap", "other")
"""The cross-check's event types (results contract), plus ``other``."""
SOURCES = ("review", "validation-log")
LOG_SOURCE = "validation-log"
KEY = 1_000_000

LsBound = tuple[int, int] | None
"""``(run, ls)``, or None for the start (as ``first``) or end (as ``last``) of the fill."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS lumi_verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    year INTEGER NOT NULL,
    fill INTEGER NOT NULL,
    luminometer TEXT NOT NULL,
    first_run INTEGER,
    first_ls INTEGER,
    last_run INTEGER,
    last_ls INTEGER,
    verdict TEXT NOT NULL CHECK (verdict IN ('good', 'bad', 'ignore')),
    anomaly_type TEXT,
    reason TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'review' CHECK (source IN ('review', 'validation-log')),
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS lumi_verdicts_fill ON lumi_verdicts (year, fill, luminometer);
"""


def parse_bound(text: Any) -> LsBound:
    """``"run:ls"`` -> ``(run, ls)``; ``""``, ``"-1"`` or None -> None; ValueError otherwise."""
    if text is None:
        return None
    value = str(text).strip()
    if value in ("", "-1"):
        return None
    run, sep, ls = value.partition(":")
    if not (sep and run.strip().isdigit() and ls.strip().isdigit()):
        raise ValueError(f"{value!r} is not run:ls")
    return int(run), int(ls)


def format_bound(bound: LsBound) -> str | None:
    return None if bound is None else f"{bound[0]}:{bound[1]}"


def bound_key(bound: LsBound, default: float) -> float:
    """A bound as one sortable number (``run * 10**6 + ls``); ``default`` for an open end."""
    return default if bound is None else float(bound[0] * KEY + bound[1])


@dataclass(frozen=True)
class LumiVerdict:
    id: int
    year: int
    fill: int
    luminometer: str
    first: LsBound
    last: LsBound
    verdict: str
    anomaly_type: str | None
    reason: str
    user: str
    source: str
    updated: float

    def covers(self, first: LsBound, last: LsBound) -> bool:
        """Whether the range ``first``..``last`` lies inside this verdict's range."""
        return bound_key(self.first, -1) <= bound_key(first, -1) and bound_key(
            last, float("inf")
        ) <= bound_key(self.last, float("inf"))

    def overlaps(self, first: LsBound, last: LsBound) -> bool:
        """Whether the range ``first``..``last`` shares an LS with this verdict's range."""
        return bound_key(self.first, -1) <= bound_key(last, float("inf")) and bound_key(
            first, -1
        ) <= bound_key(self.last, float("inf"))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "first": format_bound(self.first), "last": format_bound(self.last)}


@dataclass(frozen=True)
class NewVerdict:
    """A verdict to store (no id yet)."""

    luminometer: str
    first: LsBound
    last: LsBound
    verdict: str
    anomaly_type: str | None = None
    reason: str = ""
    user: str = ""

    def check(self) -> None:
        if self.verdict not in LUMI_VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(LUMI_VERDICTS)}")
        if self.anomaly_type is not None and self.anomaly_type not in LUMI_TYPES:
            raise ValueError(f"anomaly_type must be one of {', '.join(LUMI_TYPES)} (or empty)")
        if self.verdict != "bad" and self.anomaly_type is not None:
            raise ValueError("only a 'bad' verdict takes an anomaly_type")
        if bound_key(self.first, -1) > bound_key(self.last, float("inf")):
            raise ValueError("the range ends before it begins")


class LumiLabels:
    """The ``lumi_verdicts`` table of a :class:`~pltanomaly.review.labels.LabelStore`."""

    def __init__(self, store: LabelStore) -> None:
        self.store = store
        if not store.read_only:
            with store.write() as conn:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)

    # -- reading -----------------------------------------------------------------------------
    def _select(self, where: str = "", args: tuple[Any, ...] = ()) -> list[LumiVerdict]:
        sql = f"SELECT * FROM lumi_verdicts {where} ORDER BY year, fill, luminometer, id"
        with self.store.read() as conn:
            try:
                rows = conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a read-only database from before this table
                    return []
                raise
        return [_verdict(r) for r in rows]

    def all(self) -> list[LumiVerdict]:
        return self._select()

    def for_fill(self, year: int, fill: int) -> list[LumiVerdict]:
        return self._select("WHERE year=? AND fill=?", (year, fill))

    def get(self, verdict_id: int) -> LumiVerdict | None:
        found = self._select("WHERE id=?", (verdict_id,))
        return found[0] if found else None

    # -- writing -----------------------------------------------------------------------------
    def add(self, year: int, fill: int, new: NewVerdict, *, source: str = "review") -> LumiVerdict:
        """Store one verdict; one transaction."""
        new.check()
        with self.store.write() as conn:
            verdict_id = _insert(conn, year, fill, new, source, time.time())
        return self._one(verdict_id)

    def update(self, verdict_id: int, new: NewVerdict) -> LumiVerdict:
        """Replace verdict ``verdict_id`` by ``new`` (it becomes the expert's: source review)."""
        new.check()
        now = time.time()
        with self.store.write() as conn:
            conn.execute(
                """UPDATE lumi_verdicts SET luminometer=?, first_run=?, first_ls=?, last_run=?,
                     last_ls=?, verdict=?, anomaly_type=?, reason=?, user=?, source='review',
                     updated=? WHERE id=?""",
                (new.luminometer, *_columns(new), now, verdict_id),
            )
            _log(conn, "lumi_save", now, *self._where(conn, verdict_id), new)
        return self._one(verdict_id)

    def delete(self, verdict_ids: Iterable[int], *, user: str = "") -> int:
        """Remove verdicts by id; return how many were removed."""
        n = 0
        now = time.time()
        with self.store.write() as conn:
            for verdict_id in verdict_ids:
                row = conn.execute("SELECT * FROM lumi_verdicts WHERE id=?", (verdict_id,))
                found = row.fetchone()
                if found is None:
                    continue
                old = _verdict(found)
                conn.execute("DELETE FROM lumi_verdicts WHERE id=?", (verdict_id,))
                gone = NewVerdict(old.luminometer, old.first, old.last, old.verdict, user=user)
                _log(conn, "lumi_delete", now, old.year, old.fill, gone)
                n += 1
        return n

    def replace_log(self, verdicts: Iterable[tuple[int, int, NewVerdict]]) -> tuple[int, int]:
        """Replace the imported verdicts of the fills in ``verdicts`` ((year, fill, verdict))
        by these, in one transaction; the experts' own verdicts stay. (removed, added)."""
        items = list(verdicts)
        for _, _, new in items:
            new.check()
        now = time.time()
        removed = 0
        with self.store.write() as conn:
            for year, fill in sorted({(y, f) for y, f, _ in items}):
                removed += conn.execute(
                    "DELETE FROM lumi_verdicts WHERE year=? AND fill=? AND source=?",
                    (year, fill, LOG_SOURCE),
                ).rowcount
            for year, fill, new in items:
                _insert(conn, year, fill, new, LOG_SOURCE, now, log=False)
            conn.execute(
                """INSERT INTO verdict_log (time, action, year, fill, comment)
                   VALUES (?, 'lumi_import', 0, 0, ?)""",
                (now, f"{len(items)} verdicts from the validation log, {removed} replaced"),
            )
        return removed, len(items)

    def _one(self, verdict_id: int) -> LumiVerdict:
        found = self.get(verdict_id)
        if found is None:
            raise LabelStoreError(f"verdict {verdict_id} vanished from {self.store.path}")
        return found

    @staticmethod
    def _where(conn: sqlite3.Connection, verdict_id: int) -> tuple[int, int]:
        row = conn.execute("SELECT year, fill FROM lumi_verdicts WHERE id=?", (verdict_id,))
        found = row.fetchone()
        if found is None:
            raise KeyError(verdict_id)
        return int(found[0]), int(found[1])


def _columns(new: NewVerdict) -> tuple[Any, ...]:
    first, last = new.first or (None, None), new.last or (None, None)
    return (*first, *last, new.verdict, new.anomaly_type, new.reason, new.user)


def _insert(
    conn: sqlite3.Connection,
    year: int,
    fill: int,
    new: NewVerdict,
    source: str,
    now: float,
    *,
    log: bool = True,
) -> int:
    cursor = conn.execute(
        """INSERT INTO lumi_verdicts (year, fill, luminometer, first_run, first_ls, last_run,
             last_ls, verdict, anomaly_type, reason, user, source, updated)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (year, fill, new.luminometer, *_columns(new), source, now),
    )
    if log:
        _log(conn, "lumi_save", now, year, fill, new)
    return int(cursor.lastrowid or 0)


def _log(
    conn: sqlite3.Connection, action: str, now: float, year: int, fill: int, new: NewVerdict
) -> None:
    span = f"{format_bound(new.first) or 'start'}..{format_bound(new.last) or 'end'}"
    log_change(
        conn,
        action,
        now,
        year=year,
        fill=fill,
        verdict=new.verdict,
        anomaly_type=new.anomaly_type,
        comment=f"{new.luminometer} {span}: {new.reason}",
        user=new.user,
    )


def _bound(run: Any, ls: Any) -> LsBound:
    return None if run is None or ls is None else (int(run), int(ls))


def _verdict(row: sqlite3.Row) -> LumiVerdict:
    return LumiVerdict(
        id=int(row["id"]),
        year=int(row["year"]),
        fill=int(row["fill"]),
        luminometer=str(row["luminometer"]),
        first=_bound(row["first_run"], row["first_ls"]),
        last=_bound(row["last_run"], row["last_ls"]),
        verdict=str(row["verdict"]),
        anomaly_type=row["anomaly_type"],
        reason=str(row["reason"] or ""),
        user=str(row["user"] or ""),
        source=str(row["source"]),
        updated=float(row["updated"]),
    )

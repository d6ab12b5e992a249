"""Human verdicts per (year, fill, channel), stored in SQLite beside the results.

The database lives beside the results folder, not in it (default ``results.labels.sqlite``
next to ``results/``), and verdicts are keyed by (year, fill, channel) only, so a results
folder that is deleted and regenerated keeps its labels. Every save is one ``BEGIN IMMEDIATE``
transaction on a fresh connection in WAL mode: concurrent saves from several browsers (threads
of the web server, or several server processes) serialise on SQLite's write lock and none is
lost. Every change is also appended to ``verdict_log``, so an overwritten verdict can be traced.

Re-evaluation job states live here too, so that every page (and every server process) sees them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, cast
from urllib.parse import quote

from pltanomaly.channels.events import EVENT_TYPES

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11

log = logging.getLogger(__name__)

LABELS_SUFFIX = ".labels.sqlite"
SCHEMA_VERSION = 1

#: what an expert may say about one channel of one fill
VERDICTS = ("good", "bad")
#: ``skipped`` is stored like a verdict so that the evaluation queue counts it as seen
SKIPPED = "skipped"
#: the results contract's event types, plus ``other`` for what fits none of them
ANOMALY_TYPES = (*EVENT_TYPES, "other")

#: re-evaluation job states, in the order a job goes through them
PENDING = "PENDING_REEVALUATION"
RUNNING = "REEVALUATING"
FINISHED = "FINISHED"
ERROR = "ERROR"
JOB_STATES = (PENDING, RUNNING, FINISHED, ERROR)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    year INTEGER NOT NULL,
    fill INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('good', 'bad', 'skipped')),
    anomaly_type TEXT,
    comment TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL DEFAULT '',
    net_score REAL,
    net_status TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (year, fill, channel)
);
CREATE TABLE IF NOT EXISTS verdict_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    action TEXT NOT NULL,
    year INTEGER NOT NULL,
    fill INTEGER NOT NULL,
    channel INTEGER,
    verdict TEXT,
    anomaly_type TEXT,
    comment TEXT,
    user TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    year INTEGER NOT NULL,
    fill INTEGER NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    queued REAL,
    started REAL,
    finished REAL,
    PRIMARY KEY (year, fill)
);
"""


def log_change(
    conn: sqlite3.Connection,
    action: str,
    when: float,
    *,
    table: str = "verdict_log",
    **columns: Any,
) -> None:
    """Append one change (``action`` at ``when``, with ``columns``) to a verdict log table."""
    names = ("time", "action", *columns)
    conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        (when, action, *columns.values()),
    )


class LabelStoreError(RuntimeError):
    """The label database cannot be opened or written (read-only folder, network file system)."""


@dataclass(frozen=True)
class Verdict:
    year: int
    fill: int
    channel: int
    verdict: str
    anomaly_type: str | None
    comment: str
    user: str
    net_score: float | None
    net_status: str | None
    updated: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class VerdictDetails(TypedDict, total=False):
    """What a verdict may say besides its key, verdict and kind of fault (all optional)."""

    comment: str
    user: str
    net_score: float | None
    net_status: str | None


class JobState:
    """What every family's re-evaluation job (a dataclass with a ``state``) has in common."""

    state: str

    @property
    def active(self) -> bool:
        return self.state in (PENDING, RUNNING)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(cast(Any, self)), "active": self.active}


J = TypeVar("J", bound=JobState)
V = TypeVar("V")


@dataclass(frozen=True)
class Job(JobState):
    year: int
    fill: int
    state: str
    message: str
    queued: float | None
    started: float | None
    finished: float | None


def default_labels_path(results_dir: str | os.PathLike[str]) -> Path:
    """Where the labels of a results folder live unless told otherwise: beside the folder,
    ``results/`` -> ``results.labels.sqlite``, so that deleting and regenerating the results
    (``make clean``) keeps them."""
    folder = Path(os.path.abspath(results_dir))  # normalised, symlinks not followed
    return folder.parent / f"{folder.name}{LABELS_SUFFIX}"


def add_labels_option(parser: argparse.ArgumentParser) -> None:
    """A command's ``--labels`` option (None: :func:`default_labels_path` of its results)."""
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="label database (default: RESULTS.labels.sqlite, beside the folder)",
    )


class LabelStore:
    """SQLite store of verdicts and job states; safe to share between threads."""

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._jobs = JobTable(self, "jobs", ("year", "fill"), Job)
        self._verdicts = VerdictTable(
            self,
            "verdicts",
            {"year": int, "fill": int, "channel": int},
            Verdict,
            kind="anomaly_type",
            kinds=ANOMALY_TYPES,
        )
        self.journal_mode = "unknown"
        #: opened for reading only (a file or folder we may not write): writes raise
        self.read_only = False
        self._uri = f"file:{quote(str(self.path.absolute()))}"
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no label database at {self.path}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                self.journal_mode = str(mode).lower()
                if self.journal_mode != "wal":
                    log.warning(
                        "label database %s is in %s mode, not WAL (network file system?)",
                        self.path,
                        mode,
                    )
                conn.executescript(_SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except (sqlite3.Error, OSError) as exc:
            if not self._open_read_only():
                raise LabelStoreError(f"cannot open label database {self.path}: {exc}") from exc
            log.warning("label database %s is read-only: verdicts are shown, not saved", self.path)

    def _open_read_only(self) -> bool:
        """Fall back to reading an existing database we may not write; False if it is unusable.

        ``mode=ro`` needs a ``-shm`` file SQLite can create or find; in a read-only folder
        without one, ``immutable=1`` reads the file as it is.
        """
        if not self.path.is_file():
            return False
        base = self._uri
        for params in ("mode=ro", "immutable=1"):
            self._uri = f"{base}?{params}"
            try:
                with closing(self._connect()) as conn:
                    conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()
                    self.journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            except sqlite3.Error:
                continue
            self.read_only = True
            return True
        self._uri = base
        return False

    @property
    def read_only_message(self) -> str:
        return f"the label database {self.path} is read-only"

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # One short-lived connection per operation: no connection is ever shared between
        # threads, and autocommit mode (isolation_level=None) lets us issue BEGIN ourselves.
        conn = sqlite3.connect(self._uri, timeout=self.timeout, isolation_level=None, uri=True)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front (no deadlock).
        Other families' tables (pltanomaly.chambers.labels) write through it too."""
        if self.read_only:
            raise LabelStoreError(f"cannot write: {self.read_only_message}")
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise LabelStoreError(f"cannot open label database {self.path}: {exc}") from exc
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LabelStoreError(f"cannot write label database {self.path}: {exc}") from exc
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise LabelStoreError(f"cannot open label database {self.path}: {exc}") from exc
        try:
            yield conn
        except sqlite3.Error as exc:
            raise LabelStoreError(f"cannot read label database {self.path}: {exc}") from exc
        finally:
            conn.close()

    # -- verdicts ----------------------------------------------------------------------------
    def save(
        self,
        year: int,
        fill: int,
        channel: int,
        verdict: str,
        *,
        anomaly_type: str | None = None,
        **details: Unpack[VerdictDetails],
    ) -> Verdict:
        """Insert or replace the verdict on one channel; one transaction."""
        return self._verdicts.save((year, fill, channel), verdict, kind=anomaly_type, **details)

    def delete_fill(self, year: int, fill: int, *, user: str = "") -> int:
        """Remove every verdict (and skip) of one fill; return how many were removed."""
        return self._verdicts.delete((year, fill), user=user, action="delete_fill")

    def delete(self, year: int, fill: int, channel: int, *, user: str = "") -> bool:
        """Remove the verdict on one channel; return whether there was one."""
        return self._verdicts.delete((year, fill, channel), user=user) > 0

    def get(self, year: int, fill: int, channel: int) -> Verdict | None:
        rows = self._verdicts.select((year, fill, channel))
        return rows[0] if rows else None

    def for_fill(self, year: int, fill: int) -> dict[int, Verdict]:
        return {v.channel: v for v in self._verdicts.select((year, fill))}

    def all(self) -> list[Verdict]:
        return self._verdicts.select()

    def seen_keys(self) -> set[tuple[int, int, int]]:
        """(year, fill, channel) of every verdict, skips included."""
        with self.read() as conn:
            rows = conn.execute("SELECT year, fill, channel FROM verdicts").fetchall()
        return {(int(r[0]), int(r[1]), int(r[2])) for r in rows}

    def log_count(self) -> int:
        return self._verdicts.log_count()

    # -- re-evaluation jobs ------------------------------------------------------------------
    def set_job(self, year: int, fill: int, state: str, message: str = "") -> Job:
        return self._jobs.set((year, fill), state, message)

    def claim_job(self, year: int, fill: int, message: str = "") -> Job | None:
        """Put a fill in the queue unless it is already queued or running (then return None)."""
        return self._jobs.claim((year, fill), message)

    def job(self, year: int, fill: int) -> Job | None:
        return self._jobs.get((year, fill))

    def jobs(self) -> dict[tuple[int, int], Job]:
        return self._jobs.all()

    def fail_interrupted_jobs(self, message: str = "interrupted: the review server stopped") -> int:
        """Jobs left queued or running by a server that stopped can never finish: mark them."""
        return self._jobs.fail_interrupted(message)


class Table:
    """One table of a :class:`LabelStore`, whose rows are keyed by the columns ``keys``.

    ``optional``: the table may be missing (a read-only older database), then reads find nothing.
    """

    def __init__(
        self, store: LabelStore, table: str, keys: tuple[str, ...], *, optional: bool = False
    ) -> None:
        self.store = store
        self.table = table
        self.keys = keys
        self.optional = optional
        self._keys = ", ".join(keys)

    def _where(self, key: tuple[Any, ...]) -> str:
        """The WHERE condition on the first ``len(key)`` key columns."""
        return " AND ".join(f"{k}=?" for k in self.keys[: len(key)])

    def _named(self, key: tuple[Any, ...]) -> dict[str, Any]:
        """The first ``len(key)`` key columns with their values."""
        return dict(zip(self.keys[: len(key)], key, strict=True))

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.store.read() as conn:
            if (
                self.optional
                and not conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (self.table,)
                ).fetchone()
            ):
                return []
            return conn.execute(sql, args).fetchall()


class VerdictTable(Table, Generic[V]):
    """Expert verdicts in one table of a :class:`LabelStore`, keyed by ``keys`` (column -> type).

    Every change is appended to ``<table>_log`` (``verdict_log`` for ``verdicts``). ``kind`` is
    the column naming what went wrong, one of ``kinds``; rows are read as ``make(**keys,
    verdict=..., <kind>=..., comment=..., user=..., net_score=..., net_status=..., updated=...)``.
    """

    def __init__(
        self,
        store: LabelStore,
        table: str,
        keys: dict[str, type],
        make: Callable[..., V],
        *,
        kind: str,
        kinds: tuple[str, ...],
        optional: bool = False,
    ) -> None:
        super().__init__(store, table, tuple(keys), optional=optional)
        self.types = keys
        self.make = make
        self.kind = kind
        self.kinds = kinds
        self.log_table = f"{table.removesuffix('s')}_log"

    def _verdict(self, row: sqlite3.Row) -> V:
        return self.make(
            **{k: t(row[k]) for k, t in self.types.items()},
            verdict=str(row["verdict"]),
            **{self.kind: row[self.kind]},
            comment=str(row["comment"] or ""),
            user=str(row["user"] or ""),
            net_score=None if row["net_score"] is None else float(row["net_score"]),
            net_status=row["net_status"],
            updated=float(row["updated"]),
        )

    def save(
        self,
        key: tuple[Any, ...],
        verdict: str,
        *,
        kind: str | None = None,
        comment: str = "",
        user: str = "",
        net_score: float | None = None,
        net_status: str | None = None,
    ) -> V:
        """Insert or replace the verdict on one key; one transaction."""
        if verdict not in (*VERDICTS, SKIPPED):
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        if kind is not None and kind not in self.kinds:
            raise ValueError(f"unknown {self.kind.replace('_', ' ')} {kind!r}")
        now = time.time()
        values = {"verdict": verdict, self.kind: kind, "comment": comment, "user": user}
        row = (*key, *values.values(), net_score, net_status)
        with self.store.write() as conn:
            conn.execute(
                f"""INSERT INTO {self.table} ({self._keys}, verdict, {self.kind}, comment, user,
                                              net_score, net_status, updated)
                    VALUES ({", ".join("?" * (len(row) + 1))})
                    ON CONFLICT ({self._keys}) DO UPDATE SET
                      verdict=excluded.verdict, {self.kind}=excluded.{self.kind},
                      comment=excluded.comment, user=excluded.user, net_score=excluded.net_score,
                      net_status=excluded.net_status, updated=excluded.updated""",
                (*row, now),
            )
            log_change(conn, "save", now, table=self.log_table, **self._named(key), **values)
        return self.make(*row, now)

    def delete(self, key: tuple[Any, ...], *, user: str = "", action: str = "delete") -> int:
        """Remove the verdicts whose first key columns are ``key``; how many were removed."""
        with self.store.write() as conn:
            n = conn.execute(f"DELETE FROM {self.table} WHERE {self._where(key)}", key).rowcount
            log_change(
                conn,
                action,
                time.time(),
                table=self.log_table,
                **self._named(key),
                user=user,
            )
        return int(n)

    def select(self, key: tuple[Any, ...] = ()) -> list[V]:
        """The verdicts whose first key columns are ``key`` (all for none), in key order."""
        where = f"WHERE {self._where(key)} " if key else ""
        rows = self._rows(f"SELECT * FROM {self.table} {where}ORDER BY {self._keys}", key)
        return [self._verdict(r) for r in rows]

    def log_count(self) -> int:
        rows = self._rows(f"SELECT COUNT(*) FROM {self.log_table}")
        return int(rows[0][0]) if rows else 0


class JobTable(Table, Generic[J]):
    """Re-evaluation job states in one table of a :class:`LabelStore`, keyed by ``keys``.

    A job goes PENDING (queued) -> RUNNING (started) -> FINISHED or ERROR (finished); rows are
    read as ``make(**keys, state=..., message=..., queued=..., started=..., finished=...)``.
    """

    def __init__(
        self,
        store: LabelStore,
        table: str,
        keys: tuple[str, ...],
        make: Callable[..., J],
        *,
        optional: bool = False,
    ) -> None:
        super().__init__(store, table, keys, optional=optional)
        self.make = make

    def _job(self, row: sqlite3.Row) -> J:
        return self.make(
            **{k: int(row[k]) for k in self.keys},
            state=str(row["state"]),
            message=str(row["message"] or ""),
            queued=row["queued"],
            started=row["started"],
            finished=row["finished"],
        )

    def _row(self, conn: sqlite3.Connection, key: tuple[int, ...]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            f"SELECT * FROM {self.table} WHERE {self._where(key)}", key
        ).fetchone()
        return row

    def _queue(self, conn: sqlite3.Connection, key: tuple[int, ...], message: str) -> None:
        conn.execute(
            f"""INSERT INTO {self.table} ({self._keys}, state, message, queued, started, finished)
                VALUES ({", ".join("?" * len(key))}, ?, ?, ?, NULL, NULL)
                ON CONFLICT ({self._keys}) DO UPDATE SET state=excluded.state,
                  message=excluded.message, queued=excluded.queued, started=NULL,
                  finished=NULL""",
            (*key, PENDING, message, time.time()),
        )

    def set(self, key: tuple[int, ...], state: str, message: str = "") -> J:
        """Put a job in ``state`` (PENDING queues it afresh), whatever state it was in."""
        if state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}")
        with self.store.write() as conn:
            if state == PENDING:
                self._queue(conn, key, message)
            else:
                column = "started" if state == RUNNING else "finished"
                conn.execute(
                    f"""INSERT INTO {self.table} ({self._keys}, state, message, {column})
                        VALUES ({", ".join("?" * len(key))}, ?, ?, ?)
                        ON CONFLICT ({self._keys}) DO UPDATE SET state=excluded.state,
                          message=excluded.message, {column}=excluded.{column}""",
                    (*key, state, message, time.time()),
                )
            row = self._row(conn, key)
        assert row is not None
        return self._job(row)

    def claim(self, key: tuple[int, ...], message: str = "") -> J | None:
        """Queue a job unless it is already queued or running (then None)."""
        with self.store.write() as conn:
            row = self._row(conn, key)
            if row is not None and row["state"] in (PENDING, RUNNING):
                return None
            self._queue(conn, key, message)
            row = self._row(conn, key)
        assert row is not None
        return self._job(row)

    def get(self, key: tuple[int, ...]) -> J | None:
        rows = self._rows(f"SELECT * FROM {self.table} WHERE {self._where(key)}", key)
        return self._job(rows[0]) if rows else None

    def all(self) -> dict[Any, J]:
        """Every job by its key: the key's one value, or a tuple of several."""
        rows = self._rows(f"SELECT * FROM {self.table} ORDER BY {self._keys}")
        one = len(self.keys) == 1
        return {
            (int(r[self.keys[0]]) if one else tuple(int(r[k]) for k in self.keys)): self._job(r)
            for r in rows
        }

    def fail_interrupted(self, message: str) -> int:
        """Mark the jobs left queued or running (by a server that stopped) as ERROR."""
        with self.store.write() as conn:
            n = conn.execute(
                f"UPDATE {self.table} SET state=?, message=?, finished=? WHERE state IN (?, ?)",
                (ERROR, message, time.time(), PENDING, RUNNING),
            ).rowcount
        return int(n)

"""Expert verdicts on DT layers and DT re-evaluation jobs, in the review app's label database.

The tables sit beside the PLT ones (``verdicts``, ``jobs``) in the same SQLite file and go
through the same store (:class:`pltanomaly.review.labels.LabelStore`: one short connection and
one ``BEGIN IMMEDIATE`` transaction per write). Verdicts are keyed by (run, chamber, layer), so
regenerated results keep them; every change is appended to ``dt_verdict_log``. A read-only
database stays read-only: the tables are created only when the store may write, and reading a
database without them reads nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pltanomaly.review.labels import (
    JOB_STATES,
    PENDING,
    SKIPPED,
    JobState,
    JobTable,
    LabelStore,
    VerdictDetails,
    VerdictTable,
)

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11

#: what an expert may say went wrong in a layer (the detector's event types, plus ``other``)
FAULT_TYPES = (
    "dead_layer",
    "inefficient_layer",
    "dead_block",
    "hot_cell",
    "noisy_layer",
    "synchronous_noise",
    "other",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dt_verdicts (
    run INTEGER NOT NULL,
    chamber TEXT NOT NULL,
    layer INTEGER NOT NULL CHECK (layer BETWEEN 1 AND 12),
    verdict TEXT NOT NULL CHECK (verdict IN ('good', 'bad', 'skipped')),
    fault_type TEXT,
    comment TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL DEFAULT '',
    net_score REAL,
    net_status TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (run, chamber, layer)
);
CREATE TABLE IF NOT EXISTS dt_verdict_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    action TEXT NOT NULL,
    run INTEGER NOT NULL,
    chamber TEXT NOT NULL,
    layer INTEGER,
    verdict TEXT,
    fault_type TEXT,
    comment TEXT,
    user TEXT
);
CREATE TABLE IF NOT EXISTS dt_jobs (
    run INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    queued REAL,
    started REAL,
    finished REAL
);
"""


@dataclass(frozen=True)
class LayerVerdict:
    run: int
    chamber: str
    layer: int
    verdict: str
    fault_type: str | None
    comment: str
    user: str
    net_score: float | None
    net_status: str | None
    updated: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunJob(JobState):
    run: int
    state: str
    message: str
    queued: float | None
    started: float | None
    finished: float | None


class ChamberLabels:
    """The DT tables of one :class:`LabelStore`."""

    def __init__(self, store: LabelStore, *, create: bool = True) -> None:
        """``create``: make the tables if missing (never in a read-only store)."""
        self.store = store
        self._jobs = JobTable(store, "dt_jobs", ("run",), RunJob, optional=True)
        self._verdicts = VerdictTable(
            store,
            "dt_verdicts",
            {"run": int, "chamber": str, "layer": int},
            LayerVerdict,
            kind="fault_type",
            kinds=FAULT_TYPES,
            optional=True,
        )
        if create and not store.read_only:
            with store.write() as conn:
                for statement in SCHEMA.split(";"):
                    conn.execute(statement)

    # -- verdicts ----------------------------------------------------------------------------
    def save(
        self,
        run: int,
        chamber: str,
        layer: int,
        verdict: str,
        *,
        fault_type: str | None = None,
        **details: Unpack[VerdictDetails],
    ) -> LayerVerdict:
        """Insert or replace the verdict on one layer; one transaction."""
        return self._verdicts.save((run, chamber, layer), verdict, kind=fault_type, **details)

    def skip(self, run: int, chamber: str, layers: dict[int, Any], user: str = "") -> int:
        """Mark the chamber's unlabelled ``layers`` (layer -> its result) as skipped."""
        done = self.for_chamber(run, chamber)
        todo = {n: r for n, r in layers.items() if n not in done}
        for n, r in todo.items():
            self.save(
                run,
                chamber,
                n,
                SKIPPED,
                user=user,
                net_score=r.get("score"),
                net_status=r.get("status"),
            )
        return len(todo)

    def delete(self, run: int, chamber: str, layer: int, *, user: str = "") -> bool:
        """Remove the verdict on one layer; whether there was one."""
        return self._verdicts.delete((run, chamber, layer), user=user) > 0

    def for_chamber(self, run: int, chamber: str) -> dict[int, LayerVerdict]:
        return {v.layer: v for v in self._verdicts.select((run, chamber))}

    def for_run(self, run: int) -> dict[str, dict[int, LayerVerdict]]:
        out: dict[str, dict[int, LayerVerdict]] = {}
        for v in self._verdicts.select((run,)):
            out.setdefault(v.chamber, {})[v.layer] = v
        return out

    def all(self) -> list[LayerVerdict]:
        return self._verdicts.select()

    def log_count(self) -> int:
        return self._verdicts.log_count()

    # -- re-evaluation jobs ------------------------------------------------------------------
    def claim_job(self, run: int) -> RunJob | None:
        """Queue a run unless it is already queued or running (then None)."""
        return self._jobs.claim((run,))

    def set_job(self, run: int, state: str, message: str = "") -> RunJob:
        if state not in JOB_STATES or state == PENDING:
            raise ValueError(f"a claimed job cannot go to state {state!r}")
        return self._jobs.set((run,), state, message)

    def job(self, run: int) -> RunJob | None:
        return self._jobs.get((run,))

    def jobs(self) -> dict[int, RunJob]:
        return self._jobs.all()

    def fail_interrupted_jobs(self, message: str = "interrupted: the review server stopped") -> int:
        """Jobs left queued or running by a server that stopped can never finish: mark them."""
        return self._jobs.fail_interrupted(message)

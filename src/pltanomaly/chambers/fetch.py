"""Fetch one run's DT occupancy from the DQM GUI: 250 chambers, concurrently, with retries.

Each chamber is one GET of its jsonfairy path (:func:`~pltanomaly.chambers.geometry.dqm_path`).
urllib3's ``Retry`` repeats connection failures, time-outs before the answer and 5xx answers with
exponential back-off; an answer cut short (reset or time-out mid-body, truncated JSON) is asked
again the same number of times, so a chamber costs at most ``(retries + 1) ** 2`` requests. What
still fails is recorded per chamber (:class:`ChamberFailure`) and the run gets a status:

- ``finished``: every chamber fetched;
- ``partial``: some chambers missing;
- ``unknown_run``: every chamber answered 404 or no histogram at all (the GUI has no such run,
  or not yet);
- ``error``: no chamber usable, for other reasons (``reason`` says which).

:func:`write_run` writes one Parquet per run and a status record beside it (both atomically,
the record last). A Snakemake rule decides what to refetch with :func:`needs_fetch`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry

from pltanomaly import __version__
from pltanomaly.chambers.dqmgui import ChamberOccupancy, DqmAnswerError, parse_answer
from pltanomaly.chambers.geometry import CHAMBERS, Chamber, dqm_path
from pltanomaly.core.atomic import atomic_path, write_json_atomic

RETRY_STATUSES = (500, 502, 503, 504)
"""Answers worth asking again: the GUI is overloaded or restarting."""

RUN_STATUSES = ("finished", "partial", "unknown_run", "error")
FINAL_STATUSES = ("finished",)
"""Runs :func:`needs_fetch` leaves alone; an ``unknown_run`` is asked again (the GUI may not
have archived it yet)."""

ABSENT_KINDS = ("not_found", "absent")
"""Failure kinds that mean the GUI has no such histogram."""

METADATA_KEY = b"pltanomaly.dt_fetch"
"""The Parquet schema metadata key holding the fetch's JSON description."""

SCHEMA = pa.schema(
    [
        ("chamber", pa.string()),
        ("wheel", pa.int8()),
        ("station", pa.int8()),
        ("sector", pa.int8()),
        ("layer", pa.uint8()),
        ("wire", pa.uint16()),
        ("count", pa.float64()),
    ]
)
"""One row per existing cell (wire) of every fetched chamber; layer and wire are 1-based."""


@dataclass(frozen=True)
class ChamberFailure:
    """Why a chamber could not be fetched.

    ``kind``: ``http`` (an error status after the retries), ``not_found`` (404), ``timeout``,
    ``connection`` (refused, reset, TLS), ``truncated`` (the answer cut short), or one of
    :data:`~pltanomaly.chambers.dqmgui.ANSWER_KINDS` (``bad_json``, ``absent``, ``unsupported``,
    ``invalid``)."""

    kind: str
    detail: str
    http_status: int | None = None


@dataclass
class FetchResult:
    """One run's fetch: the chambers got and what could not be got."""

    run: int
    base_url: str
    status: str
    reason: str | None
    chambers: dict[str, ChamberOccupancy]
    failures: dict[str, ChamberFailure]
    fetched_at: str
    seconds: float
    version: str = field(default=__version__)

    def table(self) -> pa.Table:
        """The long-format table: existing cells only, chambers in :data:`CHAMBERS` order."""
        parts = [self.chambers[c.key] for c in CHAMBERS if c.key in self.chambers]
        layer, wire, count, index = [], [], [], []
        for i, occupancy in enumerate(parts):
            layers, wires = np.nonzero(occupancy.cells)
            layer.append(layers + 1)
            wire.append(wires + 1)
            count.append(occupancy.counts[layers, wires])
            index.append(np.full(len(layers), i))
        at = np.concatenate(index) if index else np.zeros(0, dtype=np.int64)
        geometry = np.array([o.chamber for o in parts], dtype=np.int8).reshape(-1, 3)
        keys = pa.array([o.chamber.key for o in parts], pa.string())
        columns = {
            "chamber": keys.take(pa.array(at, pa.int64())),
            "wheel": geometry[at, 0],
            "station": geometry[at, 1],
            "sector": geometry[at, 2],
            "layer": _joined(layer, np.uint8),
            "wire": _joined(wire, np.uint16),
            "count": _joined(count, np.float64),
        }
        table = pa.Table.from_pydict(columns, schema=SCHEMA)
        return table.replace_schema_metadata({METADATA_KEY: json.dumps(self.metadata())})

    def metadata(self) -> dict[str, Any]:
        """What the Parquet's schema metadata holds (as JSON)."""
        return {
            "run": self.run,
            "base_url": self.base_url,
            "fetched_at": self.fetched_at,
            "status": self.status,
            "reason": self.reason,
            "failures": {key: asdict(failure) for key, failure in self.failures.items()},
            "gui_entries": {key: o.gui_entries for key, o in self.chambers.items()},
            "version": self.version,
        }

    def record(self, parquet: str | Path) -> dict[str, Any]:
        """The status record written beside the Parquet."""
        return {
            "run": self.run,
            "status": self.status,
            "reason": self.reason,
            "base_url": self.base_url,
            "fetched_at": self.fetched_at,
            "seconds": round(self.seconds, 3),
            "parquet": Path(parquet).name,
            "chambers_fetched": len(self.chambers),
            "chambers_missing": len(self.failures),
            "entries": sum(o.entries for o in self.chambers.values()),
            "failures": {key: asdict(failure) for key, failure in self.failures.items()},
            "version": self.version,
        }


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def make_session(
    *,
    cert: str | Path | None = None,
    key: str | Path | None = None,
    verify: bool | str = True,
    retries: int = 4,
    backoff: float = 0.5,
) -> requests.Session:
    """A session that retries connections, time-outs and 5xx answers with back-off and
    presents the client certificate (``cert`` and ``key`` files; a grid proxy file serves as
    both)."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=1)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    if cert is not None:
        session.cert = (str(cert), str(key if key is not None else cert))
    session.headers["Accept"] = "application/json"
    return session


def chamber_url(base_url: str, run: int, chamber: Chamber) -> str:
    return base_url.rstrip("/") + dqm_path(run, chamber)


def fetch_chamber(
    session: requests.Session,
    run: int,
    base_url: str,
    chamber: Chamber,
    *,
    timeout: tuple[float, float],
    retries: int,
    backoff: float,
) -> ChamberOccupancy | ChamberFailure:
    """One chamber's occupancy, or why it could not be got; an answer cut short or not JSON
    is asked again up to ``retries`` times (urllib3 repeats the rest)."""
    url = chamber_url(base_url, run, chamber)
    for attempt in range(max(retries, 0) + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        answer, again = _ask(session, url, chamber, timeout)
        if not again:
            break
    return answer


def _ask(
    session: requests.Session, url: str, chamber: Chamber, timeout: tuple[float, float]
) -> tuple[ChamberOccupancy | ChamberFailure, bool]:
    """One GET (with urllib3's retries) and its answer; ``True`` if worth asking again."""
    try:
        response = session.get(url, timeout=timeout, stream=True)
    except requests.RequestException as exc:
        return ChamberFailure(_error_kind(exc), _one_line(exc)), False
    with response:
        if response.status_code != 200:
            kind = "not_found" if response.status_code == 404 else "http"
            return ChamberFailure(kind, response.reason or "", response.status_code), False
        try:
            body = response.content
        except requests.RequestException as exc:
            kind = "timeout" if _error_kind(exc) == "timeout" else "truncated"
            return ChamberFailure(kind, _one_line(exc)), True
    try:
        return parse_answer(body, chamber, url), False
    except DqmAnswerError as exc:
        return ChamberFailure(exc.kind, exc.what), exc.kind == "bad_json"


def _error_kind(error: BaseException) -> str:
    """``timeout`` or ``connection``: what a ``requests`` error was, under its wrappers
    (urllib3's refused connection is a subclass of its connect time-out)."""
    if isinstance(error, requests.Timeout):
        return "timeout"
    seen: BaseException | None = error
    for _ in range(8):
        if isinstance(seen, MaxRetryError):
            seen = seen.reason
        if seen is None or isinstance(seen, NewConnectionError):
            break
        if isinstance(seen, (Urllib3Timeout, TimeoutError)):
            return "timeout"
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = inner or seen.__cause__ or seen.__context__
    return "connection"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]


def fetch_run(
    run: int,
    base_url: str,
    *,
    cert: str | Path | None = None,
    key: str | Path | None = None,
    verify: bool | str = True,
    workers: int = 16,
    timeout: tuple[float, float] = (5, 30),
    retries: int = 4,
    backoff: float = 0.5,
    chambers: Iterable[Chamber] = CHAMBERS,
) -> FetchResult:
    """Download and validate every chamber of ``run`` from the DQM GUI at ``base_url``.

    ``timeout`` is (connect, read) seconds per request; ``retries`` and ``backoff`` (seconds,
    doubled each time) bound the repeats. Never raises for what the GUI answers: failures are
    in the result; ``ValueError`` for arguments out of range."""
    if workers < 1 or retries < 0 or backoff < 0 or min(timeout) <= 0:
        raise ValueError(f"fetch_run: {workers=}, {retries=}, {backoff=}, {timeout=}")
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def one(chamber: Chamber) -> ChamberOccupancy | ChamberFailure:
        session = getattr(local, "session", None)
        if session is None:
            session = make_session(
                cert=cert, key=key, verify=verify, retries=retries, backoff=backoff
            )
            local.session = session
            with lock:
                sessions.append(session)
        return fetch_chamber(
            session, run, base_url, chamber, timeout=timeout, retries=retries, backoff=backoff
        )

    wanted = list(chambers)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers = list(pool.map(one, wanted))
    finally:
        for session in sessions:
            session.close()
    got = {
        c.key: a for c, a in zip(wanted, answers, strict=True) if isinstance(a, ChamberOccupancy)
    }
    failed = {
        c.key: a for c, a in zip(wanted, answers, strict=True) if isinstance(a, ChamberFailure)
    }
    status, reason = run_status(run, len(wanted), failed)
    return FetchResult(
        run, base_url, status, reason, got, failed, fetched_at, time.perf_counter() - start
    )


def run_status(
    run: int, n_chambers: int, failures: dict[str, ChamberFailure]
) -> tuple[str, str | None]:
    """The run's status and reason from its chambers' failures."""
    if not failures:
        return "finished", None
    kinds = Counter(
        f"{f.kind} {f.http_status}" if f.http_status else f.kind for f in failures.values()
    )
    summary = ", ".join(f"{kind}: {n}" for kind, n in kinds.most_common())
    if len(failures) < n_chambers:
        return "partial", f"{len(failures)} of {n_chambers} chambers missing ({summary})"
    if all(f.kind in ABSENT_KINDS for f in failures.values()):
        return "unknown_run", f"the DQM GUI has no run {run} ({summary})"
    return "error", f"no chamber fetched ({summary})"


def write_run(result: FetchResult, parquet: str | Path, record: str | Path) -> dict[str, Any]:
    """Write the run's Parquet, then its status record (both atomically); return the record:
    ``run``, ``status``, ``reason``, ``base_url``, ``fetched_at``, ``seconds``, ``parquet`` (its
    file name), ``chambers_fetched``, ``chambers_missing``, ``entries`` (hits in valid cells),
    ``failures`` (chamber key -> ``kind``, ``detail``, ``http_status``), ``version``, ``rows``.

    Every status writes both files (an empty table when nothing was fetched), so the rule's
    outputs always exist and the record tells what they hold."""
    table = result.table()
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp)
    payload = result.record(parquet) | {"rows": table.num_rows}
    write_json_atomic(record, payload)
    return payload


def read_metadata(parquet: str | Path) -> dict[str, Any]:
    """The fetch description a run's Parquet carries."""
    return json.loads(pq.read_schema(parquet).metadata[METADATA_KEY])


def needs_fetch(status_record_path: str | Path) -> bool:
    """Whether a run must be fetched (again): no readable record, or a status that is not final
    (``partial``, ``error``, ``unknown_run``).

    How a Snakemake rule uses it: the fetch rule's outputs are the run's Parquet and its record;
    Snakemake runs the rule when an output is missing. At parse time the Snakefile removes the
    records of runs to refetch, so those outputs are missing and only they are fetched again::

        for run in DT_RUNS:
            record = Path(f"status/dt_fetch/{run}.json")
            if record.exists() and needs_fetch(record):
                record.unlink()

    New runs have no record and are fetched; finished runs keep theirs and are skipped. The
    records must be targets (inputs of ``rule all``): Snakemake does not remake a missing file
    whose dependants are all up to date.
    """
    try:
        record = json.loads(Path(status_record_path).read_text())
    except (OSError, ValueError):
        return True
    return not (isinstance(record, dict) and record.get("status") in FINAL_STATUSES)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dt-fetch", help="fetch one run's DT chamber occupancy from the DQM GUI to Parquet"
    )
    parser.add_argument("run", type=int, help="run number")
    parser.add_argument(
        "--dqmgui", required=True, help="DQM GUI base URL, e.g. https://cmsweb.cern.ch"
    )
    parser.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    parser.add_argument(
        "--status", type=Path, default=None, help="status record to write (default: OUT as .json)"
    )
    parser.add_argument("--cert", type=Path, default=None, help="client certificate (PEM)")
    parser.add_argument("--key", type=Path, default=None, help="its key (PEM, not encrypted)")
    parser.add_argument("--ca", type=Path, default=None, help="CA bundle or folder to trust")
    parser.add_argument("--workers", type=int, default=16, help="concurrent requests")
    parser.add_argument("--retries", type=int, default=4, help="repeats per chamber")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from pltanomaly.chambers.source import DqmSource

    source = DqmSource.checked(args.dqmgui, (args.run,), args.cert, args.key, args.ca)
    for path in (source.cert, source.key, source.ca):
        if path is not None and not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
    result = fetch_run(
        args.run,
        source.base_url,
        cert=source.cert,
        key=source.key,
        verify=str(source.ca) if source.ca else True,
        workers=args.workers,
        retries=args.retries,
    )
    record = write_run(result, args.out, args.status or args.out.with_suffix(".json"))
    print(
        f"run {result.run}: {result.status}, {record['chambers_fetched']} chambers, "
        f"{record['rows']} cells in {result.seconds:.1f} s"
        + (f" ({result.reason})" if result.reason else "")
    )
    return 0

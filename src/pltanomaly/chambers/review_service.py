"""The DT section's service: the runs under ``{results}/dt/``, their verdicts and jobs, the
evaluation queue; one per app, reached as :func:`current_dt`.

A run is known by any of its files: ``{run}.json`` (the detector's result, see the results
contract), ``{run}.parquet`` (the fetched occupancy, its fetch record in the Parquet metadata) or
a status record ``status/**/{run}.json``. Its fetch state is the result's ``status`` when there
is one, else the Parquet's record, else the status record; a run with none of them is loading.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import abort, current_app

from pltanomaly.chambers import calibrate as dt_calibrate
from pltanomaly.chambers.geometry import chamber_from_key
from pltanomaly.chambers.labels import ChamberLabels, LayerVerdict, RunJob
from pltanomaly.core.calibrate import Calibration, finite, fit
from pltanomaly.review.jobs import JobRunner
from pltanomaly.review.service import Review

log = logging.getLogger(__name__)

EXTENSION = "pltanomaly_dt_review"
FETCH_STATES = ("loading", "finished", "partial", "error")

DtDetectFn = Callable[[int, Path], dict[str, Any]]


def current_dt() -> DtReview:
    """The DT service of the app handling this request."""
    service: DtReview = current_app.extensions[EXTENSION]
    return service


def default_detect_fn(run: int, parquet: Path) -> dict[str, Any]:
    """``pltanomaly.chambers.detect.detect_run`` on the run's Parquet, imported when a job runs."""
    from pltanomaly.chambers.detect import detect_run
    from pltanomaly.chambers.load import load_parquet

    return detect_run(run, load_parquet(parquet))


class RunUnreadable(Exception):
    """A run's result file exists but is not a results-contract dict."""


@dataclass(frozen=True)
class RunSummary:
    run: int
    fetch_state: str
    reason: str | None
    problem: str | None
    evaluated: bool
    entries: int | None
    chambers: dict[str, int]
    max_score: float | None
    has_parquet: bool
    has_plot: bool

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


class DtResults:
    """Reads ``{results}/dt/``. Parsed run results (a few MB of JSON each) are kept while their
    file is unchanged (same modification time and size), the latest ``CACHED`` of them."""

    CACHED = 32

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: OrderedDict[int, tuple[tuple[int, int], dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def json_path(self, run: int) -> Path:
        return self.root / f"{run}.json"

    def parquet_path(self, run: int) -> Path:
        return self.root / f"{run}.parquet"

    def plot_path(self, run: int, chamber: str | None = None) -> Path:
        plots = self.root / "plots"
        return plots / f"{run}.png" if chamber is None else plots / str(run) / f"{chamber}.png"

    def _status_records(self) -> dict[int, Path]:
        folder = self.root / "status"
        if not folder.is_dir():
            return {}
        return {int(p.stem): p for p in folder.rglob("*.json") if p.stem.isdigit()}

    def runs(self) -> list[int]:
        if not self.root.is_dir():
            return []
        names = {int(p.stem) for p in self.root.glob("*.json") if p.stem.isdigit()}
        names |= {int(p.stem) for p in self.root.glob("*.parquet") if p.stem.isdigit()}
        return sorted(names | set(self._status_records()), reverse=True)

    def exists(self, run: int) -> bool:
        return run in self.runs()

    def load(self, run: int) -> dict[str, Any] | None:
        """The run's result (shared: not to be changed), None when there is none yet;
        RunUnreadable when it is broken."""
        path = self.json_path(run)
        try:
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            with self._lock:
                cached = self._cache.get(run)
                if cached is not None and cached[0] == version:
                    self._cache.move_to_end(run)
                    return cached[1]
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RunUnreadable(f"{path.name}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("chambers", {}), dict):
            raise RunUnreadable(f"{path.name}: not a DT run result")
        data.setdefault("chambers", {})
        with self._lock:
            self._cache[run] = (version, data)
            while len(self._cache) > self.CACHED:
                self._cache.popitem(last=False)
        return data

    def fetch_record(self, run: int) -> dict[str, Any] | None:
        """The fetch description in the Parquet metadata, else the status record."""
        from pltanomaly.chambers.fetch import read_metadata

        parquet = self.parquet_path(run)
        if parquet.is_file():
            try:
                return dict(read_metadata(parquet))
            except Exception as exc:
                log.warning("cannot read the fetch record of %s: %s", parquet, exc)
        record = self._status_records().get(run)
        if record is not None:
            try:
                data = json.loads(record.read_text())
                return data if isinstance(data, dict) else None
            except (OSError, ValueError):
                return None
        return None

    def summary(self, run: int) -> RunSummary:
        """The run's fetch state (``reason`` when not finished), its result's counts, and the
        ``problem`` of a result that cannot be read."""
        problem = None
        try:
            result = self.load(run)
        except RunUnreadable as exc:
            result, problem = None, str(exc)
        record = self.fetch_record(run)
        status = (result or {}).get("status") or (record or {}).get("status")
        state = {"finished": "finished", "partial": "partial", None: "loading"}.get(status, "error")
        if state == "loading" and problem:
            state = "error"
        reason = (result or {}).get("reason") or (record or {}).get("reason")
        if status == "unknown_run":
            reason = reason or "the DQM GUI does not know this run"
        counts: dict[str, int] = {}
        scores = []
        for info in (result or {}).get("chambers", {}).values():
            counts[str(info.get("status"))] = counts.get(str(info.get("status")), 0) + 1
            scores += [_score(layer) for layer in layers_of(info).values()]
        known = [s for s in scores if s is not None]
        return RunSummary(
            run=run,
            fetch_state=state,
            reason=reason,
            problem=problem,
            evaluated=result is not None and bool(result.get("chambers")),
            entries=(result or {}).get("entries"),
            chambers=counts,
            max_score=max(known) if known else None,
            has_parquet=self.parquet_path(run).is_file(),
            has_plot=self.plot_path(run).is_file(),
        )

    def hits(self, run: int, chamber: str) -> list[list[float]] | None:
        """The chamber's hits per layer (12 rows, -1 where no cell), None without a readable
        Parquet holding the chamber."""
        import pandas as pd

        path = self.parquet_path(run)
        if not path.is_file():
            return None
        columns = ["chamber", "layer", "wire", "count"]
        try:
            rows = pd.read_parquet(path, columns=columns, filters=[("chamber", "==", chamber)])
        except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
            log.warning("cannot read %s of %s: %s", chamber, path, exc)
            return None
        if rows.empty:
            return None
        width = int(rows["wire"].max())
        grid = [[-1.0] * width for _ in range(12)]
        for layer, wire, count in zip(rows["layer"], rows["wire"], rows["count"], strict=True):
            grid[int(layer) - 1][int(wire) - 1] = float(count)
        return grid


def layers_of(chamber: Any) -> dict[int, dict[str, Any]]:
    """A chamber result's layers that are objects, by layer number (others are left out)."""
    layers = chamber.get("layers") if isinstance(chamber, dict) else None
    if not isinstance(layers, dict):
        return {}
    return {int(n): r for n, r in layers.items() if str(n).isdigit() and isinstance(r, dict)}


def _score(layer: Any) -> float | None:
    return finite(layer.get("score")) if isinstance(layer, dict) else None


@dataclass(frozen=True)
class ChamberPick:
    """A chamber of the evaluation queue: its unlabelled layers and the least certain one, its
    detector score, P(bad) and that P's distance from the threshold."""

    run: int
    chamber: str
    layer: int
    score: float | None
    p_bad: float
    distance: float
    labelled: int
    unlabelled: int

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def rank_chambers(
    results: Iterable[dict[str, Any]],
    seen: set[tuple[int, str, int]],
    threshold: float,
    p_bad: Callable[[dict[str, Any]], float | None] | None = None,
) -> list[ChamberPick]:
    """Chambers with unlabelled layers that have a P(bad) (``p_bad(layer)``, default the
    detector's score), untouched chambers first, then by the distance of their least certain
    unlabelled layer's P from ``threshold``."""
    p_bad = p_bad or _score
    picks = []
    for result in results:
        run = int(result["run"])
        for key, info in (result.get("chambers") or {}).items():
            if not isinstance(info, dict) or info.get("status") == "not_judged":
                continue
            open_layers = []
            labelled = 0
            for number, layer in layers_of(info).items():
                p = p_bad(layer)
                if (run, key, number) in seen:
                    labelled += 1
                elif p is not None:
                    open_layers.append((abs(p - threshold), number, p))
            if open_layers:
                distance, nearest, p = min(open_layers)
                score = _score(layers_of(info)[nearest])
                picks.append(
                    ChamberPick(run, key, nearest, score, p, distance, labelled, len(open_layers))
                )
    picks.sort(key=lambda p: (p.labelled > 0, p.distance, -p.run, p.chamber))
    return picks


class RunReevaluator(JobRunner):
    """Runs the DT detector again on a run's stored Parquet and rewrites ``{run}.json``
    atomically; the run's fetch state (partial) is kept."""

    def __init__(
        self,
        results: DtResults,
        labels: ChamberLabels,
        detect_fn: DtDetectFn | None = None,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(executor)
        self.results = results
        self.labels = labels
        self.detect_fn = detect_fn or default_detect_fn

    def claim(self, key: Any) -> RunJob | None:
        return self.labels.claim_job(key[0])

    def job(self, key: Any) -> RunJob | None:
        return self.labels.job(key[0])

    def set_state(self, key: Any, state: str, message: str = "") -> RunJob:
        return self.labels.set_job(key[0], state, message)

    def work(self, key: Any) -> str:
        from pltanomaly.core.atomic import write_json_atomic

        (run,) = key
        parquet = self.results.parquet_path(run)
        if not parquet.is_file():
            raise FileNotFoundError(f"no dt/{run}.parquet to re-evaluate")
        before = self.results.summary(run)
        result = self.detect_fn(run, parquet)
        if not isinstance(result, dict) or not isinstance(result.get("chambers"), dict):
            raise ValueError("the detector returned no results-contract dict")
        if before.fetch_state == "partial" and result.get("status") == "finished":
            result = {**result, "status": "partial"}
        write_json_atomic(self.results.json_path(run), result)
        after = self.results.summary(run)
        return f"bad chambers {before.chambers.get('bad', 0)} -> {after.chambers.get('bad', 0)}"


class DtReview:
    """Everything the DT views share: the results, the DT tables of the review's label store,
    the re-evaluation runner; the store itself stays the review service's."""

    def __init__(
        self,
        review: Review,
        *,
        detect_fn: DtDetectFn | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.review = review
        self.results = DtResults(review.reader.root / "dt")
        self.detect_fn = detect_fn
        self.executor = executor
        self._labels: ChamberLabels | None = None
        self._runner: RunReevaluator | None = None
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.review.threshold

    @property
    def labels(self) -> ChamberLabels | None:
        store = self.review.store
        if store is None:
            return None
        with self._lock:
            if self._labels is None:
                self._labels = ChamberLabels(store)
                if not store.read_only:
                    self._labels.fail_interrupted_jobs()
            return self._labels

    def need_labels(self) -> ChamberLabels:
        """The DT tables, writable, or 503 with the reason."""
        self.review.need_store()
        labels = self.labels
        assert labels is not None
        return labels

    @property
    def runner(self) -> RunReevaluator:
        labels = self.need_labels()
        with self._lock:
            if self._runner is None:
                self._runner = RunReevaluator(self.results, labels, self.detect_fn, self.executor)
            return self._runner

    def shutdown(self) -> None:
        if self._runner is not None:
            self._runner.shutdown()

    def read(self, read: Callable[[ChamberLabels], Any], empty: Any) -> Any:
        """``read(labels)``, or ``empty`` when they cannot be read (the page says so, as
        :meth:`Review.read_labels` does for the PLT verdicts)."""

        def attempt(store: Any) -> Any:
            labels = self.labels
            return empty if labels is None else read(labels)

        return self.review.read_labels(attempt, empty)

    # runs ------------------------------------------------------------------------------------
    def known_run(self, run: int) -> None:
        if not self.results.exists(run):
            abort(404, f"no DT run {run}")

    def run_result(self, run: int) -> dict[str, Any]:
        """The run's readable result, or 404 (none yet) / 503 (unreadable)."""
        self.known_run(run)
        try:
            result = self.results.load(run)
        except RunUnreadable as exc:
            abort(503, f"the result of run {run} cannot be read now: {exc}")
        if result is None:
            abort(404, f"run {run} has no result yet")
        return result

    def chamber_of(self, run: int, chamber: str) -> dict[str, Any]:
        """The chamber's entry in the run's result (404 when the run does not have it)."""
        info = self.run_result(run)["chambers"].get(chamber)
        if not isinstance(info, dict):
            abort(404, f"run {run} has no chamber {chamber}")
        return info

    def layer_of(self, run: int, chamber: str, layer: int) -> dict[str, Any]:
        if layer not in chamber_from_key(chamber).layers:
            abort(404, f"chamber {chamber} has no layer {layer}")
        info = layers_of(self.chamber_of(run, chamber))
        if layer not in info:
            abort(404, f"layer {layer} of {chamber} was not judged in run {run}")
        return dict(info[layer])

    def run_rows(self) -> list[dict[str, Any]]:
        jobs: dict[int, RunJob] = self.read(ChamberLabels.jobs, {})
        verdicts: list[LayerVerdict] = self.read(ChamberLabels.all, [])
        counts: dict[int, dict[str, int]] = {}
        for v in verdicts:
            c = counts.setdefault(v.run, {"good": 0, "bad": 0, "skipped": 0})
            c[v.verdict] += 1
        rows = []
        for run in self.results.runs():
            row = self.results.summary(run).to_json()
            job = jobs.get(run)
            row["job"] = None if job is None else job.to_json()
            row["review"] = counts.get(run, {"good": 0, "bad": 0, "skipped": 0})
            rows.append(row)
        return rows

    # verdicts --------------------------------------------------------------------------------
    def save_verdict(self, run: int, chamber: str, layer: int, body: dict[str, Any]) -> Any:
        labels = self.need_labels()
        info = self.layer_of(run, chamber, layer)
        return labels.save(
            run, chamber, layer, **body, net_score=_score(info), net_status=info.get("status")
        )

    def unlabelled_layers(self, run: int, chamber: str) -> list[int]:
        """The chamber's judged layers without a verdict (or skip)."""
        done = self.read(lambda labels: labels.for_chamber(run, chamber), {})
        return sorted(n for n in layers_of(self.chamber_of(run, chamber)) if n not in done)

    def skip(self, run: int, chamber: str, user: str = "") -> int:
        labels = self.need_labels()
        return labels.skip(run, chamber, layers_of(self.chamber_of(run, chamber)), user)

    # evaluation queue ------------------------------------------------------------------------
    def calibration(self, verdicts: list[LayerVerdict]) -> Calibration:
        """The DT types' calibration fitted on ``verdicts`` (the prior while there are none)."""
        return fit(dt_calibrate.observations_from(verdicts, self.results))

    def eval_queue(self) -> list[ChamberPick]:
        """Chambers with unlabelled layers, ranked by :func:`rank_chambers` on P(bad) under
        the calibration of the DT verdicts so far."""
        verdicts: list[LayerVerdict] = self.read(ChamberLabels.all, [])
        seen = {(v.run, v.chamber, v.layer) for v in verdicts}
        results = []
        for run in self.results.runs():
            try:
                result = self.results.load(run)
            except RunUnreadable:
                continue
            if result is not None:
                results.append({**result, "run": run})
        calibration = self.calibration(verdicts)
        return rank_chambers(
            results,
            seen,
            self.threshold,
            lambda layer: dt_calibrate.layer_probability(layer, calibration),
        )

    def reevaluate(self, runs: Iterable[int]) -> list[RunJob]:
        runs = list(dict.fromkeys(runs))
        unknown = [str(r) for r in runs if not self.results.exists(r)]
        if unknown:
            abort(404, f"unknown DT run(s): {', '.join(unknown)}")
        missing = [str(r) for r in runs if not self.results.parquet_path(r).is_file()]
        if missing:
            abort(409, f"no occupancy to re-evaluate for run(s): {', '.join(missing)}")
        runner = self.runner
        return [runner.submit(r) for r in runs]

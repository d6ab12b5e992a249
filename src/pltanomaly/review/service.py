"""The review service: everything the pages and the API share (results reader, label store,
re-evaluation runner, threshold), one per app, reached as :func:`current_review`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from flask import abort, current_app, g

from pltanomaly.channels.calibration import observations_from
from pltanomaly.channels.detect.score import DECISION_SCORE
from pltanomaly.core.calibrate import Calibration, channel_evidence, fit
from pltanomaly.review.forms import FillQuery
from pltanomaly.review.jobs import DetectFn, PlotFn, Reevaluator
from pltanomaly.review.labels import (
    SKIPPED,
    Job,
    LabelStore,
    LabelStoreError,
    Verdict,
    default_labels_path,
)
from pltanomaly.review.queue import Candidate, precision_recall, rank
from pltanomaly.review.results import (
    FillNotFound,
    FillSummary,
    FillUnreadable,
    ResultsReader,
    valid_fill,
    valid_year,
)
from pltanomaly.review.series import SeriesCache
from pltanomaly.review.settings import (
    check_detector_settings,
    dead_channels_from,
    load_config,
    year_settings_from,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_THRESHOLD = DECISION_SCORE
EXTENSION = "pltanomaly_review"


def current_review() -> Review:
    """The review service of the app handling this request."""
    review: Review = current_app.extensions[EXTENSION]
    return review


def absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute against the working directory, symlinks kept: a ``results`` link
    is still read through (and its labels sit beside the link, as
    :func:`~pltanomaly.review.labels.default_labels_path` puts them)."""
    return Path(os.path.abspath(path))


def _day_start(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


class Review:
    """Everything the views share: reader, label store, job runner, threshold.

    The label store is opened on first use, and only once its folder exists: pointing the app
    at a results folder that is not there yet creates nothing, and the store appears as soon as
    the workflow has made the folder.
    """

    def __init__(
        self,
        reader: ResultsReader,
        db_path: Path,
        *,
        create_db_folder: bool,
        runner: Reevaluator | None,
        runner_factory: Callable[[LabelStore], Reevaluator],
        threshold: float,
        settings_for: Callable[[int], dict[str, Any]] = lambda year: {},
    ) -> None:
        self.reader = reader
        self.settings_for = settings_for
        self.db_path = db_path
        self.create_db_folder = create_db_folder
        self.threshold = threshold
        self.series = SeriesCache()
        self.store_error: str | None = None
        self._store: LabelStore | None = None
        self._runner = runner
        self._runner_factory = runner_factory
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        results_dir: str | os.PathLike[str],
        *,
        labels_db: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        threshold: float | None = None,
        detect_fn: DetectFn | None = None,
        plot_fn: PlotFn | None = None,
        executor: Executor | None = None,
        runner: Reevaluator | None = None,
    ) -> Review:
        """The service over ``results_dir`` (see :func:`pltanomaly.review.app.create_app`).

        The results folder and label database are made absolute here, once, against the
        working directory at start-up: everything that opens them later (Flask's ``send_file``
        resolves a relative path against the package folder) gets the same file.
        """
        cfg = load_config(config)
        check_detector_settings(cfg)  # invalid settings fail now, not in a job
        results_dir = absolute(results_dir)
        reader = ResultsReader(results_dir)

        def make_runner(store: LabelStore) -> Reevaluator:
            return Reevaluator(
                reader,
                store,
                detect_fn=detect_fn,
                plot_fn=plot_fn,
                settings=year_settings_from(cfg),
                dead_channels=dead_channels_from(cfg),
                executor=executor,
            )

        review = cls(
            reader,
            absolute(labels_db) if labels_db is not None else default_labels_path(results_dir),
            create_db_folder=labels_db is not None,
            runner=runner,
            runner_factory=make_runner,
            threshold=DEFAULT_THRESHOLD if threshold is None else float(threshold),
            settings_for=year_settings_from(cfg),
        )
        _ = review.store  # open it now when possible, so that a broken database shows at once
        return review

    @property
    def store(self) -> LabelStore | None:
        with self._lock:
            if self._store is None:
                if not self.create_db_folder and not self.db_path.parent.is_dir():
                    self.store_error = f"the folder of {self.db_path} does not exist yet"
                    return None
                try:
                    store = LabelStore(self.db_path)
                    if not store.read_only:
                        store.fail_interrupted_jobs()
                except LabelStoreError as exc:
                    self.store_error = str(exc)
                    log.error("%s", exc)
                    return None
                self._store = store
                self.store_error = store.read_only_message if store.read_only else None
            return self._store

    @property
    def runner(self) -> Reevaluator | None:
        if self._runner is None and (store := self.store) is not None:
            with self._lock:
                if self._runner is None:
                    self._runner = self._runner_factory(store)
        return self._runner

    def shutdown(self) -> None:
        if self._runner is not None:
            self._runner.shutdown()

    # labels ----------------------------------------------------------------------------------
    def need_store(self) -> LabelStore:
        """The store, writable, or 503 with the reason."""
        store = self.store
        if store is None or store.read_only:
            abort(503, f"verdicts cannot be stored: {self.store_error}")
        return store

    def read_labels(self, read: Callable[[LabelStore], T], empty: T) -> T:
        """``read(store)``, or ``empty`` when there is no store or it cannot be read now; the
        reason is kept in ``g.labels_error`` so that the page marks the labels unavailable."""
        store = self.store
        if store is None:
            return empty
        try:
            return read(store)
        except LabelStoreError as exc:
            log.error("%s", exc)
            g.labels_error = str(exc)
            return empty

    def all_verdicts(self) -> list[Verdict]:
        return self.read_labels(LabelStore.all, [])

    def verdict_index(self) -> dict[tuple[int, int], dict[int, Verdict]]:
        out: dict[tuple[int, int], dict[int, Verdict]] = {}
        for v in self.all_verdicts():
            out.setdefault((v.year, v.fill), {})[v.channel] = v
        return out

    def jobs(self) -> dict[tuple[int, int], Job]:
        return self.read_labels(LabelStore.jobs, {})

    # fills -----------------------------------------------------------------------------------
    def fill_row(
        self, fs: FillSummary, verdicts: dict[int, Verdict], job: Job | None
    ) -> dict[str, Any]:
        """The fill's summary with its verdict counts (None while the labels are unreadable)."""
        counts = {"good": 0, "bad": 0, "skipped": 0}
        for v in verdicts.values():
            counts[v.verdict] = counts.get(v.verdict, 0) + 1
        row = fs.to_json()
        row["review"] = (
            None if "labels_error" in g else {**counts, "labelled": counts["good"] + counts["bad"]}
        )
        row["job"] = None if job is None else job.to_json()
        return row

    def query_fills(self, q: FillQuery) -> list[dict[str, Any]]:
        years = self.reader.years()
        if q.year is not None:
            years = [q.year] if q.year in years else []
        index = self.verdict_index()
        jobs = self.jobs()
        rows = []
        for fs in self.reader.list_fills(years):
            row = self.fill_row(fs, index.get((fs.year, fs.fill), {}), jobs.get((fs.year, fs.fill)))
            if not self._match(row, q):
                continue
            rows.append(row)
        reverse = q.order == "desc"

        def key(row: dict[str, Any]) -> tuple[Any, ...]:
            value: Any = {
                "fill": (row["year"], row["fill"]),
                "year": (row["year"], row["fill"]),
                "date": row["start"],
                "score": row["score"],
                "events": row["n_events"],
                "status": row["status"],
                "reviewed": (row["review"] or {}).get("labelled"),
            }[q.sort]
            # missing values sort last whatever the order
            missing = value is None
            return (missing if not reverse else not missing, value if not missing else 0)

        rows.sort(key=lambda r: (r["year"], r["fill"]))
        rows.sort(key=key, reverse=reverse)
        return rows

    @staticmethod
    def _match(row: dict[str, Any], q: FillQuery) -> bool:
        labelled = (row["review"] or {}).get("labelled", 0)
        if q.status == "unreviewed" and labelled:
            return False
        if q.status == "reviewed" and not labelled:
            return False
        if q.status in ("anomalous", "normal", "failed", "skipped") and row["status"] != q.status:
            return False
        score = row["score"]
        if q.min_score is not None and (score is None or score < q.min_score):
            return False
        if q.max_score is not None and (score is None or score > q.max_score):
            return False
        if q.date_from is not None and (
            row["start"] is None or row["start"] < _day_start(q.date_from)
        ):
            return False
        if q.date_to is not None and (
            row["start"] is None or row["start"] >= _day_start(q.date_to + timedelta(days=1))
        ):
            return False
        return True

    def fill_exists(self, year: int, fill: int) -> bool:
        """The results know this fill (a result file or a log entry); any year/fill number."""
        return valid_year(year) and valid_fill(fill) and self.reader.fill_exists(year, fill)

    def known_fill(self, year: int, fill: int) -> None:
        """404 unless the results know this fill."""
        if not self.fill_exists(year, fill):
            abort(404, f"no fill {fill} in {year}")

    def fill_view(self, year: int, fill: int) -> tuple[Any, dict[str, Any] | None, dict, Any]:
        """A known fill's summary, result (None when unreadable), verdicts and job (or 404)."""
        self.known_fill(year, fill)
        summary = self.reader.summary(year, fill)
        try:
            result: dict[str, Any] | None = self.reader.load_fill(year, fill)
        except (FillNotFound, FillUnreadable):
            result = None
        none: dict[int, Verdict] = {}
        verdicts = self.read_labels(lambda store: store.for_fill(year, fill), none)
        job = self.read_labels(lambda store: store.job(year, fill), None)
        return summary, result, verdicts, job

    def fill_result(self, year: int, fill: int) -> dict[str, Any]:
        """The readable result of a fill, or 404 (unknown) / 503 (unreadable)."""
        try:
            return self.reader.load_fill(year, fill)
        except FillNotFound:
            abort(404, f"no result for fill {fill} in {year}")
        except FillUnreadable as exc:
            abort(503, f"the result of fill {fill} cannot be read now: {exc}")

    def channel_of(
        self, year: int, fill: int, channel: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        result = self.fill_result(year, fill)
        if channel not in result["channels"]:
            abort(404, f"fill {fill} has no channel {channel}")
        return result, result["channels"][channel]

    # evaluation queue ------------------------------------------------------------------------
    def calibration(self) -> Calibration:
        """Fitted on the verdicts so far (the uncalibrated detector while there are none)."""
        return fit(observations_from(self.all_verdicts(), self.reader))

    def eval_queue(self, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """Unlabelled live channels, the most informative first (review.queue); (first
        ``limit``, total)."""
        seen: set[tuple[int, int, int]] = self.read_labels(LabelStore.seen_keys, set())
        if "labels_error" in g:
            abort(503, f"the labels cannot be read, so the queue is unknown: {g.labels_error}")
        candidates = []
        for fs in self.reader.list_fills():
            channels: dict[int, Any] | None = None
            for ch, status in fs.channel_status.items():
                score = fs.channel_scores.get(ch)
                if status == "dead" or score is None or (fs.year, fs.fill, ch) in seen:
                    continue
                if channels is None:
                    channels = self._channels(fs.year, fs.fill)
                evidence = channel_evidence(channels.get(ch) or {})
                candidates.append(Candidate(fs.year, fs.fill, ch, score, status, evidence))
        picks = rank(candidates, self.calibration(), self.threshold, limit)
        return [p.to_json(self.threshold) for p in picks], len(candidates)

    def _channels(self, year: int, fill: int) -> dict[int, Any]:
        try:
            return dict(self.reader.load_fill(year, fill)["channels"])
        except (FillNotFound, FillUnreadable):
            return {}

    def detector_quality(self) -> dict[str, Any]:
        """The detector's precision and recall at the threshold, by the verdicts so far."""
        return precision_recall(
            ((v.net_score, v.verdict) for v in self.all_verdicts()), self.threshold
        )

    def skip_target(self, target: tuple[int, int, int] | None) -> tuple[int, int, int]:
        """The channel a skip names, or the head of the queue when it names none (404 if empty)."""
        if target is not None:
            return target
        queue, _ = self.eval_queue(limit=1)
        if not queue:
            abort(404, "nothing left to evaluate")
        return queue[0]["year"], queue[0]["fill"], queue[0]["channel"]

    def agreement(self) -> dict[str, Any] | None:
        """Detector vs verdicts (pltanomaly.review.agreement), None without a label store."""
        from pltanomaly.review.agreement import score_against_labels

        if self.store is None:
            return None
        return score_against_labels(self.reader.root, self.store.path)

    def save_verdict(self, year: int, fill: int, channel: int, body: dict[str, Any]) -> Verdict:
        """Save ``body`` (a :func:`~pltanomaly.review.forms.parse_verdict`, whose fields are the
        store's) on one channel, with the detector's score and status."""
        store = self.need_store()
        _, info = self.channel_of(year, fill, channel)
        return store.save(
            year, fill, channel, **body, net_score=info["score"], net_status=info["status"]
        )

    def skip(self, year: int, fill: int, channel: int, user: str = "") -> Verdict:
        return self.save_verdict(year, fill, channel, {"verdict": SKIPPED, "user": user})

    def reevaluate(self, fills: Iterable[tuple[int, int]]) -> list[Job]:
        self.need_store()
        if self.runner is None:
            abort(503, "re-evaluation is not available")
        pairs = list(dict.fromkeys(fills))
        unknown = [f"{y}/{f}" for y, f in pairs if not self.fill_exists(y, f)]
        if unknown:
            abort(404, f"unknown fill(s): {', '.join(unknown)}")
        no_series = [f"{y}/{f}" for y, f in pairs if not self.reader.series_path(y, f).exists()]
        if no_series:
            abort(409, f"no series to re-evaluate for: {', '.join(no_series)}")
        return [self.runner.submit(y, f) for y, f in pairs]

"""Re-evaluation: run the detector again with the current config on chosen fills, in the background.

Each fill's (or DT run's) job goes PENDING_REEVALUATION -> REEVALUATING -> FINISHED or ERROR; the
state is kept in the label database so every page (and every server process) shows it. The
detector function and the executor are injectable: tests pass a fake detector and a synchronous
executor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from pltanomaly.review.labels import ERROR, FINISHED, RUNNING, Job, LabelStore
from pltanomaly.review.results import FillUnreadable, ResultsReader, normalise_fill

log = logging.getLogger(__name__)

DetectFn = Callable[..., dict[str, Any]]


PlotFn = Callable[..., Any]


def default_detect_fn(series: Any, **kwargs: Any) -> dict[str, Any]:
    """``pltanomaly.channels.detect.detect_fill``, imported only when a job runs."""
    from pltanomaly.channels.detect import detect_fill

    return detect_fill(series, **kwargs)


def default_plot_fn(series: Any, result: dict[str, Any], out_png: Any, **kwargs: Any) -> Any:
    """``pltanomaly.channels.plot.plot_fill``, imported only when a job runs."""
    from pltanomaly.channels.plot import plot_fill

    return plot_fill(series, result, out_png, **kwargs)


class SyncExecutor(Executor):
    """Runs each job at once in the calling thread (tests, and ``--workers 0``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class JobRunner:
    """Runs keyed jobs on an executor, their states in the label database: queued (PENDING),
    running (REEVALUATING), then FINISHED with a message or ERROR with the exception.

    A subclass says how a key's job is claimed, recorded and done (``claim``, ``job``,
    ``set_state``, ``work``); the keys are the family's (a PLT fill, a DT run).
    """

    def __init__(self, executor: Executor | None = None) -> None:
        self.executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pltanomaly-reevaluate"
        )
        self._futures: dict[Any, Future[Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: Any) -> Any:
        """Queue the job of ``key`` (a tuple) unless it is queued or running (then None)."""
        raise NotImplementedError

    def job(self, key: Any) -> Any:
        raise NotImplementedError

    def set_state(self, key: Any, state: str, message: str = "") -> Any:
        raise NotImplementedError

    def work(self, key: Any) -> str:
        """Do the job; the FINISHED message."""
        raise NotImplementedError

    def submit(self, *key: Any) -> Any:
        """Queue one job; one already queued or running is left alone. Returns the job as this
        call left it (queued), not as the worker may already have moved it on."""
        job = self.claim(key)
        if job is None:  # already queued or running
            current = self.job(key)
            assert current is not None
            return current
        future = self.executor.submit(self._run, key)
        with self._lock:
            self._futures[key] = future
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Block until every job submitted so far has ended (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures.values())
        for f in futures:
            f.exception(timeout=timeout)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, key: Any) -> None:
        try:
            self.set_state(key, RUNNING)
            message = self.work(key)
        except BaseException as exc:  # every failure becomes a visible ERROR state
            log.warning("re-evaluation of %s failed: %s", key, exc)
            try:
                self.set_state(key, ERROR, f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("could not record the failure of %s", key)
            return
        self.set_state(key, FINISHED, message)


class Reevaluator(JobRunner):
    """Queues fills for re-evaluation and runs them on an executor.

    ``settings(year)`` and ``dead_channels(year)`` give the detector's inputs from the current
    config. The fill's plot is redrawn (``plot_fn``) when the new result is anomalous or a plot
    existed; a plot failure is reported in the FINISHED message, the new result is kept.
    """

    def __init__(
        self,
        reader: ResultsReader,
        store: LabelStore,
        *,
        detect_fn: DetectFn | None = None,
        plot_fn: PlotFn | None = None,
        settings: Callable[[int], Mapping[str, Any] | None] | None = None,
        dead_channels: Callable[[int], Iterable[int]] | None = None,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(executor)
        self.reader = reader
        self.store = store
        self.detect_fn = detect_fn or default_detect_fn
        self.plot_fn = plot_fn or default_plot_fn
        self.settings = settings or (lambda year: None)
        self.dead_channels = dead_channels or (lambda year: ())

    def claim(self, key: Any) -> Job | None:
        return self.store.claim_job(*key)

    def job(self, key: Any) -> Job | None:
        return self.store.job(*key)

    def set_state(self, key: Any, state: str, message: str = "") -> Job:
        year, fill = key
        return self.store.set_job(year, fill, state, message)

    def work(self, key: Any) -> str:
        return self._reevaluate(*key)

    def _reevaluate(self, year: int, fill: int) -> str:
        import pandas as pd

        from pltanomaly.core.atomic import write_json_atomic

        series_path = self.reader.series_path(year, fill)
        if not series_path.exists():
            raise FileNotFoundError(f"no series file fills/{fill}.parquet to re-evaluate")
        series = pd.read_parquet(series_path)
        before = None
        try:
            before = self.reader.summary(year, fill).score
        except Exception:
            pass
        settings = self.settings(year)
        settings = dict(settings) if settings else None
        result = self.detect_fn(
            series,
            fill=fill,
            year=year,
            settings=settings,
            dead_channels=tuple(self.dead_channels(year)),
        )
        # refuse to overwrite a good result with one the pages could not read
        try:
            checked = normalise_fill(result, year, fill)
        except FillUnreadable as exc:
            raise ValueError(f"the detector returned an invalid result: {exc}") from None
        plot_note = ""
        plot_path = self.reader.plot_path(year, fill)
        if checked["anomalous"] or plot_path.exists():
            try:
                self.plot_fn(series, result, plot_path, year=year, settings=settings)
            except Exception as exc:
                log.warning("plot of re-evaluated fill %s failed: %s", fill, exc)
                plot_note = f"; plot not redrawn ({type(exc).__name__}: {exc})"
        write_json_atomic(self.reader.json_path(year, fill), result)
        after = self.reader.summary(year, fill).score
        return f"max score {_fmt(before)} -> {_fmt(after)}{plot_note}"


def _fmt(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.3f}"

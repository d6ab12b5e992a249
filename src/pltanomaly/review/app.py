"""The review web app: Flask app factory, pages and JSON API over one results folder.

Pages (server-rendered; the only JavaScript draws the interactive chart and polls job states):

- ``/fills``: every fill of every year, filterable and sortable, with the year heatmap;
- ``/fills/<year>/<fill>``: plot, interactive per-channel chart, channel table, verdict forms;
- ``/eval/next``: the unlabelled (fill, channel) nearest the decision threshold; ``/eval/skip``;
- ``/agreement``: detector vs human verdicts.

JSON API (under ``/api``): ``GET fills``, ``GET fills/<y>/<f>``, ``GET fills/<y>/<f>/series``,
``PATCH|DELETE fills/<y>/<f>/channels/<c>``, ``DELETE fills/<y>/<f>/verdicts``,
``GET user_scores.json``, ``GET net_scores.json``, ``POST reevaluate``, ``GET jobs``,
``GET eval/next``, ``POST eval/skip``, ``GET agreement.json``.
"""

from __future__ import annotations

import gzip
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from pltanomaly.events import format_magnitude
from pltanomaly.review import heatmap, security
from pltanomaly.review.jobs import DetectFn, PlotFn, Reevaluator
from pltanomaly.review.labels import (
    ANOMALY_TYPES,
    SKIPPED,
    VERDICTS,
    Job,
    LabelStore,
    LabelStoreError,
    Verdict,
    default_labels_path,
)
from pltanomaly.review.results import (
    FillNotFound,
    FillSummary,
    FillUnreadable,
    ResultsReader,
    valid_channel,
    valid_fill,
    valid_year,
)
from pltanomaly.review.series import DEFAULT_POINTS, MAX_POINTS, SeriesCache, SeriesError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_THRESHOLD = 0.5
FILL_STATUSES = ("anomalous", "normal", "failed", "skipped", "unreviewed", "reviewed")
SORT_KEYS = ("fill", "year", "date", "score", "events", "status", "reviewed")
MAX_COMMENT = 2000
MAX_USER = 64
USER_COOKIE = "pltanomaly_user"


# ----------------------------------------------------------------------------------------------
# configuration helpers
# ----------------------------------------------------------------------------------------------
def load_config(config: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    """The workflow config as a dict (a YAML path is read; None gives {})."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    import yaml

    with open(config, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{config}: the config is not a YAML mapping")
    return data


def detector_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    settings = config.get("detector") or {}
    if not isinstance(settings, Mapping):
        raise ValueError("config key 'detector' must be a mapping")
    return dict(settings)


def _year_entry(config: Mapping[str, Any], year: int) -> Mapping[str, Any]:
    years = config.get("years")
    if not isinstance(years, Mapping):
        return {}
    entry = years.get(year, years.get(str(year)))
    return entry if isinstance(entry, Mapping) else {}


def year_settings_from(config: Mapping[str, Any]) -> Callable[[int], dict[str, Any]]:
    """year -> detector settings as the workflow uses them: ``detector`` overlaid with
    ``years.{year}.detector`` (pltanomaly.config.year_configs)."""
    base = detector_settings(config)

    def lookup(year: int) -> dict[str, Any]:
        extra = _year_entry(config, year).get("detector") or {}
        return {**base, **(dict(extra) if isinstance(extra, Mapping) else {})}

    return lookup


def dead_channels_from(config: Mapping[str, Any]) -> Callable[[int], list[int]]:
    """year -> configured dead channels (``years.{year}.dead_channels``; [] when none)."""

    def lookup(year: int) -> list[int]:
        entry = _year_entry(config, year).get("dead_channels")
        return [int(c) for c in entry] if isinstance(entry, list | tuple) else []

    return lookup


# ----------------------------------------------------------------------------------------------
# request parsing
# ----------------------------------------------------------------------------------------------
@dataclass
class FillQuery:
    year: int | None = None
    status: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "fill"
    order: str = "asc"
    page: int = 1
    per_page: int = 200
    args: dict[str, str] = field(default_factory=dict)


def _arg(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    return value.strip() if value and value.strip() else None


def parse_fill_query(args: Mapping[str, str]) -> FillQuery:
    """Filters and sorting from the query string; a bad value is a 400 with the reason."""
    q = FillQuery()
    try:
        if (v := _arg(args, "year")) is not None:
            q.year = int(v)
        if (v := _arg(args, "min_score")) is not None:
            q.min_score = float(v)
        if (v := _arg(args, "max_score")) is not None:
            q.max_score = float(v)
        if (v := _arg(args, "date_from")) is not None:
            q.date_from = date.fromisoformat(v)
        if (v := _arg(args, "date_to")) is not None:
            q.date_to = date.fromisoformat(v)
        if (v := _arg(args, "page")) is not None:
            q.page = int(v)
        if (v := _arg(args, "per_page")) is not None:
            q.per_page = int(v)
    except ValueError as exc:
        abort(400, f"bad query parameter: {exc}")
    q.status = _arg(args, "status")
    if q.status is not None and q.status not in FILL_STATUSES:
        abort(400, f"status must be one of {', '.join(FILL_STATUSES)}")
    q.sort = _arg(args, "sort") or "fill"
    if q.sort not in SORT_KEYS:
        abort(400, f"sort must be one of {', '.join(SORT_KEYS)}")
    q.order = _arg(args, "order") or ("desc" if q.sort in ("score", "events") else "asc")
    if q.order not in ("asc", "desc"):
        abort(400, "order must be asc or desc")
    if not 1 <= q.page <= 100_000 or not 1 <= q.per_page <= 5000:
        abort(400, "page must be >= 1 and per_page in 1..5000")
    q.args = {
        k: v
        for k in (
            "year",
            "status",
            "min_score",
            "max_score",
            "date_from",
            "date_to",
            "sort",
            "order",
            "per_page",
        )
        if (v := _arg(args, k)) is not None
    }
    return q


def parse_verdict(data: Any, *, strict: bool) -> dict[str, Any]:
    """Validate a verdict body (JSON object or form). strict: unknown keys are an error too."""
    if not isinstance(data, Mapping):
        abort(400, "the body must be a JSON object")
    allowed = {"verdict", "anomaly_type", "comment", "user"}
    if strict and (extra := set(data) - allowed):
        abort(400, f"unknown field(s): {', '.join(sorted(map(str, extra)))}")
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        abort(400, f"'verdict' must be one of {', '.join(VERDICTS)}")
    anomaly_type = data.get("anomaly_type") or None
    if anomaly_type is not None and anomaly_type not in ANOMALY_TYPES:
        abort(400, f"'anomaly_type' must be one of {', '.join(ANOMALY_TYPES)} (or empty)")
    if verdict == "good" and anomaly_type is not None:
        abort(400, "a 'good' verdict takes no anomaly_type")
    comment = _text(data, "comment", MAX_COMMENT)
    user = _text(data, "user", MAX_USER)
    return {
        "verdict": verdict,
        "anomaly_type": anomaly_type,
        "comment": comment.strip(),
        "user": user.strip(),
    }


def _text(data: Mapping[str, Any], name: str, max_len: int) -> str:
    """A free-text field: a string of at most ``max_len`` characters that UTF-8 can store."""
    value = data.get(name) or ""
    if not isinstance(value, str) or len(value) > max_len:
        abort(400, f"'{name}' must be a string of at most {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        abort(400, f"'{name}' is not valid Unicode text (a lone surrogate?)")
    return value


def _int_field(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool):
        abort(400, f"'{name}' must be an integer")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        abort(400, f"'{name}' must be an integer")
    return value


def _json_body() -> Any:
    if not request.is_json:
        abort(400, "send a JSON body with Content-Type: application/json")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        abort(400, "the JSON body is nested too deeply")
    if data is None:
        abort(400, "the body is not valid JSON")
    return data


# ----------------------------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------------------------
def fmt_time(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime(fmt)


def fmt_score(score: float | None) -> str:
    return "–" if score is None else f"{score:.3f}"


def _day_start(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


# ----------------------------------------------------------------------------------------------
# the application
# ----------------------------------------------------------------------------------------------
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

    def known_fill(self, year: int, fill: int) -> None:
        """404 unless the results know this fill (a result file or a log entry)."""
        if not (valid_year(year) and valid_fill(fill) and self.reader.fill_exists(year, fill)):
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
        if not (valid_year(year) and valid_fill(fill)):
            abort(404, f"no fill {fill} in {year}")
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
        if not valid_channel(channel) or channel not in result["channels"]:
            abort(404, f"fill {fill} has no channel {channel}")
        return result, result["channels"][channel]

    # evaluation queue ------------------------------------------------------------------------
    def eval_queue(self, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """Unlabelled live channels, nearest the threshold first; (first ``limit``, total)."""
        seen: set[tuple[int, int, int]] = self.read_labels(LabelStore.seen_keys, set())
        if "labels_error" in g:
            abort(503, f"the labels cannot be read, so the queue is unknown: {g.labels_error}")
        items = []
        for fs in self.reader.list_fills():
            for ch, status in fs.channel_status.items():
                score = fs.channel_scores.get(ch)
                if status == "dead" or score is None or (fs.year, fs.fill, ch) in seen:
                    continue
                items.append((abs(score - self.threshold), fs.year, fs.fill, ch, score, status))
        items.sort()
        head = items if limit is None else items[:limit]
        return [
            {"year": y, "fill": f, "channel": c, "score": s, "status": st, "distance": d}
            for d, y, f, c, s, st in head
        ], len(items)

    def save_verdict(self, year: int, fill: int, channel: int, body: dict[str, Any]) -> Verdict:
        store = self.need_store()
        _, info = self.channel_of(year, fill, channel)
        return store.save(
            year,
            fill,
            channel,
            body["verdict"],
            anomaly_type=body["anomaly_type"],
            comment=body["comment"],
            user=body["user"],
            net_score=info["score"],
            net_status=info["status"],
        )

    def skip(self, year: int, fill: int, channel: int, user: str = "") -> Verdict:
        store = self.need_store()
        _, info = self.channel_of(year, fill, channel)
        return store.save(
            year,
            fill,
            channel,
            SKIPPED,
            user=user,
            net_score=info["score"],
            net_status=info["status"],
        )

    def reevaluate(self, fills: Iterable[tuple[int, int]]) -> list[Job]:
        self.need_store()
        if self.runner is None:
            abort(503, "re-evaluation is not available")
        pairs = list(dict.fromkeys(fills))
        unknown = [
            f"{y}/{f}"
            for y, f in pairs
            if not (valid_year(y) and valid_fill(f) and self.reader.fill_exists(y, f))
        ]
        if unknown:
            abort(404, f"unknown fill(s): {', '.join(unknown)}")
        no_series = [f"{y}/{f}" for y, f in pairs if not self.reader.series_path(y, f).exists()]
        if no_series:
            abort(409, f"no series to re-evaluate for: {', '.join(no_series)}")
        return [self.runner.submit(y, f) for y, f in pairs]


def create_app(
    results_dir: str | os.PathLike[str],
    *,
    labels_db: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    detect_fn: DetectFn | None = None,
    plot_fn: PlotFn | None = None,
    executor: Executor | None = None,
    runner: Reevaluator | None = None,
    allowed_hosts: Iterable[str] | None = None,
) -> Flask:
    """The review app over ``results_dir``.

    ``labels_db`` defaults to ``{results_dir}.labels.sqlite`` beside the folder. ``config`` is the
    workflow config (dict or YAML path): re-evaluation uses ``detector`` overlaid with
    ``years.{year}.detector``, and ``years.{year}.dead_channels``. ``threshold`` (default 0.5,
    where the detector's score says "anomalous") orders the evaluation queue.
    ``detect_fn``/``plot_fn``/``executor`` or a whole ``runner`` replace the re-evaluation
    machinery (tests). ``allowed_hosts``: host names served besides the loopback names (against
    DNS rebinding, see :mod:`pltanomaly.review.security`).
    """
    cfg = load_config(config)
    detector_settings(cfg)  # a malformed 'detector' entry fails now, not in a job
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)

    reader = ResultsReader(results_dir)
    db_path = Path(labels_db) if labels_db is not None else default_labels_path(results_dir)

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

    review = Review(
        reader,
        db_path,
        create_db_folder=labels_db is not None,
        runner=runner,
        runner_factory=make_runner,
        threshold=threshold,
        settings_for=year_settings_from(cfg),
    )
    _ = review.store  # open it now when possible, so that a broken database shows at once

    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)  # flash messages only; per process is fine
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["pltanomaly_review"] = review
    app.jinja_env.filters["utc"] = fmt_time
    app.jinja_env.filters["score"] = fmt_score
    app.jinja_env.filters["magnitude"] = format_magnitude
    app.jinja_env.globals.update(
        anomaly_types=ANOMALY_TYPES,
        fill_statuses=FILL_STATUSES,
        heatmap_css=Markup(heatmap.css()),
        threshold=threshold,
        results_dir=str(reader.root),
        labels_path=str(db_path),
    )

    def api() -> bool:
        return request.path.startswith("/api/")

    security.init_app(app, allowed_hosts)

    @app.after_request
    def compress(response: Any) -> Any:
        """gzip large JSON/HTML answers (the series of a long fill, over an SSH tunnel)."""
        if (
            response.direct_passthrough
            or response.status_code != 200
            or "Content-Encoding" in response.headers
            or "gzip" not in request.headers.get("Accept-Encoding", "")
            or response.mimetype not in ("application/json", "text/html")
        ):
            return response
        data = response.get_data()
        if len(data) < 20_000:
            return response
        response.set_data(gzip.compress(data, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response

    @app.context_processor
    def common() -> dict[str, Any]:
        return {
            "user_name": request.cookies.get(USER_COOKIE, "")[:MAX_USER],
            "store_error": review.store_error,
            "labels_error": g.get("labels_error"),
        }

    # -- errors --------------------------------------------------------------------------------
    def error_response(code: int, title: str, message: str | None) -> Any:
        if api():
            return jsonify(error=title, message=message), code
        try:
            return render_template("error.html", code=code, title=title, message=message), code
        except Exception:  # e.g. an untrusted Host: no URL adapter to render the page with
            head = f"{code} {escape(title)}"
            body = f"<!doctype html><title>{head}</title><h1>{head}</h1>"
            return f"{body}<p>{escape(message or '')}</p>", code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return error_response(exc.code or 500, exc.name, exc.description)

    @app.errorhandler(LabelStoreError)
    def store_error(exc: LabelStoreError) -> Any:
        log.error("%s", exc)
        return error_response(503, "Label store unavailable", str(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s", request.path)
        message = "Something went wrong on the server; the details are in the server log."
        return error_response(500, "Internal Server Error", message)

    # -- pages ---------------------------------------------------------------------------------
    @app.get("/")
    def index() -> Any:
        return redirect(url_for("fills_page"))

    @app.get("/fills")
    def fills_page() -> Any:
        q = parse_fill_query(request.args)
        problem = reader.root_problem()
        years = reader.years()
        rows = [] if problem else review.query_fills(q)
        notices = [
            n for y in ([q.year] if q.year in years else years) for n in reader.year_notices(y)
        ]
        map_year = q.year if q.year in years else (years[-1] if years else None)
        svg = Markup("")
        if map_year is not None:
            verdicts = {
                (v.year, v.fill, v.channel): v.verdict
                for v in review.all_verdicts()
                if v.year == map_year
            }
            svg = heatmap.render(
                reader.list_fills([map_year]),
                verdicts,
                lambda y, f: url_for("fill_page", year=y, fill=f),
            )
        n_pages = max(1, (len(rows) + q.per_page - 1) // q.per_page)
        page = min(q.page, n_pages)
        shown = rows[(page - 1) * q.per_page : page * q.per_page]

        def url_with(**changes: Any) -> str:
            args = {**q.args, **{k: v for k, v in changes.items() if v is not None}}
            for k, v in changes.items():
                if v is None:
                    args.pop(k, None)
            return url_for("fills_page", **args)

        return render_template(
            "fills.html",
            q=q,
            rows=shown,
            n_rows=len(rows),
            page=page,
            n_pages=n_pages,
            years=years,
            problem=problem,
            notices=notices,
            map_year=map_year,
            heatmap_svg=svg,
            legend=heatmap.legend(),
            url_with=url_with,
            sort_keys=SORT_KEYS,
        )

    @app.get("/fills/<int:year>/<int:fill>")
    def fill_page(year: int, fill: int) -> Any:
        summary, result, verdicts, job = review.fill_view(year, fill)
        fills = [(fs.year, fs.fill) for fs in reader.list_fills([year])]
        pos = fills.index((year, fill)) if (year, fill) in fills else -1
        prev_fill = fills[pos - 1][1] if pos > 0 else None
        next_fill = fills[pos + 1][1] if 0 <= pos < len(fills) - 1 else None
        return render_template(
            "fill.html",
            summary=summary,
            result=result,
            verdicts=verdicts,
            job=job,
            log_entry=reader.logs(year).get(fill),
            prev_fill=prev_fill,
            next_fill=next_fill,
        )

    @app.get("/plots/<int:year>/<int:fill>.png")
    def plot(year: int, fill: int) -> Any:
        if not (valid_year(year) and valid_fill(fill)):
            abort(404)
        path = reader.plot_path(year, fill)
        if not path.is_file():
            abort(404, f"no plot for fill {fill} in {year}")
        return send_file(path, mimetype="image/png", max_age=0, conditional=True)

    @app.post("/fills/<int:year>/<int:fill>/channels/<int:channel>/verdict")
    def verdict_form(year: int, fill: int, channel: int) -> Any:
        form = request.form.to_dict()
        form.setdefault("user", request.cookies.get(USER_COOKIE, ""))
        body = parse_verdict(form, strict=False)
        review.save_verdict(year, fill, channel, body)
        flash(f"Saved: fill {fill} channel {channel} is {body['verdict']}.")
        if form.get("next") == "eval":
            response = redirect(url_for("eval_next"))
        else:
            response = redirect(url_for("fill_page", year=year, fill=fill) + f"#ch{channel}")
        if body["user"]:
            response.set_cookie(USER_COOKIE, body["user"], max_age=3600 * 24 * 365, samesite="Lax")
        return response

    @app.post("/fills/<int:year>/<int:fill>/verdicts/delete")
    def delete_form(year: int, fill: int) -> Any:
        review.known_fill(year, fill)
        n = review.need_store().delete_fill(year, fill, user=request.cookies.get(USER_COOKIE, ""))
        flash(f"Deleted {n} verdict(s) of fill {fill}.")
        return redirect(url_for("fill_page", year=year, fill=fill))

    @app.post("/fills/<int:year>/<int:fill>/reevaluate")
    def reevaluate_form(year: int, fill: int) -> Any:
        review.reevaluate([(year, fill)])
        flash(f"Fill {fill} queued for re-evaluation.")
        return redirect(url_for("fill_page", year=year, fill=fill))

    @app.post("/reevaluate")
    def reevaluate_many_form() -> Any:
        pairs = []
        for value in request.form.getlist("fill"):
            y, _, f = value.partition("/")
            if not (y.isdigit() and f.isdigit()):
                abort(400, f"bad fill reference {value!r} (expected YEAR/FILL)")
            pairs.append((int(y), int(f)))
        if not pairs:
            abort(400, "select at least one fill to re-evaluate")
        jobs = review.reevaluate(pairs)
        flash(f"{len(jobs)} fill(s) queued for re-evaluation.")
        return redirect(security.local_path(request.form.get("back")) or url_for("fills_page"))

    @app.post("/user")
    def set_user() -> Any:
        name = (request.form.get("user") or "").strip()[:MAX_USER]
        response = redirect(security.local_path(request.form.get("back")) or url_for("fills_page"))
        response.set_cookie(USER_COOKIE, name, max_age=3600 * 24 * 365, samesite="Lax")
        return response

    @app.get("/eval/next")
    def eval_next() -> Any:
        queue, _ = review.eval_queue(limit=1)
        if not queue:
            return render_template("eval_done.html", problem=reader.root_problem())
        item = queue[0]
        return redirect(
            url_for("eval_page", year=item["year"], fill=item["fill"], channel=item["channel"])
        )

    @app.get("/eval/<int:year>/<int:fill>/<int:channel>")
    def eval_page(year: int, fill: int, channel: int) -> Any:
        result, info = review.channel_of(year, fill, channel)
        queue, total = review.eval_queue(limit=6)
        upcoming = [
            i for i in queue if (i["year"], i["fill"], i["channel"]) != (year, fill, channel)
        ]
        verdict = review.read_labels(lambda store: store.get(year, fill, channel), None)
        return render_template(
            "eval.html",
            result=result,
            channel=channel,
            info=info,
            remaining=total,
            upcoming=upcoming[:5],
            verdict=verdict,
            summary=reader.summary(year, fill),
        )

    @app.post("/eval/skip")
    def eval_skip() -> Any:
        year, fill, channel = _skip_target(request.form)
        review.skip(year, fill, channel, user=request.cookies.get(USER_COOKIE, ""))
        flash(f"Skipped fill {fill} channel {channel}.")
        return redirect(url_for("eval_next"))

    def _skip_target(data: Mapping[str, Any]) -> tuple[int, int, int]:
        """(year, fill, channel) named in the body, or the head of the queue when none is."""
        if not any(k in data for k in ("year", "fill", "channel")):
            queue, _ = review.eval_queue(limit=1)
            if not queue:
                abort(404, "nothing left to evaluate")
            return queue[0]["year"], queue[0]["fill"], queue[0]["channel"]
        return _int_field(data, "year"), _int_field(data, "fill"), _int_field(data, "channel")

    @app.get("/agreement")
    def agreement_page() -> Any:
        return render_template("agreement.html", result=_agreement())

    def _agreement() -> dict[str, Any] | None:
        from pltanomaly.review.agreement import score_against_labels

        if review.store is None:
            return None
        return score_against_labels(reader.root, review.store.path)

    # -- JSON API ------------------------------------------------------------------------------
    @app.get("/api/fills")
    def api_fills() -> Any:
        q = parse_fill_query(request.args)
        years = reader.years()
        rows = review.query_fills(q)
        return jsonify(
            results_dir=str(reader.root),
            problem=reader.root_problem(),
            years=years,
            threshold=review.threshold,
            notices=[n for y in years for n in reader.year_notices(y)],
            labels_error=g.get("labels_error"),
            count=len(rows),
            fills=rows,
        )

    @app.get("/api/fills/<int:year>/<int:fill>")
    def api_fill(year: int, fill: int) -> Any:
        summary, result, verdicts, job = review.fill_view(year, fill)
        if result is not None:
            result = {**result, "channels": {str(c): v for c, v in result["channels"].items()}}
        return jsonify(
            summary=review.fill_row(summary, verdicts, job),
            result=result,
            verdicts={str(c): v.to_json() for c, v in verdicts.items()},
            log=reader.logs(year).get(fill),
            plot_url=url_for("plot", year=year, fill=fill) if summary.has_plot else None,
            series_url=url_for("api_series", year=year, fill=fill) if summary.has_series else None,
        )

    @app.get("/api/fills/<int:year>/<int:fill>/series")
    def api_series(year: int, fill: int) -> Any:
        result = review.fill_result(year, fill)
        try:
            points = int(request.args.get("points", DEFAULT_POINTS))
            channels = None
            if request.args.get("channels"):
                channels = [int(c) for c in request.args["channels"].split(",")]
        except ValueError:
            abort(400, "points must be an integer and channels a comma-separated list")
        if not 10 <= points <= MAX_POINTS:
            abort(400, f"points must be in 10..{MAX_POINTS}")
        if channels is not None and not all(valid_channel(c) for c in channels):
            abort(400, "channels must be in 0..15")
        path = reader.series_path(year, fill)
        if not path.exists():
            abort(404, f"no series for fill {fill} in {year}")
        try:
            view = review.series.get(
                path, result, points=points, channels=channels, settings=review.settings_for(year)
            )
        except SeriesError as exc:
            abort(503, str(exc))
        return jsonify(view)

    @app.patch("/api/fills/<int:year>/<int:fill>/channels/<int:channel>")
    def api_save_verdict(year: int, fill: int, channel: int) -> Any:
        review.channel_of(year, fill, channel)  # 404 first, then validate the body
        body = parse_verdict(_json_body(), strict=True)
        verdict = review.save_verdict(year, fill, channel, body)
        return jsonify(verdict=verdict.to_json())

    @app.delete("/api/fills/<int:year>/<int:fill>/channels/<int:channel>")
    def api_delete_verdict(year: int, fill: int, channel: int) -> Any:
        store = review.need_store()
        if not (valid_year(year) and valid_fill(fill) and valid_channel(channel)):
            abort(404)
        if not store.delete(year, fill, channel):
            abort(404, f"no verdict on fill {fill} channel {channel}")
        return jsonify(deleted=1)

    @app.delete("/api/fills/<int:year>/<int:fill>/verdicts")
    def api_delete_fill_verdicts(year: int, fill: int) -> Any:
        store = review.need_store()
        if not (valid_year(year) and valid_fill(fill)):
            abort(404)
        # labels of a fill that left the results can still be deleted
        if not reader.fill_exists(year, fill) and not store.for_fill(year, fill):
            abort(404, f"no fill {fill} in {year}")
        return jsonify(deleted=store.delete_fill(year, fill))

    @app.get("/api/user_scores.json")
    def api_user_scores() -> Any:
        verdicts = review.all_verdicts()
        if "labels_error" in g:
            abort(503, f"the labels cannot be read now: {g.labels_error}")
        return jsonify(
            count=len(verdicts),
            labels_db=str(db_path),
            verdicts=[v.to_json() for v in verdicts],
        )

    @app.get("/api/net_scores.json")
    def api_net_scores() -> Any:
        labels = {(v.year, v.fill, v.channel): v.verdict for v in review.all_verdicts()}
        rows: list[dict[str, Any]] = []
        for fs in reader.list_fills():
            for ch, status in fs.channel_status.items():
                rows.append(
                    {
                        "year": fs.year,
                        "fill": fs.fill,
                        "channel": ch,
                        "score": fs.channel_scores.get(ch),
                        "status": status,
                        "verdict": labels.get((fs.year, fs.fill, ch)),
                    }
                )
        rows.sort(
            key=lambda r: (
                r["score"] is None,
                -(r["score"] or 0.0),
                r["year"],
                r["fill"],
                r["channel"],
            )
        )
        for rank, row in enumerate(rows, 1):
            row["rank"] = rank
        return jsonify(
            threshold=review.threshold,
            labels_error=g.get("labels_error"),
            count=len(rows),
            scores=rows,
        )

    @app.post("/api/reevaluate")
    def api_reevaluate() -> Any:
        data = _json_body()
        fills = data.get("fills") if isinstance(data, Mapping) else None
        if not isinstance(fills, list) or not fills or len(fills) > 5000:
            abort(400, 'send {"fills": [{"year": 2022, "fill": 8123}, ...]}')
        pairs = []
        for item in fills:
            if not isinstance(item, Mapping):
                abort(400, "each entry of 'fills' must be an object with year and fill")
            pairs.append((_int_field(item, "year"), _int_field(item, "fill")))
        jobs = review.reevaluate(pairs)
        return jsonify(jobs=[j.to_json() for j in jobs]), 202

    @app.get("/api/jobs")
    def api_jobs() -> Any:
        all_jobs = review.jobs().values()
        try:
            year = int(request.args["year"]) if request.args.get("year") else None
            fill = int(request.args["fill"]) if request.args.get("fill") else None
        except ValueError:
            abort(400, "year and fill must be integers")
        jobs = [
            j
            for j in all_jobs
            if (year is None or j.year == year) and (fill is None or j.fill == fill)
        ]
        return jsonify(jobs=[j.to_json() for j in jobs])

    @app.get("/api/eval/next")
    def api_eval_next() -> Any:
        queue, total = review.eval_queue(limit=1)
        return jsonify(
            next=queue[0] if queue else None, remaining=total, threshold=review.threshold
        )

    @app.post("/api/eval/skip")
    def api_eval_skip() -> Any:
        data = _json_body() if request.content_length else {}
        if not isinstance(data, Mapping):
            abort(400, "the body must be a JSON object")
        year, fill, channel = _skip_target(data)
        verdict = review.skip(year, fill, channel)
        return jsonify(skipped=verdict.to_json())

    @app.get("/api/agreement.json")
    def api_agreement() -> Any:
        result = _agreement()
        if result is None:
            abort(503, f"no label store: {review.store_error}")
        return jsonify(result)

    return app

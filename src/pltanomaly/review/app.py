"""The review web app's factory: one Flask app over one results folder.

The parts: :mod:`~pltanomaly.review.service` (the ``Review`` service in ``app.extensions``),
:mod:`~pltanomaly.review.pages` and :mod:`~pltanomaly.review.api` (the blueprints),
:mod:`~pltanomaly.review.forms` (URL converters and request parsing),
:mod:`~pltanomaly.review.security` (hosts, same-origin writes, framing).

Pages (server-rendered; the only JavaScript draws the interactive chart and polls job states):

- ``/fills``: every fill of every year, filterable and sortable, with the year heatmap;
- ``/fills/<year>/<fill>``: plot, interactive per-channel chart, channel table, verdict forms;
- ``/eval/next``: the unlabelled (fill, channel) nearest the decision threshold; ``/eval/skip``;
- ``/agreement``: detector vs human verdicts;
- ``/lumi/...``: the luminometers' section (:mod:`pltanomaly.luminometers.review`);
- ``/dt/...``: the DT chambers family's section (:mod:`pltanomaly.chambers.review`).

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
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from datetime import datetime, timezone
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from pltanomaly.chambers import review as dt_review
from pltanomaly.chambers.review_service import DtDetectFn
from pltanomaly.channels.events import format_magnitude
from pltanomaly.luminometers import review as lumi_review
from pltanomaly.review import heatmap, security
from pltanomaly.review.api import api
from pltanomaly.review.forms import CONVERTERS, FILL_STATUSES, MAX_USER, USER_COOKIE
from pltanomaly.review.jobs import DetectFn, PlotFn, Reevaluator
from pltanomaly.review.labels import ANOMALY_TYPES, LabelStoreError
from pltanomaly.review.pages import pages
from pltanomaly.review.service import EXTENSION, Review, current_review

log = logging.getLogger(__name__)


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
    dt_detect_fn: DtDetectFn | None = None,
) -> Flask:
    """The review app over ``results_dir``.

    ``labels_db`` defaults to ``{results_dir}.labels.sqlite`` beside the folder. ``config`` is the
    workflow config (dict or YAML path): re-evaluation uses ``detector`` overlaid with
    ``years.{year}.detector``, and ``years.{year}.dead_channels``. ``threshold`` (default 0.5,
    where the detector's score says "anomalous") orders the evaluation queue.
    ``detect_fn``/``plot_fn``/``executor`` or a whole ``runner`` replace the re-evaluation
    machinery (tests). ``allowed_hosts``: host names served besides the loopback names (against
    DNS rebinding, see :mod:`pltanomaly.review.security`). ``dt_detect_fn`` replaces the DT
    detector of re-evaluation (:mod:`pltanomaly.chambers.review`, the DT section).
    """
    review = Review.create(
        results_dir,
        labels_db=labels_db,
        config=config,
        threshold=threshold,
        detect_fn=detect_fn,
        plot_fn=plot_fn,
        executor=executor,
        runner=runner,
    )
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)  # flash messages only; per process is fine
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = review
    app.url_map.converters.update(CONVERTERS)
    app.jinja_env.filters.update(utc=fmt_time, score=fmt_score, magnitude=format_magnitude)
    app.jinja_env.globals.update(
        anomaly_types=ANOMALY_TYPES,
        fill_statuses=FILL_STATUSES,
        heatmap_css=Markup(heatmap.css()),
        threshold=review.threshold,
        results_dir=str(review.reader.root),
        labels_path=str(review.db_path),
    )
    security.init_app(app, allowed_hosts)
    app.after_request(compress)
    app.context_processor(page_context)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(LabelStoreError, store_error)
    app.register_error_handler(Exception, unexpected)
    lumi_review.init_app(app)
    app.register_blueprint(pages)
    app.register_blueprint(api)
    dt_review.init_app(app, review, detect_fn=dt_detect_fn, executor=executor)
    return app


def fmt_time(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime(fmt)


def fmt_score(score: float | None) -> str:
    return "–" if score is None else f"{score:.3f}"


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


def page_context() -> dict[str, Any]:
    return {
        "user_name": request.cookies.get(USER_COOKIE, "")[:MAX_USER],
        "store_error": current_review().store_error,
        "labels_error": g.get("labels_error"),
    }


def error_response(code: int, title: str, message: str | None) -> Any:
    """A JSON error under /api/, an error page elsewhere."""
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return jsonify(error=title, message=message), code
    try:
        return render_template("error.html", code=code, title=title, message=message), code
    except Exception:  # the page itself cannot be rendered: a bare one
        head = f"{code} {escape(title)}"
        body = f"<!doctype html><title>{head}</title><h1>{head}</h1>"
        return f"{body}<p>{escape(message or '')}</p>", code


def http_error(exc: HTTPException) -> Any:
    return error_response(exc.code or 500, exc.name, exc.description)


def store_error(exc: LabelStoreError) -> Any:
    log.error("%s", exc)
    return error_response(503, "Label store unavailable", str(exc))


def unexpected(exc: Exception) -> Any:
    log.exception("unexpected error on %s", request.path)
    message = "Something went wrong on the server; the details are in the server log."
    return error_response(500, "Internal Server Error", message)

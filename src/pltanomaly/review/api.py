"""The JSON API (blueprint ``api``, under ``/api``): fills, series, verdicts, scores,
re-evaluation jobs, the evaluation queue, agreement. Writes take JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, g, jsonify, request, url_for

from pltanomaly.review.forms import (
    int_field,
    json_body,
    parse_fill_query,
    parse_verdict,
    skip_target,
)
from pltanomaly.review.results import valid_channel
from pltanomaly.review.series import DEFAULT_POINTS, MAX_POINTS, SeriesError
from pltanomaly.review.service import current_review

api = Blueprint("api", __name__, url_prefix="/api")


@api.get("/fills")
def fills() -> Any:
    review = current_review()
    q = parse_fill_query(request.args)
    years = review.reader.years()
    rows = review.query_fills(q)
    return jsonify(
        results_dir=str(review.reader.root),
        problem=review.reader.root_problem(),
        years=years,
        threshold=review.threshold,
        notices=[n for y in years for n in review.reader.year_notices(y)],
        labels_error=g.get("labels_error"),
        count=len(rows),
        fills=rows,
    )


@api.get("/fills/<year:year>/<fill:fill>")
def fill(year: int, fill: int) -> Any:
    review = current_review()
    summary, result, verdicts, job = review.fill_view(year, fill)
    if result is not None:
        result = {**result, "channels": {str(c): v for c, v in result["channels"].items()}}
    return jsonify(
        summary=review.fill_row(summary, verdicts, job),
        result=result,
        verdicts={str(c): v.to_json() for c, v in verdicts.items()},
        log=review.reader.logs(year).get(fill),
        plot_url=url_for("pages.plot", year=year, fill=fill) if summary.has_plot else None,
        series_url=url_for(".series", year=year, fill=fill) if summary.has_series else None,
    )


@api.get("/fills/<year:year>/<fill:fill>/series")
def series(year: int, fill: int) -> Any:
    review = current_review()
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
    path = review.reader.series_path(year, fill)
    if not path.exists():
        abort(404, f"no series for fill {fill} in {year}")
    try:
        view = review.series.get(
            path, result, points=points, channels=channels, settings=review.settings_for(year)
        )
    except SeriesError as exc:
        abort(503, str(exc))
    return jsonify(view)


@api.patch("/fills/<year:year>/<fill:fill>/channels/<channel:channel>")
def save_verdict(year: int, fill: int, channel: int) -> Any:
    review = current_review()
    review.channel_of(year, fill, channel)  # 404 first, then validate the body
    body = parse_verdict(json_body(), strict=True)
    verdict = review.save_verdict(year, fill, channel, body)
    return jsonify(verdict=verdict.to_json())


@api.delete("/fills/<year:year>/<fill:fill>/channels/<channel:channel>")
def delete_verdict(year: int, fill: int, channel: int) -> Any:
    review = current_review()
    store = review.need_store()
    if not store.delete(year, fill, channel):
        abort(404, f"no verdict on fill {fill} channel {channel}")
    return jsonify(deleted=1)


@api.delete("/fills/<year:year>/<fill:fill>/verdicts")
def delete_fill_verdicts(year: int, fill: int) -> Any:
    review = current_review()
    store = review.need_store()
    # labels of a fill that left the results can still be deleted
    if not review.reader.fill_exists(year, fill) and not store.for_fill(year, fill):
        abort(404, f"no fill {fill} in {year}")
    return jsonify(deleted=store.delete_fill(year, fill))


@api.get("/user_scores.json")
def user_scores() -> Any:
    review = current_review()
    verdicts = review.all_verdicts()
    if "labels_error" in g:
        abort(503, f"the labels cannot be read now: {g.labels_error}")
    return jsonify(
        count=len(verdicts),
        labels_db=str(review.db_path),
        verdicts=[v.to_json() for v in verdicts],
    )


@api.get("/net_scores.json")
def net_scores() -> Any:
    review = current_review()
    labels = {(v.year, v.fill, v.channel): v.verdict for v in review.all_verdicts()}
    rows: list[dict[str, Any]] = []
    for fs in review.reader.list_fills():
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


@api.post("/reevaluate")
def reevaluate() -> Any:
    review = current_review()
    data = json_body()
    fills = data.get("fills") if isinstance(data, Mapping) else None
    if not isinstance(fills, list) or not fills or len(fills) > 5000:
        abort(400, 'send {"fills": [{"year": 2022, "fill": 8123}, ...]}')
    pairs = []
    for item in fills:
        if not isinstance(item, Mapping):
            abort(400, "each entry of 'fills' must be an object with year and fill")
        pairs.append((int_field(item, "year"), int_field(item, "fill")))
    jobs = review.reevaluate(pairs)
    return jsonify(jobs=[j.to_json() for j in jobs]), 202


@api.get("/jobs")
def jobs() -> Any:
    review = current_review()
    all_jobs = review.jobs().values()
    try:
        year = int(request.args["year"]) if request.args.get("year") else None
        fill = int(request.args["fill"]) if request.args.get("fill") else None
    except ValueError:
        abort(400, "year and fill must be integers")
    jobs = [
        j for j in all_jobs if (year is None or j.year == year) and (fill is None or j.fill == fill)
    ]
    return jsonify(jobs=[j.to_json() for j in jobs])


@api.get("/eval/next")
def eval_next() -> Any:
    review = current_review()
    queue, total = review.eval_queue(limit=1)
    return jsonify(next=queue[0] if queue else None, remaining=total, threshold=review.threshold)


@api.post("/eval/skip")
def eval_skip() -> Any:
    review = current_review()
    data = json_body() if request.content_length else {}
    if not isinstance(data, Mapping):
        abort(400, "the body must be a JSON object")
    year, fill, channel = review.skip_target(skip_target(data))
    verdict = review.skip(year, fill, channel)
    return jsonify(skipped=verdict.to_json())


@api.get("/agreement.json")
def agreement() -> Any:
    review = current_review()
    result = review.agreement()
    if result is None:
        abort(503, f"no label store: {review.store_error}")
    return jsonify(result)

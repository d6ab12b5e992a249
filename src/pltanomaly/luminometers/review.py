"""The luminometers in the review app (blueprint ``lumi``): the fills the cross-check compared,
a fill's luminometers with their events, and verdicts on their LS ranges.

Pages: ``/lumi`` (fills), ``/lumi/<year>/<fill>`` (plot, luminometers, events, verdict forms),
``/lumi/<year>/<fill>.png``. JSON API: ``GET /api/lumi/fills``,
``GET /api/lumi/fills/<year>/<fill>``,
``PATCH /api/lumi/fills/<year>/<fill>/luminometers/<name>/verdicts`` (a new verdict),
``PATCH|DELETE .../verdicts/<id>`` (change or remove one), ``DELETE .../verdicts`` (remove the
experts' own verdicts of that luminometer in the fill). Verdicts are
:mod:`pltanomaly.luminometers.labels` rows in the app's label database; the app's security rules
(:mod:`pltanomaly.review.security`) apply to these routes as to the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from pltanomaly.luminometers.labels import (
    LUMI_TYPES,
    LUMI_VERDICTS,
    LumiLabels,
    LumiVerdict,
    NewVerdict,
    parse_bound,
)
from pltanomaly.luminometers.results import LumiResults, present
from pltanomaly.review.forms import (
    MAX_COMMENT,
    MAX_USER,
    cookie_user,
    form_with_user,
    json_body,
    remember_user,
    send_png,
)
from pltanomaly.review.labels import LabelStore
from pltanomaly.review.pages import add_fill_link
from pltanomaly.review.service import current_review

lumi = Blueprint("lumi", __name__, template_folder="templates")
EXTENSION = "pltanomaly_lumi_labels"
FIELDS = ("verdict", "first", "last", "anomaly_type", "reason", "user")


def init_app(app: Flask) -> None:
    """Add the luminometer section to a review app."""
    app.register_blueprint(lumi)
    app.jinja_env.globals.update(lumi_verdicts=LUMI_VERDICTS, lumi_types=LUMI_TYPES)
    add_fill_link(app, _fill_link)


def _fill_link(year: int, fill: int) -> tuple[str, str] | None:
    """The PLT fill page's link to this fill's luminometers, when they were compared."""
    if not results().json_path(year, fill).is_file():
        return None
    return "luminometers", url_for("lumi.fill_page", year=year, fill=fill)


# -- shared helpers ---------------------------------------------------------------------------
def results() -> LumiResults:
    return LumiResults(current_review().reader.root)


def _labels_of(store: LabelStore) -> LumiLabels:
    cached = current_app.extensions.get(EXTENSION)
    if cached is None or cached.store is not store:
        cached = current_app.extensions[EXTENSION] = LumiLabels(store)
    return cached


def writable_labels() -> LumiLabels:
    """The verdict table, writable, or 503 with the reason."""
    return _labels_of(current_review().need_store())


def fill_verdicts(year: int, fill: int) -> list[LumiVerdict]:
    """A fill's verdicts ([] when the labels cannot be read now; the page says so)."""
    return current_review().read_labels(lambda s: _labels_of(s).for_fill(year, fill), [])


def all_verdicts() -> list[LumiVerdict]:
    return current_review().read_labels(lambda s: _labels_of(s).all(), [])


def fill_result(year: int, fill: int) -> dict[str, Any]:
    """The fill's cross-check result, or 404."""
    found = results().load(year, fill)
    if found is None:
        abort(404, f"no luminometer result for fill {fill} in {year}")
    return found


def luminometer_of(result: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in result["luminometers"]:
        abort(404, f"fill {result['fill']} has no luminometer {name!r}")
    entry: dict[str, Any] = result["luminometers"][name]
    return entry


def parse_lumi_verdict(data: Any, name: str, *, strict: bool) -> NewVerdict:
    """Validate a verdict body (JSON object, or form when not ``strict``: a type sent with a
    good/ignore verdict, as an event's one-click form does, is dropped there)."""
    if not isinstance(data, Mapping):
        abort(400, "the body must be a JSON object")
    if strict and (extra := set(data) - set(FIELDS)):
        abort(400, f"unknown field(s): {', '.join(sorted(map(str, extra)))}")
    texts = {}
    for key, limit in (("reason", MAX_COMMENT), ("user", MAX_USER)):
        value = data.get(key) or ""
        if not isinstance(value, str) or len(value) > limit:
            abort(400, f"'{key}' must be a string of at most {limit} characters")
        texts[key] = value.strip()
    verdict = data.get("verdict")
    anomaly_type = data.get("anomaly_type") or None
    if not strict and verdict != "bad":
        anomaly_type = None
    try:
        new = NewVerdict(
            name,
            parse_bound(data.get("first")),
            parse_bound(data.get("last")),
            str(verdict),
            anomaly_type,
            texts["reason"],
            texts["user"],
        )
        new.check()
    except ValueError as exc:
        abort(400, f"{exc} (first/last: run:ls, empty for the start/end of the fill)")
    return new


def fill_rows(year: int | None = None) -> list[dict[str, Any]]:
    """One row per fill with luminometer results: what was compared, what was found, verdicts."""
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for v in all_verdicts():
        row = counts.setdefault((v.year, v.fill), {k: 0 for k in LUMI_VERDICTS})
        row[v.verdict] += 1
    reader = results()
    rows: list[dict[str, Any]] = []
    for y, fill in reader.fills():
        if year is not None and y != year:
            continue
        result = reader.load(y, fill)
        if result is None:
            rows.append({"year": y, "fill": fill, "readable": False})
            continue
        entries = result["luminometers"]
        rows.append(
            {
                "year": y,
                "fill": fill,
                "readable": True,
                "start": result.get("start"),
                "anomalous": bool(result.get("anomalous")),
                "luminometers": present(result),
                "flagged": [n for n, e in entries.items() if e.get("status") == "anomalous"],
                "undecided": [n for n, e in entries.items() if e.get("status") == "undecided"],
                "n_events": sum(len(e.get("events") or []) for e in entries.values()),
                "verdicts": counts.get((y, fill), {k: 0 for k in LUMI_VERDICTS}),
            }
        )
    return rows


def _year_arg() -> int | None:
    value = request.args.get("year", "")
    if not value:
        return None
    if not value.isdigit():
        abort(400, "year must be a number")
    return int(value)


# -- pages ------------------------------------------------------------------------------------
@lumi.get("/lumi")
def fills_page() -> Any:
    year = _year_arg()
    rows = fill_rows(year)
    years = sorted({y for y, _ in results().fills()})
    return render_template("lumi_fills.html", rows=rows, years=years, year=year)


@lumi.get("/lumi/<year:year>/<fill:fill>")
def fill_page(year: int, fill: int) -> Any:
    result = fill_result(year, fill)
    fills = [f for y, f in results().fills() if y == year]
    pos = fills.index(fill)
    verdicts: dict[str, list[LumiVerdict]] = {}
    for v in fill_verdicts(year, fill):
        verdicts.setdefault(v.luminometer, []).append(v)
    return render_template(
        "lumi_fill.html",
        year=year,
        fill=fill,
        result=result,
        verdicts=verdicts,
        has_plot=results().plot_path(year, fill).is_file(),
        has_plt=current_review().fill_exists(year, fill),
        prev_fill=fills[pos - 1] if pos > 0 else None,
        next_fill=fills[pos + 1] if pos < len(fills) - 1 else None,
    )


@lumi.get("/lumi/<year:year>/<fill:fill>.png")
def plot(year: int, fill: int) -> Any:
    path = results().plot_path(year, fill)
    return send_png(path, f"no luminometer plot for fill {fill} in {year}")


@lumi.post("/lumi/<year:year>/<fill:fill>/luminometers/<name>/verdicts")
def verdict_form(year: int, fill: int, name: str) -> Any:
    luminometer_of(fill_result(year, fill), name)
    form = form_with_user()
    new = parse_lumi_verdict(form, name, strict=False)
    saved = writable_labels().add(year, fill, new)
    span = f"{saved.to_json()['first'] or 'start'}..{saved.to_json()['last'] or 'end'}"
    flash(f"Saved: fill {fill} {name} {span} is {new.verdict}.")
    response = redirect(url_for(".fill_page", year=year, fill=fill) + f"#lumi-{name}")
    if new.user:
        remember_user(response, new.user)
    return response


@lumi.post("/lumi/<year:year>/<fill:fill>/verdicts/<int:verdict_id>/delete")
def delete_form(year: int, fill: int, verdict_id: int) -> Any:
    found = _verdict_in(year, fill, None, verdict_id)
    writable_labels().delete([verdict_id], user=cookie_user())
    flash(f"Deleted the {found.verdict} verdict on {found.luminometer} of fill {fill}.")
    return redirect(url_for(".fill_page", year=year, fill=fill) + f"#lumi-{found.luminometer}")


def _verdict_in(year: int, fill: int, name: str | None, verdict_id: int) -> LumiVerdict:
    """Verdict ``verdict_id`` if it is on this fill (and luminometer), else 404."""
    found = next((v for v in fill_verdicts(year, fill) if v.id == verdict_id), None)
    if found is None or (name is not None and found.luminometer != name):
        abort(404, f"no verdict {verdict_id} on fill {fill}{' ' + name if name else ''}")
    return found


# -- JSON API ---------------------------------------------------------------------------------
@lumi.get("/api/lumi/fills")
def api_fills() -> Any:
    rows = fill_rows(_year_arg())
    return jsonify(count=len(rows), fills=rows)


@lumi.get("/api/lumi/fills/<year:year>/<fill:fill>")
def api_fill(year: int, fill: int) -> Any:
    result = fill_result(year, fill)
    verdicts: dict[str, list[dict[str, Any]]] = {name: [] for name in result["luminometers"]}
    for v in fill_verdicts(year, fill):
        verdicts.setdefault(v.luminometer, []).append(v.to_json())
    has_plot = results().plot_path(year, fill).is_file()
    return jsonify(
        result=result,
        verdicts=verdicts,
        plot_url=url_for(".plot", year=year, fill=fill) if has_plot else None,
    )


VERDICTS_URL = "/api/lumi/fills/<year:year>/<fill:fill>/luminometers/<name>/verdicts"


@lumi.patch(VERDICTS_URL)
def api_add_verdict(year: int, fill: int, name: str) -> Any:
    luminometer_of(fill_result(year, fill), name)
    new = parse_lumi_verdict(json_body(), name, strict=True)
    return jsonify(verdict=writable_labels().add(year, fill, new).to_json()), 201


@lumi.patch(VERDICTS_URL + "/<int:verdict_id>")
def api_update_verdict(year: int, fill: int, name: str, verdict_id: int) -> Any:
    luminometer_of(fill_result(year, fill), name)
    _verdict_in(year, fill, name, verdict_id)
    new = parse_lumi_verdict(json_body(), name, strict=True)
    return jsonify(verdict=writable_labels().update(verdict_id, new).to_json())


@lumi.delete(VERDICTS_URL + "/<int:verdict_id>")
def api_delete_verdict(year: int, fill: int, name: str, verdict_id: int) -> Any:
    _verdict_in(year, fill, name, verdict_id)
    user = cookie_user()
    return jsonify(deleted=writable_labels().delete([verdict_id], user=user))


@lumi.delete(VERDICTS_URL)
def api_delete_verdicts(year: int, fill: int, name: str) -> Any:
    mine = [v for v in fill_verdicts(year, fill) if v.luminometer == name]
    if not mine:
        abort(404, f"no verdict on fill {fill} {name}")
    user = cookie_user()
    ids = [v.id for v in mine if v.source == "review"]
    return jsonify(deleted=writable_labels().delete(ids, user=user))

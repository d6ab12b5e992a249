"""What a request may say: URL converters for year, fill and channel (the one validity check of
the routes), the fills filter, verdict bodies and JSON bodies; a bad value is a 400 (or a 404
for a URL) with the reason. Also what every family's pages share: the reviewer's name cookie and
plot answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import Response, abort, request, send_file
from werkzeug.routing import IntegerConverter, ValidationError

from pltanomaly.review.labels import ANOMALY_TYPES, VERDICTS
from pltanomaly.review.results import valid_channel, valid_fill, valid_year

FILL_STATUSES = ("anomalous", "normal", "failed", "skipped", "unreviewed", "reviewed")
SORT_KEYS = ("fill", "year", "date", "score", "events", "status", "reviewed")
MAX_COMMENT = 2000
MAX_USER = 64
USER_COOKIE = "pltanomaly_user"


def cookie_user() -> str:
    """The reviewer's name the browser remembers ("" if none)."""
    return request.cookies.get(USER_COOKIE, "")


def form_with_user() -> dict[str, Any]:
    """The posted form, its ``user`` defaulting to the remembered name."""
    form = request.form.to_dict()
    form.setdefault("user", cookie_user())
    return form


def remember_user(response: Any, user: str) -> Any:
    """Make the browser remember ``user`` for a year; the response."""
    response.set_cookie(USER_COOKIE, user, max_age=3600 * 24 * 365, samesite="Lax")
    return response


def send_png(path: Path, missing: str) -> Response:
    """A plot, not cached; 404 with ``missing`` when there is no such file."""
    if not path.is_file():
        abort(404, missing)
    return send_file(path.absolute(), mimetype="image/png", max_age=0, conditional=True)


class _CheckedInt(IntegerConverter):
    """An integer URL part that only matches values :meth:`valid` accepts (others: 404)."""

    def valid(self, number: int) -> bool:
        raise NotImplementedError

    def to_python(self, value: str) -> int:
        number = int(super().to_python(value))
        if not self.valid(number):
            raise ValidationError()
        return number


class YearConverter(_CheckedInt):
    def valid(self, number: int) -> bool:
        return valid_year(number)


class FillConverter(_CheckedInt):
    def valid(self, number: int) -> bool:
        return valid_fill(number)


class ChannelConverter(_CheckedInt):
    def valid(self, number: int) -> bool:
        return valid_channel(number)


#: ``<year:year>``, ``<fill:fill>``, ``<channel:channel>`` in the routes
CONVERTERS = {"year": YearConverter, "fill": FillConverter, "channel": ChannelConverter}


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


def parse_verdict(
    data: Any,
    *,
    strict: bool,
    types: tuple[str, ...] = ANOMALY_TYPES,
    type_field: str = "anomaly_type",
) -> dict[str, Any]:
    """Validate a verdict body (JSON object or form). strict: unknown keys are an error too.
    ``types`` and ``type_field``: what the family calls what went wrong (PLT: anomaly types)."""
    if not isinstance(data, Mapping):
        abort(400, "the body must be a JSON object")
    allowed = {"verdict", type_field, "comment", "user"}
    if strict and (extra := set(data) - allowed):
        abort(400, f"unknown field(s): {', '.join(sorted(map(str, extra)))}")
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        abort(400, f"'verdict' must be one of {', '.join(VERDICTS)}")
    anomaly_type = data.get(type_field) or None
    if anomaly_type is not None and anomaly_type not in types:
        abort(400, f"'{type_field}' must be one of {', '.join(types)} (or empty)")
    if verdict == "good" and anomaly_type is not None:
        abort(400, f"a 'good' verdict takes no {type_field}")
    comment = _text(data, "comment", MAX_COMMENT)
    user = _text(data, "user", MAX_USER)
    return {
        "verdict": verdict,
        type_field: anomaly_type,
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


def int_field(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool):
        abort(400, f"'{name}' must be an integer")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        abort(400, f"'{name}' must be an integer")
    return value


def json_body() -> Any:
    if not request.is_json:
        abort(400, "send a JSON body with Content-Type: application/json")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        abort(400, "the JSON body is nested too deeply")
    if data is None:
        abort(400, "the body is not valid JSON")
    return data


def skip_target(data: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """(year, fill, channel) named in a skip body, or None when it names none (the queue head)."""
    if not any(k in data for k in ("year", "fill", "channel")):
        return None
    return int_field(data, "year"), int_field(data, "fill"), int_field(data, "channel")

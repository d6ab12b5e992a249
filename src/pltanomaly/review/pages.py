"""The server-rendered pages (blueprint ``pages``): fills, one fill, its plot, the verdict and
re-evaluation forms, the evaluation queue, the agreement page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from pltanomaly.review import heatmap, security
from pltanomaly.review.forms import (
    MAX_USER,
    SORT_KEYS,
    cookie_user,
    form_with_user,
    parse_fill_query,
    parse_verdict,
    remember_user,
    send_png,
    skip_target,
)
from pltanomaly.review.service import current_review

pages = Blueprint("pages", __name__)


@pages.get("/")
def index() -> Any:
    return redirect(url_for(".fills_page"))


@pages.get("/fills")
def fills_page() -> Any:
    review = current_review()
    q = parse_fill_query(request.args)
    problem = review.reader.root_problem()
    years = review.reader.years()
    rows = [] if problem else review.query_fills(q)
    notices = [
        n for y in ([q.year] if q.year in years else years) for n in review.reader.year_notices(y)
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
            review.reader.list_fills([map_year]),
            verdicts,
            lambda y, f: url_for(".fill_page", year=y, fill=f),
        )
    n_pages = max(1, (len(rows) + q.per_page - 1) // q.per_page)
    page = min(q.page, n_pages)
    shown = rows[(page - 1) * q.per_page : page * q.per_page]

    def url_with(**changes: Any) -> str:
        args = {**q.args, **{k: v for k, v in changes.items() if v is not None}}
        for k, v in changes.items():
            if v is None:
                args.pop(k, None)
        return url_for(".fills_page", **args)

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


@pages.get("/fills/<year:year>/<fill:fill>")
def fill_page(year: int, fill: int) -> Any:
    review = current_review()
    summary, result, verdicts, job = review.fill_view(year, fill)
    fills = [(fs.year, fs.fill) for fs in review.reader.list_fills([year])]
    pos = fills.index((year, fill)) if (year, fill) in fills else -1
    prev_fill = fills[pos - 1][1] if pos > 0 else None
    next_fill = fills[pos + 1][1] if 0 <= pos < len(fills) - 1 else None
    return render_template(
        "fill.html",
        summary=summary,
        result=result,
        verdicts=verdicts,
        job=job,
        log_entry=review.reader.logs(year).get(fill),
        prev_fill=prev_fill,
        next_fill=next_fill,
        family_links=fill_links(year, fill),
    )


FILL_LINKS = "pltanomaly_fill_links"
"""App extension: the other families' pages of a fill, as ``(year, fill) -> (label, url)``
callables (None where that family has nothing for the fill)."""


FillLink = Callable[[int, int], tuple[str, str] | None]


def add_fill_link(app: Flask, link: FillLink) -> None:
    """Let a family's page of a fill be linked from the PLT fill page."""
    app.extensions.setdefault(FILL_LINKS, []).append(link)


def fill_links(year: int, fill: int) -> list[tuple[str, str]]:
    """The other families' pages of this fill (label, url)."""
    found = (link(year, fill) for link in current_app.extensions.get(FILL_LINKS, []))
    return [item for item in found if item is not None]


@pages.get("/plots/<year:year>/<fill:fill>.png")
def plot(year: int, fill: int) -> Any:
    review = current_review()
    path = review.reader.plot_path(year, fill)
    return send_png(path, f"no plot for fill {fill} in {year}")


@pages.post("/fills/<year:year>/<fill:fill>/channels/<channel:channel>/verdict")
def verdict_form(year: int, fill: int, channel: int) -> Any:
    review = current_review()
    form = form_with_user()
    body = parse_verdict(form, strict=False)
    review.save_verdict(year, fill, channel, body)
    flash(f"Saved: fill {fill} channel {channel} is {body['verdict']}.")
    if form.get("next") == "eval":
        response = redirect(url_for(".eval_next"))
    else:
        response = redirect(url_for(".fill_page", year=year, fill=fill) + f"#ch{channel}")
    if body["user"]:
        remember_user(response, body["user"])
    return response


@pages.post("/fills/<year:year>/<fill:fill>/verdicts/delete")
def delete_form(year: int, fill: int) -> Any:
    review = current_review()
    review.known_fill(year, fill)
    n = review.need_store().delete_fill(year, fill, user=cookie_user())
    flash(f"Deleted {n} verdict(s) of fill {fill}.")
    return redirect(url_for(".fill_page", year=year, fill=fill))


@pages.post("/fills/<year:year>/<fill:fill>/reevaluate")
def reevaluate_form(year: int, fill: int) -> Any:
    review = current_review()
    review.reevaluate([(year, fill)])
    flash(f"Fill {fill} queued for re-evaluation.")
    return redirect(url_for(".fill_page", year=year, fill=fill))


@pages.post("/reevaluate")
def reevaluate_many_form() -> Any:
    review = current_review()
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
    return redirect(security.local_path(request.form.get("back")) or url_for(".fills_page"))


@pages.post("/user")
def set_user() -> Any:
    name = (request.form.get("user") or "").strip()[:MAX_USER]
    response = redirect(security.local_path(request.form.get("back")) or url_for(".fills_page"))
    remember_user(response, name)
    return response


@pages.get("/eval/next")
def eval_next() -> Any:
    review = current_review()
    queue, _ = review.eval_queue(limit=1)
    if not queue:
        return render_template("eval_done.html", problem=review.reader.root_problem())
    item = queue[0]
    return redirect(
        url_for(".eval_page", year=item["year"], fill=item["fill"], channel=item["channel"])
    )


@pages.get("/eval/<year:year>/<fill:fill>/<channel:channel>")
def eval_page(year: int, fill: int, channel: int) -> Any:
    review = current_review()
    result, info = review.channel_of(year, fill, channel)
    queue, total = review.eval_queue(limit=6)
    here = (year, fill, channel)
    upcoming = [i for i in queue if (i["year"], i["fill"], i["channel"]) != here]
    picked = next((i for i in queue if (i["year"], i["fill"], i["channel"]) == here), None)
    verdict = review.read_labels(lambda store: store.get(year, fill, channel), None)
    return render_template(
        "eval.html",
        result=result,
        channel=channel,
        info=info,
        remaining=total,
        upcoming=upcoming[:5],
        picked=picked,
        quality=review.detector_quality(),
        verdict=verdict,
        summary=review.reader.summary(year, fill),
    )


@pages.post("/eval/skip")
def eval_skip() -> Any:
    review = current_review()
    year, fill, channel = review.skip_target(skip_target(request.form))
    review.skip(year, fill, channel, user=cookie_user())
    flash(f"Skipped fill {fill} channel {channel}.")
    return redirect(url_for(".eval_next"))


@pages.get("/agreement")
def agreement_page() -> Any:
    review = current_review()
    return render_template("agreement.html", result=review.agreement())

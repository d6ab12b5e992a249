"""The review app's DT section: blueprints ``dt`` (pages under ``/dt``) and ``dt_api`` (JSON
under ``/api/dt``), installed by :func:`init_app` from the app factory.

Pages: ``/dt/runs`` (fetch and re-evaluation states), ``/dt/runs/<run>`` (chamber map per
station), ``/dt/runs/<run>/<chamber>`` (layers x wires heatmap, scores, saliency, verdict forms),
``/dt/eval/next`` and ``/dt/eval/skip``. API: ``GET runs``, ``GET net_scores.json``,
``GET user_scores.json``, ``PATCH|DELETE runs/<run>/chambers/<chamber>/layers/<layer>``,
``POST reevaluate``, ``GET jobs``, ``GET eval/next``, ``POST eval/skip``. The app's security
rules (Host allow-list, same-origin writes) cover these routes as every other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.routing import BaseConverter, ValidationError

from pltanomaly.chambers.geometry import LAYER_LABELS, STATIONS, WHEELS, chamber_from_key, sectors
from pltanomaly.chambers.labels import FAULT_TYPES, ChamberLabels, LayerVerdict
from pltanomaly.chambers.review_service import (
    EXTENSION,
    DtDetectFn,
    DtReview,
    current_dt,
    layers_of,
)
from pltanomaly.core.calibrate import finite
from pltanomaly.review.forms import cookie_user, json_body, parse_verdict, send_png
from pltanomaly.review.service import Review

dt = Blueprint("dt", __name__, url_prefix="/dt", template_folder="templates")
dt_api = Blueprint("dt_api", __name__, url_prefix="/api/dt")


class ChamberConverter(BaseConverter):
    """``<dtchamber:chamber>``: a chamber key of the geometry (others: 404)."""

    regex = r"W-?\d_St\d_Sec\d{1,2}"

    def to_python(self, value: str) -> str:
        try:
            return chamber_from_key(value).key
        except ValueError:
            raise ValidationError() from None


def init_app(
    app: Flask,
    review: Review,
    *,
    detect_fn: DtDetectFn | None = None,
    executor: Executor | None = None,
) -> DtReview:
    """Install the DT service, its URL converter, template helpers and blueprints."""
    service = DtReview(review, detect_fn=detect_fn, executor=executor)
    app.extensions[EXTENSION] = service
    app.url_map.converters["dtchamber"] = ChamberConverter
    app.jinja_env.globals.update(
        fault_types=FAULT_TYPES, layer_labels=LAYER_LABELS, dt_cell=cell_style
    )
    app.register_blueprint(dt)
    app.register_blueprint(dt_api)
    return service


def cell_style(count: float, top: float) -> str:
    """A heatmap cell's background: white to dark blue on a log scale up to ``top``."""
    if count < 0 or not math.isfinite(count):
        return "background:#d9d9d9"
    if count == 0:
        return "background:#000"
    t = math.log1p(count) / math.log1p(max(top, 1.0))
    r, g, b = (int(255 - (255 - c) * min(t, 1.0)) for c in (8, 48, 107))
    return f"background:rgb({r},{g},{b})"


def parse_layer_verdict(data: Any, *, strict: bool) -> dict[str, Any]:
    """A DT verdict body; ``fault_type`` alone says the verdict (``good``, or a fault: bad)."""
    if isinstance(data, Mapping) and data.get("fault_type"):
        good = data["fault_type"] == "good"
        verdict = data.get("verdict") or ("good" if good else "bad")
        data = {**data, "verdict": verdict, "fault_type": None if good else data["fault_type"]}
    return parse_verdict(data, strict=strict, types=FAULT_TYPES, type_field="fault_type")


def saliency_weights(layer: Mapping[str, Any]) -> dict[int, float]:
    """Wire -> weight of the cells that drove a layer's score (entries that are not
    ``{"wire": int, "weight": number}`` are left out; a missing weight is 1)."""
    out = {}
    for cell in layer.get("saliency") or []:
        wire = cell.get("wire") if isinstance(cell, Mapping) else None
        if isinstance(wire, int) and not isinstance(wire, bool):
            out[wire] = finite(cell.get("weight", 1.0)) or 0.0
    return out


def user_of(form: Mapping[str, Any]) -> str:
    return str(form.get("user") or cookie_user())


# pages ---------------------------------------------------------------------------------------
@dt.get("/")
def index() -> Any:
    return redirect(url_for(".runs_page"))


@dt.get("/runs")
def runs_page() -> Any:
    service = current_dt()
    return render_template("dt_runs.html", rows=service.run_rows(), root=service.results.root)


@dt.get("/runs/<int:run>")
def run_page(run: int) -> Any:
    service = current_dt()
    service.known_run(run)
    summary = service.results.summary(run)
    result = service.results.load(run) if summary.evaluated else None
    verdicts = service.read(lambda labels: labels.for_run(run), {})
    grid = {
        station: [
            (wheel, [f"W{wheel}_St{station}_Sec{sector}" for sector in sectors(station)])
            for wheel in WHEELS
        ]
        for station in STATIONS
    }
    return render_template(
        "dt_run.html",
        summary=summary,
        chambers=(result or {}).get("chambers", {}),
        verdicts=verdicts,
        grid=grid,
        job=service.read(lambda labels: labels.job(run), None),
    )


@dt.get("/runs/<int:run>/<dtchamber:chamber>")
def chamber_page(run: int, chamber: str) -> Any:
    service = current_dt()
    info = service.chamber_of(run, chamber)
    hits = service.results.hits(run, chamber)
    layers = layers_of(info)
    saliency = {n: saliency_weights(r) for n, r in layers.items()}
    # outlined in the heatmap where they explain a call: layers that are not good
    outlined = {n: w for n, w in saliency.items() if layers[n].get("status") != "good"}
    top = max((c for row in hits or [] for c in row if math.isfinite(c)), default=1.0)
    picks = service.eval_queue() if request.args.get("eval") else []
    return render_template(
        "dt_chamber.html",
        run=run,
        chamber=chamber_from_key(chamber),
        info=info,
        layers=layers,
        hits=hits,
        top=top,
        saliency=saliency,
        outlined=outlined,
        verdicts=service.read(lambda labels: labels.for_chamber(run, chamber), {}),
        has_plot=service.results.plot_path(run, chamber).is_file(),
        evaluating=bool(request.args.get("eval")),
        remaining=len(picks),
        pick=next((p for p in picks if (p.run, p.chamber) == (run, chamber)), None),
        summary=service.results.summary(run),
    )


@dt.get("/plots/<int:run>.png")
def run_plot(run: int) -> Any:
    return send_png(current_dt().results.plot_path(run), "no such plot")


@dt.get("/plots/<int:run>/<dtchamber:chamber>.png")
def chamber_plot(run: int, chamber: str) -> Any:
    return send_png(current_dt().results.plot_path(run, chamber), "no such plot")


@dt.post("/runs/<int:run>/<dtchamber:chamber>/layers/<int:layer>/verdict")
def verdict_form(run: int, chamber: str, layer: int) -> Any:
    service = current_dt()
    form = request.form.to_dict()
    form["user"] = user_of(form)
    body = parse_layer_verdict(form, strict=False)
    service.save_verdict(run, chamber, layer, body)
    flash(f"Saved: run {run} {chamber} layer {layer} is {body['verdict']}.")
    if form.get("next") != "eval":
        target = url_for(".chamber_page", run=run, chamber=chamber)
    elif service.unlabelled_layers(run, chamber):
        target = url_for(".chamber_page", run=run, chamber=chamber, eval=1)
    else:  # the chamber is done: on to the next
        return redirect(url_for(".eval_next"))
    return redirect(f"{target}#layer{layer}")


@dt.post("/runs/<int:run>/<dtchamber:chamber>/layers/<int:layer>/verdict/delete")
def delete_form(run: int, chamber: str, layer: int) -> Any:
    service = current_dt()
    service.layer_of(run, chamber, layer)
    service.need_labels().delete(run, chamber, layer, user=user_of(request.form))
    flash(f"Deleted the verdict on run {run} {chamber} layer {layer}.")
    return redirect(url_for(".chamber_page", run=run, chamber=chamber) + f"#layer{layer}")


@dt.post("/runs/<int:run>/reevaluate")
def reevaluate_form(run: int) -> Any:
    current_dt().reevaluate([run])
    flash(f"DT run {run} queued for re-evaluation.")
    return redirect(url_for(".run_page", run=run))


@dt.get("/eval/next")
def eval_next() -> Any:
    queue = current_dt().eval_queue()
    if not queue:
        return render_template("dt_eval_done.html")
    pick = queue[0]
    target = url_for(".chamber_page", run=pick.run, chamber=pick.chamber, eval=1)
    return redirect(f"{target}#layer{pick.layer}")


@dt.post("/eval/skip")
def eval_skip() -> Any:
    service = current_dt()
    run, chamber = skip_target(service, request.form)
    n = service.skip(run, chamber, user=user_of(request.form))
    flash(f"Skipped {n} layer(s) of run {run} {chamber}.")
    return redirect(url_for(".eval_next"))


def skip_target(service: DtReview, data: Mapping[str, Any]) -> tuple[int, str]:
    """The (run, chamber) a skip names, or the head of the queue when it names none."""
    if data.get("run") or data.get("chamber"):
        try:
            return int(data["run"]), chamber_from_key(str(data["chamber"])).key
        except (KeyError, TypeError, ValueError):
            abort(400, "a skip names a run (integer) and a chamber (W0_St1_Sec1)")
    queue = service.eval_queue()
    if not queue:
        abort(404, "nothing left to evaluate")
    return queue[0].run, queue[0].chamber


# JSON API ------------------------------------------------------------------------------------
@dt_api.get("/runs")
def runs() -> Any:
    service = current_dt()
    return {"threshold": service.threshold, "runs": service.run_rows()}


@dt_api.get("/net_scores.json")
def net_scores() -> Any:
    service = current_dt()
    verdicts = {(v.run, v.chamber, v.layer): v.verdict for v in service.read(ChamberLabels.all, [])}
    rows = []
    for run in service.results.runs():
        summary = service.results.summary(run)
        if not summary.evaluated:
            continue
        for key, info in service.run_result(run)["chambers"].items():
            for layer, r in layers_of(info).items():
                rows.append(
                    {
                        "run": run,
                        "chamber": key,
                        "layer": layer,
                        "score": finite(r.get("score")),
                        "status": r.get("status"),
                        "events": [
                            e.get("type") for e in r.get("events") or [] if isinstance(e, Mapping)
                        ],
                        "verdict": verdicts.get((run, key, layer)),
                    }
                )
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), -r["run"], r["chamber"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return {"threshold": service.threshold, "count": len(rows), "scores": rows}


@dt_api.get("/user_scores.json")
def user_scores() -> Any:
    service = current_dt()
    verdicts: list[LayerVerdict] = service.read(ChamberLabels.all, [])
    return {"count": len(verdicts), "verdicts": [v.to_json() for v in verdicts]}


@dt_api.patch("/runs/<int:run>/chambers/<dtchamber:chamber>/layers/<int:layer>")
def save_verdict(run: int, chamber: str, layer: int) -> Any:
    service = current_dt()
    service.layer_of(run, chamber, layer)  # 404 first, then validate the body
    body = parse_layer_verdict(json_body(), strict=True)
    return {"verdict": service.save_verdict(run, chamber, layer, body).to_json()}


@dt_api.delete("/runs/<int:run>/chambers/<dtchamber:chamber>/layers/<int:layer>")
def delete_verdict(run: int, chamber: str, layer: int) -> Any:
    labels = current_dt().need_labels()
    if not labels.delete(run, chamber, layer):
        abort(404, f"no verdict on run {run} {chamber} layer {layer}")
    return {"deleted": 1}


@dt_api.post("/reevaluate")
def reevaluate() -> Any:
    data = json_body()
    runs = data.get("runs") if isinstance(data, Mapping) else None
    if (
        not isinstance(runs, list)
        or not runs
        or not all(isinstance(r, int) and not isinstance(r, bool) for r in runs)
    ):
        abort(400, 'send {"runs": [355101, ...]}')
    jobs = current_dt().reevaluate(runs)
    return {"jobs": [j.to_json() for j in jobs]}, 202


@dt_api.get("/jobs")
def jobs() -> Any:
    found = current_dt().read(ChamberLabels.jobs, {})
    return {"jobs": [j.to_json() for j in found.values()]}


@dt_api.get("/eval/next")
def api_eval_next() -> Any:
    service = current_dt()
    queue = service.eval_queue()
    return {
        "next": queue[0].to_json() if queue else None,
        "remaining": len(queue),
        "threshold": service.threshold,
    }


@dt_api.post("/eval/skip")
def api_eval_skip() -> Any:
    service = current_dt()
    data = json_body() if request.content_length else {}
    if not isinstance(data, Mapping):
        abort(400, "the body must be a JSON object")
    run, chamber = skip_target(service, data)
    return {"run": run, "chamber": chamber, "skipped": service.skip(run, chamber)}

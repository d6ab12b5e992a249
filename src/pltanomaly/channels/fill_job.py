"""A fill's whole job in one process: convert, detect, the luminometer cross-check and plot,
each redone only when needed.

The workflow runs one job per fill (rule ``analyse_fill``). A process start-up costs more
than a short fill's detection (Python, numba's first kernel, pandas: ~1 s against ~0.5 s of
reading a 1-h fill), so the three steps share one process: numba and pandas load once,
pandas and the detector load while the HDF5 files are read, and the plot draws the ratios
the detector computed instead of computing them again.

Each step keeps its own status record (``status/{step}/{fill}.json``, as
:mod:`pltanomaly.channels.steps` writes them) holding a **key**: the hash of what the step's
output depends on (its settings, its code, its retry token, and the record of the step
before). Snakemake reruns the job whenever any of these changes; inside, a step whose key and
outputs are unchanged is reused, not redone. So a new detector setting redoes detection, the
luminometer check and plots, never conversion, and ``plots: all`` redoes only the plots (the
luminometer check's and the fill's). The job's own record
(``status/fill/{fill}.json``, the one Snakemake tracks) is written last, atomically, so a
killed job reruns, and reuses what it had finished.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pltanomaly.channels.steps import STEPS, step_record
from pltanomaly.core.atomic import write_json_atomic
from pltanomaly.core.steps import job_logging, record_path

JOB_RECORD = "fill"
"""``status/fill/{fill}.json``: the job's record, the output Snakemake tracks."""
REDO_VARIABLE = "PLTANOMALY_REDO"
"""Steps to redo even when reusable (``convert``, ``detect``, ``plot`` or ``all``, comma
separated): ``PLTANOMALY_REDO=all snakemake --forcerun analyse_fill`` redoes everything."""


def redo_steps(value: str | None = None) -> set[str]:
    """The steps :data:`REDO_VARIABLE` (or ``value``) asks to redo."""
    text = os.environ.get(REDO_VARIABLE, "") if value is None else value
    steps = {part.strip() for part in text.split(",") if part.strip()}
    unknown = steps - {*STEPS, "all"}
    if unknown:
        raise ValueError(f"{REDO_VARIABLE}: unknown step(s) {sorted(unknown)}; use {STEPS}")
    return set(STEPS) if "all" in steps else steps


@dataclass(frozen=True)
class FillJob:
    """What one fill's job needs: the workflow's params of the fill, as one JSON object."""

    year: int
    fill: int
    year_dir: Path
    fill_dir: Path
    counts: str = "auto"
    fingerprint: str = ""
    version: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    dead_channels: Sequence[int] = ()
    min_fill_hours: float = 0.0
    settings_hash: str = ""
    plots: str = "anomalous"
    code: Mapping[str, str] = field(default_factory=dict)
    """Hash of the code of a step (``detect``, ``plot``): new code redoes that step."""
    retry: Mapping[str, str] = field(default_factory=dict)
    """Retry token per step (:func:`pltanomaly.core.steps.retry_tokens`)."""
    luminometers: bool = True
    """Also write the luminometer series (``fills/{fill}.lumi.parquet``) while converting."""
    lumi_check: bool = True
    """Cross-check the luminometer series (off for a year whose brilcalc files are
    cross-checked instead)."""
    lumi_settings: Mapping[str, Any] = field(default_factory=dict)
    """The luminometer cross-check's settings
    (:class:`~pltanomaly.luminometers.crosscheck.CrosscheckConfig` fields)."""

    @classmethod
    def from_json(cls, text: str) -> FillJob:
        spec = json.loads(text)
        spec["year_dir"], spec["fill_dir"] = Path(spec["year_dir"]), Path(spec["fill_dir"])
        return cls(**spec)

    def path(self, kind: str) -> Path:
        """The fill's file of ``kind``: ``series``, ``lumi``, ``result`` or ``plot``, or the
        year's ``lumi_dir``."""
        names = {
            "lumi_dir": "lumi",
            "series": "fills/{}.parquet",
            "lumi": "fills/{}.lumi.parquet",
            "result": "fills/{}.json",
            "plot": "plots/{}.png",
        }
        return self.year_dir / names[kind].format(self.fill)

    def runs(self, step: str) -> bool:
        """Whether the job has ``step``: the luminometer cross-check only when the conversion
        keeps the luminometer series and the year's brilcalc files are not checked instead
        (their cross-check owns the fill's luminometer record then)."""
        return step != "lumi" or (self.lumi_check and self.luminometers)

    def record(self, step: str) -> Path:
        return step_record(self.year_dir, step, self.fill)

    def step_inputs(self, step: str) -> dict[str, Any]:
        """What the output of ``step`` depends on, besides the step before it."""
        inputs: dict[str, Any] = {"retry": self.retry.get(step, ""), "code": self.code.get(step)}
        if step == "convert":
            inputs.update(
                fill_dir=str(self.fill_dir),
                counts=self.counts,
                fingerprint=self.fingerprint,
                version=self.version,
            )
            if self.luminometers:  # a new key: fills converted before gain their series
                inputs["luminometers"] = True
        elif step == "detect":
            inputs.update(
                settings=dict(self.settings),
                dead_channels=sorted(int(c) for c in self.dead_channels),
                min_fill_hours=self.min_fill_hours,
                settings_hash=self.settings_hash,
            )
        elif step == "lumi":
            inputs.update(settings=dict(self.lumi_settings), plots=self.plots)
        else:
            inputs.update(plots=self.plots, settings=dict(self.settings))
        return inputs


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A record and a hash of its text (``""`` when there is none)."""
    try:
        text = path.read_text()
        return json.loads(text), hashlib.sha256(text.encode()).hexdigest()[:16]
    except (OSError, ValueError):
        return None, ""


def _reusable(record: Mapping[str, Any] | None, key: str) -> bool:
    """The step ran with the same key, and what it published is still there."""
    if record is None or record.get("key") != key:
        return False
    return all(Path(output).exists() for output in record.get("outputs") or [])


def _load_detector() -> None:
    """Import pandas and the detector (with numba) while the HDF5 files are read."""
    import pandas  # noqa: F401

    import pltanomaly.channels.detect.result  # noqa: F401


def _run_step(job: FillJob, step: str, key: str, views: list[Any]) -> None:
    """Run one step of :mod:`pltanomaly.channels.steps` (which writes its record)."""
    from pltanomaly.channels import steps

    fill: dict[str, Any] = {"fill": job.fill, "year": job.year, "key": key}
    series, result, record = job.path("series"), job.path("result"), job.record(step)
    if step == "convert":
        lumi = job.path("lumi") if job.luminometers else None
        steps.convert_step(job.fill_dir, series, record, counts=job.counts, lumi_out=lumi, **fill)
    elif step == "detect":
        detector: dict[str, Any] = {
            "settings": job.settings,
            "dead_channels": job.dead_channels,
            "min_fill_hours": job.min_fill_hours,
            "settings_hash": job.settings_hash,
        }
        steps.detect_step(
            series, job.record("convert"), result, record, views=views, **detector, **fill
        )
    elif step == "lumi":
        from pltanomaly.luminometers.steps import hd5_crosscheck_step

        hd5_crosscheck_step(
            job.path("lumi"),
            job.record("convert"),
            job.path("lumi_dir"),
            record,
            settings=job.lumi_settings,
            plots=job.plots,
            channel_result=result,
            **fill,
        )
    else:
        view = views[0] if views else None
        plot: dict[str, Any] = {"settings": job.settings, "plots": job.plots, "view": view}
        steps.plot_step(
            series, result, job.record("detect"), job.path("plot"), record, **plot, **fill
        )


def run_fill_job(job: FillJob, redo: set[str] | None = None) -> dict[str, Any]:
    """Run the steps of one fill that need running (and those in ``redo``, by default
    :func:`redo_steps`); returns the job record."""
    redo = redo_steps() if redo is None else redo
    started = time.perf_counter()
    done: dict[str, str] = {}
    upstream = ""
    views: list[Any] = []  # the detector's view, when it runs here, for the plot
    loader: threading.Thread | None = None
    for step in STEPS:
        if not job.runs(step):
            done[step] = "off"
            continue
        key = _digest(step, job.step_inputs(step), upstream)
        # after a step that ran, the input is new even when its record reads the same (same
        # second, same millisecond), so the step runs too
        fresh_input = "ran" in done.values()
        if step not in redo and not fresh_input and _reusable(_read(job.record(step))[0], key):
            done[step] = "reused"
        else:
            done[step] = "ran"
            if step == "convert":
                loader = threading.Thread(target=_load_detector, name="pltanomaly-load")
                loader.start()
            elif loader is not None:
                loader.join()
            _run_step(job, step, key, views)
        upstream = _read(job.record(step))[1]
    if loader is not None:
        loader.join()
    statuses = {
        step: (_read(job.record(step))[0] or {}).get("status") if job.runs(step) else "off"
        for step in STEPS
    }
    job_record = {
        "fill": job.fill,
        "year": job.year,
        "steps": done,
        "status": statuses,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json_atomic(record_path(job.year_dir, JOB_RECORD, job.fill), job_record)
    return job_record


def main(argv: Sequence[str] | None = None) -> int:
    """``analyse_fill.py [--log FILE] [--threads N] JOB_JSON``: the workflow's entry point."""
    parser = argparse.ArgumentParser(prog="analyse_fill.py", description=__doc__.split("\n")[0])
    parser.add_argument("job", help="the fill's job as JSON (FillJob fields)")
    parser.add_argument("--log", default=None, help="the job's log file")
    parser.add_argument("--threads", type=int, default=1, help="cores the job may use")
    args = parser.parse_args(argv)
    job_logging(args.log)
    os.environ["PLTANOMALY_THREADS"] = str(max(1, args.threads))
    job = FillJob.from_json(args.job)
    record = run_fill_job(job)
    logging.getLogger(__name__).info("fill %s: steps %s", job.fill, record["steps"])
    return 0

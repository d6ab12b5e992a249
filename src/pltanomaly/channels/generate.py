"""Synthetic PLT fills in the real on-disk layout, with injected anomalies and their truth.

A fill is written as ``{out}/{yy}/{fill}/{fill}_{run}_{start}_{end}.hd5`` (one file per CMS
run, blosc-compressed like PyTables writes them) with ``/pltaggzero`` (zero counts per bunch,
channel and NB4) and ``/beam`` (the filling scheme). The physics follows
``shared/docs/bril-data.md``: mu per bunch of 0.1-0.2 at the start of a fill, binomial zero
counts, luminosity decay, filling schemes in trains, channel efficiencies, dead and weak
channels (weak ones are live), emittance scans, levelling steps, a beam dump, common data
gaps, a garbage first NB4 per file, and the known file faults (missing and duplicated rows,
rows out of order across files). The normal per-channel behaviours (slow wander, pileup
dependence, per-NB4 jitter, fill-to-fill levels: :class:`NormalBehaviour`) are drawn per
data set over a wide range, or fixed by a regime (:data:`REGIMES`). Per-channel anomalies of
every type of the results contract are injected with magnitudes from hard to easy, some
inside or right next to scans and levelling steps, and recorded in
``{out}/{yy}/truth.json``. Everything is deterministic for a seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
from scipy.signal import lfilter

from pltanomaly import __version__
from pltanomaly.channels.events import EVENT_TYPES
from pltanomaly.channels.io import (
    BEAM_TABLE,
    N_BX,
    N_CHANNELS,
    NB4_SECONDS,
    ORBITS_PER_NB4,
    PLT_TABLE,
)
from pltanomaly.core.atomic import atomic_path, write_json_atomic
from pltanomaly.core.bril import HEADER_FIELDS, TIME_FIELDS

log = logging.getLogger(__name__)

ANOMALY_TYPES = EVENT_TYPES
"""Every event type of the results contract is injected."""
SLOTS_PER_BLOCK = 96


@dataclass(frozen=True)
class YearProfile:
    """What differs between years: numbering, dead channels, counts format."""

    first_fill: int
    first_run: int
    first_day: str
    dead: tuple[int, ...]
    weak: tuple[int, ...] = ()
    sometimes_dead: tuple[int, ...] = ()
    counts: str = "zeros"


YEARS: dict[int, YearProfile] = {
    2016: YearProfile(4850, 273000, "2016-05-01", dead=(0, 4), counts="hits"),
    2017: YearProfile(5700, 294000, "2017-05-25", dead=(0, 4)),
    2018: YearProfile(6500, 314000, "2018-04-17", dead=(0, 4)),
    2022: YearProfile(7920, 355000, "2022-07-05", dead=(6, 8), weak=(9,), sometimes_dead=(13,)),
    2023: YearProfile(8500, 366000, "2023-04-21", dead=(6, 8), weak=(9,), sometimes_dead=(13,)),
    2024: YearProfile(9400, 378000, "2024-04-05", dead=(6, 8), weak=(9,), sometimes_dead=(13,)),
}


def year_profile(year: int) -> YearProfile:
    """The year's profile; unknown years get the Run 3 one with their own numbering."""
    if year in YEARS:
        return YEARS[year]
    base = YEARS[2024]
    return YearProfile(
        first_fill=100 * (year % 100),
        first_run=10000 * (year % 100),
        first_day=f"{year}-05-01",
        dead=base.dead,
        weak=base.weak,
        sometimes_dead=base.sometimes_dead,
    )


@dataclass(frozen=True)
class NormalBehaviour:
    """The normal per-channel behaviours of a data set (bril-data.md), which a detector must
    not flag: their sizes are not known for real data to better than a factor of a few, so a
    data set draws them over a wide range (:meth:`draw`) unless a regime fixes them."""

    wander: float
    """Stationary standard deviation of each channel's slow efficiency wander (relative)."""
    wander_tau_s: float
    """Its correlation time (seconds)."""
    pileup: float
    """Spread of the channels' pileup coefficients: a channel's response is multiplied by
    ``1 + p * (L - 1)`` with ``p ~ N(0, pileup)`` and ``L`` the luminosity relative to the
    start of the fill."""
    jitter: float
    """Non-statistical relative noise per NB4 and channel."""
    weak_efficiency: float = 0.2
    """Efficiency of the weak (but live) channels."""

    @classmethod
    def draw(cls, rng: np.random.Generator) -> NormalBehaviour:
        """Sizes drawn log-uniformly over the ranges bril-data.md gives (and beyond)."""
        return cls(
            wander=_log_uniform(rng, 0.001, 0.01),
            wander_tau_s=_log_uniform(rng, 1200.0, 4 * 3600.0),
            pileup=_log_uniform(rng, 0.01, 0.2),
            jitter=_log_uniform(rng, 1e-4, 2e-3),
            weak_efficiency=rng.uniform(0.15, 0.3),
        )

    def to_dict(self) -> dict[str, float]:
        return dict(asdict(self))


REGIMES: dict[str, NormalBehaviour] = {
    "quiet": NormalBehaviour(wander=0.001, wander_tau_s=3600.0, pileup=0.01, jitter=1e-4),
    "typical": NormalBehaviour(wander=0.003, wander_tau_s=2400.0, pileup=0.05, jitter=5e-4),
    "rough": NormalBehaviour(wander=0.01, wander_tau_s=1800.0, pileup=0.2, jitter=2e-3),
}
"""Fixed normal behaviours for the evaluation matrix (``benchmarks/eval_set.py``)."""


@dataclass
class FillPlan:
    """Everything about one synthetic fill except its zero counts."""

    fill: int
    year: int
    start: float
    period: float
    orbits: int
    counts: str
    colliding: np.ndarray
    filled1: np.ndarray
    filled2: np.ndarray
    bunch_mu: np.ndarray
    """mu per bunch per unit channel scale (bunch profile, afterglow after colliding bunches)."""
    scale: np.ndarray
    """(channel, slot) mu scale: common luminosity times the channel's response and anomalies."""
    present: np.ndarray
    """(channel, slot) rows written."""
    stuck_source: np.ndarray
    """(channel, slot) slot whose counts are repeated, or -1."""
    run_bounds: list[tuple[int, int, int]]
    """(run, first slot, end slot) per file."""
    live: np.ndarray
    """(channel,) channels with hits at all (a dead one reads the orbit count everywhere)."""
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def n_slots(self) -> int:
        return int(self.scale.shape[1])

    def times(self) -> np.ndarray:
        return self.start + np.arange(self.n_slots) * self.period


def filling_scheme(
    rng: np.random.Generator, n_colliding: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beam 1 and beam 2 filled masks and the colliding mask: trains of 36-72 bunches with
    injection gaps, an abort gap, and a few bunches filled in one beam only."""
    train = int(rng.choice([36, 48, 72]))
    filled = np.zeros(N_BX, dtype=bool)
    bx, count = int(rng.integers(1, 40)), 0
    abort_gap = N_BX - 121
    while count < n_colliding and bx + train < abort_gap:
        filled[bx : bx + train] = True
        count += train
        bx += train + (8 if rng.random() < 0.7 else 38)
    colliding = filled.copy()
    beam1, beam2 = filled.copy(), filled.copy()
    lonely = rng.choice(np.flatnonzero(~filled[:abort_gap]), size=8, replace=False)
    beam1[lonely[:4]] = True
    beam2[lonely[4:]] = True
    return beam1, beam2, colliding


def _scan(duration_steps: int, start: int, n_slots: int, step_slots: int) -> tuple[np.ndarray, int]:
    """Common factor of an emittance scan (two planes of separation steps) starting at ``start``."""
    separations = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])
    factor = np.ones(n_slots)
    slot = start
    for _plane in range(2):
        for sep in separations[:duration_steps]:
            factor[slot : slot + step_slots] = np.exp(-(sep**2) / 2.0)
            slot += step_slots
        slot += step_slots  # back to head-on between the planes
    return factor, slot


def _ou_process(rng: np.random.Generator, n: int, sigma: float, tau_slots: float) -> np.ndarray:
    """Ornstein-Uhlenbeck path of stationary standard deviation ``sigma``."""
    a = np.exp(-1.0 / tau_slots)
    noise = rng.standard_normal(n) * sigma * np.sqrt(1 - a * a)
    initial = rng.standard_normal() * sigma
    return np.asarray(lfilter([1.0], [1.0, -a], noise, zi=[a * initial])[0])


def plan_fill(
    rng: np.random.Generator,
    *,
    year: int,
    fill: int,
    start: float,
    hours: float,
    counts: str,
    anomalies: bool = True,
    faults: bool = True,
    normal: NormalBehaviour | None = None,
    kinds: Sequence[str] = ANOMALY_TYPES,
) -> FillPlan:
    """Draw a fill's timeline, channels and anomalies (no zero counts yet); the normal
    behaviours are drawn from ``rng`` unless given; anomalies are of the types ``kinds``."""
    profile = year_profile(year)
    normal = normal or NormalBehaviour.draw(rng)
    orbits = ORBITS_PER_NB4 if counts == "zeros" else 4096
    period = NB4_SECONDS * orbits / ORBITS_PER_NB4
    n_slots = round(hours * 3600.0 / period)
    slot_of = lambda seconds: round(seconds / period)  # noqa: E731
    times = np.arange(n_slots) * period
    common: list[dict[str, Any]] = []

    def common_period(kind: str, first: int, end: int) -> None:
        common.append({"type": kind, "start": start + first * period, "end": start + end * period})

    # filling scheme and bunch profile
    n_colliding = int(rng.integers(1000, 2400))
    beam1, beam2, colliding = filling_scheme(rng, n_colliding)
    bunch_mu = np.zeros(N_BX)
    bunch_mu[colliding] = rng.lognormal(0.0, 0.08, colliding.sum())
    for lag, level in ((1, 4e-3), (2, 2e-3), (3, 1e-3), (4, 5e-4)):
        afterglow = np.roll(colliding, lag) & ~colliding
        bunch_mu[afterglow] += level
    mu0 = rng.uniform(0.1, 0.2)

    # common luminosity: decay, levelling, scans, dump, gaps
    tau = rng.uniform(10.0, 15.0) * 3600.0
    lumi = np.exp(-times / tau)
    if rng.random() < 0.6 and hours > 1.0:
        target = rng.uniform(0.65, 0.85)
        step_every = rng.uniform(600.0, 1800.0)
        tau_level = 3.0 * 3600.0
        level_end = min(rng.uniform(1.0, 4.0) * 3600.0, 0.5 * hours * 3600.0)
        since_step = np.mod(times, step_every)
        levelled = target * np.exp(-since_step / tau_level)
        in_levelling = (times < level_end) & (levelled < lumi)
        lumi = np.where(in_levelling, levelled, lumi)
        for t_step in np.arange(step_every, level_end, step_every):
            if target * np.exp(-step_every / tau_level) < np.exp(-t_step / tau):
                common_period("levelling_step", max(slot_of(t_step - 30), 0), slot_of(t_step + 30))
        last_levelled = min(slot_of(level_end), n_slots) - 1
        if last_levelled >= 0 and in_levelling[last_levelled]:  # then head-on: a last jump up
            common_period(
                "levelling_step", max(last_levelled - slot_of(30), 0), last_levelled + slot_of(30)
            )
    short = float(np.clip(hours / 2.0, 0.2, 1.0))  # short (test) fills get shorter scans
    margin = min(600.0, 0.04 * hours * 3600.0)
    step_slots = slot_of(short * rng.uniform(15.0, 25.0))
    dump_tail = slot_of(short * rng.uniform(60.0, 180.0))
    first_scan = slot_of(short * rng.uniform(300.0, 600.0))
    scan, first_scan_end = _scan(9, first_scan, n_slots, step_slots)
    lumi *= scan
    common_period("emittance_scan", first_scan, first_scan_end)
    scan_length = first_scan_end - first_scan
    dump = n_slots - dump_tail
    last_scan = dump - slot_of(short * rng.uniform(120.0, 300.0)) - scan_length
    quiet_from, quiet_to = first_scan_end + slot_of(margin), last_scan - slot_of(margin)
    if last_scan > quiet_from:
        scan, last_scan_end = _scan(9, last_scan, n_slots, step_slots)
        lumi *= scan
        common_period("emittance_scan", last_scan, last_scan_end)
    else:
        quiet_to = dump - slot_of(300.0)
    lumi[dump:] = 0.0
    common_period("beam_dump", dump, n_slots)
    present = np.ones((N_CHANNELS, n_slots), dtype=bool)
    if faults and rng.random() < 0.4 and quiet_to - quiet_from > slot_of(120.0):
        gap_start = int(rng.integers(quiet_from, quiet_to - slot_of(60.0)))
        gap_end = gap_start + slot_of(rng.uniform(5.0, 60.0))
        present[:, gap_start:gap_end] = False
        common_period("gap", gap_start, gap_end)

    # channels: efficiency (a new level every fill), slow wander, pileup dependence, jitter
    efficiency = rng.uniform(0.85, 1.15, N_CHANNELS)
    dead = set(profile.dead) | {c for c in profile.sometimes_dead if rng.random() < 0.2}
    for channel in profile.weak:
        efficiency[channel] = normal.weak_efficiency * rng.uniform(0.9, 1.1)
    for channel in dead:
        efficiency[channel] = 0.0
    mean_mu = mu0 * lumi
    scale = np.empty((N_CHANNELS, n_slots))
    behaviour: dict[str, dict[str, float]] = {}
    for channel in range(N_CHANNELS):
        wander_sigma = normal.wander * rng.lognormal(0.0, 0.3)
        wander = _ou_process(
            rng, n_slots, wander_sigma, normal.wander_tau_s * rng.lognormal(0.0, 0.3) / period
        )
        pileup = rng.normal(0.0, normal.pileup)
        jitter = normal.jitter * rng.standard_normal(n_slots)
        scale[channel] = (
            mean_mu
            * efficiency[channel]
            * (1 + wander)
            * (1 + pileup * (lumi - 1))  # lumi is 1 at the start of an unlevelled fill
            * (1 + jitter)
        )
        behaviour[str(channel)] = {
            "efficiency": round(float(efficiency[channel]), 4),
            "wander": round(wander_sigma, 5),
            "pileup": round(pileup, 5),
        }
    stuck_source = np.full((N_CHANNELS, n_slots), -1, dtype=np.int64)

    live = [c for c in range(N_CHANNELS) if c not in dead]
    channels_truth: dict[str, Any] = {
        str(c): {"status": "dead" if c in dead else "normal", "events": [], **behaviour[str(c)]}
        for c in range(N_CHANNELS)
    }
    # anomalies start in the quiet part of the fill, or inside or right next to a scan or a
    # levelling step (the common periods where a detector is most tempted to look away)
    near_common = [
        (
            max(0, round((c["start"] - start) / period) - slot_of(60.0)),
            min(n_slots - slot_of(120.0), round((c["end"] - start) / period) + slot_of(60.0)),
        )
        for c in common
        if c["type"] in ("emittance_scan", "levelling_step")
    ]
    quiet_enough = quiet_to - quiet_from > slot_of(min(900.0, 0.15 * hours * 3600.0))
    if anomalies and quiet_enough and rng.random() > 0.25:
        n_anomalous = int(rng.integers(1, 4))
        bunch_rate = float(bunch_mu[colliding].sum())
        for channel in rng.choice(live, size=min(n_anomalous, len(live)), replace=False):
            kind = str(rng.choice(kinds))
            first_from, first_to = (
                quiet_from,
                max(quiet_from + 1, quiet_to - (quiet_to - quiet_from) // 3),
            )
            if near_common and rng.random() < 0.3:
                first_from, first_to = near_common[int(rng.integers(len(near_common)))]
                first_to = max(first_from + 1, first_to)
            normal_sigma = np.sqrt(
                1.0 / np.maximum(scale[channel] * bunch_rate * orbits, 1e-9) + normal.jitter**2
            )
            event = _inject(
                rng,
                kind,
                int(channel),
                scale,
                present,
                stuck_source,
                int(rng.integers(first_from, first_to)),
                period,
                normal_sigma,
            )
            event["start"] = start + event.pop("first") * period
            event["end"] = start + event.pop("last") * period
            channels_truth[str(int(channel))].update(status="anomalous", events=[event])

    # runs: one file per run, LS restarting in each
    n_runs = max(1, round(hours / 1.5)) + int(rng.integers(0, 2))
    edges = [0, n_slots]
    if n_runs > 1 and n_slots > slot_of(1800.0):
        candidates = np.arange(slot_of(600.0), n_slots - slot_of(600.0))
        cuts = np.sort(rng.choice(candidates, size=n_runs - 1, replace=False))
        edges = [0, *[int(c) for c in cuts], n_slots]
    first_run = profile.first_run + 7 * (fill - profile.first_fill)
    run_bounds = [(first_run + i, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]

    plan = FillPlan(
        fill=fill,
        year=year,
        start=start,
        period=period,
        orbits=orbits,
        counts=counts,
        colliding=colliding,
        filled1=beam1,
        filled2=beam2,
        bunch_mu=bunch_mu,
        scale=scale,
        present=present,
        stuck_source=stuck_source,
        run_bounds=run_bounds,
        live=efficiency > 0,
    )
    plan.truth = {
        "start": start,
        "end": start + n_slots * period,
        "n_colliding": int(colliding.sum()),
        "mu0": mu0,
        "counts": counts,
        "runs": [r for r, _, _ in run_bounds],
        "dead_channels": sorted(dead),
        "normal": normal.to_dict(),
        "common": sorted(common, key=lambda c: c["start"]),
        "channels": channels_truth,
    }
    return plan


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _event(kind: str, first: int, last: int, magnitude: float, unit: str) -> dict[str, Any]:
    """A truth event over slots ``first..last`` (turned into times by the caller)."""
    return {"type": kind, "first": first, "last": last, "magnitude": magnitude, "unit": unit}


DRIFT_EDGE = 0.3
"""Fraction of drifts that start in the first minutes of the fill, and (independently) of
drifts that run to its last minute (threshold or radiation damage moving a channel until
the fill ends): the rest start and end anywhere in between."""


def _drift_span(rng: np.random.Generator, n_slots: int, period: float) -> tuple[int, int]:
    """First and last slot of a drift: 20 minutes to the whole fill, anywhere in it,
    including its first minutes and its last minute."""
    shortest = min(n_slots, max(1, round(1200.0 / period)))
    length = int(rng.integers(shortest, n_slots + 1))
    if rng.random() < DRIFT_EDGE:
        first = min(int(rng.integers(0, max(1, round(300.0 / period)))), n_slots - length)
    elif rng.random() < DRIFT_EDGE / (1.0 - DRIFT_EDGE):
        first = n_slots - length
    else:
        first = int(rng.integers(0, n_slots - length + 1))
    return first, first + length - 1


def _inject(
    rng: np.random.Generator,
    kind: str,
    channel: int,
    scale: np.ndarray,
    present: np.ndarray,
    stuck_source: np.ndarray,
    first: int,
    period: float,
    normal_sigma: np.ndarray,
) -> dict[str, Any]:
    """Apply one anomaly starting at slot ``first`` (a drift draws its own span,
    :func:`_drift_span`) to a channel's scale (or rows) and return its truth event;
    ``normal_sigma`` is the channel's normal relative noise per NB4."""
    n_slots = scale.shape[1]
    seconds = lambda s: max(1, round(s / period))  # noqa: E731
    row = scale[channel]
    if kind == "step":
        size = _log_uniform(rng, 0.02, 0.5) * (1 if rng.random() < 0.3 else -1)
        last = (
            n_slots - 1
            if rng.random() < 0.7
            else min(n_slots - 1, first + seconds(rng.uniform(900, 5400)))
        )
        row[first : last + 1] *= 1 + size
        return _event("step", first, last, abs(size), "relative")
    if kind == "drift":
        slope = _log_uniform(rng, 0.01, 0.10) * (1 if rng.random() < 0.5 else -1)
        first, last = _drift_span(rng, n_slots, period)
        hours = (np.arange(first, last + 1) - first) * period / 3600.0
        row[first : last + 1] *= 1 + slope * hours
        row[last + 1 :] *= 1 + slope * hours[-1]
        return _event("drift", first, last, abs(slope), "relative per hour")
    if kind == "spike":
        factor = _log_uniform(rng, 1.5, 10.0)
        last = min(n_slots - 1, first + int(rng.integers(0, 4)))
        row[first : last + 1] *= factor
        return _event("spike", first, last, factor, "factor")
    if kind == "dropout":
        length = _log_uniform(rng, 3.0, 300.0)
        last = min(n_slots - 1, first + seconds(length) - 1)
        row[first : last + 1] *= rng.uniform(0.0, 0.05)
        return _event("dropout", first, last, length, "seconds")
    if kind == "stuck":
        length = rng.uniform(30.0, 600.0)
        last = min(n_slots - 1, first + seconds(length))
        stuck_source[channel, first + 1 : last + 1] = first
        return _event("stuck", first, last, length, "seconds")
    if kind == "noise":
        factor = _log_uniform(rng, 2.0, 50.0)
        last = min(n_slots - 1, first + seconds(rng.uniform(600.0, 3600.0)))
        extra = np.sqrt(factor - 1.0) * normal_sigma[first : last + 1]
        row[first : last + 1] *= np.clip(1 + extra * rng.standard_normal(last + 1 - first), 0, None)
        return _event("noise", first, last, factor, "variance factor")
    length = _log_uniform(rng, 5.0, 600.0)
    last = min(n_slots - 1, first + seconds(length) - 1)
    present[channel, first : last + 1] = False
    return _event("gap", first, last, length, "seconds")


def plt_record_dtype(data_dtype: str | np.dtype) -> np.dtype:
    """The ``/pltaggzero`` row layout (header columns, then ``data[3564]``)."""
    return np.dtype([*HEADER_FIELDS, ("data", np.dtype(data_dtype).newbyteorder("<"), (N_BX,))])


BEAM_DTYPE = np.dtype(
    [
        *TIME_FIELDS,
        ("bxconfig1", "u1", (N_BX,)),
        ("bxconfig2", "u1", (N_BX,)),
        ("collidable", "u1", (N_BX,)),
        ("bxintensity1", "<f4", (N_BX,)),
        ("bxintensity2", "<f4", (N_BX,)),
    ]
)


def _pytables_attrs(dataset: h5py.Dataset, title: str) -> None:
    """The attributes PyTables puts on a table, so the files look like the real ones."""
    dataset.attrs["CLASS"] = np.bytes_("TABLE")
    dataset.attrs["VERSION"] = np.bytes_("2.7")
    dataset.attrs["TITLE"] = np.bytes_(title)
    for index, name in enumerate(dataset.dtype.names or ()):
        dataset.attrs[f"FIELD_{index}_NAME"] = np.bytes_(name)


def _blosc() -> hdf5plugin.Blosc:
    return hdf5plugin.Blosc(cname="blosclz", clevel=9, shuffle=hdf5plugin.Blosc.SHUFFLE)


class _CountsWriter:
    """Draws the zero counts of a fill block by block, remembering stuck channels' rows."""

    def __init__(self, plan: FillPlan, rng: np.random.Generator, data_dtype: np.dtype) -> None:
        self.plan = plan
        self.rng = rng
        self.data_dtype = data_dtype
        self.stuck_rows: dict[int, np.ndarray] = {}
        self.background = 2e-5

    def counts(self, slots: np.ndarray, channels: np.ndarray) -> np.ndarray:
        """Counts (zeros or hits) of the rows (slot, channel), shape (rows, 3564)."""
        plan = self.plan
        scale = plan.scale[channels, slots].astype(np.float32)
        alive = plan.live[channels].astype(np.float32) * self.background
        mu = scale[:, None] * plan.bunch_mu.astype(np.float32)[None, :] + alive[:, None]
        p_zero = np.exp(-mu)
        n = float(plan.orbits)
        mean = n * p_zero
        sigma = np.sqrt(n * p_zero * (1 - p_zero))
        noise = self.rng.standard_normal(mu.shape, dtype=np.float32)
        zeros = np.clip(np.rint(mean + sigma * noise), 0, n)
        counts = zeros if plan.counts == "zeros" else n - zeros
        for i, (slot, channel) in enumerate(zip(slots, channels, strict=True)):
            source = plan.stuck_source[channel, slot]
            if source >= 0:
                counts[i] = self.stuck_rows.setdefault(int(channel), counts[i].copy())
            elif plan.stuck_source[channel, min(slot + 1, plan.n_slots - 1)] == slot:
                self.stuck_rows[int(channel)] = counts[i].copy()
        return counts.astype(self.data_dtype)


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).strftime("%y%m%d%H%M")


def write_fill(
    plan: FillPlan,
    fill_dir: Path,
    rng: np.random.Generator,
    *,
    data_dtype: str = "uint32",
    faults: bool = True,
    beam_collidable: bool = True,
) -> list[Path]:
    """Write the fill's files (one per run) and return their paths."""
    fill_dir.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(data_dtype)
    record_dtype = plt_record_dtype(dtype)
    writer = _CountsWriter(plan, rng, dtype)
    times = plan.times()
    nb_step = plan.orbits // 4096
    rows_per_ls = 64 // nb_step
    files = []
    bounds = list(plan.run_bounds)
    moved = 2 if faults and len(bounds) > 1 else 0
    for index, (run, first, end) in enumerate(bounds):
        # rows out of time order across files: the last slots of a run land in the next file
        slots_here = list(range(first, end - (moved if index + 1 < len(bounds) else 0)))
        carried = (
            list(range(bounds[index - 1][2] - moved, bounds[index - 1][2])) if index > 0 else []
        )
        previous_run, previous_first = bounds[index - 1][:2] if index > 0 else (run, first)
        name = f"{plan.fill}_{run}_{_stamp(times[first])}_{_stamp(times[end - 1])}.hd5"
        path = fill_dir / name
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
            handle.attrs["CLASS"] = np.bytes_("GROUP")
            handle.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_("2.1")
            table = handle.create_dataset(
                PLT_TABLE,
                shape=(0,),
                maxshape=(None,),
                dtype=record_dtype,
                chunks=(100,),
                **_blosc(),
            )
            _pytables_attrs(table, "pltaggzero")
            segments = [(previous_run, previous_first, carried)] if carried else []
            segments.append((run, first, slots_here))
            for segment_index, (segment_run, run_first, segment) in enumerate(segments):
                for block_start in range(0, len(segment), SLOTS_PER_BLOCK):
                    block = np.asarray(segment[block_start : block_start + SLOTS_PER_BLOCK])
                    file_start = segment_index == 0 and block_start == 0
                    records = _records(
                        plan,
                        writer,
                        rng,
                        block,
                        segment_run,
                        run_first,
                        rows_per_ls,
                        nb_step,
                        record_dtype,
                        garbage=faults and file_start,
                        faults=faults,
                    )
                    if len(records) == 0:  # a block wholly inside a gap
                        continue
                    table.resize((table.shape[0] + len(records),))
                    table[-len(records) :] = records
            table.attrs["NROWS"] = np.int64(table.shape[0])
            _write_beam(handle, plan, run, first, end, rows_per_ls, beam_collidable)
        files.append(path)
    return files


def _records(
    plan: FillPlan,
    writer: _CountsWriter,
    rng: np.random.Generator,
    block: np.ndarray,
    run: int,
    run_first: int,
    rows_per_ls: int,
    nb_step: int,
    record_dtype: np.dtype,
    *,
    garbage: bool,
    faults: bool,
) -> np.ndarray:
    slots = np.repeat(block, N_CHANNELS)
    channels = np.tile(np.arange(N_CHANNELS), len(block))
    keep = plan.present[channels, slots]
    if faults:
        keep &= rng.random(len(slots)) > 2e-4  # a missing channel in a row now and then
    slots, channels = slots[keep], channels[keep]
    counts = writer.counts(slots, channels)
    if garbage:  # values above the orbit count in the file's first NB4
        first_rows = np.flatnonzero(slots == block[0])
        for i in first_rows[rng.random(len(first_rows)) < 0.5]:
            bad = rng.choice(N_BX, size=int(rng.integers(1, 50)), replace=False)
            counts[i, bad] = rng.integers(plan.orbits + 1, 65535, size=len(bad))
    timestamps = plan.start + slots * plan.period
    in_run = slots - run_first
    records = np.zeros(len(slots), dtype=record_dtype)
    records["fillnum"] = plan.fill
    records["runnum"] = run
    records["lsnum"] = in_run // rows_per_ls + 1
    records["nbnum"] = (in_run % rows_per_ls + 1) * nb_step
    records["timestampsec"] = np.floor(timestamps).astype(np.uint32)
    records["timestampmsec"] = (
        np.round((timestamps - np.floor(timestamps)) * 1000).astype(np.uint32) % 1000
    )
    records["totsize"] = record_dtype["data"].itemsize
    records["publishnnb"] = 4
    records["datasourceid"] = 5
    records["algoid"] = 1
    records["channelid"] = channels
    records["payloadtype"] = 1
    records["data"] = counts
    if faults:  # the same run/LS/NB/channel written twice, as seen in 2016 files
        duplicate = np.flatnonzero(rng.random(len(records)) < 2e-4)
        if duplicate.size:
            records = np.insert(records, duplicate + 1, records[duplicate])
    return records


def _write_beam(
    handle: h5py.File,
    plan: FillPlan,
    run: int,
    first: int,
    end: int,
    rows_per_ls: int,
    collidable: bool,
) -> None:
    slots = np.arange(first, end, rows_per_ls)
    dtype = (
        BEAM_DTYPE
        if collidable
        else np.dtype([d for d in BEAM_DTYPE.descr if d[0] != "collidable"])
    )
    beam = np.zeros(len(slots), dtype=dtype)
    timestamps = plan.start + slots * plan.period
    beam["fillnum"] = plan.fill
    beam["runnum"] = run
    beam["lsnum"] = (slots - first) // rows_per_ls + 1
    beam["nbnum"] = 64
    beam["timestampsec"] = np.floor(timestamps).astype(np.uint32)
    beam["bxconfig1"] = plan.filled1
    beam["bxconfig2"] = plan.filled2
    if collidable:
        beam["collidable"] = plan.colliding
    beam["bxintensity1"] = plan.filled1 * np.float32(1.1e11)
    beam["bxintensity2"] = plan.filled2 * np.float32(1.1e11)
    table = handle.create_dataset(
        BEAM_TABLE, data=beam, maxshape=(None,), chunks=(100,), **_blosc()
    )
    _pytables_attrs(table, "beam")


def plan_year_fill(
    year: int,
    fill: int,
    seed: int,
    hours: float,
    *,
    counts: str | None = None,
    anomalies: bool = True,
    faults: bool = True,
    normal: NormalBehaviour | None = None,
    kinds: Sequence[str] = ANOMALY_TYPES,
) -> tuple[np.random.Generator, FillPlan]:
    """One fill's plan as :func:`generate_year` draws it, and the generator to write it with
    (normal behaviours: :func:`data_set_behaviour` unless given)."""
    profile = year_profile(year)
    normal = normal or data_set_behaviour(seed, year)
    rng = np.random.default_rng([seed, year, fill])
    day0 = dt.datetime.fromisoformat(profile.first_day).replace(tzinfo=dt.timezone.utc).timestamp()
    start = day0 + (fill - profile.first_fill) * 86400.0 * 0.75 + rng.uniform(0, 3600.0)
    plan = plan_fill(
        rng,
        year=year,
        fill=fill,
        start=start,
        hours=hours,
        counts=counts or profile.counts,
        anomalies=anomalies,
        faults=faults,
        normal=normal,
        kinds=kinds,
    )
    return rng, plan


def data_set_behaviour(seed: int, year: int) -> NormalBehaviour:
    """The normal behaviours of the data set ``(seed, year)``: drawn once, shared by its fills."""
    return NormalBehaviour.draw(np.random.default_rng([seed, year, 0x6E6F726D]))


def generate_year(
    out_root: str | Path,
    year: int,
    n_fills: int,
    hours: float,
    seed: int,
    *,
    first_fill: int | None = None,
    data_dtype: str = "uint32",
    counts: str | None = None,
    anomalies: bool = True,
    faults: bool = True,
    normal: NormalBehaviour | None = None,
    kinds: Sequence[str] = ANOMALY_TYPES,
) -> Path:
    """Write ``n_fills`` fills of ``hours`` each for ``year`` and merge their truth into
    ``{out_root}/{yy}/truth.json``. Returns the year folder. The normal behaviours are the
    data set's (:func:`data_set_behaviour`) unless given (e.g. a :data:`REGIMES` entry);
    injected anomalies are of the types ``kinds`` (all by default)."""
    profile = year_profile(year)
    normal = normal or data_set_behaviour(seed, year)
    counts = counts or profile.counts
    year_dir = Path(out_root) / f"{year % 100:02d}"
    year_dir.mkdir(parents=True, exist_ok=True)
    truth_path = year_dir / "truth.json"
    truth: dict[str, Any] = (
        json.loads(truth_path.read_text()) if truth_path.exists() else {"year": year, "fills": {}}
    )
    fill = profile.first_fill if first_fill is None else first_fill
    for index in range(n_fills):
        rng, plan = plan_year_fill(
            year,
            fill,
            seed,
            hours,
            counts=counts,
            anomalies=anomalies,
            faults=faults,
            normal=normal,
            kinds=kinds,
        )
        files = write_fill(
            plan,
            year_dir / str(fill),
            rng,
            data_dtype=data_dtype,
            faults=faults,
            beam_collidable=year >= 2017,
        )
        plan.truth["files"] = [p.name for p in files]
        plan.truth["seed"] = seed
        truth["fills"][str(fill)] = plan.truth
        log.info(
            "fill %d: %d files, %.1f h, %s",
            fill,
            len(files),
            hours,
            [c for c, v in plan.truth["channels"].items() if v["status"] == "anomalous"],
        )
        fill += int(rng.integers(1, 4)) if index + 1 < n_fills else 0
    truth["generator"] = {
        "version": __version__,
        "hours": hours,
        "data_dtype": data_dtype,
        "counts": counts,
        "normal": normal.to_dict(),
    }
    write_json_atomic(truth_path, truth)
    return year_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="write synthetic fills (demo and test data)")
    parser.add_argument("out_root", type=Path, help="folder to write {yy}/{fill}/*.hd5 into")
    parser.add_argument("--year", type=int, default=2022)
    parser.add_argument("--fills", type=int, default=3, help="number of fills")
    parser.add_argument("--hours", type=float, default=1.0, help="length of each fill")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-fill", type=int, default=None, help="number of the first fill")
    parser.add_argument("--dtype", default="uint32", choices=["uint32", "int32", "float32"])
    parser.add_argument(
        "--counts",
        choices=["zeros", "hits"],
        default=None,
        help="zeros (Run 3) or hits per nibble (2016); default from the year",
    )
    parser.add_argument("--clean", action="store_true", help="inject no anomaly")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=ANOMALY_TYPES,
        default=list(ANOMALY_TYPES),
        help="inject anomalies of these types only (default: every type)",
    )
    parser.add_argument(
        "--regime",
        choices=sorted(REGIMES),
        default=None,
        help="fixed normal behaviours (wander, pileup, jitter); default: drawn from the seed",
    )
    parser.add_argument(
        "--no-faults", action="store_true", help="no file faults (garbage NB4, duplicates, ...)"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    year_dir = generate_year(
        args.out_root,
        args.year,
        args.fills,
        args.hours,
        args.seed,
        first_fill=args.first_fill,
        data_dtype=args.dtype,
        counts=args.counts,
        anomalies=not args.clean,
        faults=not args.no_faults,
        normal=REGIMES[args.regime] if args.regime else None,
        kinds=tuple(args.kinds),
    )
    print(f"wrote {args.fills} fill(s) to {year_dir} (truth: {year_dir / 'truth.json'})")
    return 0

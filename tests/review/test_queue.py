"""The evaluation queue: the most informative channel first, spread over fills and types, with
the reason on the page and the detector's precision/recall by the verdicts so far."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pltanomaly.core.calibrate import Observation, fit
from pltanomaly.review.queue import Candidate, precision_recall, rank


def cand(fill: int, channel: int, **evidence: float) -> Candidate:
    score = max((x * x / (1 + x * x) for x in evidence.values()), default=0.0)
    return Candidate(2024, fill, channel, score, "normal", evidence)


def order(picks: list[Any]) -> list[tuple[int, int]]:
    return [(p.candidate.fill, p.candidate.channel) for p in picks]


def test_without_verdicts_nearest_the_threshold_first() -> None:
    scores = {1: 0.9, 2: 0.52, 3: 0.3, 4: 0.46, 5: 0.05}
    candidates = [Candidate(2024, f, 0, s, "normal") for f, s in scores.items()]
    assert order(rank(candidates, fit([]), 0.5)) == [(2, 0), (4, 0), (3, 0), (1, 0), (5, 0)]
    # at another threshold, nearest that one
    assert order(rank(candidates, fit([]), 0.8, limit=2)) == [(1, 0), (2, 0)]


def test_one_long_fill_does_not_take_the_queue() -> None:
    long_fill = [cand(100, ch, drift=1.0 + 0.01 * ch) for ch in range(12)]
    others = [cand(200, 0, drift=1.4), cand(300, 0, step=1.5)]
    head = order(rank(long_fill + others, fit([]), 0.5, limit=4))
    assert (200, 0) in head and (300, 0) in head
    assert head[0] == (100, 0)  # the most uncertain still comes first


def test_types_are_spread() -> None:
    drifts = [cand(f, 0, drift=1.0 + 0.01 * f) for f in range(1, 9)]
    steps = [cand(f, 1, step=1.35) for f in range(1, 3)]
    head = rank(drifts + steps, fit([]), 0.5, limit=3)
    assert {p.type for p in head} == {"drift", "step"}


def test_verdicts_move_the_queue_to_what_is_still_unknown() -> None:
    """Twenty drifts near evidence 1 marked good: drifts at 1 are settled, the queue asks
    about drifts where the experts' cut now lies, and about types not yet taught."""
    taught = [Observation("drift", 0.8 + 0.02 * i, False) for i in range(20)]
    taught += [Observation("drift", 5 + 0.2 * i, True) for i in range(20)]
    calibration = fit(taught)
    candidates = [cand(1, 0, drift=1.0), cand(2, 0, drift=3.0), cand(3, 0, step=1.0)]
    before = order(rank(candidates, fit([]), 0.5))
    after = rank(candidates, calibration, 0.5)
    assert before[0] in ((1, 0), (3, 0))  # evidence 1 is the threshold of the detector
    assert order(after)[-1] == (1, 0)  # drift at 1: the experts have answered that
    assert after[0].p_sd > 0 and after[-1].p_bad < 0.2
    assert "40 drift verdict(s) so far" in next(p.why for p in after if p.type == "drift")
    assert "0 step verdict(s)" in next(p.why for p in after if p.type == "step")


def test_uncertainty_is_highest_where_verdicts_are_few() -> None:
    calibration = fit([Observation("drift", 1.0, i % 2 == 0) for i in range(200)])
    sure, unsure = rank([cand(1, 0, drift=1.0), cand(2, 0, step=1.0)], calibration, 0.5)
    # both sit at P(bad) = 0.5; the step has no verdict, so its P is less known
    assert sure.p_bad == pytest.approx(0.5, abs=0.05) and unsure.p_bad == pytest.approx(0.5)
    assert unsure.p_sd > sure.p_sd


def test_precision_and_recall_from_verdicts() -> None:
    verdicts = [(0.9, "bad"), (0.8, "good"), (0.3, "bad"), (0.1, "good"), (0.2, "skipped")]
    got = precision_recall([*verdicts, (None, "bad")], 0.5)
    assert (got["tp"], got["fp"], got["fn"], got["tn"], got["n"]) == (1, 1, 1, 1, 4)
    assert got["precision"] == 0.5 and got["recall"] == 0.5
    assert precision_recall([], 0.5)["precision"] is None


def test_eval_page_says_why_and_how_the_detector_does(client: Any) -> None:
    html = client.get("/eval/2022/8001/5").get_data(as_text=True)
    assert "Why this channel: P(bad) = 0.52" in html and "highest left" in html
    assert "by the 0 verdicts so far" in html and "precision –" in html
    client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"})  # score 0.97
    client.patch("/api/fills/2022/8002/channels/2", json={"verdict": "bad"})  # score 0.44
    html = client.get("/eval/2022/8001/5").get_data(as_text=True)
    assert "precision 100% (1/1)" in html and "recall 50% (1/2)" in html
    nxt = client.get("/api/eval/next").get_json()["next"]
    assert nxt["why"].startswith("P(bad) = 0.52") and math.isfinite(nxt["uncertainty"])

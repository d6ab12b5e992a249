"""The SQLite label store: WAL, one transaction per save, concurrent saves, regenerated results."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from pltanomaly.review.labels import (
    ERROR,
    FINISHED,
    PENDING,
    RUNNING,
    LabelStore,
    LabelStoreError,
    default_labels_path,
)


def test_store_is_wal_and_beside_the_results(results: Path) -> None:
    store = LabelStore(default_labels_path(results))
    assert store.path == results.parent / "results.labels.sqlite"
    assert default_labels_path(f"{results}/") == store.path
    assert default_labels_path(results / "2022" / "..") == store.path
    assert store.journal_mode == "wal"
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_save_get_overwrite_delete(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    store.save(2022, 8001, 3, "bad", anomaly_type="step", comment="c", user="u", net_score=0.9)
    v = store.get(2022, 8001, 3)
    assert v is not None
    assert (v.verdict, v.anomaly_type, v.comment, v.user, v.net_score) == (
        "bad",
        "step",
        "c",
        "u",
        0.9,
    )
    store.save(2022, 8001, 3, "good")
    assert store.get(2022, 8001, 3).verdict == "good"  # type: ignore[union-attr]
    assert store.get(2022, 8001, 3).anomaly_type is None  # type: ignore[union-attr]
    store.save(2022, 8001, 4, "skipped")
    assert store.seen_keys() == {(2022, 8001, 3), (2022, 8001, 4)}
    assert set(store.for_fill(2022, 8001)) == {3, 4}
    assert store.delete(2022, 8001, 4) is True
    assert store.delete(2022, 8001, 4) is False
    assert store.delete_fill(2022, 8001) == 1
    assert store.all() == []
    assert store.log_count() == 6  # 3 saves + 2 deletes + 1 fill delete, all traced


def test_save_validates(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    with pytest.raises(ValueError, match="verdict"):
        store.save(2022, 1, 1, "meh")
    with pytest.raises(ValueError, match="anomaly type"):
        store.save(2022, 1, 1, "bad", anomaly_type="ufo")
    assert store.all() == []


def test_failed_save_rolls_back(tmp_path: Path, monkeypatch: Any) -> None:
    """One transaction per save: if the log insert fails, the verdict is not half-saved."""
    store = LabelStore(tmp_path / "l.sqlite")
    with sqlite3.connect(store.path) as conn:
        conn.execute("DROP TABLE verdict_log")
    with pytest.raises(LabelStoreError):
        store.save(2022, 1, 1, "bad")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 0


def test_missing_database_is_not_created_when_asked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LabelStore(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def test_concurrent_saves_lose_nothing(tmp_path: Path) -> None:
    """Many threads, each with its own connections, saving at once: every save is kept."""
    store = LabelStore(tmp_path / "l.sqlite")
    n_threads, per_thread = 8, 25
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                # distinct rows per thread, plus one row every thread fights over
                store.save(2022, 9000 + k, i % 16, "bad" if i % 2 else "good", comment=f"{k}-{i}")
                store.save(2022, 1, 0, "bad", comment=f"{k}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.log_count() == 2 * n_threads * per_thread
    keys = store.seen_keys()
    assert len(keys) == n_threads * 16 + 1
    for k in range(n_threads):
        for ch in range(16):
            v = store.get(2022, 9000 + k, ch)
            assert v is not None
            last_i = max(i for i in range(per_thread) if i % 16 == ch)
            assert v.comment == f"{k}-{last_i}"  # the thread's own last write won


def test_concurrent_saves_through_the_app(make_app: Any) -> None:
    """Several browsers (threads with their own client) saving verdicts at the same time."""
    app = make_app()
    channels = [c for c in range(16) if c not in (6, 8, 9)]
    fills = [8001, 8002, 8003]
    barrier = threading.Barrier(len(fills))
    statuses: list[int] = []
    lock = threading.Lock()

    def browser(fill: int) -> None:
        client = app.test_client()
        barrier.wait()
        for rnd in range(3):
            for ch in channels:
                r = client.patch(
                    f"/api/fills/2022/{fill}/channels/{ch}",
                    json={"verdict": "bad", "anomaly_type": "noise", "comment": f"round {rnd}"},
                )
                with lock:
                    statuses.append(r.status_code)

    threads = [threading.Thread(target=browser, args=(f,)) for f in fills]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * (3 * len(fills) * len(channels))
    scores = app.test_client().get("/api/user_scores.json").get_json()
    assert scores["count"] == len(fills) * len(channels)
    assert {v["comment"] for v in scores["verdicts"]} == {"round 2"}
    assert app.extensions["pltanomaly_review"].store.log_count() == len(statuses)


def test_regenerated_results_keep_their_labels(
    make_app: Any, results: Path, results_template: Path
) -> None:
    client = make_app().test_client()
    client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad", "anomaly_type": "step"})
    client.patch("/api/fills/2023/8501/channels/7", json={"verdict": "good"})
    # the results are deleted (make clean) and regenerated from scratch
    shutil.rmtree(results)
    shutil.copytree(results_template, results)
    fresh = make_app().test_client()  # and the app is restarted
    verdicts = fresh.get("/api/user_scores.json").get_json()["verdicts"]
    assert [(v["fill"], v["channel"], v["verdict"]) for v in verdicts] == [
        (8001, 3, "bad"),
        (8501, 7, "good"),
    ]
    assert fresh.get("/api/fills/2022/8001").get_json()["verdicts"]["3"]["anomaly_type"] == "step"
    assert 'class="badge v-bad"' in fresh.get("/fills/2022/8001").get_data(as_text=True)


def test_labels_can_live_elsewhere(make_app: Any, tmp_path: Path, results: Path) -> None:
    db = tmp_path / "elsewhere" / "my-labels.sqlite"
    client = make_app(labels_db=db).test_client()
    assert (
        client.patch("/api/fills/2022/8001/channels/3", json={"verdict": "bad"}).status_code == 200
    )
    assert db.exists()
    assert not default_labels_path(results).exists()


def test_job_states(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    job = store.claim_job(2022, 8001)
    assert job is not None and job.state == PENDING and job.active
    assert store.claim_job(2022, 8001) is None  # already queued
    store.set_job(2022, 8001, RUNNING)
    assert store.claim_job(2022, 8001) is None  # running
    done = store.set_job(2022, 8001, FINISHED, "ok")
    assert done.state == FINISHED and done.started is not None and done.finished is not None
    assert store.claim_job(2022, 8001) is not None  # may be queued again
    store.set_job(2022, 8002, RUNNING)
    assert store.fail_interrupted_jobs() == 2
    jobs = store.jobs()
    assert {k: j.state for k, j in jobs.items()} == {(2022, 8001): ERROR, (2022, 8002): ERROR}
    assert "interrupted" in jobs[(2022, 8002)].message
    with pytest.raises(ValueError):
        store.set_job(2022, 8001, "DONE")

"""The record-store contract, run against every backend (the ``make_store`` fixture is parametrised over them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_meta.store import InMemoryStore, Job, JobKey, Record, Result, SQLiteStore, open_store

REPO = Path(__file__).resolve().parents[3]


def test_add_jobs_inserts_new_keys_and_ignores_existing(store, make_job, clock):
    assert store.add_jobs([make_job(0), make_job(1), make_job(2)]) == 3
    duplicate = make_job(1, suite="other suite")
    assert store.add_jobs([duplicate, make_job(3), make_job(3)]) == 1
    assert store.counts() == {"pending": 4, "running": 0, "done": 0, "failed": 0}
    record = store.get(make_job(1).key)
    assert record["suite"] == "smoke"
    assert record["state"] == "pending" and record["attempts"] == 0 and record["created_at"] == clock.t0
    assert record["tags"] == {"heldout": True, "domain": "none"}
    assert store.get(make_job(9).key) is None


def test_claim_takes_pending_jobs_oldest_first(store, make_job, clock):
    store.add_jobs([make_job(i) for i in range(3)])
    claimed = store.claim("w1", n=2)
    assert [job.key for job in claimed] == [make_job(0).key, make_job(1).key]
    assert claimed[0] == make_job(0)
    record = store.get(make_job(0).key)
    lifecycle = (record["state"], record["worker"], record["attempts"], record["heartbeat_at"])
    assert lifecycle == ("running", "w1", 1, clock.t0)
    assert [job.key for job in store.claim("w2", n=5)] == [make_job(2).key]
    assert store.claim("w2") == []


def test_finish_stores_the_result_with_the_job(store, clock, make_job, ok_result):
    job = make_job(0)
    store.add_jobs([job, make_job(1)])
    store.claim("w1")
    clock.advance(30)
    assert store.finish(job.key, ok_result(0.875), worker="w1") is True
    (record,) = store.records()
    assert Job.from_record(record) == job
    assert Result.from_record(record) == ok_result(0.875)
    assert record["state"] == "done" and record["finished_at"] == clock.t0 + 30 and record["worker"] == "w1"
    assert store.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 0}


def test_finish_twice_is_a_noop_and_never_overwrites(store, make_job, ok_result):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    assert store.finish(job.key, ok_result(0.8)) is True
    assert store.finish(job.key, ok_result(0.1)) is False
    assert store.finish(job.key, Result(status="error", reason="late crash")) is False
    assert store.fail(job.key, "late crash") is False
    assert store.release("w1") == 0
    record = store.get(job.key)
    assert record["val_acc"] == 0.8 and record["state"] == "done"


def test_finish_unknown_job_is_an_error(store, make_job, ok_result):
    with pytest.raises(ValueError, match="unknown job"):
        store.finish(make_job(0).key, ok_result())


def test_diverged_run_is_a_done_job(store, make_job):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    diverged = Result(status="diverged", val_acc=0.1, curve=[0.3, 0.1], reason="loss became NaN at epoch 2")
    assert store.finish(job.key, diverged) is True
    record = store.get(job.key)
    assert record["state"] == "done" and record["status"] == "diverged"
    assert record["reason"] == "loss became NaN at epoch 2"
    assert store.claim("w1") == []


def test_error_outcome_is_a_failed_attempt_that_is_retried(store, make_job):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    assert store.finish(job.key, Result(status="oom", reason="CUDA out of memory")) is True
    record = store.get(job.key)
    assert (record["state"], record["error"], record["status"]) == ("pending", "oom: CUDA out of memory", None)
    assert [j.key for j in store.claim("w1")] == [job.key]
    assert store.get(job.key)["attempts"] == 2


def test_fail_retries_then_gives_up_after_max_attempts(store, clock, make_job):
    job = make_job(0)
    store.add_jobs([job])
    for attempt in (1, 2):
        assert [j.key for j in store.claim("w1")] == [job.key]
        assert store.fail(job.key, f"boom {attempt}", worker="w1") is True
        record = store.get(job.key)
        assert (record["state"], record["attempts"], record["error"]) == ("pending", attempt, f"boom {attempt}")
    store.claim("w1")
    clock.advance(5)
    assert store.fail(job.key, "boom 3") is True
    record = store.get(job.key)
    assert record["state"] == "failed" and record["attempts"] == 3
    assert record["error"] == "gave up after 3 attempts: boom 3"
    assert record["finished_at"] == clock.t0 + 5
    assert store.claim("w1") == []
    assert store.counts()["failed"] == 1


def test_fail_is_ignored_unless_the_job_is_running_for_that_worker(store, make_job):
    job = make_job(0)
    store.add_jobs([job])
    assert store.fail(job.key, "not claimed yet") is False
    store.claim("w1")
    assert store.fail(job.key, "not mine", worker="w2") is False
    assert store.get(job.key)["state"] == "running"


def test_stale_running_job_is_reclaimed_after_the_grace_period(store, clock, make_job, ok_result):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    clock.advance(store.grace_s - 1)
    assert store.claim("w2") == []
    assert store.heartbeat("w1", [job.key]) == 1
    clock.advance(store.grace_s - 1)
    assert store.claim("w2") == []  # the heartbeat kept it alive
    clock.advance(2)
    assert [j.key for j in store.claim("w2")] == [job.key]
    record = store.get(job.key)
    assert (record["worker"], record["attempts"], record["heartbeat_at"]) == ("w2", 2, clock.t)
    assert record["error"] == "worker w1 stopped sending heartbeats"
    assert store.heartbeat("w1", [job.key]) == 0  # w1 learns it lost the job
    assert store.finish(job.key, ok_result(0.7), worker="w2") is True
    assert store.finish(job.key, ok_result(0.2), worker="w1") is False


def test_job_of_dead_workers_gives_up_after_max_attempts(store, clock, make_job):
    job = make_job(0)
    store.add_jobs([job])
    for attempt in range(1, 4):
        assert [j.key for j in store.claim(f"w{attempt}")] == [job.key]
        clock.advance(store.grace_s + 1)
    assert store.claim("w4") == []
    record = store.get(job.key)
    assert record["state"] == "failed" and record["attempts"] == 3 and record["worker"] is None
    assert record["error"] == "gave up after 3 attempts: worker w3 stopped sending heartbeats"


def test_release_puts_a_workers_jobs_back_without_using_an_attempt(store, make_job):
    store.add_jobs([make_job(i) for i in range(3)])
    store.claim("w1", n=2)
    store.claim("w2")
    assert store.release("w1") == 2
    assert store.counts() == {"pending": 2, "running": 1, "done": 0, "failed": 0}
    record = store.get(make_job(0).key)
    assert (record["state"], record["worker"], record["attempts"]) == ("pending", None, 0)
    assert store.get(make_job(2).key)["worker"] == "w2"


def test_counts_and_stats(store, clock, make_job, ok_result):
    store.add_jobs([make_job(i) for i in range(6)])
    for _ in range(2):  # two jobs, ten minutes each
        (job,) = store.claim("w1")
        clock.advance(600)
        store.finish(job.key, ok_result())
    store.claim("w1")
    stats = store.stats()
    assert stats["done"] == 2 and stats["running"] == 1 and stats["pending"] == 3 and stats["failed"] == 0
    assert stats["total"] == 6
    assert stats["per_hour"] == pytest.approx(6.0)  # 2 jobs in the 20 minutes since the first start
    assert stats["eta_s"] == pytest.approx(4 / 6.0 * 3600)
    clock.advance(2 * 3600)
    assert store.stats()["per_hour"] == 0.0 and store.stats()["eta_s"] is None


def test_stats_of_a_finished_store(store, make_job, ok_result):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    store.finish(job.key, ok_result())
    assert store.stats()["eta_s"] == 0.0


def test_records_filters(store, make_job, ok_result):
    store.add_jobs([make_job(0), make_job(1), make_job(2, task_id="mnist")])
    for job in store.claim("w1", n=3):
        store.finish(job.key, ok_result())
    assert [r["genome_hash"] for r in store.records(task_id="digits")] == ["g000", "g001"]
    assert [r["genome_hash"] for r in store.records(task_id=["mnist", "cifar"])] == ["g002"]
    assert [r["genome_hash"] for r in store.records(tags={"heldout": True})] == ["g001"]
    assert store.records(status="pending") == []
    assert len(store.records(status=None, worker="w1")) == 3
    with pytest.raises(ValueError, match="valid filters: task_id"):
        store.records(colour="red")
    with pytest.raises(ValueError, match="'status' parameter must be one of"):
        store.records(status="ok")


def test_read_gives_the_typed_records_that_records_flattens(store, make_job, ok_result):
    store.add_jobs([make_job(0), make_job(1), make_job(2, task_id="mnist")])
    first, _ = store.claim("w1", n=2)
    store.finish(first.key, ok_result(0.8))
    done = store.read()
    assert [type(r) for r in done] == [Record] and done[0].job == make_job(0) and done[0].result == ok_result(0.8)
    assert done[0].state == "done" and done[0].worker == "w1" and done[0].attempts == 1
    everything = store.read(status=None)
    assert [r.state for r in everything] == ["done", "running", "pending"]
    assert [r.result for r in everything[1:]] == [None, None]
    assert [r.to_dict() for r in everything] == store.records(status=None)
    assert [r.key for r in store.read(status=None, task_id="mnist", tags={"heldout": False})] == [
        make_job(2, task_id="mnist").key
    ]
    assert store.get_record(make_job(1).key) == everything[1]
    assert store.get_record(make_job(7).key) is None


def test_job_keys_are_named_and_any_five_sequence_finds_a_job(store, make_job):
    store.add_jobs([make_job(0)])
    (job,) = store.claim("w1")
    assert isinstance(job.key, JobKey) and (job.key.genome_hash, job.key.budget) == ("g000", 2)
    as_json_list = list(job.key)  # how a search's state.json keeps it
    assert store.heartbeat("w1", [as_json_list]) == 1
    assert store.get(tuple(as_json_list))["state"] == "running"
    with pytest.raises(ValueError, match="a job key is"):
        store.get(("digits", "cnn-3f2a", "g000"))


def test_what_a_read_returns_is_the_callers_to_change(store, make_job, ok_result):
    store.add_jobs([make_job(0)])
    store.claim("w1")
    store.finish(make_job(0).key, ok_result(extra={"nested": {"x": [1]}}))
    flat = store.records()[0]
    flat["tags"]["heldout"] = "changed"
    flat["curve"].append(0.0)
    flat["extra"]["nested"]["x"].append(2)
    store.get(make_job(0).key)["extra"]["nested"]["x"].append(3)
    store.read()[0].result.extra["nested"]["x"].append(4)
    record = store.get_record(make_job(0).key)
    assert record.job.tags == make_job(0).tags and record.result == ok_result(extra={"nested": {"x": [1]}})


def test_store_is_a_context_manager(make_store, make_job):
    with make_store() as store:
        assert store.add_jobs([make_job(0)]) == 1


def test_open_store_picks_the_backend(tmp_path):
    assert isinstance(open_store(None), InMemoryStore)
    with open_store(tmp_path / "r.db", grace_s=10) as store:
        assert isinstance(store, SQLiteStore) and store.grace_s == 10


def test_importing_the_store_does_not_import_torch():
    code = "import sys, datasets_meta; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})

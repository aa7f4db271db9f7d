"""The record store: one contract, run against every backend, plus what only SQLite has (files, locks, crashes)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_meta.store import (
    SCHEMA_VERSION,
    InMemoryStore,
    Job,
    Result,
    SQLiteStore,
    StoreLockedError,
    open_store,
)

REPO = Path(__file__).resolve().parents[2]
T0 = 1_000_000.0
GRACE_S = 60.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_job(i: int, task_id: str = "digits", **overrides) -> Job:
    fields = dict(
        task_id=task_id,
        teacher_id="cnn-3f2a",
        genome_hash=f"g{i:03d}",
        budget=2,
        seed=0,
        task_spec=task_id,
        teacher="plain_cnn",
        genome=json.dumps({"depth": i}),
        suite="smoke",
        tags={"heldout": i % 2 == 1, "domain": "none"},
    )
    fields.update(overrides)
    return Job(**fields)


def ok_result(val_acc: float = 0.9, **overrides) -> Result:
    fields = dict(
        status="ok",
        val_acc=val_acc,
        test_acc=val_acc - 0.01,
        curve=[0.5, 0.75, val_acc],
        train_time_s=1.5,
        params=1234,
        flops=56789,
        teacher_acc=0.97,
        extra={"device": "cpu", "lr": 0.1},
        code_commit="abc1234",
    )
    fields.update(overrides)
    return Result(**fields)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path, clock):
    """Builds stores of the parametrised backend (several per test, each in its own file)."""
    opened = []

    def make(name: str = "records.db", max_attempts: int = 3):
        if request.param == "memory":
            store = InMemoryStore(grace_s=GRACE_S, max_attempts=max_attempts, clock=clock)
        else:
            store = SQLiteStore(tmp_path / name, grace_s=GRACE_S, max_attempts=max_attempts, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()


# -- the contract, for every backend ------------------------------------------------------------------------------


def test_add_jobs_inserts_new_keys_and_ignores_existing(store):
    assert store.add_jobs([make_job(0), make_job(1), make_job(2)]) == 3
    duplicate = make_job(1, suite="other suite")
    assert store.add_jobs([duplicate, make_job(3), make_job(3)]) == 1
    assert store.counts() == {"pending": 4, "running": 0, "done": 0, "failed": 0}
    record = store.get(make_job(1).key)
    assert record["suite"] == "smoke"
    assert record["state"] == "pending" and record["attempts"] == 0 and record["created_at"] == T0
    assert record["tags"] == {"heldout": True, "domain": "none"}
    assert store.get(make_job(9).key) is None


def test_claim_takes_pending_jobs_oldest_first(store):
    store.add_jobs([make_job(i) for i in range(3)])
    claimed = store.claim("w1", n=2)
    assert [job.key for job in claimed] == [make_job(0).key, make_job(1).key]
    assert claimed[0] == make_job(0)
    record = store.get(make_job(0).key)
    assert (record["state"], record["worker"], record["attempts"], record["heartbeat_at"]) == ("running", "w1", 1, T0)
    assert [job.key for job in store.claim("w2", n=5)] == [make_job(2).key]
    assert store.claim("w2") == []


def test_finish_stores_the_result_with_the_job(store, clock):
    job = make_job(0)
    store.add_jobs([job, make_job(1)])
    store.claim("w1")
    clock.advance(30)
    assert store.finish(job.key, ok_result(0.875), worker="w1") is True
    (record,) = store.records()
    assert Job.from_record(record) == job
    assert Result.from_record(record) == ok_result(0.875)
    assert record["state"] == "done" and record["finished_at"] == T0 + 30 and record["worker"] == "w1"
    assert store.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 0}


def test_finish_twice_is_a_noop_and_never_overwrites(store):
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


def test_finish_unknown_job_is_an_error(store):
    with pytest.raises(ValueError, match="unknown job"):
        store.finish(make_job(0).key, ok_result())


def test_diverged_run_is_a_done_job(store):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    diverged = Result(status="diverged", val_acc=0.1, curve=[0.3, 0.1], reason="loss became NaN at epoch 2")
    assert store.finish(job.key, diverged) is True
    record = store.get(job.key)
    assert record["state"] == "done" and record["status"] == "diverged"
    assert record["reason"] == "loss became NaN at epoch 2"
    assert store.claim("w1") == []


def test_error_outcome_is_a_failed_attempt_that_is_retried(store):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    assert store.finish(job.key, Result(status="oom", reason="CUDA out of memory")) is True
    record = store.get(job.key)
    assert (record["state"], record["error"], record["status"]) == ("pending", "oom: CUDA out of memory", None)
    assert [j.key for j in store.claim("w1")] == [job.key]
    assert store.get(job.key)["attempts"] == 2


def test_fail_retries_then_gives_up_after_max_attempts(store, clock):
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
    assert record["finished_at"] == T0 + 5
    assert store.claim("w1") == []
    assert store.counts()["failed"] == 1


def test_fail_is_ignored_unless_the_job_is_running_for_that_worker(store):
    job = make_job(0)
    store.add_jobs([job])
    assert store.fail(job.key, "not claimed yet") is False
    store.claim("w1")
    assert store.fail(job.key, "not mine", worker="w2") is False
    assert store.get(job.key)["state"] == "running"


def test_stale_running_job_is_reclaimed_after_the_grace_period(store, clock):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    clock.advance(GRACE_S - 1)
    assert store.claim("w2") == []
    assert store.heartbeat("w1", [job.key]) == 1
    clock.advance(GRACE_S - 1)
    assert store.claim("w2") == []  # the heartbeat kept it alive
    clock.advance(2)
    assert [j.key for j in store.claim("w2")] == [job.key]
    record = store.get(job.key)
    assert (record["worker"], record["attempts"], record["heartbeat_at"]) == ("w2", 2, clock.t)
    assert record["error"] == "worker w1 stopped sending heartbeats"
    assert store.heartbeat("w1", [job.key]) == 0  # w1 learns it lost the job
    assert store.finish(job.key, ok_result(0.7), worker="w2") is True
    assert store.finish(job.key, ok_result(0.2), worker="w1") is False


def test_job_of_dead_workers_gives_up_after_max_attempts(store, clock):
    job = make_job(0)
    store.add_jobs([job])
    for attempt in range(1, 4):
        assert [j.key for j in store.claim(f"w{attempt}")] == [job.key]
        clock.advance(GRACE_S + 1)
    assert store.claim("w4") == []
    record = store.get(job.key)
    assert record["state"] == "failed" and record["attempts"] == 3 and record["worker"] is None
    assert record["error"] == "gave up after 3 attempts: worker w3 stopped sending heartbeats"


def test_release_puts_a_workers_jobs_back_without_using_an_attempt(store):
    store.add_jobs([make_job(i) for i in range(3)])
    store.claim("w1", n=2)
    store.claim("w2")
    assert store.release("w1") == 2
    assert store.counts() == {"pending": 2, "running": 1, "done": 0, "failed": 0}
    record = store.get(make_job(0).key)
    assert (record["state"], record["worker"], record["attempts"]) == ("pending", None, 0)
    assert store.get(make_job(2).key)["worker"] == "w2"


def test_counts_and_stats(store, clock):
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


def test_stats_of_a_finished_store(store):
    job = make_job(0)
    store.add_jobs([job])
    store.claim("w1")
    store.finish(job.key, ok_result())
    assert store.stats()["eta_s"] == 0.0


def test_records_filters(store):
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


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv", ".parquet"])
def test_export_then_import_round_trips(make_store, tmp_path, clock, suffix):
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow is not installed")
    store = make_store("source.db")
    store.add_jobs([make_job(i) for i in range(5)])
    a, b, c = store.claim("w1", n=3)
    store.finish(a.key, ok_result(0.91, extra={"nested": {"x": [1, 2]}, "text": 'a,"b"\nc'}))
    store.finish(b.key, Result(status="diverged", val_acc=0.1, curve=[0.2, 0.1], reason="loss became NaN"))
    clock.advance(GRACE_S + 1)
    for _ in range(2):  # c: a dead worker, then two failures: gives up
        assert [job.key for job in store.claim("w2")] == [c.key]
        assert store.fail(c.key, "RuntimeError: shape mismatch")
    assert store.counts() == {"pending": 2, "running": 0, "done": 2, "failed": 1}
    path = tmp_path / f"records{suffix}"

    assert store.export(path) == 2
    done_only = make_store("done.db")
    assert done_only.import_records(path) == 2
    assert done_only.records() == store.records()

    assert store.export(path, status=None) == 5
    rebuilt = make_store("rebuilt.db")
    assert rebuilt.import_records(path) == 5
    assert rebuilt.records(status=None) == store.records(status=None)
    assert rebuilt.import_records(path) == 0
    assert not list(tmp_path.glob("*.tmp"))


def test_import_turns_running_jobs_back_to_pending(make_store, tmp_path):
    store = make_store("source.db")
    store.add_jobs([make_job(0)])
    store.claim("w1")
    store.export(tmp_path / "all.csv.gz", status=None)
    rebuilt = make_store("rebuilt.db")
    rebuilt.import_records(tmp_path / "all.csv.gz")
    record = rebuilt.get(make_job(0).key)
    assert (record["state"], record["worker"], record["attempts"]) == ("pending", None, 1)


def test_export_needs_a_known_suffix_and_import_a_real_export(store, tmp_path):
    with pytest.raises(ValueError, match="must end in .csv.gz, .csv or .parquet"):
        store.export(tmp_path / "records.txt")
    with pytest.raises(FileNotFoundError, match="the directory .*nodir does not exist"):
        store.export(tmp_path / "nodir" / "records.csv.gz")
    with pytest.raises(FileNotFoundError):
        store.import_records(tmp_path / "missing.csv.gz")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a dass records export"):
        store.import_records(tmp_path / "other.csv")
    # a truncated or damaged export is one line, and the store keeps what it had
    store.add_jobs([make_job(i) for i in range(40)])
    for job in store.claim("w1", n=40):
        store.finish(job.key, ok_result(extra={"padding": "x" * 200}))
    store.export(tmp_path / "full.csv.gz")
    before = store.records(status=None)
    blob = (tmp_path / "full.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "noise.csv.gz").write_bytes(blob[:10] + bytes(200))
    for name in ("cut.csv.gz", "noise.csv.gz"):
        with pytest.raises(ValueError, match=f"{name} is not a readable export") as err:
            store.import_records(tmp_path / name)
        assert "\n" not in str(err.value)
    assert store.records(status=None) == before
    text = gzip.decompress(blob).decode()
    header, first, *rest = text.splitlines(keepends=True)
    columns = next(csv.reader([header]))
    cells = next(csv.reader([first]))
    cells[columns.index("val_acc")] = "abc"
    line = io.StringIO()
    csv.writer(line).writerow(cells)
    (tmp_path / "cell.csv").write_text(header + line.getvalue() + "".join(rest))
    with pytest.raises(ValueError, match=r"cell.csv record 1: the 'val_acc' column must hold a number; got 'abc'"):
        store.import_records(tmp_path / "cell.csv")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_is_a_clear_error(store, tmp_path):
    with pytest.raises(ValueError, match="Parquet needs pyarrow"):
        store.export(tmp_path / "records.parquet")


def test_store_is_a_context_manager(make_store):
    with make_store() as store:
        assert store.add_jobs([make_job(0)]) == 1


def test_jobs_and_results_validate_their_fields():
    with pytest.raises(ValueError, match="'genome' must be JSON"):
        make_job(0, genome="{not json")
    with pytest.raises(ValueError, match="'budget' must be an int"):
        make_job(0, budget="2")
    with pytest.raises(ValueError, match="'status' must be one of"):
        Result(status="great")
    with pytest.raises(ValueError, match="needs a val_acc"):
        Result(status="ok")
    assert make_job(0).key == ("digits", "cnn-3f2a", "g000", 2, 0)


# -- SQLite only ---------------------------------------------------------------------------------------------------


def test_sqlite_keeps_records_across_reopen(tmp_path):
    with SQLiteStore(tmp_path / "r.db") as store:
        store.add_jobs([make_job(0)])
        store.claim("w1")
        store.finish(make_job(0).key, ok_result(0.6))
    with SQLiteStore(tmp_path / "r.db", writer=False) as reader:
        assert reader.get(make_job(0).key)["val_acc"] == 0.6
    conn = sqlite3.connect(tmp_path / "r.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexed = {row[0] for row in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index'") if row[0]}
    assert any("(state)" in sql for sql in indexed) and any("(task_id)" in sql for sql in indexed)
    with pytest.raises(sqlite3.IntegrityError, match="done job is final"):
        conn.execute("UPDATE jobs SET val_acc = 0.0")
    conn.close()


def test_sqlite_schema_version_mismatch_says_what_to_do(tmp_path):
    SQLiteStore(tmp_path / "r.db").close()
    conn = sqlite3.connect(tmp_path / "r.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ValueError) as info:
        SQLiteStore(tmp_path / "r.db")
    message = str(info.value)
    assert "\n" not in message
    assert f"schema version 99 but this dass expects {SCHEMA_VERSION}" in message
    assert "export it with the dass version that wrote it" in message and "new --db" in message
    with pytest.raises(ValueError, match="schema version 99"):  # not "another collector": the lock was released
        SQLiteStore(tmp_path / "r.db")


def test_sqlite_rejects_files_that_are_not_record_stores(tmp_path):
    (tmp_path / "notes.db").write_text("these are not records\n")
    with pytest.raises(ValueError, match="is not a SQLite database"):
        SQLiteStore(tmp_path / "notes.db")
    conn = sqlite3.connect(tmp_path / "other_app.db")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ValueError, match="not a dass record store"):
        SQLiteStore(tmp_path / "other_app.db")
    with pytest.raises(FileNotFoundError, match="no record store"):
        SQLiteStore(tmp_path / "missing.db", writer=False)


def test_sqlite_second_writer_is_refused_until_the_first_closes(tmp_path):
    db = tmp_path / "r.db"
    first = SQLiteStore(db)
    first.add_jobs([make_job(0)])
    with pytest.raises(StoreLockedError, match=rf"another collector \(pid {os.getpid()}\) is writing to .*--status"):
        SQLiteStore(db)
    with SQLiteStore(db, writer=False) as reader:  # --status works while the collector writes
        assert reader.counts()["pending"] == 1
        with pytest.raises(RuntimeError, match="read-only"):
            reader.add_jobs([make_job(1)])
    first.close()
    with SQLiteStore(db) as second:
        assert second.add_jobs([make_job(1)]) == 1


def test_open_store_picks_the_backend(tmp_path):
    assert isinstance(open_store(None), InMemoryStore)
    with open_store(tmp_path / "r.db", grace_s=10) as store:
        assert isinstance(store, SQLiteStore) and store.grace_s == 10


CRASHING_COLLECTOR = """
import sys
from datasets_meta.store import Result, SQLiteStore
store = SQLiteStore(sys.argv[1])
while jobs := store.claim("doomed"):
    job = jobs[0]
    curve = [job.seed / 1000] * 50
    result = Result(status="ok", val_acc=job.seed / 1000, curve=curve, params=job.seed, extra={"pad": "x" * 4000})
    store.finish(job.key, result)
    print(job.seed, flush=True)
"""


def test_sqlite_results_survive_sigkill_mid_loop(tmp_path):
    db = tmp_path / "r.db"
    n_jobs, kill_after = 2000, 30
    with SQLiteStore(db) as store:
        store.add_jobs([make_job(0, seed=i) for i in range(n_jobs)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_COLLECTOR, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    reported = []
    while len(reported) < kill_after and (line := child.stdout.readline()):
        reported.append(int(line))
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(reported) == kill_after, child.stderr.read().decode()

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with SQLiteStore(db) as store:  # the dead collector's lock went with it
        counts = store.counts()
        done = store.records()
        assert counts["done"] >= kill_after and counts["done"] < n_jobs  # killed mid-loop
        assert counts["running"] <= 1 and sum(counts.values()) == n_jobs
        assert set(reported) <= {r["seed"] for r in done}
        for record in done:  # nothing half-written
            seed = record["seed"]
            assert record["status"] == "ok" and record["val_acc"] == seed / 1000 and record["params"] == seed
            assert record["curve"] == [seed / 1000] * 50 and record["extra"] == {"pad": "x" * 4000}
            assert record["finished_at"] is not None and record["attempts"] == 1


def test_importing_the_store_does_not_import_torch():
    code = "import sys, datasets_meta; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})

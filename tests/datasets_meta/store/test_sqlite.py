"""What only the SQLite backend has: a file that outlives the process, a schema version, a writer lock, crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_meta.store import SCHEMA_VERSION, SQLiteStore, StoreLockedError

REPO = Path(__file__).resolve().parents[3]


def test_sqlite_keeps_records_across_reopen(tmp_path, make_job, ok_result):
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


def test_sqlite_second_writer_is_refused_until_the_first_closes(tmp_path, make_job):
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


def test_sqlite_results_survive_sigkill_mid_loop(tmp_path, make_job):
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


def _other_spelling(db: Path, how: str) -> Path:
    """Another path to the same database file: a symbolic link, a hard link, a relative or a detoured path."""
    if how == "symlink":
        link = db.with_name("link.db")
        link.symlink_to(db)
        return link
    if how == "symlinked directory":
        link = db.parent.parent / "dir-link"
        link.symlink_to(db.parent, target_is_directory=True)
        return link / db.name
    if how == "relative":
        return Path(os.path.relpath(db))
    (db.parent / "x").mkdir()
    return db.parent / "x" / ".." / db.name  # "detour"


@pytest.mark.parametrize("how", ["symlink", "symlinked directory", "relative", "detour"])
def test_sqlite_second_writer_is_refused_whatever_the_path_spelling(tmp_path, monkeypatch, make_job, how):
    """The lock belongs to the database file, not to the path as typed: no spelling gets a second writer."""
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "r.db"
    monkeypatch.chdir(tmp_path)
    with SQLiteStore(db) as first:
        first.add_jobs([make_job(0)])
        other = _other_spelling(db, how)
        with pytest.raises(StoreLockedError, match="another collector"):
            SQLiteStore(other)
        with SQLiteStore(other, writer=False) as reader:  # reading through any spelling is fine
            assert reader.counts()["pending"] == 1
    with SQLiteStore(other) as second:  # and once the first writer is gone, any spelling may write
        assert second.add_jobs([make_job(1)]) == 1


def test_sqlite_writer_lock_is_taken_on_a_new_database_through_a_symlink(tmp_path):
    """Two writers racing to create the same new database through different names: one wins."""
    db = tmp_path / "new.db"
    link = tmp_path / "link.db"
    link.symlink_to(db)  # dangling until the first writer creates the file
    with SQLiteStore(link):
        assert db.is_file()
        with pytest.raises(StoreLockedError, match="another collector"):
            SQLiteStore(db)


def test_sqlite_refuses_a_hard_linked_database_whatever_its_name(tmp_path, make_job):
    """SQLite keeps a database's write-ahead log beside the name it was opened by: a second name of the same
    file would miss the first one's committed records. So neither a second writer nor a reader gets in through
    a hard link, and neither name is opened while both exist."""
    db = tmp_path / "r.db"
    with SQLiteStore(db) as first:
        first.add_jobs([make_job(0)])
        os.link(db, tmp_path / "hard.db")
        for path in (tmp_path / "hard.db", db):
            with pytest.raises(ValueError, match=r"has 2 hard links .*keep one name"):
                SQLiteStore(path)
            with pytest.raises(ValueError, match=r"has 2 hard links"):
                SQLiteStore(path, writer=False)
    (tmp_path / "hard.db").unlink()
    with SQLiteStore(db) as store:
        assert store.counts()["pending"] == 1

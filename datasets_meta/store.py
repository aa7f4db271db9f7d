"""The record store of the meta-dataset: every distillation job and its result.

A job is one (task, teacher, student genome, budget, seed) distillation run. Its lifecycle::

    pending ──claim──► running ──finish──► done          (final: the row is never changed again)
       ▲                  │
       └──── fail ◄───────┘──► failed                    (once attempts reach max_attempts)

A training outcome of ``"ok"`` or ``"diverged"`` is a result, so the job is *done* (a bad run is data too);
``"error"`` and ``"oom"`` are failures and the job is retried. A ``running`` job whose worker stopped sending
heartbeats for ``grace_s`` seconds is taken back by the next ``claim``.

``RecordStore`` is the contract; ``InMemoryStore`` and ``SQLiteStore`` implement it and the same contract tests run
against both. Every write goes through one ``_transaction`` helper per backend. Timestamps come from an injectable
``clock`` (or a ``now`` argument) so tests control time. The SQLite file has one writer at a time (an advisory lock
on ``<db>.lock``) and any number of readers.

This module is pure data: it imports neither torch nor the core library.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import csv
import fcntl
import gzip
import io
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from distill.records import (
    DONE_OUTCOMES,
    FAILED_OUTCOMES,
    JOB_FIELDS,
    KEY_FIELDS,
    RESULT_FIELDS,
    Job,
    JobKey,
    Result,
)

logger = logging.getLogger(__name__)

# Bump when the table layout changes; a db with another version is refused on open with what to do.
SCHEMA_VERSION = 1

STATES = ("pending", "running", "done", "failed")

_BUSY_TIMEOUT_S = 30.0  # readers (--status, export) may hold the db briefly; a writer waits rather than fails
_THROUGHPUT_WINDOW_S = 3600.0


class StoreLockedError(ValueError, RuntimeError):
    """Another process holds the writer lock of a SQLite store.

    A ``ValueError`` so the CLI reports it on one line like any other user-facing error, and a ``RuntimeError``
    because it is about the running system rather than an argument.
    """


LIFECYCLE_FIELDS = ("state", "attempts", "worker", "heartbeat_at", "error", "created_at", "started_at", "finished_at")

# Every column of a flat record: (kind, nullable). The kind gives the SQLite type and how CSV/Parquet cells decode;
# "json" columns are dicts/lists in Python and JSON text on disk.
_COLUMNS: dict[str, tuple[str, bool]] = {
    "task_id": ("text", False),
    "teacher_id": ("text", False),
    "genome_hash": ("text", False),
    "budget": ("int", False),
    "seed": ("int", False),
    "task_spec": ("text", False),
    "teacher": ("text", False),
    "genome": ("text", False),
    "suite": ("text", False),
    "tags": ("json", False),
    "state": ("text", False),
    "attempts": ("int", False),
    "worker": ("text", True),
    "heartbeat_at": ("real", True),
    "error": ("text", True),  # why the last attempt failed; cleared when the job is done
    "created_at": ("real", False),
    "started_at": ("real", True),
    "finished_at": ("real", True),  # when the job became done or finally failed
    "status": ("text", True),  # the training outcome of Result, not the lifecycle state
    "val_acc": ("real", True),
    "test_acc": ("real", True),
    "curve": ("json", True),
    "train_time_s": ("real", True),
    "params": ("int", True),
    "flops": ("int", True),
    "teacher_acc": ("real", True),
    "reason": ("text", True),
    "extra": ("json", True),
    "code_commit": ("text", True),
}
COLUMNS = tuple(_COLUMNS)
assert COLUMNS == JOB_FIELDS + LIFECYCLE_FIELDS + RESULT_FIELDS, "the column table must follow Job and Result"
FILTERABLE = tuple(c for c in COLUMNS if _COLUMNS[c][0] != "json") + ("tags",)


class RecordStore(abc.ABC):
    """The storage contract of the meta-dataset; see the module docstring for the job lifecycle.

    Args:
        grace_s: a running job whose last heartbeat is older than this is taken back by ``claim``.
        max_attempts: how many times a job is tried before it stays ``failed``.
        clock: returns the current time in seconds; injectable so tests control time.
    """

    def __init__(self, grace_s: float = 120.0, max_attempts: int = 3, clock: Callable[[], float] = time.time) -> None:
        if not grace_s > 0:
            raise ValueError(f"the 'grace_s' parameter must be > 0; got {grace_s}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"the 'max_attempts' parameter must be an int >= 1; got {max_attempts!r}")
        self.grace_s = grace_s
        self.max_attempts = max_attempts
        self.clock = clock

    # -- the contract each backend implements -------------------------------------------------------------------

    @abc.abstractmethod
    def claim(self, worker: str, n: int = 1, now: float | None = None) -> list[Job]:
        """Atomically take up to ``n`` pending jobs for ``worker``, oldest first.

        Running jobs whose heartbeat is older than ``grace_s`` (a dead worker) are first put back to pending, or
        marked failed ("gave up after N attempts ...") if they used up ``max_attempts``. Each claimed job becomes
        ``running`` with ``attempts`` increased by one.
        """

    @abc.abstractmethod
    def heartbeat(self, worker: str, keys: Iterable[JobKey], now: float | None = None) -> int:
        """Refresh the heartbeat of the given jobs that ``worker`` still holds; returns how many it holds."""

    @abc.abstractmethod
    def fail(self, key: JobKey, reason: str, worker: str | None = None, now: float | None = None) -> bool:
        """Record a failed attempt of a running job: back to pending, or failed after ``max_attempts``.

        Returns False (and changes nothing) if the job is not running, or is held by a worker other than ``worker``.
        """

    @abc.abstractmethod
    def release(self, worker: str) -> int:
        """Put ``worker``'s running jobs back to pending (clean shutdown: the attempt does not count)."""

    @abc.abstractmethod
    def counts(self) -> dict[str, int]:
        """How many jobs are in each state; every state is present."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources (and, for a SQLite writer, the writer lock)."""

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """Context in which all writes of one operation happen together or not at all."""

    @abc.abstractmethod
    def _insert_rows(self, rows: list[dict[str, Any]]) -> int:
        """Insert full rows whose key is new, in one transaction; returns how many were inserted."""

    @abc.abstractmethod
    def _finish(self, key: JobKey, fields: dict[str, Any], worker: str | None) -> bool:
        """Make the job done with ``fields``; False if it was already done."""

    @abc.abstractmethod
    def _select(self, states: tuple[str, ...] | None, filters: dict[str, tuple]) -> list[dict[str, Any]]:
        """Decoded rows in insertion order whose state is in ``states`` and each column in its filter tuple."""

    @abc.abstractmethod
    def _finish_summary(self, since: float) -> tuple[int, float | None]:
        """(number of jobs finished at or after ``since``, earliest ``started_at`` among them)."""

    # -- shared behaviour ----------------------------------------------------------------------------------------

    def add_jobs(self, jobs: Iterable[Job]) -> int:
        """Insert the jobs whose key is new (existing keys are left alone); returns how many were new."""
        now = self.clock()
        rows = []
        for job in jobs:
            if not isinstance(job, Job):
                raise ValueError(f"add_jobs takes Job objects; got {type(job).__name__}")
            rows.append(_job_row(job, now))
        return self._insert_rows(rows) if rows else 0

    def finish(self, key: JobKey, result: Result, worker: str | None = None, now: float | None = None) -> bool:
        """Store ``result`` and mark the job done, in one transaction.

        An ``"error"``/``"oom"`` outcome is a failed attempt instead (see ``fail``). A job that is already done is
        never overwritten: the call is a no-op returning False. A late result from a worker that lost the job (its
        heartbeat lapsed) is still accepted if the job is not done yet: a real result beats a retry.

        Returns:
            True if the job is now done with this result (or, for a failure outcome, the failure was recorded).
        """
        if not isinstance(result, Result):
            raise ValueError(f"finish takes a Result; got {type(result).__name__}")
        key = _as_key(key)
        if result.status in FAILED_OUTCOMES:
            return self.fail(key, f"{result.status}: {result.reason}" if result.reason else result.status, worker, now)
        fields = {**_result_fields(result), "state": "done", "error": None, "finished_at": self._now(now)}
        return self._finish(key, fields, worker)

    def get(self, key: JobKey) -> dict[str, Any] | None:
        """The flat record of one job (job, lifecycle and result fields), or None if the key is unknown."""
        rows = self._select(None, {name: (value,) for name, value in zip(KEY_FIELDS, _as_key(key))})
        return rows[0] if rows else None

    def records(self, status: str | Sequence[str] | None = "done", **filters: Any) -> list[dict[str, Any]]:
        """Flat records (job + lifecycle + result fields), in the order the jobs were added.

        Args:
            status: the lifecycle state(s) to return, ``None`` for all. To select by training outcome, filter the
                returned records on ``r["status"]`` (e.g. ``"ok"`` or ``"diverged"``).
            **filters: column equality, e.g. ``task_id="digits"``; a list/tuple/set means any of those values;
                ``tags={"heldout": True}`` keeps records whose tags contain those items.
        """
        tag_filter = filters.pop("tags", None)
        unknown = sorted(set(filters) - set(FILTERABLE))
        if unknown:
            raise ValueError(f"cannot filter records on {unknown}; valid filters: {', '.join(FILTERABLE)}")
        if tag_filter is not None and not isinstance(tag_filter, dict):
            raise ValueError(f"the 'tags' filter must be a dict; got {tag_filter!r}")
        column_filters = {
            name: tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
            for name, value in filters.items()
        }
        rows = self._select(_as_states(status), column_filters)
        if tag_filter:
            rows = [r for r in rows if all(k in r["tags"] and r["tags"][k] == v for k, v in tag_filter.items())]
        return rows

    def stats(self, now: float | None = None) -> dict[str, Any]:
        """Progress: the counts per state, ``total``, ``per_hour`` and ``eta_s``.

        ``per_hour`` is the number of jobs that finished (done or finally failed) in the last hour, divided by the
        part of that hour the store was working (from the earliest start among them), so a run that started ten
        minutes ago is not under-counted. ``eta_s`` is the time to finish the pending and running jobs at that rate:
        0 when nothing is left, None when nothing finished recently.
        """
        now = self._now(now)
        counts = self.counts()
        window_start = now - _THROUGHPUT_WINDOW_S
        n_finished, first_start = self._finish_summary(window_start)
        if first_start is not None:
            window_start = max(window_start, first_start)
        window = now - window_start
        per_hour = n_finished / window * 3600.0 if n_finished and window > 0 else 0.0
        remaining = counts["pending"] + counts["running"]
        if remaining == 0:
            eta_s: float | None = 0.0
        else:
            eta_s = remaining / per_hour * 3600.0 if per_hour > 0 else None
        return {**counts, "total": sum(counts.values()), "per_hour": per_hour, "eta_s": eta_s}

    def export(self, path: str | os.PathLike, status: str | Sequence[str] | None = "done") -> int:
        """Write the records to ``path``: ``.csv.gz`` or ``.csv`` always, ``.parquet`` when pyarrow imports.

        JSON columns (``tags``, ``curve``, ``extra``) are JSON text; an empty cell is None. The file is written
        to a temporary name first, so an interrupted export never leaves a truncated file.

        Args:
            path: the output file.
            status: which lifecycle states to export (default: the finished records, the meta-dataset itself);
                ``None`` for every job, to rebuild a whole db.

        Returns:
            How many records were written.
        """
        path = Path(path)
        fmt = _file_format(path)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot export to {path}: the directory {path.parent} does not exist")
        rows = self.records(status=status)
        tmp = path.with_name(path.name + ".tmp")
        try:
            if fmt == "parquet":
                _write_parquet(rows, tmp)
            else:
                _write_csv(rows, tmp, compress=path.name.endswith(".gz"))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(rows)

    def import_records(self, path: str | os.PathLike) -> int:
        """Read an ``export`` back; rows whose key already exists are skipped. Returns how many were new.

        Done and failed rows keep their state and result; a row exported while ``running`` comes back ``pending``
        (no worker of this store holds it).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no records file at {path}")
        raw_rows = _read_parquet(path) if _file_format(path) == "parquet" else _read_csv(path)
        rows = []
        for i, raw in enumerate(raw_rows, start=1):
            try:
                rows.append(_import_row(raw))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path} record {i}: {e}") from None
        return self._insert_rows(rows) if rows else 0

    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else now

    def _after_failure(self, attempts: int, error: str, now: float) -> dict[str, Any]:
        """The fields of a job whose attempt number ``attempts`` just failed with ``error``."""
        if attempts >= self.max_attempts:
            return {
                "state": "failed",
                "worker": None,
                "error": f"gave up after {attempts} attempts: {error}",
                "finished_at": now,
            }
        return {"state": "pending", "worker": None, "error": error}

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class InMemoryStore(RecordStore):
    """A ``RecordStore`` in a dict: for tests, dry runs and small in-process searches.

    Rows are replaced, never mutated, and each transaction keeps an undo log, so an exception half-way through an
    operation leaves the store as it was. A lock makes every operation atomic across threads.
    """

    def __init__(self, grace_s: float = 120.0, max_attempts: int = 3, clock: Callable[[], float] = time.time) -> None:
        super().__init__(grace_s=grace_s, max_attempts=max_attempts, clock=clock)
        self._rows: dict[JobKey, dict[str, Any]] = {}  # insertion order is the job order
        self._lock = threading.RLock()
        self._undo: list[tuple[JobKey, dict[str, Any] | None]] | None = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            assert self._undo is None, "transactions do not nest"
            self._undo = []
            try:
                yield
            except BaseException:
                for key, old in reversed(self._undo):
                    if old is None:
                        del self._rows[key]
                    else:
                        self._rows[key] = old
                raise
            finally:
                self._undo = None

    def _put(self, key: JobKey, row: dict[str, Any]) -> None:
        assert self._undo is not None, "writes happen inside _transaction"
        old = self._rows.get(key)
        assert old is None or old["state"] != "done", "a done job is final"
        self._undo.append((key, old))
        self._rows[key] = row

    def _update(self, key: JobKey, **fields: Any) -> None:
        self._put(key, {**self._rows[key], **fields})

    def _insert_rows(self, rows: list[dict[str, Any]]) -> int:
        with self._transaction():
            n_new = 0
            for row in rows:
                key = _key_of(row)
                if key not in self._rows:
                    self._put(key, copy.deepcopy(row))
                    n_new += 1
            return n_new

    def claim(self, worker: str, n: int = 1, now: float | None = None) -> list[Job]:
        _check_claim_args(worker, n)
        now = self._now(now)
        with self._transaction():
            cutoff = now - self.grace_s
            for key, row in list(self._rows.items()):
                if row["state"] == "running" and row["heartbeat_at"] < cutoff:
                    error = _lost_worker_error(row["worker"])
                    self._update(key, **self._after_failure(row["attempts"], error, now))
            picked = [key for key, row in self._rows.items() if row["state"] == "pending"][:n]
            for key in picked:
                row = self._rows[key]
                self._update(
                    key, state="running", worker=worker, heartbeat_at=now, started_at=now, attempts=row["attempts"] + 1
                )
            return [Job.from_record(copy.deepcopy(self._rows[key])) for key in picked]

    def heartbeat(self, worker: str, keys: Iterable[JobKey], now: float | None = None) -> int:
        now = self._now(now)
        with self._transaction():
            held = 0
            for key in map(_as_key, keys):
                row = self._rows.get(key)
                if row is not None and row["state"] == "running" and row["worker"] == worker:
                    self._update(key, heartbeat_at=now)
                    held += 1
            return held

    def _finish(self, key: JobKey, fields: dict[str, Any], worker: str | None) -> bool:
        with self._transaction():
            row = self._existing(key)
            if row["state"] == "done":
                return False
            self._update(key, **fields, worker=worker if worker is not None else row["worker"])
            return True

    def fail(self, key: JobKey, reason: str, worker: str | None = None, now: float | None = None) -> bool:
        key = _as_key(key)
        now = self._now(now)
        with self._transaction():
            row = self._existing(key)
            if row["state"] != "running" or (worker is not None and row["worker"] != worker):
                return False
            self._update(key, **self._after_failure(row["attempts"], str(reason), now))
            return True

    def release(self, worker: str) -> int:
        with self._transaction():
            mine = [key for key, row in self._rows.items() if row["state"] == "running" and row["worker"] == worker]
            for key in mine:
                self._update(key, state="pending", worker=None, attempts=max(self._rows[key]["attempts"] - 1, 0))
            return len(mine)

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(STATES, 0)
            for row in self._rows.values():
                counts[row["state"]] += 1
            return counts

    def _select(self, states: tuple[str, ...] | None, filters: dict[str, tuple]) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(row)
                for row in self._rows.values()
                if (states is None or row["state"] in states)
                and all(row[name] in allowed for name, allowed in filters.items())
            ]

    def _finish_summary(self, since: float) -> tuple[int, float | None]:
        with self._lock:
            recent = [r for r in self._rows.values() if r["finished_at"] is not None and r["finished_at"] >= since]
            starts = [r["started_at"] for r in recent if r["started_at"] is not None]
            return len(recent), min(starts, default=None)

    def _existing(self, key: JobKey) -> dict[str, Any]:
        row = self._rows.get(key)
        if row is None:
            raise ValueError(f"unknown job {key}; add it with add_jobs first")
        return row

    def close(self) -> None:
        pass


_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "real": "REAL", "json": "TEXT"}
_KEY_WHERE = " AND ".join(f"{name} = ?" for name in KEY_FIELDS)


def _schema_sql() -> list[str]:
    columns = ",\n    ".join(
        f"{name} {_SQL_TYPES[kind]}{'' if nullable else ' NOT NULL'}" for name, (kind, nullable) in _COLUMNS.items()
    )
    states = ", ".join(f"'{s}'" for s in STATES)
    outcomes = ", ".join(f"'{s}'" for s in DONE_OUTCOMES)
    return [
        f"""CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    {columns},
    UNIQUE ({", ".join(KEY_FIELDS)}),
    CHECK (state IN ({states})),
    CHECK ((state = 'done') = (status IS NOT NULL AND status IN ({outcomes})))
)""",
        "CREATE INDEX jobs_state ON jobs (state)",
        "CREATE INDEX jobs_task ON jobs (task_id)",
        # The database itself refuses to change a finished row, whatever code talks to it.
        """CREATE TRIGGER jobs_done_is_final BEFORE UPDATE ON jobs WHEN OLD.state = 'done'
BEGIN SELECT RAISE(ABORT, 'a done job is final and cannot be changed'); END""",
    ]


class SQLiteStore(RecordStore):
    """A ``RecordStore`` in one SQLite file: WAL journal, one writer process, any number of readers.

    Each write is one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so a result is either fully on disk
    with its job's state or not there at all, even if the process is killed (or the machine loses power) at any
    moment. ``PRAGMA user_version`` holds the schema version; a db written by another version is refused with what
    to do. The writer takes an exclusive ``flock`` on ``<db>.lock`` (released by ``close`` or by the kernel when the
    process dies); readers (``writer=False``) need no lock and are read-only.

    Args:
        path: the database file; a writer creates it if missing.
        grace_s: a running job whose last heartbeat is older than this is taken back by ``claim``.
        max_attempts: how many times a job is tried before it stays ``failed``.
        clock: returns the current time in seconds.
        writer: take the writer lock and allow writes; False opens read-only (``--status``, export).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        grace_s: float = 120.0,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        *,
        writer: bool = True,
    ) -> None:
        super().__init__(grace_s=grace_s, max_attempts=max_attempts, clock=clock)
        self.path = Path(path)
        self.writer = writer
        self._lock = threading.RLock()  # one connection, shared by e.g. a heartbeat thread
        self._lock_fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the directory of the record store {self.path} does not exist")
        if not writer and not self.path.is_file():
            raise FileNotFoundError(f"no record store at {self.path}; check --db or run dass collect first")
        _check_sqlite_header(self.path)
        try:
            if writer:
                self._lock_fd = _take_writer_lock(self.path)
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            if self.writer:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    logger.warning("%s: SQLite could not use WAL (journal mode %s); readers may block", self.path, mode)
                # FULL also survives power loss; it costs one extra fsync per result, nothing next to a training run.
                self._conn.execute("PRAGMA synchronous = FULL")
            else:
                self._conn.execute("PRAGMA query_only = ON")
            self._check_schema()
        except sqlite3.DatabaseError as e:
            raise ValueError(
                f"{self.path} is not a readable SQLite database ({e}); pass a new --db or a file written by dass"
            ) from None

    def _check_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise ValueError(
                f"{self.path} has record-store schema version {version} but this dass expects {SCHEMA_VERSION}: "
                "export it with the dass version that wrote it and import the export into a new --db, "
                "or start a new --db"
            )
        n_objects = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if n_objects:
            raise ValueError(f"{self.path} is a SQLite database but not a dass record store; pass a new --db")
        if not self.writer:
            raise ValueError(f"{self.path} is empty (no dass records yet); run dass collect first or check --db")
        with self._transaction() as conn:
            for statement in _schema_sql():
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        logger.info("created record store %s (schema version %d)", self.path, SCHEMA_VERSION)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if not self.writer:
            raise RuntimeError(f"{self.path} was opened read-only (writer=False); open it with writer=True to write")
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # also when COMMIT itself failed (disk full, I/O error)
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read snapshot: several SELECTs see the same state."""
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the record store {self.path} is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor releases the flock
                self._lock_fd = None

    def _insert_rows(self, rows: list[dict[str, Any]]) -> int:
        sql = (
            f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
            f"ON CONFLICT ({', '.join(KEY_FIELDS)}) DO NOTHING"
        )
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany(sql, [_encode_row(row) for row in rows])
            return conn.total_changes - before

    def claim(self, worker: str, n: int = 1, now: float | None = None) -> list[Job]:
        _check_claim_args(worker, n)
        now = self._now(now)
        with self._transaction() as conn:
            stale = conn.execute(
                "SELECT id, attempts, worker FROM jobs WHERE state = 'running' AND heartbeat_at < ?",
                (now - self.grace_s,),
            ).fetchall()
            for row_id, attempts, lost_worker in stale:
                _update(conn, row_id, self._after_failure(attempts, _lost_worker_error(lost_worker), now))
            if stale:
                logger.warning("took back %d job(s) from workers that stopped sending heartbeats", len(stale))
            ids = [r[0] for r in conn.execute("SELECT id FROM jobs WHERE state = 'pending' ORDER BY id LIMIT ?", (n,))]
            conn.executemany(
                "UPDATE jobs SET state = 'running', worker = ?, heartbeat_at = ?, started_at = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                [(worker, now, now, row_id) for row_id in ids],
            )
            rows = [_fetch_by_id(conn, row_id) for row_id in ids]
        return [Job.from_record(row) for row in rows]

    def heartbeat(self, worker: str, keys: Iterable[JobKey], now: float | None = None) -> int:
        now = self._now(now)
        with self._transaction() as conn:
            held = 0
            for key in map(_as_key, keys):
                held += conn.execute(
                    f"UPDATE jobs SET heartbeat_at = ? WHERE state = 'running' AND worker = ? AND {_KEY_WHERE}",
                    (now, worker, *key),
                ).rowcount
            return held

    def _finish(self, key: JobKey, fields: dict[str, Any], worker: str | None) -> bool:
        with self._transaction() as conn:
            row_id, state, _, _ = self._existing(conn, key)
            if state == "done":
                return False
            _update(conn, row_id, {**fields, **({"worker": worker} if worker is not None else {})})
            return True

    def fail(self, key: JobKey, reason: str, worker: str | None = None, now: float | None = None) -> bool:
        key = _as_key(key)
        now = self._now(now)
        with self._transaction() as conn:
            row_id, state, holder, attempts = self._existing(conn, key)
            if state != "running" or (worker is not None and holder != worker):
                return False
            _update(conn, row_id, self._after_failure(attempts, str(reason), now))
            return True

    def release(self, worker: str) -> int:
        with self._transaction() as conn:
            return conn.execute(
                "UPDATE jobs SET state = 'pending', worker = NULL, attempts = max(attempts - 1, 0) "
                "WHERE state = 'running' AND worker = ?",
                (worker,),
            ).rowcount

    def counts(self) -> dict[str, int]:
        with self._reading() as conn:
            counts = dict.fromkeys(STATES, 0)
            counts.update(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
            return counts

    def _select(self, states: tuple[str, ...] | None, filters: dict[str, tuple]) -> list[dict[str, Any]]:
        clauses, params = [], []
        if states is not None:
            filters = {"state": states, **filters}
        for name, allowed in filters.items():
            values = [v for v in allowed if v is not None]
            parts = [f"{name} IN ({', '.join('?' * len(values))})"] if values else []
            if len(values) < len(allowed):
                parts.append(f"{name} IS NULL")
            clauses.append(f"({' OR '.join(parts)})" if parts else "0")
            params.extend(values)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reading() as conn:
            cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs {where} ORDER BY id", params)
            return [_decode_row(values) for values in cursor]

    def _finish_summary(self, since: float) -> tuple[int, float | None]:
        with self._reading() as conn:
            n, first = conn.execute(
                "SELECT count(*), min(started_at) FROM jobs WHERE finished_at >= ?", (since,)
            ).fetchone()
            return n, first

    def _existing(self, conn: sqlite3.Connection, key: JobKey) -> tuple[int, str, str | None, int]:
        row = conn.execute(f"SELECT id, state, worker, attempts FROM jobs WHERE {_KEY_WHERE}", key).fetchone()
        if row is None:
            raise ValueError(f"unknown job {key}; add it with add_jobs first")
        return row


def open_store(path: str | os.PathLike | None, **kwargs: Any) -> RecordStore:
    """``InMemoryStore(**kwargs)`` when ``path`` is None, else ``SQLiteStore(path, **kwargs)``."""
    if path is None:
        return InMemoryStore(**kwargs)
    return SQLiteStore(path, **kwargs)


# -- rows ---------------------------------------------------------------------------------------------------------


def _job_row(job: Job, now: float) -> dict[str, Any]:
    return {
        **{name: getattr(job, name) for name in JOB_FIELDS},
        "tags": _json_copy(job.tags),
        "state": "pending",
        "attempts": 0,
        "worker": None,
        "heartbeat_at": None,
        "error": None,
        "created_at": float(now),
        "started_at": None,
        "finished_at": None,
        **dict.fromkeys(RESULT_FIELDS),
    }


def _result_fields(result: Result) -> dict[str, Any]:
    """The result's columns, normalised as SQLite would store them, so both backends hold equal values."""
    fields = {name: getattr(result, name) for name in RESULT_FIELDS}
    for name in ("val_acc", "test_acc", "train_time_s", "teacher_acc"):
        if fields[name] is not None:
            fields[name] = float(fields[name])
    fields["curve"] = [float(x) for x in result.curve]
    fields["extra"] = _json_copy(result.extra)
    return fields


def _import_row(raw: dict[str, Any]) -> dict[str, Any]:
    decoded = {name: _decode_cell(name, raw[name]) for name in COLUMNS}
    job = Job.from_record(decoded)
    state = decoded["state"]
    if state not in STATES:
        raise ValueError(f"the 'state' column must be one of {STATES}; got {state!r}")
    row = {**decoded, **_job_row(job, decoded["created_at"])}
    row.update({name: decoded[name] for name in LIFECYCLE_FIELDS if name != "created_at"})
    if state == "done":
        row.update(_result_fields(Result.from_record(decoded)))
    if state == "running":  # no worker of the new store holds it; the interrupted attempt still counts
        row.update(state="pending", worker=None, heartbeat_at=None)
    return row


def _encode_row(row: dict[str, Any]) -> list[Any]:
    return [
        json.dumps(row[name], sort_keys=True) if _COLUMNS[name][0] == "json" and row[name] is not None else row[name]
        for name in COLUMNS
    ]


def _decode_row(values: Sequence[Any]) -> dict[str, Any]:
    return {
        name: json.loads(value) if _COLUMNS[name][0] == "json" and value is not None else value
        for name, value in zip(COLUMNS, values)
    }


def _update(conn: sqlite3.Connection, row_id: int, fields: dict[str, Any]) -> None:
    names = list(fields)
    values = [
        json.dumps(fields[n], sort_keys=True) if _COLUMNS[n][0] == "json" and fields[n] is not None else fields[n]
        for n in names
    ]
    conn.execute(f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?", (*values, row_id))


def _fetch_by_id(conn: sqlite3.Connection, row_id: int) -> dict[str, Any]:
    return _decode_row(conn.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (row_id,)).fetchone())


def _key_of(row: dict[str, Any]) -> JobKey:
    return tuple(row[name] for name in KEY_FIELDS)


def _as_key(key: Sequence[Any]) -> JobKey:
    key = tuple(key)
    if len(key) != len(KEY_FIELDS):
        raise ValueError(f"a job key is ({', '.join(KEY_FIELDS)}); got {key!r}")
    return key


def _as_states(status: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if status is None:
        return None
    states = (status,) if isinstance(status, str) else tuple(status)
    for state in states:
        if state not in STATES:
            raise ValueError(
                f"the 'status' parameter must be one of {STATES} or None; got {state!r} "
                "(to select by training outcome, filter the records on r['status'])"
            )
    return states


def _check_claim_args(worker: str, n: int) -> None:
    if not isinstance(worker, str) or not worker:
        raise ValueError(f"the 'worker' parameter must be a non-empty string; got {worker!r}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"the 'n' parameter must be an int >= 0; got {n!r}")


def _lost_worker_error(worker: str | None) -> str:
    return f"worker {worker} stopped sending heartbeats"


def _json_copy(value: Any) -> Any:
    # A JSON round trip, not deepcopy: tuples become lists and keys strings, exactly as in the SQLite backend.
    return json.loads(json.dumps(value))


# -- files --------------------------------------------------------------------------------------------------------

_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_sqlite_header(path: Path) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        return  # a new or empty file becomes a store
    with open(path, "rb") as f:
        header = f.read(len(_SQLITE_MAGIC))
    if header != _SQLITE_MAGIC:
        raise ValueError(f"{path} is not a SQLite database; pass a new --db or a file written by dass collect")


def _take_writer_lock(db_path: Path) -> int:
    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreLockedError(
            f"another collector (pid {holder}) is writing to {db_path}; wait for it or use --status"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _file_format(path: Path) -> str:
    name = path.name
    if name.endswith(".parquet"):
        _pyarrow()
        return "parquet"
    if name.endswith(".csv.gz") or name.endswith(".csv"):
        return "csv"
    raise ValueError(f"a records file must end in .csv.gz, .csv or .parquet; got {name!r}")


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("Parquet needs pyarrow (pip install 'dass[parquet]'); or use a .csv.gz path") from None
    return pa, pq


def _to_cell(name: str, value: Any) -> Any:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True) if _COLUMNS[name][0] == "json" else value


def _decode_cell(name: str, value: Any) -> Any:
    """A CSV cell (text) or Parquet value back to the column's Python value; an empty CSV cell is None."""
    kind, nullable = _COLUMNS[name]
    if value is None or (value == "" and (nullable or kind != "text")):
        if not nullable:
            raise ValueError(f"the {name!r} column is empty")
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "real":
            return float(value)
        if kind == "json":
            return json.loads(value) if isinstance(value, str) else value
    except (TypeError, ValueError):  # json.JSONDecodeError is a ValueError
        what = {"int": "a whole number", "real": "a number", "json": "JSON"}[kind]
        raise ValueError(f"the {name!r} column must hold {what}; got {str(value)[:60]!r}") from None
    return str(value)


def _write_csv(rows: list[dict[str, Any]], path: Path, compress: bool) -> None:
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the gzip header: the same records give the same bytes.
        binary = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") if compress else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["" if (v := _to_cell(name, row[name])) is None else v for name in COLUMNS])
        text.flush()
        text.detach()  # leave the binary file open: it is closed below, after the gzip trailer
        if compress:
            binary.close()
        raw.flush()
        os.fsync(raw.fileno())


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            _check_columns(path, reader.fieldnames or [])
            return list(reader)
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError, csv.Error) as e:
        reason = "it ends early (truncated?)" if isinstance(e, EOFError) else " ".join(str(e).split())[:200]
        raise ValueError(f"{path} is not a readable export: {reason}") from None


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    pa, pq = _pyarrow()
    types = {"text": pa.string(), "int": pa.int64(), "real": pa.float64(), "json": pa.string()}
    schema = pa.schema([(name, types[kind]) for name, (kind, _) in _COLUMNS.items()])
    columns = {name: [_to_cell(name, row[name]) for row in rows] for name in COLUMNS}
    pq.write_table(pa.table(columns, schema=schema), path)


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"{path} is not a readable export: {' '.join(str(e).split())[:200]}") from None
    _check_columns(path, table.column_names)
    return table.to_pylist()


def _check_columns(path: Path, names: Sequence[str]) -> None:
    missing = [c for c in COLUMNS if c not in names]
    unknown = [c for c in names if c not in _COLUMNS]
    if missing or unknown:
        raise ValueError(
            f"{path} is not a dass records export: missing columns {missing}, unknown columns {unknown} "
            "(was it written by another dass version?)"
        )

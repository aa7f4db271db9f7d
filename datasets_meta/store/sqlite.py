"""``SQLiteStore``: the record store in one SQLite file, WAL journal, one writer process, any number of readers.

The table's columns are the flat form of :class:`distill.records.Record` (:mod:`datasets_meta.store.columns`); a
row is read back through ``Record.from_dict`` like every other record. ``PRAGMA user_version`` holds the schema
version, checked on open with an error that says what to do; the writer holds an advisory lock on the database
file itself, so that no path to it (a link, a relative path) gets a second writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from datasets_meta.store.columns import COLUMN_KINDS, COLUMNS, encode_value
from datasets_meta.store.contract import (
    SCHEMA_VERSION,
    RecordStore,
    StoreLockedError,
    as_key,
    check_claim_args,
    lost_worker_error,
)
from distill.records import DONE_OUTCOMES, KEY_FIELDS, STATES, Job, JobKey, Record

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_S = 30.0  # readers (--status, export) may hold the db briefly; a writer waits rather than fails

_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "real": "REAL", "json": "TEXT"}
_KEY_WHERE = " AND ".join(f"{name} = ?" for name in KEY_FIELDS)


def _schema_sql() -> list[str]:
    columns = ",\n    ".join(
        f"{name} {_SQL_TYPES[kind]}{'' if nullable else ' NOT NULL'}" for name, (kind, nullable) in COLUMN_KINDS.items()
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
    to do. The writer takes an exclusive ``flock`` on the database file itself, whatever path names it (released by
    ``close`` or by the kernel when the process dies); readers (``writer=False``) need no lock and are read-only.

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
        self._lock_fds: tuple[int, ...] = ()
        self._conn: sqlite3.Connection | None = None
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the directory of the record store {self.path} does not exist")
        if not writer and not self.path.is_file():
            raise FileNotFoundError(f"no record store at {self.path}; check --db or run dass collect first")
        _check_sqlite_header(self.path)
        _check_one_name(self.path)
        try:
            if writer:
                self._lock_fds = _take_writer_lock(self.path)
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
            for fd in self._lock_fds:  # after the connection (see _take_writer_lock); closing releases the flock
                os.close(fd)
            self._lock_fds = ()

    def _insert(self, records: list[Record]) -> int:
        sql = (
            f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
            f"ON CONFLICT ({', '.join(KEY_FIELDS)}) DO NOTHING"
        )
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany(sql, [_encode_row(record.to_dict()) for record in records])
            return conn.total_changes - before

    def claim(self, worker: str, n: int = 1, now: float | None = None) -> list[Job]:
        check_claim_args(worker, n)
        now = self._now(now)
        with self._transaction() as conn:
            stale = conn.execute(
                "SELECT id, attempts, worker FROM jobs WHERE state = 'running' AND heartbeat_at < ?",
                (now - self.grace_s,),
            ).fetchall()
            for row_id, attempts, lost_worker in stale:
                _update(conn, row_id, self._after_failure(attempts, lost_worker_error(lost_worker), now))
            if stale:
                logger.warning("took back %d job(s) from workers that stopped sending heartbeats", len(stale))
            ids = [r[0] for r in conn.execute("SELECT id FROM jobs WHERE state = 'pending' ORDER BY id LIMIT ?", (n,))]
            conn.executemany(
                "UPDATE jobs SET state = 'running', worker = ?, heartbeat_at = ?, started_at = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                [(worker, now, now, row_id) for row_id in ids],
            )
            rows = [_fetch_by_id(conn, row_id) for row_id in ids]
        return [Record.from_dict(row).job for row in rows]

    def heartbeat(self, worker: str, keys: Iterable[JobKey], now: float | None = None) -> int:
        now = self._now(now)
        with self._transaction() as conn:
            held = 0
            for key in map(as_key, keys):
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
        key = as_key(key)
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
            raise ValueError(f"unknown job {tuple(key)}; add it with add_jobs first")
        return row


# -- rows and files ---------------------------------------------------------------------------------------------


def _encode_row(row: dict[str, Any]) -> list[Any]:
    return [encode_value(name, row[name]) for name in COLUMNS]


def _decode_row(values: Sequence[Any]) -> dict[str, Any]:
    return {
        name: json.loads(value) if COLUMN_KINDS[name][0] == "json" and value is not None else value
        for name, value in zip(COLUMNS, values)
    }


def _update(conn: sqlite3.Connection, row_id: int, fields: dict[str, Any]) -> None:
    names = list(fields)
    values = [encode_value(n, fields[n]) for n in names]
    conn.execute(f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?", (*values, row_id))


def _fetch_by_id(conn: sqlite3.Connection, row_id: int) -> dict[str, Any]:
    return _decode_row(conn.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (row_id,)).fetchone())


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_sqlite_header(path: Path) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        return  # a new or empty file becomes a store
    with open(path, "rb") as f:
        header = f.read(len(_SQLITE_MAGIC))
    if header != _SQLITE_MAGIC:
        raise ValueError(f"{path} is not a SQLite database; pass a new --db or a file written by dass collect")


def _check_one_name(path: Path) -> None:
    """Refuse a database file with several hard links: SQLite keeps the write-ahead log beside the name a database
    is opened by, so a second name would not see the records committed through the first (and a second writer
    through it would train finished jobs again)."""
    if path.is_file() and (links := path.stat().st_nlink) > 1:
        raise ValueError(
            f"{path} has {links} hard links (names of one file); SQLite keeps a database's write-ahead log beside "
            "the name it is opened by, so two names see different records: keep one name (a symbolic link is fine)"
        )


def _take_writer_lock(db_path: Path) -> tuple[int, int]:
    """The writer lock of the database file at ``db_path``: an exclusive ``flock`` on the file itself.

    A lock on a name (``<db>.lock`` beside the path as typed) lets a symbolic or hard link to the same database
    have a second writer; the ``flock`` of the file belongs to its inode, whatever path, link or ``..`` led to it.
    The file is created (empty: SQLite makes it a database) when missing, so that two writers racing to create it
    still meet on one inode. ``<real path>.lock`` then holds the writer's pid for the message a second writer
    gets, locked too, so that a collector of an older dass (which locks only that file) is refused as well.

    The descriptor stays open as long as the store: closing any descriptor of a file drops the POSIX locks that
    SQLite's own connections in this process hold on it, so ``close`` closes it only after the connection.

    Returns:
        The descriptors of the database file and of the pid file, both locked.
    """
    db_fd = os.open(db_path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(db_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(db_fd)
        raise _locked(db_path) from None
    pid_path = _pid_path(db_path)
    try:
        pid_fd = os.open(pid_path, os.O_RDWR | os.O_CREAT, 0o644)
    except BaseException:
        os.close(db_fd)
        raise
    try:
        fcntl.flock(pid_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # a collector of an older dass, which locks only the pid file
        for fd in (pid_fd, db_fd):
            os.close(fd)
        raise _locked(db_path) from None
    os.ftruncate(pid_fd, 0)
    os.pwrite(pid_fd, str(os.getpid()).encode(), 0)
    return db_fd, pid_fd


def _pid_path(db_path: Path) -> Path:
    real = Path(os.path.realpath(db_path))
    return real.with_name(real.name + ".lock")


def _locked(db_path: Path) -> StoreLockedError:
    real = os.path.realpath(db_path)
    same = f" (the file {real})" if real != os.path.abspath(db_path) else ""
    return StoreLockedError(
        f"another collector (pid {_holder_pid(db_path)}) is writing to {db_path}{same}; wait for it or use --status"
    )


def _holder_pid(db_path: Path) -> str:
    """The pid in ``<real path>.lock`` while its writer holds it; "unknown" when that file is not locked (the
    writer came through a hard link of another name, or the pid there is of a writer long gone)."""
    try:
        fd = os.open(_pid_path(db_path), os.O_RDONLY)
    except OSError:
        return "unknown"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return "unknown"  # nobody holds it: what it says is stale
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
    finally:
        os.close(fd)

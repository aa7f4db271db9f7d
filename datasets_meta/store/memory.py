"""``InMemoryStore``: the record store in a dict, for tests, dry runs and small in-process searches."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from datasets_meta.store.contract import RecordStore, as_key, check_claim_args, lost_worker_error
from distill.records import STATES, Job, JobKey, Record, copy_json


class InMemoryStore(RecordStore):
    """A ``RecordStore`` in a dict of flat rows (``Record.to_dict``), keyed by job key.

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

    def _insert(self, records: list[Record]) -> int:
        with self._transaction():
            n_new = 0
            for record in records:
                if record.key not in self._rows:
                    self._put(record.key, record.to_dict())  # a fresh dict: nothing shared with the caller
                    n_new += 1
            return n_new

    def claim(self, worker: str, n: int = 1, now: float | None = None) -> list[Job]:
        check_claim_args(worker, n)
        now = self._now(now)
        with self._transaction():
            cutoff = now - self.grace_s
            for key, row in list(self._rows.items()):
                if row["state"] == "running" and row["heartbeat_at"] < cutoff:
                    error = lost_worker_error(row["worker"])
                    self._update(key, **self._after_failure(row["attempts"], error, now))
            picked = [key for key, row in self._rows.items() if row["state"] == "pending"][:n]
            for key in picked:
                row = self._rows[key]
                self._update(
                    key, state="running", worker=worker, heartbeat_at=now, started_at=now, attempts=row["attempts"] + 1
                )
            return [Record.from_dict(self._rows[key]).job for key in picked]

    def heartbeat(self, worker: str, keys: Iterable[JobKey], now: float | None = None) -> int:
        now = self._now(now)
        with self._transaction():
            held = 0
            for key in map(as_key, keys):
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
        key = as_key(key)
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
                copy_json(row)
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
            raise ValueError(f"unknown job {tuple(key)}; add it with add_jobs first")
        return row

    def close(self) -> None:
        pass

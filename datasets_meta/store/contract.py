"""The storage contract of the meta-dataset: ``RecordStore``, its constants and errors, and what every backend shares.

A job is one (task, teacher, student genome, budget, seed) distillation run. Its lifecycle::

    pending ──claim──► running ──finish──► done          (final: the row is never changed again)
       ▲                  │
       └──── fail ◄───────┘──► failed                    (once attempts reach max_attempts)

A training outcome of ``"ok"`` or ``"diverged"`` is a result, so the job is *done* (a bad run is data too);
``"error"`` and ``"oom"`` are failures and the job is retried. A ``running`` job whose worker stopped sending
heartbeats for ``grace_s`` seconds is taken back by the next ``claim``.

A backend implements the abstract methods below (its rows are the flat form of
:class:`distill.records.Record`); everything else — validation, the typed ``read``, the flat ``records``, stats,
export and import — is written once here, so the same contract tests run against every backend. Timestamps come
from an injectable ``clock`` (or a ``now`` argument) so tests control time.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from datasets_meta.store.columns import FILTERABLE
from datasets_meta.store.export import check_export_path, read_export, write_export
from distill.records import FAILED_OUTCOMES, KEY_FIELDS, RESULT_FIELDS, STATES, Job, JobKey, Record, Result

# Bump when the table layout changes; a db with another version is refused on open with what to do.
SCHEMA_VERSION = 1

_THROUGHPUT_WINDOW_S = 3600.0


class StoreLockedError(ValueError, RuntimeError):
    """Another process holds the writer lock of a SQLite store.

    A ``ValueError`` so the CLI reports it on one line like any other user-facing error, and a ``RuntimeError``
    because it is about the running system rather than an argument.
    """


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
    def _insert(self, records: list[Record]) -> int:
        """Insert the records whose key is new, in one transaction; returns how many were inserted."""

    @abc.abstractmethod
    def _finish(self, key: JobKey, fields: dict[str, Any], worker: str | None) -> bool:
        """Make the job done with ``fields`` (flat columns); False if it was already done."""

    @abc.abstractmethod
    def _select(self, states: tuple[str, ...] | None, filters: dict[str, tuple]) -> list[dict[str, Any]]:
        """Flat rows in insertion order whose state is in ``states`` and each column in its filter tuple.

        The rows become the caller's (``Record.from_dict(row, copy=False)``): fresh dicts, or copies of what the
        backend keeps.
        """

    @abc.abstractmethod
    def _finish_summary(self, since: float) -> tuple[int, float | None]:
        """(number of jobs finished at or after ``since``, earliest ``started_at`` among them)."""

    # -- shared behaviour ----------------------------------------------------------------------------------------

    def add_jobs(self, jobs: Iterable[Job]) -> int:
        """Insert the jobs whose key is new (existing keys are left alone); returns how many were new."""
        now = self.clock()
        records = []
        for job in jobs:
            if not isinstance(job, Job):
                raise ValueError(f"add_jobs takes Job objects; got {type(job).__name__}")
            records.append(new_record(job, now))
        return self._insert(records) if records else 0

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
        key = as_key(key)
        if result.status in FAILED_OUTCOMES:
            return self.fail(key, f"{result.status}: {result.reason}" if result.reason else result.status, worker, now)
        stored = stored_result(result)
        fields = {name: getattr(stored, name) for name in RESULT_FIELDS}
        fields.update(state="done", error=None, finished_at=self._now(now))
        return self._finish(key, fields, worker)

    def read(self, status: str | Sequence[str] | None = "done", **filters: Any) -> list[Record]:
        """The typed records, in the order the jobs were added.

        Args:
            status: the lifecycle state(s) to return, ``None`` for all. To select by training outcome, filter on
                ``record.result.status`` (``"ok"`` or ``"diverged"``).
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
        records = [Record.from_dict(row, copy=False) for row in self._select(as_states(status), column_filters)]
        if tag_filter:
            records = [r for r in records if all(k in r.job.tags and r.job.tags[k] == v for k, v in tag_filter.items())]
        return records

    def records(self, status: str | Sequence[str] | None = "done", **filters: Any) -> list[dict[str, Any]]:
        """The records of :meth:`read` in their flat form (``Record.to_dict``: job + lifecycle + result fields)."""
        return [record.to_dict(copy=False) for record in self.read(status, **filters)]  # read() copied

    def get_record(self, key: JobKey) -> Record | None:
        """The record of one job, or None if the key is unknown."""
        rows = self._select(None, {name: (value,) for name, value in zip(KEY_FIELDS, as_key(key))})
        return Record.from_dict(rows[0], copy=False) if rows else None

    def get(self, key: JobKey) -> dict[str, Any] | None:
        """The flat record of one job (job, lifecycle and result fields), or None if the key is unknown."""
        record = self.get_record(key)
        return None if record is None else record.to_dict(copy=False)

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
        check_export_path(path)  # before reading: a wrong path fails fast
        rows = self.records(status=status)
        write_export(rows, path)
        return len(rows)

    def import_records(self, path: str | os.PathLike) -> int:
        """Read an ``export`` back; rows whose key already exists are skipped. Returns how many were new.

        Done and failed rows keep their state and result; a row exported while ``running`` comes back ``pending``
        (no worker of this store holds it).
        """
        records = [imported_record(record) for record in read_export(Path(path))]
        return self._insert(records) if records else 0

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


# -- helpers shared by the backends --------------------------------------------------------------------------------


def new_record(job: Job, now: float) -> Record:
    """A job as it enters the store: pending, never tried, its tags in JSON form (as SQLite would give them back)."""
    return Record(job=dataclasses.replace(job, tags=json_copy(job.tags)), created_at=float(now))


def stored_result(result: Result) -> Result:
    """The result normalised as SQLite stores it (accuracies and times as floats, ``extra`` in JSON form), so both
    backends hold equal values."""
    return dataclasses.replace(_with_floats(result), extra=json_copy(result.extra))


def imported_record(record: Record) -> Record:
    """A record read from an export as this store keeps it: numbers normalised as :func:`stored_result` does (its
    JSON columns are JSON already), and a ``running`` job comes back ``pending`` (no worker of this store holds it;
    the interrupted attempt still counts)."""
    if record.result is not None:
        record = dataclasses.replace(record, result=_with_floats(record.result))
    if record.state == "running":
        record = dataclasses.replace(record, state="pending", worker=None, heartbeat_at=None)
    return record


def _with_floats(result: Result) -> Result:
    floats = {
        name: float(getattr(result, name))
        for name in ("val_acc", "test_acc", "train_time_s", "teacher_acc")
        if getattr(result, name) is not None
    }
    return dataclasses.replace(result, **floats, curve=[float(x) for x in result.curve])


def as_key(key: Sequence[Any]) -> JobKey:
    """A job key from any 5-sequence (e.g. a JSON list), a ``ValueError`` for anything else."""
    key = tuple(key)
    if len(key) != len(KEY_FIELDS):
        raise ValueError(f"a job key is ({', '.join(KEY_FIELDS)}); got {key!r}")
    return JobKey(*key)


def as_states(status: str | Sequence[str] | None) -> tuple[str, ...] | None:
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


def check_claim_args(worker: str, n: int) -> None:
    if not isinstance(worker, str) or not worker:
        raise ValueError(f"the 'worker' parameter must be a non-empty string; got {worker!r}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"the 'n' parameter must be an int >= 0; got {n!r}")


def lost_worker_error(worker: str | None) -> str:
    return f"worker {worker} stopped sending heartbeats"


def json_copy(value: Any) -> Any:
    # A JSON round trip, not deepcopy: tuples become lists and keys strings, exactly as in the SQLite backend.
    return json.loads(json.dumps(value))

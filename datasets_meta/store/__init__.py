"""The record store of the meta-dataset: every distillation job, where it is in its lifecycle, and its result.

One contract (:mod:`~datasets_meta.store.contract`), two backends that the same contract tests run against
(:mod:`~datasets_meta.store.memory`, :mod:`~datasets_meta.store.sqlite`), and files for sharing
(:mod:`~datasets_meta.store.export`). What a store holds for one job is a :class:`distill.records.Record`.

This package is pure data: it imports neither torch nor the training code.
"""

from __future__ import annotations

import os
from typing import Any

from datasets_meta.store.columns import COLUMN_KINDS, COLUMNS, FILTERABLE
from datasets_meta.store.contract import SCHEMA_VERSION, RecordStore, StoreLockedError
from datasets_meta.store.memory import InMemoryStore
from datasets_meta.store.sqlite import SQLiteStore
from distill.records import (
    DONE_OUTCOMES,
    FAILED_OUTCOMES,
    JOB_FIELDS,
    KEY_FIELDS,
    LIFECYCLE_FIELDS,
    OUTCOMES,
    RECORD_FIELDS,
    RESULT_FIELDS,
    STATES,
    Job,
    JobKey,
    Record,
    Result,
)

__all__ = [
    "COLUMNS",
    "COLUMN_KINDS",
    "DONE_OUTCOMES",
    "FAILED_OUTCOMES",
    "FILTERABLE",
    "JOB_FIELDS",
    "KEY_FIELDS",
    "LIFECYCLE_FIELDS",
    "OUTCOMES",
    "RECORD_FIELDS",
    "RESULT_FIELDS",
    "SCHEMA_VERSION",
    "STATES",
    "InMemoryStore",
    "Job",
    "JobKey",
    "Record",
    "RecordStore",
    "Result",
    "SQLiteStore",
    "StoreLockedError",
    "open_store",
]


def open_store(path: str | os.PathLike | None, **kwargs: Any) -> RecordStore:
    """``InMemoryStore(**kwargs)`` when ``path`` is None, else ``SQLiteStore(path, **kwargs)``."""
    if path is None:
        return InMemoryStore(**kwargs)
    return SQLiteStore(path, **kwargs)

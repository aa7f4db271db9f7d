"""The meta-dataset: every (task, teacher, student, budget, seed) distillation job and its result.

Importing this package does no I/O and does not import torch; the collector that trains lives beside it.
"""

from datasets_meta.store import (
    SCHEMA_VERSION,
    STATES,
    InMemoryStore,
    RecordStore,
    SQLiteStore,
    StoreLockedError,
    open_store,
)
from distill.records import OUTCOMES, Job, JobKey, Record, Result

__all__ = [
    "OUTCOMES",
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

"""The flat columns of a record, as the SQLite table and the CSV/Parquet export hold them.

One table for both: the kind of a column gives its SQLite type and how an exported cell decodes; ``"json"`` columns
are dicts/lists in Python and JSON text (sorted keys) on disk. The columns are the fields of
:meth:`distill.records.Record.to_dict`, in that order.
"""

from __future__ import annotations

import json
from typing import Any

from distill.records import RECORD_FIELDS

# Every column of a flat record: (kind, nullable).
COLUMN_KINDS: dict[str, tuple[str, bool]] = {
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
COLUMNS = tuple(COLUMN_KINDS)
assert COLUMNS == RECORD_FIELDS, "the column table must follow Record.to_dict"
FILTERABLE = tuple(c for c in COLUMNS if COLUMN_KINDS[c][0] != "json") + ("tags",)


def encode_value(name: str, value: Any) -> Any:
    """A column's Python value as stored: JSON text (sorted keys) for a ``"json"`` column, else unchanged."""
    if value is None or COLUMN_KINDS[name][0] != "json":
        return value
    return json.dumps(value, sort_keys=True)

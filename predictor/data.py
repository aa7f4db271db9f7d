"""The meta-dataset as the predictor sees it: records, groups and the split by task.

A record of the store (a :class:`distill.records.Record`, or its flat form) becomes an example::

    {"genome": JSON, "task_features": {...}, "budget": epochs, "group": "task/teacher",
     "target": the label, "label": which accuracy the label is ("test_acc" or "val_acc"),
     "curve": per-epoch validation accuracy, ...}

plus what evaluation needs beside it (ids, tags, seed, parameter count, FLOPs, proxies).
Ranking is meaningful inside a group: one task distilled from one teacher.

The split is by **task**, never by record: every record tagged ``heldout`` (unseen datasets,
domains, class sets and teacher families) is meta-test; the remaining tasks are divided into
meta-train and meta-validation by a stable hash of the task id.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets_meta.store import InMemoryStore
from distill.records import Record, group_key

SPLITS = ("train", "val", "test")
# Which measured accuracy becomes an example's ``target``. Meta-training learns the final *test* accuracy of the
# meta-dataset; the search adapts on *validation* accuracy only, so its test accuracy stays untouched for the report.
LABELS = ("test_acc", "val_acc")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Every finished, successful record of an export (``.csv.gz`` / ``.parquet``) as an example labelled with its
    test accuracy."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"meta-dataset file {str(path)!r} does not exist; build one with `dass collect --export`"
        )
    store = InMemoryStore()
    store.import_records(path)
    return [
        to_example(r, label="test_acc")
        for r in store.read()
        if r.result.status == "ok" and r.result.test_acc is not None
    ]


def to_example(record: Record | Mapping[str, Any], *, label: str) -> dict[str, Any]:
    """A record of the store as a predictor example whose ``target`` is the accuracy named by ``label``.

    Args:
        record: a :class:`~distill.records.Record` or its flat form (``RecordStore.records``/``get``); it needs a
            result with ``extra["task_features"]``.
        label: ``"test_acc"`` (meta-training, evaluation) or ``"val_acc"`` (adaptation inside a search); the
            example keeps it under ``"label"``.
    """
    if label not in LABELS:
        raise ValueError(f"the 'label' parameter must be one of {LABELS}; got {label!r}")
    r = record.to_dict(copy=False) if isinstance(record, Record) else record
    extra = r.get("extra") or {}
    if "task_features" not in extra:
        raise ValueError(f"record {r['genome_hash']} of task {r['task_spec']!r} has no task_features")
    if r.get(label) is None:
        raise ValueError(f"record {r['genome_hash']} of task {r['task_spec']!r} has no {label} to use as the label")
    return {
        "genome": r["genome"],
        "task_features": extra["task_features"],
        "budget": int(r["budget"]),
        "group": group_key(r["task_id"], r["teacher_id"]),
        "target": float(r[label]),
        "label": label,
        "curve": list(r.get("curve") or []),
        "task_id": r["task_id"],
        "task_spec": r["task_spec"],
        "teacher_id": r["teacher_id"],
        "teacher": r["teacher"],
        "genome_hash": r["genome_hash"],
        "seed": int(r["seed"]),
        "tags": r.get("tags") or {},
        "params": r.get("params"),
        "flops": r.get("flops"),
        "proxies": extra.get("proxies") or {},
        "teacher_acc": r.get("teacher_acc"),
    }


def split_of(example: dict[str, Any], val_fraction: float = 0.15) -> str:
    if example["tags"].get("heldout"):
        return "test"
    h = int(hashlib.sha256(example["task_id"].encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def split_by_task(examples: list[dict[str, Any]], val_fraction: float = 0.15) -> dict[str, list[dict[str, Any]]]:
    """``{"train": [...], "val": [...], "test": [...]}``; no task appears in two splits.

    A task with any held-out record (e.g. it was also distilled from a held-out teacher family) is
    meta-test as a whole.
    """
    heldout_tasks = {ex["task_id"] for ex in examples if ex["tags"].get("heldout")}
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for ex in examples:
        out["test" if ex["task_id"] in heldout_tasks else split_of(ex, val_fraction)].append(ex)
    return out


def mean_labels(examples: list[dict[str, Any]], label_seeds: int = 2) -> list[dict[str, Any]]:
    """One example per student: its target (label) and curve averaged over training seeds ``0 .. label_seeds-1``.

    A student is a (group, genome, budget); each seed's run is one record. Averaging ``k`` seeds
    divides the seed-to-seed variance of a label by ``k``. A student whose seeds are not all there
    yet keeps the mean of those that are (``"seeds"`` says how many); seeds from ``label_seeds``
    on are the replicates that measure the noise ceiling, and are left out of the label.
    """
    if label_seeds < 1:
        raise ValueError(f"label_seeds must be at least 1; got {label_seeds}")
    by_student: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        if ex["seed"] < label_seeds:
            by_student[(ex["group"], ex["genome_hash"], ex["budget"])].append(ex)
    out = []
    for runs in by_student.values():
        runs.sort(key=lambda e: e["seed"])
        label = {**runs[0], "seeds": len(runs)}
        if len(runs) > 1:
            label["target"] = sum(e["target"] for e in runs) / len(runs)
            n = min(len(e["curve"]) for e in runs)
            label["curve"] = [sum(e["curve"][i] for e in runs) / len(runs) for i in range(n)]
        out.append(label)
    return out


def groups(examples: list[dict[str, Any]], seed: int | None = 0) -> dict[str, list[dict[str, Any]]]:
    """Examples by (task, teacher) group; ``seed`` keeps one training seed (``None`` keeps all)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        if seed is None or ex["seed"] == seed:
            out[ex["group"]].append(ex)
    return dict(out)


def describe_split(split: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Counts per split: records, tasks, groups, teacher families, domains."""
    out = {}
    for name, exs in split.items():
        out[name] = {
            "records": len(exs),
            "tasks": len({e["task_id"] for e in exs}),
            "groups": len({e["group"] for e in exs}),
            "teacher_families": sorted({e["tags"].get("teacher_family", "user") for e in exs}),
            "domains": sorted({e["tags"].get("domain", "none") for e in exs}),
            "sources": sorted({e["tags"].get("source", "?") for e in exs}),
        }
    return out

"""The meta-dataset as the predictor sees it: records, groups and the split by task.

A record of the store (see :mod:`datasets_meta.store`) becomes an example::

    {"genome": JSON, "task_features": {...}, "budget": epochs, "group": "task/teacher",
     "target": final test accuracy, "curve": per-epoch validation accuracy, ...}

plus what evaluation needs beside it (ids, tags, seed, parameter count, FLOPs, proxies).
Ranking is meaningful inside a group: one task distilled from one teacher.

The split is by **task**, never by record: every record tagged ``heldout`` (unseen datasets,
domains, class sets and teacher families) is meta-test; the remaining tasks are divided into
meta-train and meta-validation by a stable hash of the task id.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from datasets_meta.store import InMemoryStore

SPLITS = ("train", "val", "test")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Every finished, successful record of an export (``.csv.gz`` / ``.parquet``) as an example."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"meta-dataset file {str(path)!r} does not exist; build one with `dass collect --export`"
        )
    store = InMemoryStore()
    store.import_records(path)
    return [to_example(r) for r in store.records() if r["status"] == "ok" and r.get("test_acc") is not None]


def to_example(r: dict[str, Any]) -> dict[str, Any]:
    extra = r.get("extra") or {}
    if "task_features" not in extra:
        raise ValueError(f"record {r['genome_hash']} of task {r['task_spec']!r} has no task_features")
    return {
        "genome": r["genome"],
        "task_features": extra["task_features"],
        "budget": int(r["budget"]),
        "group": f"{r['task_id']}/{r['teacher_id']}",
        "target": float(r["test_acc"]),
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

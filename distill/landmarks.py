"""Landmarks: what two small reference students reach on a task, trained briefly without a teacher.

The probe features (:mod:`distill.probe`) describe a task through its teacher; they do not say how the task
answers to the student's shape. On some tasks depth pays (glyphs, shapes, fractals, MNIST at 12 px and more);
on others a deeper student does *worse* in a short budget (the procedural textures, MNIST and digits at 8 px),
and the meta-dataset's students rank the other way round there. A *landmark* (Pfahringer et al., ICML 2000)
measures it directly: a shallow and a deep reference student, each trained for :data:`LANDMARK_EPOCHS` epochs
with seed 0 and no distillation, and their validation accuracies. The predictor reads them (and their gap) as
three more global task features when it was meta-trained with ``landmarks=True``.

Their cost is two short trainings per task (about a third of one full-budget training of a 6-epoch search, and
charged to a search's budget as such). They are cached under ``$DASS_CACHE/landmarks/`` by task id, and a table
(``datasets_meta/landmarks.json``) holds them for every task of the meta-dataset, keyed by the task's spec.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from distill.genome import Genome
from distill.io import write_json
from distill.tasks import Task
from distill.teachers import cache_dir

log = logging.getLogger(__name__)

__all__ = [
    "LANDMARK_EPOCHS",
    "LANDMARK_FEATURES",
    "REFERENCE_STUDENTS",
    "LandmarkTable",
    "attach_landmarks",
    "landmark_accuracies",
    "landmark_features",
    "task_landmarks",
]

LANDMARK_FEATURES = ("lm_shallow", "lm_deep", "lm_gap")  # gap: deep minus shallow
LANDMARK_EPOCHS = 3
LANDMARK_SEED = 0

_NO_KD = {
    "logit_loss": "none",
    "temperature": 1.0,
    "ce_weight": 1.0,
    "kd_weight": 1.0,
    "hint_position": "off",
    "hint_transform": "connector",
    "hint_distance": "mse",
    "hint_weight": 1.0,
}


def _stage(depth: int, width: int) -> dict[str, Any]:
    return {"block": "conv", "depth": depth, "width": width, "kernel": 3, "expansion": 1, "se": False}


# Shallow: two plain conv stages of one block (15k parameters at 32 px RGB); deep: four stages of two blocks
# (126k). Changing them changes every landmark: the version below then names other cache entries and tables.
REFERENCE_STUDENTS: dict[str, Genome] = {
    "shallow": Genome.from_dict(
        {"space": "default", "stem_width": 16, "stages": [_stage(1, 32), _stage(1, 32)], "recipe": _NO_KD}
    ),
    "deep": Genome.from_dict(
        {
            "space": "default",
            "stem_width": 16,
            "stages": [_stage(2, 24), _stage(2, 32), _stage(2, 48), _stage(2, 64)],
            "recipe": _NO_KD,
        }
    ),
}
VERSION = hashlib.sha256(
    json.dumps(
        {
            "students": {k: g.hash for k, g in REFERENCE_STUDENTS.items()},
            "epochs": LANDMARK_EPOCHS,
            "seed": LANDMARK_SEED,
        },
        sort_keys=True,
    ).encode()
).hexdigest()[:12]


def landmark_accuracies(task: Task, device: str = "cpu", threads: int | None = 1) -> dict[str, float]:
    """Train each reference student on ``task`` (no teacher) and return its validation accuracy by name.

    Raises:
        ValueError: a reference student did not train (diverged, ran out of memory): the task has no landmarks.
    """
    from distill.job import train_student  # the trainer and its student families: only when a task is measured
    from distill.trainer import TrainConfig

    config = TrainConfig(epochs=LANDMARK_EPOCHS, device=device)
    out = {}
    for name, genome in REFERENCE_STUDENTS.items():
        result = train_student(genome, task, None, config, seed=LANDMARK_SEED, threads=threads).result
        if result.status != "ok" or result.val_acc is None or not math.isfinite(result.val_acc):
            raise ValueError(f"task {task.spec}: the {name} reference student did not train ({result.status})")
        out[name] = float(result.val_acc)
    return out


def landmark_features(accuracies: dict[str, float]) -> list[float]:
    """The three numbers the predictor reads (:data:`LANDMARK_FEATURES`), from :func:`landmark_accuracies`."""
    shallow, deep = float(accuracies["shallow"]), float(accuracies["deep"])
    return [shallow, deep, deep - shallow]


def _cache_file(task: Task) -> Path:
    return cache_dir() / "landmarks" / f"{task.id}-{VERSION}.json"


def task_landmarks(task: Task, device: str = "cpu") -> list[float]:
    """The landmark features of ``task``: read from the cache (``$DASS_CACHE/landmarks/``), else measured and
    cached (a temporary file then ``os.replace``: a crash leaves no half entry)."""
    path = _cache_file(task)
    if path.is_file():
        try:
            return landmark_features(json.loads(path.read_text())["accuracies"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring the unreadable landmark cache %s (%s); measuring again", path, e)
    accuracies = landmark_accuracies(task, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"task": str(task.spec), "version": VERSION, "accuracies": accuracies})
    return landmark_features(accuracies)


class LandmarkTable:
    """Landmarks of many tasks by spec, in one JSON file (e.g. ``datasets_meta/landmarks.json`` for the
    meta-dataset): read once, filled for missing tasks, written back after each new task (so an interrupted
    fill keeps what it measured)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.accuracies: dict[str, dict[str, float]] = {}
        if self.path is not None and self.path.exists():
            try:
                state = json.loads(self.path.read_text())
                version, table = state["version"], state["landmarks"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ValueError(f"cannot read the landmark table {str(self.path)!r}: {e}") from None
            if version != VERSION:
                raise ValueError(
                    f"the landmark table {str(self.path)!r} has version {version!r}, but this dass's reference "
                    f"students are version {VERSION!r}: give a new path to measure them again"
                )
            self.accuracies = dict(table)

    def features(self, spec: str) -> list[float] | None:
        """The landmark features of the task ``spec``, or ``None`` when the table does not have it."""
        acc = self.accuracies.get(str(spec))
        return None if acc is None else landmark_features(acc)

    def fill(
        self,
        specs: Iterable[str],
        data_dir: str | None = None,
        device: str = "cpu",
        on_task: Callable[[str], None] | None = None,
    ) -> None:
        """Measure (or read from the cache) every task of ``specs`` the table lacks; saved after each."""
        from distill.tasks import load_task

        for spec in dict.fromkeys(str(s) for s in specs):
            if spec not in self.accuracies:
                task = load_task(spec, data_dir)
                shallow, deep, _ = task_landmarks(task, device)
                self.accuracies[spec] = {"shallow": shallow, "deep": deep}
                self.save()
            if on_task is not None:
                on_task(spec)

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, {"version": VERSION, "landmarks": dict(sorted(self.accuracies.items()))})


def attach_landmarks(examples: list[dict[str, Any]], table: LandmarkTable) -> list[dict[str, Any]]:
    """``examples`` (:func:`predictor.data.to_example`) with ``task_features["landmarks"]`` from ``table``,
    which must hold every task of them (:meth:`LandmarkTable.fill`)."""
    out = []
    for e in examples:
        features = table.features(e["task_spec"])
        if features is None:
            raise ValueError(f"the landmark table has no entry for task {e['task_spec']!r}")
        out.append({**e, "task_features": {**e["task_features"], "landmarks": features}})
    return out

"""The search's teacher: built exactly as the training jobs build it, with what the search reads off it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from distill.probe import probe_features
from distill.tasks import Task
from distill.teachers import Teacher, get_teacher, teacher_config

log = logging.getLogger(__name__)

__all__ = ["SearchTeacher"]


@dataclass(frozen=True)
class SearchTeacher:
    """The teacher, whether it can give a feature hint, and its probe features (the predictor's task input)."""

    teacher: Teacher
    hints: bool
    features: dict[str, Any]

    @classmethod
    def load(cls, name: str, task: Task, weights: str | None, epochs: int) -> SearchTeacher:
        """Build (or read from the cache) the teacher ``name`` for ``task``.

        Args:
            name: zoo name, TorchScript file or ``module:callable``.
            task: the loaded task.
            weights: a state_dict for a zoo or ``module:callable`` teacher.
            epochs: epochs of a zoo teacher trained on demand.
        """
        # exactly as distill.job.WorkerCache builds it for a worker, so that both get the same teacher (and id)
        teacher = get_teacher(name, task, weights=weights, config=teacher_config(epochs))
        # A teacher that exposes no feature maps (a plain TorchScript module) cannot give a feature hint.
        hints = teacher.has_feature_maps(task.x_val[:2])
        if not hints:
            log.warning("teacher %s exposes no stage features: the search uses no feature hints", name)
        return cls(teacher, hints, probe_features(teacher, task))

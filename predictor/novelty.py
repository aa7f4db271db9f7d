"""How unfamiliar a task is to a predictor: where its global features lie against the meta-training tasks'.

The predictor reads a task through its global feature vector (the probe's features, and the landmarks when it
reads them). Meta-trained on a set of tasks, it has seen each feature only within their range; a task outside
it on some feature is an extrapolation, and the network's answer there is the least trustworthy it gives (its
inputs are even clipped, ``predictor.model.INPUT_CLIP``). :class:`TaskRange` keeps the range and spread of every
feature over the training tasks and measures how far outside a task lies, in those tasks' standard deviations.

Measured on the leave-one-family-out folds (``benchmarks/predictor_novelty.py``): the (task, teacher) groups
whose task lies outside its fold's training range rank their students worse zero-shot than the groups inside
it, and the further outside, the worse. :meth:`AccuracyPredictor.task_note` turns this into a one-line notice
that ``dass predict`` and ``dass search`` show; nothing is changed in the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NOTICE_DISTANCE", "TaskRange"]

# A task further than this (in the training tasks' standard deviations) outside their range on some feature gets
# the notice; the threshold is one of those the benchmark reports (benchmarks/predictor_novelty.py).
NOTICE_DISTANCE = 0.25


@dataclass(frozen=True)
class TaskRange:
    """The range and spread of each global task feature over a predictor's meta-training tasks.

    Attributes:
        names: the features, in the order of the predictor's global task vector.
        low, high: the smallest and largest value among the training tasks, per feature.
        std: the features' standard deviation over the training tasks (the unit of :meth:`distances`).
        tasks: how many distinct training vectors: one per (task, teacher) pair, as the teacher's accuracy and size
            are task features too.
    """

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    std: tuple[float, ...]
    tasks: int

    @classmethod
    def of(cls, names: tuple[str, ...], glob: np.ndarray) -> TaskRange:
        """The range of ``glob``: ``(T, G)`` global vectors of ``T`` training tasks, columns named ``names``."""
        glob = np.asarray(glob, dtype=float)
        if glob.ndim != 2 or glob.shape[1] != len(names) or not len(glob):
            raise ValueError(f"TaskRange.of: expected a (tasks, {len(names)}) array; got shape {glob.shape}")
        as_tuple = lambda a: tuple(float(v) for v in a)  # noqa: E731
        return cls(tuple(names), as_tuple(glob.min(0)), as_tuple(glob.max(0)), as_tuple(glob.std(0)), len(glob))

    def distances(self, vector: Any) -> np.ndarray:
        """``(G,)``: how far each feature of ``vector`` (a task's global vector) lies outside the range, in the
        training tasks' standard deviations; 0 inside. A feature every training task shares (no spread) is
        measured in absolute units."""
        x = np.asarray(vector, dtype=float)
        if x.shape != (len(self.names),):
            raise ValueError(f"TaskRange: expected a global task vector of {len(self.names)} numbers; got {x.shape}")
        low, high, std = (np.array(a) for a in (self.low, self.high, self.std))
        outside = np.maximum(low - x, 0.0) + np.maximum(x - high, 0.0)
        return outside / np.where(std > 0, std, 1.0)

    def distance(self, vector: Any) -> float:
        """The largest of :meth:`distances`: how far outside the training tasks the task lies (0 inside)."""
        return float(self.distances(vector).max())

    def describe(self, vector: Any, most: int = 3) -> str:
        """The features of ``vector`` outside the range, furthest first (at most ``most``), e.g.
        ``"lm_gap -0.187 (training tasks -0.0533 to 0.72)"``; empty when inside."""
        d = self.distances(vector)
        parts = [
            f"{self.names[i]} {float(vector[i]):.3g} (training tasks {self.low[i]:.3g} to {self.high[i]:.3g})"
            for i in np.argsort(-d, kind="stable")[:most]
            if d[i] > 0
        ]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "low": list(self.low),
            "high": list(self.high),
            "std": list(self.std),
            "tasks": self.tasks,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskRange:
        rng = cls(
            tuple(str(n) for n in d["names"]),
            tuple(float(v) for v in d["low"]),
            tuple(float(v) for v in d["high"]),
            tuple(float(v) for v in d["std"]),
            int(d["tasks"]),
        )
        if not len(rng.names) == len(rng.low) == len(rng.high) == len(rng.std):
            raise ValueError("its task range has lists of different lengths")
        return rng

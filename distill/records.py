"""The typed records of a distillation job: what to train (``Job``, keyed by ``JobKey``) and what came of it
(``Result``).

They belong to the core because the training job (:mod:`distill.job`) takes a ``Job`` and returns a ``Result``;
the meta-dataset's store (:mod:`datasets_meta.store`) keeps them, and the search and the CLI make and read them.
Pure data: this module imports neither torch nor the rest of the library.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

OUTCOMES = ("ok", "diverged", "error", "oom")
DONE_OUTCOMES = ("ok", "diverged")  # a bad run is still a result
FAILED_OUTCOMES = ("error", "oom")  # no result: the job is retried up to max_attempts

KEY_FIELDS = ("task_id", "teacher_id", "genome_hash", "budget", "seed")
JobKey = tuple[str, str, str, int, int]


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the {what} must be JSON-serialisable: {e}") from None


@dataclasses.dataclass(frozen=True)
class Job:
    """One distillation job; ``key`` identifies it.

    Args:
        task_id: stable id of the task (dataset, class subset, domain transform, ...).
        teacher_id: stable id of the trained teacher (e.g. its content hash).
        genome_hash: canonical hash of the student genome.
        budget: training budget in epochs.
        seed: training seed.
        task_spec: the task's spec string, enough to rebuild it.
        teacher: the teacher's name/spec, enough to rebuild it.
        genome: the genome as JSON text.
        suite: free text, the suite the job came from.
        tags: JSON-serialisable labels, e.g. ``{"heldout": True, "domain": "noise", "control": True}``.
    """

    task_id: str
    teacher_id: str
    genome_hash: str
    budget: int
    seed: int
    task_spec: str
    teacher: str
    genome: str
    suite: str = ""
    tags: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("task_id", "teacher_id", "genome_hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"the Job {name!r} must be a non-empty string; got {value!r}")
        for name in ("budget", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"the Job {name!r} must be an int; got {value!r}")
        if self.budget < 1:
            raise ValueError(f"the Job 'budget' must be >= 1 epoch; got {self.budget}")
        for name in ("task_spec", "teacher", "genome", "suite"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"the Job {name!r} must be a string; got {value!r}")
        try:
            json.loads(self.genome)
        except ValueError:
            raise ValueError(f"the Job 'genome' must be JSON text; got {self.genome[:80]!r}") from None
        if not isinstance(self.tags, dict):
            raise ValueError(f"the Job 'tags' must be a dict; got {self.tags!r}")
        check_json("Job 'tags'", self.tags)

    @property
    def key(self) -> JobKey:
        """The unique key ``(task_id, teacher_id, genome_hash, budget, seed)``."""
        return (self.task_id, self.teacher_id, self.genome_hash, self.budget, self.seed)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        """The job part of a flat record (as returned by ``RecordStore.records``)."""
        return cls(**{name: record[name] for name in JOB_FIELDS})


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of one distillation job.

    Args:
        status: the training outcome, one of ``OUTCOMES``; ``"ok"``/``"diverged"`` finish the job,
            ``"error"``/``"oom"`` fail it (it is retried).
        val_acc: final validation accuracy; required when ``status == "ok"``.
        test_acc: final test accuracy.
        curve: validation accuracy after each epoch.
        train_time_s: wall time of the training run.
        params: student parameter count.
        flops: student FLOPs per sample.
        teacher_acc: the teacher's accuracy on the same task, for normalising.
        reason: why the run ended the way it did (e.g. "loss became NaN at epoch 3").
        extra: any other JSON-serialisable facts (device, lr, ...).
        code_commit: git commit of the code that produced the result.
    """

    status: str
    val_acc: float | None = None
    test_acc: float | None = None
    curve: list[float] = dataclasses.field(default_factory=list)
    train_time_s: float | None = None
    params: int | None = None
    flops: int | None = None
    teacher_acc: float | None = None
    reason: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    code_commit: str | None = None

    def __post_init__(self) -> None:
        if self.status not in OUTCOMES:
            raise ValueError(f"the Result 'status' must be one of {OUTCOMES}; got {self.status!r}")
        if self.status == "ok" and self.val_acc is None:
            raise ValueError("an 'ok' Result needs a val_acc")
        if not isinstance(self.curve, (list, tuple)) or not all(is_number(x) for x in self.curve):
            raise ValueError(f"the Result 'curve' must be a list of numbers; got {self.curve!r}")
        for name in ("val_acc", "test_acc", "train_time_s", "teacher_acc"):
            value = getattr(self, name)
            if value is not None and not is_number(value):
                raise ValueError(f"the Result {name!r} must be a number or None; got {value!r}")
        for name in ("params", "flops"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"the Result {name!r} must be an int or None; got {value!r}")
        if not isinstance(self.extra, dict):
            raise ValueError(f"the Result 'extra' must be a dict; got {self.extra!r}")
        check_json("Result 'extra'", self.extra)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Result:
        """The result part of a flat record; a ``ValueError`` if the record has no result."""
        if record.get("status") is None:
            key = tuple(record.get(name) for name in KEY_FIELDS)
            raise ValueError(f"the record of job {key} has no result (state {record.get('state')!r})")
        return cls(**{name: record[name] for name in RESULT_FIELDS})


JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(Result))

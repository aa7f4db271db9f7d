"""The typed records of a distillation job: what to train (``Job``, keyed by ``JobKey``), what came of it
(``Result``) and what the meta-dataset's store holds for it (``Record``: job + lifecycle + result).

They belong to the core because the training job (:mod:`distill.job`) takes a ``Job`` and returns a ``Result``;
the meta-dataset's store (:mod:`datasets_meta.store`) keeps ``Record``s, and the search and the CLI make and read
them. ``Record.to_dict``/``Record.from_dict`` are the one conversion between a record and its flat, JSON-ready form:
the SQLite rows, the CSV/Parquet export and ``RecordStore.records`` all go through it.
Pure data: this module imports neither torch nor the rest of the library.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, NamedTuple

OUTCOMES = ("ok", "diverged", "error", "oom")
DONE_OUTCOMES = ("ok", "diverged")  # a bad run is still a result
FAILED_OUTCOMES = ("error", "oom")  # no result: the job is retried up to max_attempts

# The lifecycle of a job in the store: pending -> running -> done (final), or back to pending / failed.
STATES = ("pending", "running", "done", "failed")
LIFECYCLE_FIELDS = ("state", "attempts", "worker", "heartbeat_at", "error", "created_at", "started_at", "finished_at")


class JobKey(NamedTuple):
    """The unique key of a job.

    A named tuple, not a dataclass: it is an SQL parameter tuple, a dict key, and a JSON list in a search's
    ``state.json``, and it equals the plain tuple with the same values (so a key read back from JSON as a list
    and turned into a tuple still finds its job).
    """

    task_id: str
    teacher_id: str
    genome_hash: str
    budget: int
    seed: int


KEY_FIELDS = JobKey._fields


# Every record written before the precision was recorded was trained in fp32, the only precision there was.
DEFAULT_PRECISION = "fp32"
PRECISION_TAG = "precision"  # in a Job's tags (absent: fp32) and in a Result's extra


def job_precision(job: Job) -> str:
    """The precision ``job`` is to be trained in: its ``precision`` tag, fp32 when it has none."""
    return str(job.tags.get(PRECISION_TAG, DEFAULT_PRECISION))


def result_precision(result: Result) -> str:
    """The precision ``result`` was trained in: its ``extra["precision"]``, fp32 for a record from before it was
    recorded."""
    return str(result.extra.get(PRECISION_TAG, DEFAULT_PRECISION))


def with_precision(job: Job, precision: str) -> Job:
    """``job`` to be trained in ``precision``. An fp32 job stays exactly as it was (no tag), so the jobs and
    stores made before precisions existed stay the same; another precision is a tag the store keeps with it."""
    if precision == job_precision(job):
        return job
    tags = {k: v for k, v in job.tags.items() if k != PRECISION_TAG}
    if precision != DEFAULT_PRECISION:
        tags[PRECISION_TAG] = precision
    return dataclasses.replace(job, tags=tags)


def group_key(task_id: str, teacher_id: str) -> str:
    """The name of a (task, teacher) group, ``"<task_id>/<teacher_id>"``: students are ranked inside a group.

    The one spelling of a group: it is written into the predictor's examples and from there into the evaluation's
    prediction files, so it must not change.
    """
    return f"{task_id}/{teacher_id}"


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
        return JobKey(self.task_id, self.teacher_id, self.genome_hash, self.budget, self.seed)

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
RECORD_FIELDS = JOB_FIELDS + LIFECYCLE_FIELDS + RESULT_FIELDS  # the flat form's keys, in this order


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Everything the store holds for one job: the job, where it is in its lifecycle, and its result once done.

    Args:
        job: what to train.
        state: one of ``STATES``; ``"done"`` exactly when there is a ``result``.
        attempts: how many times the job was claimed (a clean release does not count).
        worker: the worker that holds (or last finished) the job.
        heartbeat_at: when that worker last said it is alive.
        error: why the last attempt failed; None once the job is done.
        created_at: when the job was added.
        started_at: when the last attempt started.
        finished_at: when the job became done or finally failed.
        result: the training outcome, ``"ok"`` or ``"diverged"`` (failures are not results: the job is retried).
    """

    job: Job
    state: str = "pending"
    attempts: int = 0
    worker: str | None = None
    heartbeat_at: float | None = None
    error: str | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: Result | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.job, Job):
            raise ValueError(f"the Record 'job' must be a Job; got {type(self.job).__name__}")
        if self.state not in STATES:
            raise ValueError(f"the 'state' column must be one of {STATES}; got {self.state!r}")
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 0:
            raise ValueError(f"the Record 'attempts' must be an int >= 0; got {self.attempts!r}")
        if self.result is not None and not isinstance(self.result, Result):
            raise ValueError(f"the Record 'result' must be a Result or None; got {type(self.result).__name__}")
        if (self.state == "done") != (self.result is not None):
            raise ValueError(f"a {self.state!r} record {'needs' if self.state == 'done' else 'cannot have'} a result")
        if self.result is not None and self.result.status not in DONE_OUTCOMES:
            raise ValueError(f"a done record's result must be one of {DONE_OUTCOMES}; got {self.result.status!r}")

    @property
    def key(self) -> JobKey:
        return self.job.key

    @property
    def group(self) -> str:
        """The (task, teacher) group of the job, see :func:`group_key`."""
        return group_key(self.job.task_id, self.job.teacher_id)

    def to_dict(self, *, copy: bool = True) -> dict[str, Any]:
        """The flat form: every field of ``RECORD_FIELDS`` in that order, the result's fields None when not done.

        JSON-ready, and the inverse of :meth:`from_dict`: ``Record.from_dict(r.to_dict()) == r``.

        Args:
            copy: give fresh ``tags``/``curve``/``extra`` the caller may change; False shares them with this record
                (only for a record that is thrown away next, e.g. one read just to be flattened).
        """
        copied = copy_json if copy else _same
        out = {name: getattr(self.job, name) for name in JOB_FIELDS}
        out["tags"] = copied(self.job.tags)
        out.update((name, getattr(self, name)) for name in LIFECYCLE_FIELDS)
        if self.result is None:
            out.update(dict.fromkeys(RESULT_FIELDS))
        else:
            out.update((name, getattr(self.result, name)) for name in RESULT_FIELDS)
            out["curve"] = list(self.result.curve) if copy else self.result.curve
            out["extra"] = copied(self.result.extra)
        return out

    @classmethod
    def from_dict(cls, flat: dict[str, Any], *, copy: bool = True) -> Record:
        """The record of a flat dict with the keys of ``RECORD_FIELDS`` (as :meth:`to_dict` writes them).

        The result's fields are read only when the state is ``"done"`` (a job that is not done has none). A
        ``ValueError`` names the field that is wrong.

        Args:
            flat: the flat record.
            copy: the record keeps copies of the dict's lists and dicts; False keeps them (for a dict that nothing
                else holds, e.g. a row just decoded).
        """
        copied = copy_json if copy else _same
        job = Job(**{name: flat[name] for name in JOB_FIELDS if name != "tags"}, tags=copied(flat["tags"]))
        result = None
        if flat["state"] == "done":
            fields = {name: flat[name] for name in RESULT_FIELDS}
            if fields["status"] is None:
                raise ValueError(f"the done record of job {tuple(job.key)} has no result status")
            fields["curve"] = copied(fields["curve"])
            fields["extra"] = copied(fields["extra"])
            result = Result(**fields)
        return cls(job=job, result=result, **{name: flat[name] for name in LIFECYCLE_FIELDS})


def copy_json(value: Any) -> Any:
    """A copy of the dicts and lists in a JSON-like value (what ``copy.deepcopy`` does for it, about twice as fast)."""
    if isinstance(value, dict):
        return {k: copy_json(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _same(value: Any) -> Any:
    return value

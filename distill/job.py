"""The training job: distil one student from a teacher's cached outputs on a task, measure it, save it.

Every training the tool does goes through here, so that "distil, measure, save" is written once:

* :func:`train_student` -- genome + task + teacher outputs + budget (a :class:`TrainConfig`) + seed -> a
  :class:`TrainedStudent` (the trainer's result, the trained network, its parameter and FLOP counts), which
  can give its ``metrics`` and ``save`` itself. ``dass train`` and the search's retraining of its best student
  call it directly.
* :func:`run_job` -- a typed :class:`~distill.records.Job` -> its :class:`~distill.records.Result`, as a worker
  runs it for the collector and the search: single-threaded, the task and the teacher (with its outputs and
  probe features) taken from a per-worker :class:`WorkerCache`, the training-free proxies of the student at
  initialisation measured beside it. It never raises: a failure is an ``"error"`` result with its reason.
  :func:`train_job` is the same and also hands back the :class:`TrainedStudent` (the weights).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distill.cost import count_flops, count_params
from distill.genome import Genome
from distill.io import write_atomic, write_json
from distill.nets import build_student
from distill.probe import probe_features
from distill.proxies import PROXIES
from distill.records import Job, Result, job_precision
from distill.tasks import Task, load_task
from distill.teachers import TEACHER_CONFIG, Teacher, get_teacher, teacher_config, teacher_outputs
from distill.trainer import TeacherOutputs, TrainConfig, TrainResult, distil

log = logging.getLogger(__name__)

__all__ = [
    "PROBE_SIZE",
    "THREADS_PER_WORKER",
    "JobOutput",
    "LoadedTeacher",
    "TrainedStudent",
    "WorkerCache",
    "init_proxies",
    "run_job",
    "torch_threads",
    "train_job",
    "train_student",
]

# Every worker runs single-threaded: one worker per core scales better than threads for these
# small networks, and results do not depend on how many workers there are.
THREADS_PER_WORKER = 1
PROBE_SIZE = 64  # images on which the training-free proxies are measured
# A worker keeps this many (task, teacher) pairs: small tasks make many pairs cheap, but memory is bounded.
MAX_CACHED_TEACHERS = 64


# ----------------------------------------------------------------------------- distil, measure, save
@dataclass
class TrainedStudent:
    """A distilled student and what was measured of it.

    Attributes:
        genome: the student and its recipe.
        result: the trainer's outcome (status, accuracies, curve, time).
        student: the trained network, on the CPU.
        params: its parameter count.
        flops: its multiply-adds for one input.
        config: how it was trained (budget, device, ...).
        seed: the training seed.
        task_name: the task it was trained on, and its id.
        task_id: see ``task_name``.
        teacher_test_acc: the teacher's test accuracy when it distilled from one, else ``None``.
        precision: what it was trained in, ``"fp32"`` or ``"bf16"``.
    """

    genome: Genome
    result: TrainResult
    student: nn.Module
    params: int
    flops: int
    config: TrainConfig
    seed: int
    task_name: str
    task_id: str
    teacher_test_acc: float | None
    precision: str = "fp32"

    def metrics(self, teacher: str | None, teacher_id: str | None, **more: Any) -> dict[str, Any]:
        """What ``metrics.json`` holds: the result, the counts, what was trained on what, and ``more``.

        Args:
            teacher: the teacher as the user named it.
            teacher_id: its stable id, ``None`` when none was loaded (a recipe that does not distil).
            more: further entries (they win over the standard ones).
        """
        return {
            **self.result.to_dict(),
            "params": self.params,
            "flops": self.flops,
            "task": self.task_name,
            "task_id": self.task_id,
            "teacher": teacher,
            "teacher_id": teacher_id,
            "teacher_test_acc": self.teacher_test_acc,
            "seed": self.seed,
            "config": self.config.__dict__,
            "precision": self.precision,
            **more,
        }

    def save(self, directory: str | Path, metrics: dict[str, Any]) -> Path:
        """Write ``student.pt`` (state dict), ``genome.json``, ``recipe.json`` and ``metrics.json`` to ``directory``."""
        directory = Path(directory)
        write_atomic(directory / "student.pt", self.student.state_dict())
        write_atomic(directory / "genome.json", self.genome.to_json() + "\n")
        write_json(directory / "recipe.json", self.genome.to_dict()["recipe"])
        write_json(directory / "metrics.json", metrics)
        return directory


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the setting (``None``: leave it alone).

    The last bits of float32 reductions depend on the thread count, so a retraining that must reproduce a
    worker's run uses the worker's count.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_student(
    genome: Genome,
    task: Task,
    teacher: TeacherOutputs | None,
    config: TrainConfig,
    seed: int = 0,
    threads: int | None = None,
    precision: str = "fp32",
) -> TrainedStudent:
    """Distil ``genome``'s student from ``teacher``'s cached outputs on ``task`` and count its cost.

    A failed run (diverged, out of memory, a trainer error) is a result; a user's mistake (a hint the teacher
    has no feature maps for, an invalid genome) is a ``ValueError``.

    Args:
        genome: the student and its recipe.
        task: the task's tensors.
        teacher: the teacher's outputs on ``task``; ``None`` for a recipe that does not distil.
        config: the budget (``epochs``) and how to train (device, batch size, ...).
        seed: the training seed: initial weights, batch order.
        threads: torch threads for the training, restored afterwards; ``None`` keeps the current setting.
        precision: ``"fp32"``, or ``"bf16"`` autocast (CUDA only: a ``ValueError`` elsewhere).
    """
    with torch_threads(threads):
        result, student = distil(genome, task, teacher, config, seed=seed, precision=precision)
    return TrainedStudent(
        genome=genome,
        result=result,
        student=student,
        params=count_params(student),
        flops=count_flops(student, task.in_shape),
        config=config,
        seed=seed,
        task_name=task.name,
        task_id=task.id,
        teacher_test_acc=teacher.test_acc if teacher is not None else None,
        precision=precision,
    )


def init_proxies(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Every registered proxy of the student; one that cannot score this pair (DisWOT with a teacher that
    exposes no stage features) is NaN, stored as missing: a proxy never fails the training."""
    scores = {}
    for name in PROXIES.names():
        try:
            scores[name] = PROXIES.get(name)(student, teacher, x, y)
        except Exception as e:  # a user's teacher the proxy does not understand
            log.debug("proxy %s failed: %s", name, e)
            scores[name] = float("nan")
    return scores


# ----------------------------------------------------------------------------- a job, as a worker runs it
@dataclass(frozen=True)
class LoadedTeacher:
    """A teacher with what every student of its task needs: its cached outputs and probe features."""

    teacher: Teacher
    outputs: TeacherOutputs
    features: dict[str, Any]


class WorkerCache:
    """Tasks and teachers (with their outputs and probe features) a worker has already loaded.

    A worker runs many jobs of few (task, teacher) pairs: loading a task or a teacher's outputs costs more
    than a short training, so each is loaded once per process.

    Args:
        max_teachers: how many (task, teacher) pairs to keep; the oldest goes first.
    """

    def __init__(self, max_teachers: int = MAX_CACHED_TEACHERS) -> None:
        self.max_teachers = max_teachers
        self.tasks: dict[str, Task] = {}
        self.teachers: dict[tuple[str, str, int, str | None], LoadedTeacher] = {}

    def task(self, spec: str, data_dir: str | None = None) -> Task:
        """The task of ``spec`` (loaded on first use)."""
        if spec not in self.tasks:
            self.tasks[spec] = load_task(spec, data_dir)
        return self.tasks[spec]

    def teacher(self, job: Job, task: Task) -> LoadedTeacher:
        """The job's teacher on ``task``: a zoo teacher trained for ``tags["teacher_epochs"]`` (cached on disk),
        or a user's teacher with its weights from ``tags["teacher_weights"]``; its id must be the job's."""
        epochs = int(job.tags.get("teacher_epochs", TEACHER_CONFIG.epochs))
        weights = job.tags.get("teacher_weights")  # a user's trained teacher (zoo or module:callable)
        key = (job.task_spec, job.teacher, epochs, weights)
        if key not in self.teachers:
            teacher = get_teacher(job.teacher, task, weights=weights, config=teacher_config(epochs))
            if teacher.id != job.teacher_id:
                raise ValueError(f"teacher {job.teacher!r} has id {teacher.id}, the job expects {job.teacher_id}")
            outputs = teacher_outputs(teacher, task)
            if len(self.teachers) >= self.max_teachers:
                self.teachers.pop(next(iter(self.teachers)))
            self.teachers[key] = LoadedTeacher(teacher, outputs, probe_features(teacher, task))
        return self.teachers[key]


# One per process: a worker process lives for many jobs (a pool worker, a Ray worker, or this process for the
# in-process executor), and its cache lives as long.
WORKER_CACHE = WorkerCache()


@dataclass(frozen=True)
class JobOutput:
    """What :func:`train_job` gives: the job's result and, when the training ran, the trained student."""

    result: Result
    trained: TrainedStudent | None = None


def error_reason(e: BaseException) -> str:
    """A failed job's reason as stored: the exception's type and its message on one line."""
    return f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"


def probe_batch(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed probe images (and labels) of a task on which a student's training-free proxies are scored:
    the same ``PROBE_SIZE`` training images for every student, so their proxies compare."""
    idx = torch.randperm(len(task.x_train), generator=torch.Generator().manual_seed(0))[:PROBE_SIZE]
    return task.x_train[idx], task.y_train[idx]


def train_job(
    job: Job,
    data_dir: str | None = None,
    device: str = "cpu",
    *,
    code_commit: str | None = None,
    cache: WorkerCache | None = None,
) -> JobOutput:
    """Run one job as a worker does, keeping the trained student. Never raises for a failed run.

    The process is set to :data:`THREADS_PER_WORKER` torch threads for good (a worker runs only jobs) before
    the task is loaded: a task's normalisation statistics depend on the thread count in their last bit.

    Args:
        job: what to train.
        data_dir: where the task's data files live.
        device: the training device.
        code_commit: the commit of the code, recorded with the result.
        cache: tasks and teachers already loaded; the process's :data:`WORKER_CACHE` by default.
    """
    torch.set_num_threads(THREADS_PER_WORKER)
    start = time.perf_counter()
    if os.environ.get("DASS_TRACE_JOBS"):  # an append-only log of every run, for the reliability checks
        with open(os.environ["DASS_TRACE_JOBS"], "a") as f:
            f.write(f"{time.time():.6f} {job.task_id} {job.teacher_id} {job.genome_hash} {job.seed}\n")
    cache = WORKER_CACHE if cache is None else cache
    try:
        task = cache.task(job.task_spec, data_dir)
        loaded = cache.teacher(job, task)
        genome = Genome.from_json(job.genome)
        # proxies of the student at initialisation (the same weights training starts from)
        student = build_student(genome, task.in_shape, task.num_classes, seed=job.seed)
        proxies = init_proxies(student, loaded.teacher.model, *probe_batch(task))
        config = TrainConfig(epochs=job.budget, device=device)
        outputs = loaded.outputs if genome.recipe.distills else None
        precision = job_precision(job)
        trained = train_student(genome, task, outputs, config, seed=job.seed, precision=precision)
        result = Result(
            status=trained.result.status,
            val_acc=trained.result.val_acc,
            test_acc=trained.result.test_acc,
            curve=trained.result.curve,
            train_time_s=trained.result.train_time_s,
            params=trained.params,
            flops=trained.flops,
            teacher_acc=loaded.outputs.test_acc,
            reason=trained.result.reason,
            extra={
                "proxies": {k: _finite(v) for k, v in proxies.items()},
                "task_features": loaded.features,
                "teacher_val_acc": loaded.outputs.val_acc,
                "teacher_params": loaded.teacher.count_params(),
                "job_time_s": time.perf_counter() - start,
                "threads": torch.get_num_threads(),
                "device": device,
                "precision": precision,
            },
            code_commit=code_commit,
        )
        return JobOutput(result, trained)
    except Exception as e:  # the worker boundary: any failure is recorded with its reason, never lost
        return JobOutput(Result("error", reason=error_reason(e)))


def run_job(
    job: Job,
    data_dir: str | None = None,
    device: str = "cpu",
    *,
    code_commit: str | None = None,
    cache: WorkerCache | None = None,
) -> Result:
    """:func:`train_job` without the trained student: the :class:`Result` a worker sends back."""
    return train_job(job, data_dir, device, code_commit=code_commit, cache=cache).result


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None

"""Several training jobs of one worker trained together: a rung's candidates, a student's label seeds.

:func:`run_jobs` is :func:`distill.job.run_job` for a group of jobs: every job is loaded, measured and recorded
as ``run_job`` does it (its task and teacher from the worker's :class:`~distill.job.WorkerCache`, its
training-free proxies at initialisation, the same :class:`~distill.records.Result` fields), but the jobs that share
a task, a teacher, a budget and a precision are distilled in one loop by
:func:`distill.multi_train.distil_together`, so that a GPU runs their kernels side by side instead of one
launch-bound training after another. A job's result does not depend on which jobs shared its group (bit for bit
on the CPU: ``tests/distill/test_group_job.py``); a job that fails -- while loading, setting up or training --
fails alone, with the reason ``run_job`` would have given.

On a GPU the task's tensors and the teacher's cached outputs are put on the device once per worker
(:class:`DeviceCache`), not once per training or per group.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from distill.cost import count_flops, count_params
from distill.genome import Genome
from distill.job import (
    THREADS_PER_WORKER,
    WORKER_CACHE,
    LoadedTeacher,
    WorkerCache,
    error_reason,
    init_proxies,
    probe_batch,
)
from distill.multi_train import Candidate, distil_together, on_device
from distill.nets import build_student
from distill.records import Job, Result, job_precision
from distill.tasks import Task
from distill.trainer import TeacherOutputs, TrainConfig, TrainResult, resolve_device

__all__ = ["DEVICE_CACHE", "DeviceCache", "run_jobs"]

# (task, teacher) pairs a worker keeps on its GPU: fewer than it keeps in memory (a 20,000-image task with its
# teacher's feature maps in float32 takes a few hundred MB there), enough for the pairs a collection interleaves.
MAX_DEVICE_PAIRS = 16


class DeviceCache:
    """A worker's tasks and teacher outputs on its training device, kept there for the jobs that follow.

    A worker trains many groups of few (task, teacher) pairs: copying the training images and the teacher's
    logits and feature maps to the GPU for every group would cost more than a short training. On the CPU
    nothing is kept (the tensors already are where they train).

    Args:
        max_pairs: how many (task, teacher) pairs to keep on the device; the oldest goes first.
    """

    def __init__(self, max_pairs: int = MAX_DEVICE_PAIRS) -> None:
        self.max_pairs = max_pairs
        # key -> (the CPU task and outputs it was made from, the task and outputs on the device)
        self.entries: dict[tuple, tuple[Task, TeacherOutputs, Task, TeacherOutputs]] = {}

    def get(
        self, task: Task, outputs: TeacherOutputs, device: torch.device, hints: set[str]
    ) -> tuple[Task, TeacherOutputs]:
        """``task`` and ``outputs`` on ``device``, with the feature maps at ``hints`` there in float32."""
        if device.type == "cpu":
            return task, outputs
        key = (id(task), id(outputs), str(device))
        entry = self.entries.get(key)
        if entry is None or entry[0] is not task or entry[1] is not outputs:  # an id reused by another object
            if len(self.entries) >= self.max_pairs:
                self.entries.pop(next(iter(self.entries)))
            entry = (task, outputs, *on_device(task, outputs, device, hints))
        else:  # already there: only feature maps of hint positions not seen before are copied
            entry = (task, outputs, *on_device(entry[2], entry[3], device, hints))
        self.entries[key] = entry
        return entry[2], entry[3]


# One per process, as the worker's WorkerCache: a worker lives for many groups.
DEVICE_CACHE = DeviceCache()


@dataclass
class _Prepared:
    """A job loaded and measured up to its training: what :func:`run_jobs` needs to train and record it."""

    job: Job
    start: float
    task: Task
    loaded: LoadedTeacher
    genome: Genome
    proxies: dict[str, float]
    config: TrainConfig
    precision: str


def run_jobs(
    jobs: list[Job],
    data_dir: str | None = None,
    device: str = "cpu",
    *,
    code_commit: str | None = None,
    cache: WorkerCache | None = None,
    device_cache: DeviceCache | None = None,
) -> list[Result]:
    """Run ``jobs`` as a worker does, those of one task, teacher, budget and precision trained together; their
    :class:`Result`, in order, each as :func:`distill.job.run_job` gives it. Never raises for a failed job.

    Args:
        jobs: what to train; any mix (jobs that cannot share a loop are trained in separate loops).
        data_dir: where the tasks' data files live.
        device: the training device.
        code_commit: the commit of the code, recorded with every result.
        cache: tasks and teachers already loaded; the process's :data:`~distill.job.WORKER_CACHE` by default.
        device_cache: tasks and teacher outputs already on ``device``; the process's :data:`DEVICE_CACHE`.
    """
    torch.set_num_threads(THREADS_PER_WORKER)  # as run_job: before any task is loaded
    cache = WORKER_CACHE if cache is None else cache
    device_cache = DEVICE_CACHE if device_cache is None else device_cache
    results: list[Result | None] = [None] * len(jobs)
    groups: dict[tuple, list[tuple[int, _Prepared]]] = {}
    for i, job in enumerate(jobs):
        try:
            prepared = _prepare(job, data_dir, device, cache)
        except Exception as e:  # the worker boundary, as run_job: a failure is recorded with its reason
            results[i] = Result("error", reason=error_reason(e))
            continue
        key = (id(prepared.task), id(prepared.loaded), prepared.config, prepared.precision)
        groups.setdefault(key, []).append((i, prepared))
    for members in groups.values():
        first = members[0][1]
        hints = {p.genome.recipe.hint_position for _, p in members if p.genome.recipe.has_hint}
        try:
            task, outputs = device_cache.get(first.task, first.loaded.outputs, resolve_device(device), hints)
            candidates = [Candidate(p.genome, p.job.seed) for _, p in members]
            outcomes = distil_together(candidates, task, outputs, first.config, first.precision)
        except Exception as e:  # the whole group could not train (a precision the device lacks): each job fails
            outcomes = [e] * len(members)
        for (i, p), outcome in zip(members, outcomes):
            if isinstance(outcome, Exception):
                results[i] = Result("error", reason=error_reason(outcome))
                continue
            try:
                results[i] = _result(p, *outcome, device, code_commit)
            except Exception as e:  # as run_job: this job's failure, with its reason
                results[i] = Result("error", reason=error_reason(e))
    return results  # type: ignore[return-value] -- every entry is set


def _prepare(job: Job, data_dir: str | None, device: str, cache: WorkerCache) -> _Prepared:
    """What :func:`distill.job.train_job` does before it trains, in the same order (the same errors)."""
    start = time.perf_counter()
    if os.environ.get("DASS_TRACE_JOBS"):  # the append-only log of every run, as run_job writes it
        with open(os.environ["DASS_TRACE_JOBS"], "a") as f:
            f.write(f"{time.time():.6f} {job.task_id} {job.teacher_id} {job.genome_hash} {job.seed}\n")
    task = cache.task(job.task_spec, data_dir)
    loaded = cache.teacher(job, task)
    genome = Genome.from_json(job.genome)
    # proxies of the student at initialisation (the same weights training starts from)
    student = build_student(genome, task.in_shape, task.num_classes, seed=job.seed)
    proxies = init_proxies(student, loaded.teacher.model, *probe_batch(task))
    config = TrainConfig(epochs=job.budget, device=device)
    return _Prepared(job, start, task, loaded, genome, proxies, config, job_precision(job))


def _result(
    p: _Prepared, trained: TrainResult, student: torch.nn.Module, device: str, code_commit: str | None
) -> Result:
    """The job's :class:`Result`, field for field as :func:`distill.job.train_job` makes it."""
    return Result(
        status=trained.status,
        val_acc=trained.val_acc,
        test_acc=trained.test_acc,
        curve=trained.curve,
        train_time_s=trained.train_time_s,
        params=count_params(student),
        flops=count_flops(student, p.task.in_shape),
        teacher_acc=p.loaded.outputs.test_acc,
        reason=trained.reason,
        extra={
            "proxies": {k: _finite(v) for k, v in p.proxies.items()},
            "task_features": p.loaded.features,
            "teacher_val_acc": p.loaded.outputs.val_acc,
            "teacher_params": p.loaded.teacher.count_params(),
            "job_time_s": time.perf_counter() - p.start,
            "threads": torch.get_num_threads(),
            "device": device,
            "precision": p.precision,
        },
        code_commit=code_commit,
    )


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None

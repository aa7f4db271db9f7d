"""Several trainings at once on one device: a rung's candidates trained in one loop, their steps interleaved.

A 40k-parameter student cannot fill a GPU: one training is bound by kernel launches, so a rung trained one
candidate after another leaves the GPU almost idle. Here every candidate is a :class:`distill.trainer.TrainingRun`
(the trainer's own step and epoch code, not a copy) and one loop takes a step of each in turn. On CUDA each
candidate runs on its own stream, so the kernels of different candidates overlap, and the task's tensors and the
teacher's cached outputs are put on the device once and shared (read-only) by all of them. On the CPU the loop
simply interleaves.

A candidate's result never depends on which others shared the loop: a run owns all of its state (weights,
optimiser, scheduler, shuffling generator, divergence flag) and uses no global random state, and a candidate that
diverges or fails -- also one whose set-up or step raises -- ends alone while the others go on.
``tests/distill/test_multi_train.py`` checks, bit for bit, that the multi-candidate path equals
:func:`distill.trainer.distil` run one candidate at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from distill.devices import check_precision
from distill.genome import Genome
from distill.tasks import Task
from distill.trainer import TeacherOutputs, TrainConfig, TrainingRun, TrainResult, prepare_student, resolve_device

__all__ = ["Candidate", "distil_many", "distil_together", "on_device", "start_run", "train_many"]


@dataclass(frozen=True)
class Candidate:
    """One training of a rung: a student with its recipe (the genome) and the seed of its weights and shuffling."""

    genome: Genome
    seed: int = 0


def on_device(
    task: Task, teacher: TeacherOutputs | None, device: torch.device, hint_positions: set[str] | None = None
) -> tuple[Task, TeacherOutputs | None]:
    """``task`` and ``teacher`` with their tensors on ``device``, once, for every training there to share.

    The teacher's logits and the feature maps (and a transformer teacher's q/k/v stacks) at ``hint_positions``
    (all when ``None``) become float32, as each training's loss would make them (an exact conversion from
    float16): a loss then finds them already in place and copies nothing. On the CPU the task's tensors are the
    same objects; tensors already on ``device`` (in float32) are too, so calling it again on its own output copies
    only what is new.
    """
    task = dataclasses.replace(
        task,
        x_train=task.x_train.to(device),
        y_train=task.y_train.to(device),
        x_val=task.x_val.to(device),
        y_val=task.y_val.to(device),
        x_test=task.x_test.to(device),
        y_test=task.y_test.to(device),
    )
    if teacher is None:
        return task, None
    features = {
        k: (v.to(device, torch.float32) if hint_positions is None or k in hint_positions else v)
        for k, v in teacher.features.items()
    }
    qkv = {
        k: (v.to(device, torch.float32) if hint_positions is None or k in hint_positions else v)
        for k, v in teacher.qkv.items()
    }
    return task, dataclasses.replace(
        teacher, logits_train=teacher.logits_train.to(device, torch.float32), features=features, qkv=qkv
    )


def train_many(
    runs: Sequence[TrainingRun], streams: Sequence[torch.cuda.Stream | None] | None = None
) -> list[TrainResult | Exception]:
    """Drive ``runs`` to their ends in one loop, one step of each in turn; their results, in order.

    Args:
        runs: trainings already set up (see :func:`start_run`); each ends on its own (finished, diverged,
            failed) while the others go on.
        streams: a CUDA stream per run (``None`` entries: the current stream), under which every step and epoch
            end of that run is issued; the runs must have been set up under the same streams.

    Returns:
        Each run's :class:`TrainResult`; for a run whose step raised an exception that the trainer does not turn
        into a result (one :func:`distill.trainer.fit` would have let through), that exception, in its place: it
        ends that run only.
    """
    streams = list(streams) if streams is not None else [None] * len(runs)
    assert len(streams) == len(runs), "one stream (or None) per run"
    raised: dict[int, Exception] = {}
    active = [i for i, run in enumerate(runs) if not run.done]
    while active:
        for i in active:
            try:
                with _stream(streams[i]):
                    if runs[i].epoch_done:
                        runs[i].end_epoch()
                    else:
                        runs[i].step()
            except Exception as e:  # this candidate's outcome (the job records it), not the group's
                raised[i] = e
        active = [i for i in active if not runs[i].done and i not in raised]
    for s in streams:
        if s is not None:
            s.synchronize()
    return [raised.get(i, run.result) for i, run in enumerate(runs)]


def start_run(
    candidate: Candidate,
    task: Task,
    teacher: TeacherOutputs | None,
    config: TrainConfig,
    precision: str = "fp32",
    stream: torch.cuda.Stream | None = None,
) -> tuple[TrainingRun, nn.Module]:
    """Set up ``candidate``'s training as :func:`distill.trainer.distil` does: its student and hint connector
    built from its seed, its own AdamW and schedule and shuffling (issued on ``stream``); the run and the student.

    Raises what ``distil`` raises before it trains: a ``ValueError`` for an invalid genome or a recipe the teacher
    cannot serve.
    """
    candidate.genome.validate()
    # the student's and the hint connector's initial weights from the seed alone, as distil() sets them up
    student, loss_fn, extra = prepare_student(candidate.genome, task, teacher, candidate.seed)
    with _stream(stream):
        run = TrainingRun(student, task, loss_fn, config, candidate.seed, extra, precision=precision)
    return run, student


def distil_together(
    candidates: Sequence[Candidate],
    task: Task,
    teacher: TeacherOutputs | None,
    config: TrainConfig | None = None,
    precision: str = "fp32",
) -> list[tuple[TrainResult, nn.Module] | Exception]:
    """Distil every candidate's student from ``teacher`` on ``task``, all together; each one's outcome, in order.

    A candidate's outcome is what :func:`distill.trainer.distil` gives it alone -- ``(result, student on the
    CPU)`` -- or the exception ``distil`` would have raised for it: a candidate that cannot be set up, or whose
    training raises, fails alone and the others train on. A precision this device lacks is a ``ValueError`` for
    the whole group (no candidate could train), before anything trains. ``config``: one for every candidate (a
    rung trains at one budget); ``None``: :class:`TrainConfig`'s defaults.
    """
    config = config if config is not None else TrainConfig()
    device = resolve_device(config.device)
    check_precision(precision, str(device))
    hints = {c.genome.recipe.hint_position for c in candidates if c.genome.recipe.has_hint}
    task, teacher = on_device(task, teacher, device, hints)
    streams = [torch.cuda.Stream(device) if device.type == "cuda" else None for _ in candidates]
    if device.type == "cuda":
        for s in streams:
            s.wait_stream(torch.cuda.current_stream(device))  # the shared tensors were copied on the current stream
    outcomes: list = [None] * len(candidates)  # filled in as each candidate ends
    runs, students, started = [], [], []
    for i, (c, stream) in enumerate(zip(candidates, streams)):
        try:
            run, student = start_run(c, task, teacher, config, precision, stream)
        except Exception as e:  # this candidate's outcome, as distil() would have raised it
            outcomes[i] = e
            continue
        runs.append(run)
        students.append(student)
        started.append(i)
    results = train_many(runs, [streams[i] for i in started])
    for i, result, student in zip(started, results, students):
        outcomes[i] = result if isinstance(result, Exception) else (result, student.cpu())
    return outcomes


def distil_many(
    candidates: Sequence[Candidate],
    task: Task,
    teacher: TeacherOutputs | None,
    config: TrainConfig | None = None,
    precision: str = "fp32",
) -> list[tuple[TrainResult, nn.Module]]:
    """Distil every candidate's student from ``teacher`` on ``task``, all together; as :func:`distil` would, each.

    Each candidate gets what :func:`distill.trainer.distil` gives one: its student and hint connector built from
    its seed, its own AdamW and warmup-cosine schedule, its own shuffling. Returns ``(result, student on the
    CPU)`` per candidate, in order. An invalid genome or a precision this device lacks is a ``ValueError`` before
    anything trains, as in :func:`distil`; a candidate whose training raises lets the others finish, then its
    exception is raised (:func:`distil_together` gives every candidate's outcome instead). ``config``: one for
    every candidate (a rung trains at one budget); ``None``: :class:`TrainConfig`'s defaults.
    """
    for c in candidates:
        c.genome.validate()
    outcomes = distil_together(candidates, task, teacher, config, precision)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes


def _stream(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager:
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()

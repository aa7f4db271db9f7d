"""Several trainings at once on one device: a rung's candidates trained in one loop, their steps interleaved.

A 40k-parameter student cannot fill a GPU: one training is bound by kernel launches, so a rung trained one
candidate after another leaves the GPU almost idle. Here every candidate is a :class:`distill.trainer.TrainingRun`
(the trainer's own step and epoch code, not a copy) and one loop takes a step of each in turn. On CUDA each
candidate runs on its own stream, so the kernels of different candidates overlap, and the task's tensors and the
teacher's cached outputs are put on the device once and shared (read-only) by all of them. On the CPU the loop
simply interleaves.

A candidate's result never depends on which others shared the loop: a run owns all of its state (weights,
optimiser, scheduler, shuffling generator, divergence flag) and uses no global random state, and a candidate that
diverges or fails ends alone while the others go on. ``tests/distill/test_multi_train.py`` checks, bit for bit,
that the multi-candidate path equals :func:`distill.trainer.distil` run one candidate at a time.
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
from distill.nets import build_student
from distill.tasks import Task
from distill.trainer import TeacherOutputs, TrainConfig, TrainingRun, TrainResult, kd_loss_fn, resolve_device

__all__ = ["Candidate", "distil_many", "on_device", "train_many"]


@dataclass(frozen=True)
class Candidate:
    """One training of a rung: a student with its recipe (the genome) and the seed of its weights and shuffling."""

    genome: Genome
    seed: int = 0


def on_device(
    task: Task, teacher: TeacherOutputs | None, device: torch.device, hint_positions: set[str] | None = None
) -> tuple[Task, TeacherOutputs | None]:
    """``task`` and ``teacher`` with their tensors on ``device``, once, for every training there to share.

    The teacher's logits and the feature maps at ``hint_positions`` (all when ``None``) become float32, as each
    training's loss would make them (an exact conversion from float16): a loss then finds them already in place
    and copies nothing. On the CPU the task's tensors are the same objects.
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
    return task, dataclasses.replace(
        teacher, logits_train=teacher.logits_train.to(device, torch.float32), features=features
    )


def train_many(
    runs: Sequence[TrainingRun], streams: Sequence[torch.cuda.Stream | None] | None = None
) -> list[TrainResult]:
    """Drive ``runs`` to their ends in one loop, one step of each in turn; their results, in order.

    Args:
        runs: trainings already set up (see :func:`distil_many`); each ends on its own (finished, diverged,
            failed) while the others go on.
        streams: a CUDA stream per run (``None`` entries: the current stream), under which every step and epoch
            end of that run is issued; the runs must have been set up under the same streams.
    """
    streams = list(streams) if streams is not None else [None] * len(runs)
    assert len(streams) == len(runs), "one stream (or None) per run"
    active = [i for i, run in enumerate(runs) if not run.done]
    while active:
        for i in active:
            with _stream(streams[i]):
                if runs[i].epoch_done:
                    runs[i].end_epoch()
                else:
                    runs[i].step()
        active = [i for i in active if not runs[i].done]
    for s in streams:
        if s is not None:
            s.synchronize()
    return [run.result for run in runs]


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
    anything trains, as in :func:`distil`. ``config``: one for every candidate (a rung trains at one budget);
    ``None``: :class:`TrainConfig`'s defaults.
    """
    config = config if config is not None else TrainConfig()
    for c in candidates:
        c.genome.validate()
    device = resolve_device(config.device)
    check_precision(precision, str(device))
    hints = {c.genome.recipe.hint_position for c in candidates if c.genome.recipe.has_hint}
    task, teacher = on_device(task, teacher, device, hints)
    streams = [torch.cuda.Stream(device) if device.type == "cuda" else None for _ in candidates]
    if device.type == "cuda":
        for s in streams:
            s.wait_stream(torch.cuda.current_stream(device))  # the shared tensors were copied on the current stream
    students, runs = [], []
    for c, stream in zip(candidates, streams):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)  # the student's and the hint connector's initial weights, as distil() does
            student = build_student(c.genome, task.in_shape, task.num_classes)
            loss_fn, extra = kd_loss_fn(c.genome, teacher, student.stage_channels)
        with _stream(stream):
            runs.append(TrainingRun(student, task, loss_fn, config, c.seed, extra, precision=precision))
        students.append(student)
    results = train_many(runs, streams)
    return [(result, student.cpu()) for result, student in zip(results, students)]


def _stream(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager:
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()

"""Training a supernet with the sandwich rule, crash-safe and resumable, and what it cost.

Every step samples the sub-networks of the sandwich (:data:`~distill.supernet.base.SANDWICH`: the largest, the
smallest and two random ones, AutoDistil's four), runs the distillation objective on one batch for each,
accumulates their gradients and takes one optimiser step (AdamW, warmup then cosine decay, as
:mod:`distill.trainer`).

A run is a function of its seed and its step count alone: the batch order of an epoch and the sub-networks of a
step come from generators seeded by ``(seed, epoch)`` and ``(seed, step)``, and the learning rate is computed
from the step. The checkpoint (model, optimiser, step) therefore holds every piece of state, the random
generators' included, and a run killed at any moment and resumed from its last checkpoint ends with the same
weights as one that never stopped. Checkpoints are written to a temporary file and renamed
(:func:`distill.io.write_atomic`), every ``checkpoint_every`` steps and at the end.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.io import load_error, write_atomic, write_json
from distill.progress import Progress
from distill.supernet.base import SANDWICH, Supernet
from distill.supernet.objectives import OBJECTIVES, make_objective
from distill.tasks import Task
from distill.trainer import TeacherOutputs, resolve_device

log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_FORMAT", "SupernetConfig", "SupernetRun", "load_checkpoint", "supernet_cost", "train_supernet"]

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class SupernetConfig:
    """How a supernet is trained; saved beside it, and a resumed run must use the same."""

    steps: int = 300
    # The students' batch size and optimiser (distill.trainer.TrainConfig): the sub-networks are such students.
    batch_size: int = 128
    lr: float = 1e-2
    weight_decay: float = 5e-4
    warmup_frac: float = 0.05
    objective: str = "kd"
    temperature: float = 4.0
    # AutoDistil's supernet objective is task-agnostic: no labels unless asked for.
    ce_weight: float = 0.0
    sandwich: tuple[str, ...] = SANDWICH
    # Often enough that a kill loses little, rarely enough that the writes cost nothing next to the steps.
    checkpoint_every: int = 50
    # "auto" picks CUDA when it is present; where it runs does not change what is trained.
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"the supernet's {name} must be at least 1; got {getattr(self, name)}")
        OBJECTIVES.get(self.objective)
        bad = [k for k in self.sandwich if k not in ("largest", "smallest", "random")]
        if bad or not self.sandwich:
            raise ValueError(f"the sandwich must be made of 'largest', 'smallest', 'random'; got {self.sandwich}")

    def identity(self) -> dict[str, Any]:
        """What the trained weights depend on (the device does not)."""
        d = asdict(self)
        d.pop("device")
        d["sandwich"] = list(self.sandwich)
        return d


@dataclass
class SupernetRun:
    """What a training did: ``status`` ``ok`` or ``diverged`` (with ``reason``), the steps done, time spent."""

    status: str
    steps: int
    resumed_from: int
    train_time_s: float
    last_loss: float | None = None
    reason: str | None = None


def _epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The batch order of ``epoch``: a function of the seed and the epoch only."""
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return torch.randperm(n, generator=gen)


def _lr_factor(step: int, total: int, warmup_frac: float) -> float:
    warmup = max(1, int(total * warmup_frac))
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`train_supernet`; a one-line ``ValueError`` for a damaged one."""
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises many types for a truncated or foreign file
        raise ValueError(f"supernet checkpoint {str(path)!r} cannot be read ({load_error(e)})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or "model" not in ck:
        raise ValueError(f"{str(path)!r} is not a dass supernet checkpoint (format {CHECKPOINT_FORMAT})")
    return ck


def train_supernet(
    supernet: Supernet,
    task: Task,
    teacher: TeacherOutputs,
    config: SupernetConfig,
    seed: int,
    checkpoint: Path,
    progress: Progress | None = None,
    on_step: Callable[[int], None] | None = None,
) -> SupernetRun:
    """Train ``supernet`` on ``task`` from ``teacher``'s cached outputs, resuming from ``checkpoint`` if it exists.

    Args:
        supernet: the supernet (its initial weights are replaced by the checkpoint's when resuming).
        task: the task's tensors (the training split is used).
        teacher: the teacher's cached outputs on ``task``.
        config: steps, batch size, optimiser, objective, sandwich, checkpoint interval.
        seed: the batch order and the sampled sub-networks.
        checkpoint: the checkpoint file, read when it exists and rewritten as the training goes.
        progress: shows the steps (default: nothing shown).
        on_step: called with the number of steps done after each step (and its checkpoint, if one was due).

    Returns:
        The run's status; a non-finite loss stops it as ``diverged`` and keeps the last good checkpoint.
    """
    progress = progress or Progress.off()
    device = resolve_device(config.device)
    supernet.to(device).train()
    opt = torch.optim.AdamW(supernet.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, spent = 0, 0.0
    if checkpoint.exists():
        ck = load_checkpoint(checkpoint, device)
        supernet.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, spent = int(ck["step"]), float(ck["train_time_s"])
        log.info("resuming %s at step %d of %d", checkpoint, step, config.steps)
    resumed_from = step
    objective = make_objective(config.objective, teacher, config.temperature, config.ce_weight)
    x_all, y_all = task.x_train.to(device), task.y_train.to(device)
    n = len(x_all)
    per_epoch = math.ceil(n / config.batch_size)
    order, order_epoch = None, -1
    start, last = time.perf_counter(), None
    progress.update_to(step)

    def save() -> None:
        elapsed = spent + time.perf_counter() - start
        state = {
            "format": CHECKPOINT_FORMAT,
            "model": supernet.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "train_time_s": elapsed,
        }
        write_atomic(checkpoint, state)

    while step < config.steps:
        epoch, position = divmod(step, per_epoch)
        if epoch != order_epoch:
            order, order_epoch = _epoch_order(seed, epoch, n).to(device), epoch
        idx = order[position * config.batch_size : (position + 1) * config.batch_size]
        x, y = x_all[idx], y_all[idx]
        for group in opt.param_groups:
            group["lr"] = config.lr * _lr_factor(step, config.steps, config.warmup_frac)
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for genome in supernet.sandwich(np.random.default_rng([seed, step]), config.sandwich):
            supernet.set_active(genome)
            loss = objective(supernet, x, idx, y)
            value = loss.item()
            if not math.isfinite(value):
                return SupernetRun(
                    "diverged", step, resumed_from, spent + time.perf_counter() - start, last,
                    reason=f"non-finite loss ({value}) at step {step + 1} on sub-network {genome.hash}",
                )  # fmt: skip
            loss.backward()  # the sandwich's gradients add up: one optimiser step for all of them
            total += value
        opt.step()
        step, last = step + 1, total / len(config.sandwich)
        if step % config.checkpoint_every == 0 or step == config.steps:
            save()
        progress.update()
        progress.note(loss=f"{last:.3f}")
        if on_step is not None:
            on_step(step)
    supernet.set_active(supernet.subspace.largest())
    return SupernetRun("ok", step, resumed_from, spent + time.perf_counter() - start, last)


def supernet_cost(config: SupernetConfig, steps: int, n_train: int, full_budget_epochs: int) -> dict[str, Any]:
    """What ``steps`` of the sandwich cost, in full-budget-equivalent trainings.

    One stand-alone training at the full budget passes ``full_budget_epochs x n_train`` images forward and
    backward through one student; a sandwich step passes ``batch_size`` images through each of its sub-networks.
    Sub-networks are counted as students of average size (the largest costs more, the smallest less). The teacher's
    forward passes are not counted: its outputs on the training set are computed once per (teacher, task) and
    cached (:func:`distill.teachers.teacher_outputs`), and the stand-alone distillations the equivalents compare
    with read the same cache; they are recorded as ``teacher_forward_images`` all the same.
    """
    student_passes = steps * len(config.sandwich) * config.batch_size
    standalone = full_budget_epochs * n_train
    return {
        "steps": steps,
        "sub_networks_per_step": len(config.sandwich),
        "batch_size": config.batch_size,
        "student_image_passes": student_passes,
        "full_budget_epochs": full_budget_epochs,
        "standalone_image_passes": standalone,
        "full_budget_equivalent_trainings": student_passes / standalone,
        "teacher_forward_images": n_train,
        "teacher_forward_counted": False,
    }


def write_cost(path: Path, run: SupernetRun, config: SupernetConfig, n_train: int, full_budget_epochs: int) -> Path:
    """``cost.json`` beside a checkpoint: :func:`supernet_cost` and the wall time of the training."""
    return write_json(path, {**supernet_cost(config, run.steps, n_train, full_budget_epochs),
                             "train_time_s": run.train_time_s})  # fmt: skip

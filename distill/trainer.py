"""The KD trainer: genome + task + cached teacher outputs + budget -> a measured result.

A bad run is a result, never a crash: a non-finite loss ends the run as ``diverged``, an
exception as ``error`` (``oom`` for CUDA out-of-memory), each with its reason.

On a GPU a training step must not wait for the GPU: reading the loss on the host every step (``if not
torch.isfinite(loss)``) made a 40k-parameter student's training twice as slow on an H200. Divergence is
therefore a device-side flag, read once per epoch; on the CPU the host read costs nothing (the loss is already
computed), so there the flag is read every step and a run stops at its first non-finite loss, as it always did.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from distill.devices import check_device, check_precision
from distill.genome import Genome
from distill.losses import LOGIT_LOSSES, HintLoss
from distill.nets import build_student
from distill.tasks import Task

log = logging.getLogger(__name__)

STATUSES = ("ok", "diverged", "error", "oom")


@dataclass(frozen=True)
class TrainConfig:
    """How a network is trained. Saved beside every result so a run can be reproduced."""

    epochs: int = 5
    # Small in-memory datasets: more optimiser steps per epoch matter more than throughput.
    batch_size: int = 128
    # AdamW with warmup + cosine decay converges in a handful of epochs on every block type.
    lr: float = 1e-2
    weight_decay: float = 5e-4
    warmup_frac: float = 0.05
    eval_batch_size: int = 1024
    # BatchNorm statistics are re-estimated on this many training images before every
    # evaluation: after a few hundred steps the running averages still lag far behind the
    # weights and make short-budget accuracies meaningless (0.2 instead of 0.74 on digits).
    bn_recalibration: int = 512
    # "auto" picks CUDA when it is present.
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {self.batch_size}")
        if self.device != "auto":
            check_device(self.device)  # one this machine has: `torch.device("mps")` parses on any machine


@dataclass
class TrainResult:
    status: str
    val_acc: float | None = None
    test_acc: float | None = None
    curve: list[float] = field(default_factory=list)  # validation accuracy after each epoch
    train_time_s: float = 0.0
    epochs_run: int = 0
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TeacherOutputs:
    """A teacher's outputs on a task, computed once and shared by every student.

    ``features`` maps a hint position (``early``/``mid``/``late``) to the teacher's stage output
    on the training set, ``(N, C, h, w)`` in float16 to halve memory.
    """

    logits_train: torch.Tensor  # (N, K)
    features: dict[str, torch.Tensor]
    val_acc: float
    test_acc: float


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def recalibrate_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> None:
    """Replace BatchNorm running statistics by their exact average over ``x`` (no weights change)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or not len(x):
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=x.device)  # counted on the device: one host read
    for i in range(0, len(x), batch_size):
        correct += (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum()
    model.train(was_training)
    return int(correct) / max(1, len(x))


# loss_fn(logits, stage features, batch indices, labels) -> scalar loss
LossFn = Callable[[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]


def fit(
    model: nn.Module,
    task: Task,
    loss_fn: LossFn,
    config: TrainConfig,
    seed: int,
    extra_modules: tuple[nn.Module, ...] = (),
    on_epoch: Callable[[int, float], None] | None = None,
    *,
    precision: str = "fp32",
    check_every_step: bool | None = None,
) -> TrainResult:
    """Train ``model`` (and ``extra_modules``, e.g. hint connectors) on ``task`` with ``loss_fn``.

    The model must provide ``forward_features``. Never raises for a failed run: the status and
    reason say what happened. ``on_epoch(epochs done, validation accuracy)`` is called after each
    epoch (a progress bar); it only observes, so the run is the same with or without it.

    Args:
        precision: ``"fp32"``, or ``"bf16"`` for the forward pass and loss under bf16 autocast (CUDA only).
        check_every_step: read the divergence flag on the host after every step (a run then stops at its
            first non-finite loss) instead of once per epoch (a run that diverged goes on to the end of that
            epoch on NaN weights, then ends as ``diverged`` with the same epoch and reason). ``None``: every
            step on the CPU, where the read costs nothing, once per epoch on other devices.
    """
    start = time.perf_counter()
    curve: list[float] = []

    def diverged(epoch: int, bad_loss: torch.Tensor) -> TrainResult:
        return TrainResult(
            "diverged",
            curve=curve,
            train_time_s=time.perf_counter() - start,
            epochs_run=epoch,
            reason=f"non-finite loss ({bad_loss.item()}) in epoch {epoch + 1}",
        )

    try:
        device = resolve_device(config.device)
        check_precision(precision, str(device))
        per_step = device.type == "cpu" if check_every_step is None else check_every_step
        autocast = (
            (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
            if precision == "bf16"
            else contextlib.nullcontext
        )
        model.to(device)
        for m in extra_modules:
            m.to(device)
        x, y = task.x_train.to(device), task.y_train.to(device)
        x_val, y_val = task.x_val.to(device), task.y_val.to(device)
        params = [p for m in (model, *extra_modules) for p in m.parameters()]
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(len(x) / config.batch_size)
        sched = _warmup_cosine(opt, steps_per_epoch * config.epochs, config.warmup_frac)
        gen = torch.Generator().manual_seed(seed)
        calib = x[torch.randperm(len(x), generator=gen)[: config.bn_recalibration].to(device)]
        # Device-side: whether any loss so far was non-finite, and the first such loss (for the reason).
        nonfinite = torch.zeros((), dtype=torch.bool, device=device)
        first_bad = torch.zeros((), device=device)
        model.train()
        for m in extra_modules:
            m.train()
        for epoch in range(config.epochs):
            order = torch.randperm(len(x), generator=gen).to(device)
            for i in range(0, len(x), config.batch_size):
                idx = order[i : i + config.batch_size]
                with autocast():
                    logits, feats = model.forward_features(x[idx])
                    loss = loss_fn(logits, feats, idx, y[idx])
                if per_step:
                    if not torch.isfinite(loss):
                        return diverged(epoch, loss)
                else:
                    first_bad = torch.where(nonfinite, first_bad, loss.detach().float())
                    nonfinite |= ~torch.isfinite(loss)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if not per_step and nonfinite.item():  # the one host read of the flag this epoch
                return diverged(epoch, first_bad)
            recalibrate_bn(model, calib, config.eval_batch_size)
            curve.append(accuracy(model, x_val, y_val, config.eval_batch_size))
            if on_epoch is not None:
                on_epoch(epoch + 1, curve[-1])
        test_acc = accuracy(model, task.x_test.to(device), task.y_test.to(device), config.eval_batch_size)
        return TrainResult(
            "ok",
            val_acc=curve[-1],
            test_acc=test_acc,
            curve=curve,
            train_time_s=time.perf_counter() - start,
            epochs_run=config.epochs,
        )
    except torch.cuda.OutOfMemoryError as e:
        return TrainResult("oom", curve=curve, train_time_s=time.perf_counter() - start, reason=_one_line(e))
    except (RuntimeError, ValueError) as e:
        log.warning("training failed: %s", _one_line(e))
        return TrainResult(
            "error", curve=curve, train_time_s=time.perf_counter() - start, reason=f"{type(e).__name__}: {_one_line(e)}"
        )


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:500]


def _warmup_cosine(opt: torch.optim.Optimizer, total: int, warmup_frac: float) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, int(total * warmup_frac))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def kd_loss_fn(genome: Genome, teacher: TeacherOutputs | None, student_channels: list[int]) -> tuple[LossFn, tuple]:
    """The loss of ``genome``'s recipe and the extra trainable modules it needs (hint connectors)."""
    r = genome.recipe
    if r.distills and teacher is None:
        raise ValueError("the recipe distils but no teacher outputs were given")
    logit_loss = LOGIT_LOSSES.get(r.logit_loss)
    hint: HintLoss | None = None
    t_feat: torch.Tensor | None = None
    if r.has_hint:
        if r.hint_position not in teacher.features:
            raise ValueError(
                f"the teacher exposes no feature maps for the hint position {r.hint_position!r}; "
                f"available: {sorted(teacher.features) or 'none'}"
            )
        t_feat = teacher.features[r.hint_position]
        hint = HintLoss(r.hint_transform, r.hint_distance, student_channels[genome.hint_stage()], t_feat.shape[1])
    hint_stage = genome.hint_stage()
    t_logits = teacher.logits_train if teacher is not None else None
    moved: dict[str, torch.Tensor] = {}

    def on_device(name: str, t: torch.Tensor, device: torch.device) -> torch.Tensor:
        # once per run: float16 storage becomes float32 on the training device
        if name not in moved or moved[name].device != device:
            moved[name] = t.to(device, torch.float32)
        return moved[name]

    def loss_fn(logits: torch.Tensor, feats: list[torch.Tensor], idx: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = r.ce_weight * F.cross_entropy(logits, y) if r.ce_weight else logits.new_zeros(())
        if r.logit_loss != "none":
            tl = on_device("logits", t_logits, logits.device)[idx]
            loss = loss + r.kd_weight * logit_loss(logits, tl, r.temperature)
        if hint is not None:
            tf = on_device("feat", t_feat, logits.device)[idx]
            loss = loss + r.hint_weight * hint(feats[hint_stage], tf)
        return loss

    return loss_fn, ((hint,) if hint is not None else ())


def distil(
    genome: Genome,
    task: Task,
    teacher: TeacherOutputs | None,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    precision: str = "fp32",
) -> tuple[TrainResult, nn.Module]:
    """Distil the student of ``genome`` from ``teacher``'s cached outputs on ``task``.

    Returns the result and the trained student (on the CPU). A no-distillation recipe needs no teacher.
    ``precision`` (``"fp32"``, or ``"bf16"`` on CUDA) is checked first: a ``ValueError`` when this device
    cannot train in it.
    """
    genome.validate()
    check_precision(precision, str(resolve_device(config.device)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the student's and the hint connector's initial weights
        student = build_student(genome, task.in_shape, task.num_classes)
        loss_fn, extra = kd_loss_fn(genome, teacher, student.stage_channels)
    result = fit(student, task, loss_fn, config, seed, extra, precision=precision)
    return result, student.cpu()

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from distill.devices import check_device, check_precision
from distill.genome import Genome, hint_index
from distill.losses import LOGIT_LOSSES, HintLoss, qkv_maps, qkv_transforms
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
    on the training set, ``(N, C, h, w)`` in float16 to halve memory. ``qkv`` does the same for the queries,
    keys and values of a transformer teacher's attention layer at that relative depth (one with
    ``forward_qkv``), stacked as token maps ``(N, 3, C, h, w)`` (:func:`distill.losses.qkv_maps`); empty for
    any other teacher.
    """

    logits_train: torch.Tensor  # (N, K)
    features: dict[str, torch.Tensor]
    val_acc: float
    test_acc: float
    qkv: dict[str, torch.Tensor] = field(default_factory=dict)


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


# loss_fn(logits, stage features, batch indices, labels) -> scalar loss. A loss that needs more of the student
# than its stage features carries ``student_forward(model, x) -> (logits, features)``, which the training step
# calls instead of ``model.forward_features`` (see kd_loss_fn: the attention relations of a transformer).
LossFn = Callable[[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]


class TrainingRun:
    """One training in progress: what :func:`fit` does, cut at its steps so that a loop can interleave several.

    :func:`fit` runs one of these to its end; :mod:`distill.multi_train` steps several in turn (on CUDA each on
    its own stream). A run holds every piece of its state (model, optimiser, scheduler, its own shuffling
    generator, its divergence flag) and touches no global state, so its result does not depend on what else
    ran between its steps. Never raises for a failed run: ``result`` says what happened.

    Driven as :func:`fit` drives it: :meth:`step` until ``epoch_done``, then :meth:`end_epoch`, until ``done``.
    """

    def __init__(
        self,
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
    ) -> None:
        self.model, self.task, self.loss_fn, self.config = model, task, loss_fn, config
        self._forward = getattr(loss_fn, "student_forward", None) or _forward_features
        self.extra_modules, self.on_epoch = extra_modules, on_epoch
        self.result: TrainResult | None = None  # set once the run has ended, whatever the way
        self.curve: list[float] = []  # validation accuracy after each epoch
        self.epoch = 0  # epochs completed
        self._start = time.perf_counter()
        self._next = 0  # the first index of the next batch in this epoch's order
        self._n = 0  # training images (0 until set up: an unset-up run has ended with an error)
        with self._guard():
            device = self.device = resolve_device(config.device)
            check_precision(precision, str(device))
            self._per_step = device.type == "cpu" if check_every_step is None else check_every_step
            self._autocast = (
                (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
                if precision == "bf16"
                else contextlib.nullcontext
            )
            model.to(device)
            for m in extra_modules:
                m.to(device)
            self._x, self._y = task.x_train.to(device), task.y_train.to(device)
            self._x_val, self._y_val = task.x_val.to(device), task.y_val.to(device)
            params = [p for m in (model, *extra_modules) for p in m.parameters()]
            self._opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
            steps_per_epoch = math.ceil(len(self._x) / config.batch_size)
            self._sched = _warmup_cosine(self._opt, steps_per_epoch * config.epochs, config.warmup_frac)
            self._gen = torch.Generator().manual_seed(seed)
            self._calib = self._x[
                torch.randperm(len(self._x), generator=self._gen)[: config.bn_recalibration].to(device)
            ]
            # Device-side: whether any loss so far was non-finite, and the first such loss (for the reason).
            self._nonfinite = torch.zeros((), dtype=torch.bool, device=device)
            self._first_bad = torch.zeros((), device=device)
            model.train()
            for m in extra_modules:
                m.train()
            self._order = torch.randperm(len(self._x), generator=self._gen).to(device)  # epoch 1's shuffle
            self._n = len(self._x)

    @property
    def done(self) -> bool:
        """Whether the run has ended (``result`` is set)."""
        return self.result is not None

    @property
    def epoch_done(self) -> bool:
        """Whether every step of the current epoch has been taken (next: :meth:`end_epoch`)."""
        return self._next >= self._n

    def step(self) -> None:
        """One optimiser step on the next batch of the current epoch."""
        assert not self.done and not self.epoch_done, "step() of an ended run or a finished epoch"
        with self._guard():
            idx = self._order[self._next : self._next + self.config.batch_size]
            self._next += self.config.batch_size
            with self._autocast():
                logits, feats = self._forward(self.model, self._x[idx])
                loss = self.loss_fn(logits, feats, idx, self._y[idx])
            if self._per_step:
                if not torch.isfinite(loss):
                    self._diverged(loss)
                    return
            else:
                self._first_bad = torch.where(self._nonfinite, self._first_bad, loss.detach().float())
                self._nonfinite |= ~torch.isfinite(loss)
            self._opt.zero_grad(set_to_none=True)
            loss.backward()
            self._opt.step()
            self._sched.step()

    def end_epoch(self) -> None:
        """Close the current epoch: the divergence check, BatchNorm recalibration, validation; after the last
        epoch the test accuracy and an ``ok`` result; else the next epoch's shuffle."""
        assert not self.done and self.epoch_done, "end_epoch() of an ended run or before the epoch's last step"
        with self._guard():
            config = self.config
            if not self._per_step and self._nonfinite.item():  # the one host read of the flag this epoch
                self._diverged(self._first_bad)
                return
            recalibrate_bn(self.model, self._calib, config.eval_batch_size)
            self.curve.append(accuracy(self.model, self._x_val, self._y_val, config.eval_batch_size))
            self.epoch += 1
            if self.on_epoch is not None:
                self.on_epoch(self.epoch, self.curve[-1])
            if self.epoch < config.epochs:
                self._order = torch.randperm(self._n, generator=self._gen).to(self.device)
                self._next = 0
                return
            x_test, y_test = self.task.x_test.to(self.device), self.task.y_test.to(self.device)
            test_acc = accuracy(self.model, x_test, y_test, config.eval_batch_size)
            self.result = TrainResult(
                "ok",
                val_acc=self.curve[-1],
                test_acc=test_acc,
                curve=self.curve,
                train_time_s=time.perf_counter() - self._start,
                epochs_run=config.epochs,
            )

    def _diverged(self, bad_loss: torch.Tensor) -> None:
        self.result = TrainResult(
            "diverged",
            curve=self.curve,
            train_time_s=time.perf_counter() - self._start,
            epochs_run=self.epoch,
            reason=f"non-finite loss ({bad_loss.item()}) in epoch {self.epoch + 1}",
        )

    @contextlib.contextmanager
    def _guard(self):
        """A failure ends the run as a result: ``oom`` for CUDA out-of-memory, ``error`` for the rest."""
        try:
            yield
        except torch.cuda.OutOfMemoryError as e:
            self.result = TrainResult(
                "oom", curve=self.curve, train_time_s=time.perf_counter() - self._start, reason=_one_line(e)
            )
        except (RuntimeError, ValueError) as e:
            log.warning("training failed: %s", _one_line(e))
            self.result = TrainResult(
                "error",
                curve=self.curve,
                train_time_s=time.perf_counter() - self._start,
                reason=f"{type(e).__name__}: {_one_line(e)}",
            )


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
    run = TrainingRun(
        model,
        task,
        loss_fn,
        config,
        seed,
        extra_modules,
        on_epoch,
        precision=precision,
        check_every_step=check_every_step,
    )
    while not run.done:
        if run.epoch_done:
            run.end_epoch()
        else:
            run.step()
    return run.result


def _forward_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    return model.forward_features(x)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:500]


def _warmup_cosine(opt: torch.optim.Optimizer, total: int, warmup_frac: float) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, int(total * warmup_frac))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def kd_loss_fn(
    genome: Genome, teacher: TeacherOutputs | None, student: nn.Module | Sequence[int]
) -> tuple[LossFn, tuple]:
    """The loss of ``genome``'s recipe and the extra trainable modules it needs (hint connectors).

    Args:
        genome: the student and its recipe.
        teacher: the teacher's cached outputs; ``None`` for a recipe that does not distil.
        student: the student network (or, for a hint on stage features only, its stage channels). A hint
            transform that reads attention (``attn_relation``) between a student with ``forward_qkv`` and a
            teacher whose outputs hold q/k/v takes the q/k/v of the layer at the hint's relative depth of each:
            the loss then carries ``student_forward``, one ``forward_qkv`` per step instead of
            ``forward_features``. Otherwise it reads the tapped feature maps, as every other hint does.
    """
    r = genome.recipe
    if r.distills and teacher is None:
        raise ValueError("the recipe distils but no teacher outputs were given")
    student_channels = list(student.stage_channels if isinstance(student, nn.Module) else student)
    logit_loss = LOGIT_LOSSES.get(r.logit_loss)
    hint: HintLoss | None = None
    t_feat: torch.Tensor | None = None
    hint_stage = genome.hint_stage()
    student_forward = None
    if r.has_hint:
        layer = _relation_layer(genome, teacher, student)
        if layer is not None:  # two transformers: the relations of their attention layers
            t_feat = teacher.qkv[r.hint_position]
            hint = HintLoss(r.hint_transform, r.hint_distance, t_feat.shape[2], t_feat.shape[2])
            hint_stage = -1  # student_forward appends the q/k/v stack to the stage features

            def student_forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
                logits, maps, qkv = model.forward_qkv(x, layer)
                return logits, [*maps, qkv_maps(qkv, maps)]

        else:
            if r.hint_position not in teacher.features:
                raise ValueError(
                    f"the teacher exposes no feature maps for the hint position {r.hint_position!r}; "
                    f"available: {sorted(teacher.features) or 'none'}"
                )
            t_feat = teacher.features[r.hint_position]
            hint = HintLoss(r.hint_transform, r.hint_distance, student_channels[hint_stage], t_feat.shape[1])
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

    if student_forward is not None:
        loss_fn.student_forward = student_forward  # type: ignore[attr-defined]
    return loss_fn, ((hint,) if hint is not None else ())


def _relation_layer(genome: Genome, teacher: TeacherOutputs, student: nn.Module | Sequence[int]) -> int | None:
    """The student's attention layer whose q/k/v the hint reads, or ``None`` when it reads feature maps: the
    transform reads attention, the student has ``forward_qkv`` and the teacher's outputs hold its q/k/v."""
    r = genome.recipe
    if r.hint_transform not in qkv_transforms() or r.hint_position not in teacher.qkv:
        return None
    if not hasattr(student, "forward_qkv"):
        return None
    return hint_index(r.hint_position, int(student.num_attention_layers))


def prepare_student(
    genome: Genome, task: Task, teacher: TeacherOutputs | None, seed: int
) -> tuple[nn.Module, LossFn, tuple[nn.Module, ...]]:
    """The student of ``genome``, its recipe's loss and that loss's trainable modules, initialised from ``seed``.

    The one place a training is set up, for :func:`distil` and for :mod:`distill.multi_train`'s candidates:
    the student's and the hint connector's initial weights are a function of ``seed`` alone (the global RNG is
    left as it was).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        student = build_student(genome, task.in_shape, task.num_classes)
        loss_fn, extra = kd_loss_fn(genome, teacher, student)
    return student, loss_fn, extra


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
    student, loss_fn, extra = prepare_student(genome, task, teacher, seed)
    result = fit(student, task, loss_fn, config, seed, extra, precision=precision)
    return result, student.cpu()

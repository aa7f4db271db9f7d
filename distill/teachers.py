"""Teachers: a zoo of families trained per task and cached on disk, or the user's own network.

A zoo teacher is named ``<family>-<size>`` (``resnet-s``, ``vgg-l``, ``vit-s``, ...): staged CNNs of
:mod:`distill.nets` and vision transformers of :mod:`distill.vit`. It is trained on
demand and cached by a content hash of (family, size, task id, training config, seed). A user
teacher is a TorchScript file, or ``module:callable`` returning an ``nn.Module`` (weights from
``--teacher-weights``); its output classes and input shape are checked against the task.

The outputs every student needs -- logits on the training set, the feature maps at the hint positions and,
for a transformer teacher (one with ``forward_qkv``: a zoo ``vit`` or a user's), the queries, keys and values
of its attention layers at the hint positions -- are computed once per (teacher, task) and cached too, so
distilling costs about as much as plain training.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import logging
import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from distill.genome import HINT_DEPTH, StageGene, hint_index
from distill.io import file_sha256, load_error, require_file, write_atomic, write_json
from distill.losses import qkv_maps
from distill.nets import build_net, stage_features
from distill.progress import Progress
from distill.registry import Registry
from distill.tasks import Task
from distill.trainer import TeacherOutputs, TrainConfig, accuracy, fit
from distill.vit import ViTStageGene, build_vit

log = logging.getLogger(__name__)

# Teacher feature maps are stored at most this many pixels a side: enough for hints, and
# the cache of a 60k-image task stays a few hundred MB.
MAX_FEATURE_SIDE = 8
TEACHER_CONFIG = TrainConfig(epochs=15, lr=3e-3)
# A teacher is checked on at most this many validation images (see check_teacher): the standard error of an
# accuracy measured on them is at most 0.016, enough to tell a teacher at chance, and they take a fraction of
# a second where its outputs on the whole training set take seconds.
CHECK_IMAGES = 1024
# "Near chance": less than this share of the way from chance to a perfect accuracy.
NEAR_CHANCE = 0.1


def teacher_config(epochs: int | None = None) -> TrainConfig:
    """How a zoo teacher is trained on demand: :data:`TEACHER_CONFIG`, for ``epochs`` epochs when given
    (the epochs are part of the teacher's id, so every command asks for them the same way)."""
    return TEACHER_CONFIG if epochs is None else replace(TEACHER_CONFIG, epochs=epochs)


# build(stem_width, stages, in_shape, num_classes, seed) -> the network
NetBuilder = Callable[[int, tuple[Any, ...], tuple[int, int, int], int, int | None], nn.Module]


@dataclass(frozen=True)
class TeacherFamily:
    """A zoo family: per size, the stem width and the stages of the network ``build`` makes of them
    (a :class:`~distill.nets.StagedNet` of :class:`StageGene`, or a :class:`~distill.vit.ViTNet` of
    :class:`~distill.vit.ViTStageGene`)."""

    name: str
    description: str
    sizes: dict[str, tuple[int, tuple[Any, ...]]]
    build: NetBuilder = build_net
    # how this family's training differs from the config it is given (TrainConfig fields); part of the cache key
    training: tuple[tuple[str, Any], ...] = ()

    def net(self, size: str, in_shape: tuple[int, int, int], num_classes: int, seed: int | None = None) -> nn.Module:
        """The untrained network of ``size``; with a ``seed`` its weights are a function of it alone."""
        stem, stages = self.sizes[size]
        return self.build(stem, stages, in_shape, num_classes, seed)

    def train_config(self, config: TrainConfig) -> TrainConfig:
        """``config`` with this family's training settings."""
        return replace(config, **dict(self.training)) if self.training else config


TEACHER_FAMILIES: Registry[TeacherFamily] = Registry("teacher family")


def _family(
    name: str,
    description: str,
    build: NetBuilder = build_net,
    training: tuple[tuple[str, Any], ...] = (),
    **sizes: tuple[int, tuple[Any, ...]],
) -> None:
    TEACHER_FAMILIES.add(name, TeacherFamily(name, description, sizes, build, training))


def _stages(block: str, widths: tuple[int, ...], depth: int, **kw) -> tuple[StageGene, ...]:
    return tuple(StageGene(block, depth, w, **kw) for w in widths)


_family(
    "cnn",
    "plain CNN: one 5x5 conv-BN-ReLU per stage",
    s=(32, _stages("conv", (32, 64, 128), 1, kernel=5)),
    l=(64, _stages("conv", (64, 128, 256), 1, kernel=5)),
)
_family(
    "vgg",
    "VGG-style: stacks of 3x3 conv-BN-ReLU, no shortcuts",
    s=(32, _stages("conv", (32, 64, 128), 2)),
    l=(64, _stages("conv", (64, 128, 256), 3)),
)
_family(
    "resnet",
    "ResNet-style: basic residual blocks",
    s=(16, _stages("basic", (16, 32, 64), 1)),
    l=(32, _stages("basic", (32, 64, 128), 2)),
)
_family(
    "mobilenet",
    "MobileNetV2-style: inverted residuals with expansion 6 and squeeze-excitation",
    s=(16, _stages("mbconv", (16, 24, 48, 96), 1, expansion=6, se=True)),
    l=(32, _stages("mbconv", (24, 40, 80, 160), 2, expansion=6, se=True)),
)


_family(
    "vit",
    "vision transformer: a 3x3 conv stem, then three stages of pre-norm attention + MLP blocks over a token grid "
    "(2x2 patches, merged 2x2 again in the second stage), no class token",
    build=build_vit,
    # Batches of 32, not 128: without BatchNorm a transformer needs more optimiser steps than a CNN, and a small
    # task of 500 images gives only 4 steps an epoch at 128 (mnist:classes=0-4:size=16:n_train=500, 15 epochs: a
    # ViT of this kind reached 0.81 test accuracy at 128, 0.89 at 32; resnet-s 0.97).
    training=(("batch_size", 32),),
    s=(16, (ViTStageGene(2, 1, 32, 2, 2), ViTStageGene(2, 1, 64, 4, 2), ViTStageGene(1, 1, 64, 4, 2))),
    l=(32, (ViTStageGene(2, 2, 64, 4, 2), ViTStageGene(2, 2, 128, 4, 2), ViTStageGene(1, 1, 128, 4, 2))),
)


def zoo_names() -> list[str]:
    return [f"{f}-{s}" for f in TEACHER_FAMILIES for s in TEACHER_FAMILIES.get(f).sizes]


def parse_zoo_name(name: str) -> tuple[str, str]:
    """``"resnet-s"`` -> ``("resnet", "s")``; unknown names raise ``ValueError`` listing the zoo."""
    family, _, size = name.rpartition("-")
    if family not in TEACHER_FAMILIES or size not in TEACHER_FAMILIES.get(family).sizes:
        raise ValueError(
            f"unknown teacher {name!r}; valid: {', '.join(zoo_names())}, a TorchScript file, or module:callable"
        )
    return family, size


def cache_dir(path: str | None = None) -> Path:
    """``path``, else ``$DASS_CACHE``, else ``~/.cache/dass``."""
    return Path(path or os.environ.get("DASS_CACHE") or Path.home() / ".cache" / "dass")


class Teacher:
    """A trained teacher, ready to label a task.

    Attributes:
        name: zoo name or the user's spec.
        id: content hash that identifies the weights (and, for the zoo, how they were made).
        family: zoo family, or ``"user"``.
        model: the network, in eval mode.
    """

    def __init__(self, name: str, id: str, family: str, model: nn.Module) -> None:
        self.name = name
        self.id = id
        self.family = family
        self.model = model.eval()

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and stage feature maps (an empty list when the network exposes none)."""
        return stage_features(self.model, x)

    def has_feature_maps(self, x: torch.Tensor) -> bool:
        """Whether the network exposes stage feature maps (a TorchScript module does not): a feature hint
        needs them."""
        with torch.no_grad():
            return bool(self.features(x)[1])

    def count_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def __repr__(self) -> str:
        return f"Teacher({self.name!r}, id={self.id})"


def _file_hash(path: str) -> str:
    return file_sha256(path)[:16]


def _load_state(path: str | Path, what: str) -> dict:
    require_file(path, what)
    if _is_torchscript(path):
        raise ValueError(
            f"{what} {str(path)!r} is a TorchScript module, not a state_dict: pass it as --teacher {str(path)!r} "
            "(without --teacher-weights)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a truncated or foreign file
        raise ValueError(
            f"{what} {str(path)!r} is not a readable state_dict ({load_error(e)}); save one with "
            "torch.save(model.state_dict(), FILE)"
        ) from None
    if _is_predictor_file(state):
        raise ValueError(f"{what} {str(path)!r} is a dass predictor checkpoint: pass it as --checkpoint")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{what} {str(path)!r} is not a state_dict of tensors")
    return state


def get_teacher(
    name: str,
    task: Task,
    weights: str | None = None,
    seed: int = 0,
    config: TrainConfig = TEACHER_CONFIG,
    cache: str | None = None,
    train: bool = True,
) -> Teacher:
    """The teacher ``name`` for ``task``: a zoo name, a TorchScript file, or ``module:callable``.

    A zoo teacher without ``weights`` is trained on ``task`` (once; then read from the cache). Every teacher is
    checked on the task before it is handed out (:func:`check_teacher`): every command and every worker gets its
    teacher here, so a broken one stops before any student is trained.
    """
    teacher = _build_teacher(name, task, weights, seed, config, cache, train)
    check_teacher(teacher, task)
    return teacher


def _build_teacher(
    name: str, task: Task, weights: str | None, seed: int, config: TrainConfig, cache: str | None, train: bool
) -> Teacher:
    """:func:`get_teacher` without the check on the task."""
    if ":" in name and not os.path.exists(name):
        return _check_against_task(_load_callable(name, weights), task)
    if os.path.exists(name) or name.endswith((".pt", ".pth", ".ts", ".jit")):
        return _check_against_task(_load_torchscript(name, weights), task)
    family, size = parse_zoo_name(name)
    zoo = TEACHER_FAMILIES.get(family)
    config = zoo.train_config(config)
    model = zoo.net(size, task.in_shape, task.num_classes, seed)
    if weights is not None:
        _load_into(model, weights, f"weights file for teacher {name!r}")
        return _check_against_task(Teacher(name, _file_hash(weights), family, model), task)
    key = _zoo_key(family, size, task, config, seed)
    tid = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir(cache) / "teachers" / f"{name}-{tid}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several workers may want the same teacher at once: one trains it, the others wait and read it.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            _load_into(model, path, "cached teacher")
        elif not train:
            raise FileNotFoundError(f"teacher {name!r} for task {task.name!r} is not in the cache {path.parent}")
        else:
            log.info("training teacher %s on %s (%d epochs)", name, task.name, config.epochs)
            with Progress(f"training teacher {name} on {task.name}", total=config.epochs, unit="epoch") as shown:
                result = fit(
                    model,
                    task,
                    lambda logits, _f, _i, y: F.cross_entropy(logits, y),
                    config,
                    seed,
                    on_epoch=lambda _epoch, val_acc: (shown.update(), shown.note(val=f"{val_acc:.3f}")),
                )
            if result.status != "ok":
                raise RuntimeError(f"training teacher {name!r} on {task.name!r} failed: {result.reason}")
            model.cpu()
            write_atomic(path, model.state_dict())
            write_json(path.with_suffix(".json"), {"key": key, **result.to_dict()})
    return Teacher(name, tid, family, model.cpu())


def _zoo_key(family: str, size: str, task: Task, config: TrainConfig, seed: int) -> dict:
    # the device does not change what is trained; leave it out so CPU and GPU share the cache
    recipe = {k: v for k, v in asdict(config).items() if k != "device"}
    return {"family": family, "size": size, "task": task.id, "config": recipe, "seed": seed}


def teacher_id(
    name: str, task: Task, weights: str | None = None, seed: int = 0, config: TrainConfig = TEACHER_CONFIG
) -> str:
    """The id :func:`get_teacher` gives, without training or loading anything for a zoo teacher."""
    if weights is None and ":" not in name and not os.path.exists(name):
        family, size = parse_zoo_name(name)
        key = _zoo_key(family, size, task, TEACHER_FAMILIES.get(family).train_config(config), seed)
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return _build_teacher(name, task, weights, seed, config, None, train=True).id  # an id only: no check


def _load_into(model: nn.Module, path: str | Path, what: str) -> None:
    state = _load_state(path, what)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ValueError(
            f"{what} {str(path)!r} does not fit the architecture: {' '.join(first[1:2]) or first[0]}"
        ) from None


def _is_predictor_file(state: object) -> bool:
    """Whether a loaded file is what ``AccuracyPredictor.save`` writes."""
    return isinstance(state, dict) and "format_version" in state and "models" in state


def _is_torchscript(path: str | Path) -> bool:
    """A TorchScript archive is a zip with the module's code (``code/``) and ``constants.pkl``."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_torchscript(path: str, weights: str | None = None) -> Teacher:
    require_file(path, "teacher file")
    if weights is not None:
        raise ValueError(
            f"teacher file {path!r} is a whole TorchScript module: it takes no --teacher-weights "
            f"(give a zoo name or module:callable with {weights!r})"
        )
    if not _is_torchscript(path):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # neither: the message below says what it must be
            state = None
        if _is_predictor_file(state):
            raise ValueError(f"{path!r} is a dass predictor checkpoint, not a teacher: pass it as --checkpoint")
        if isinstance(state, dict):
            raise ValueError(
                f"teacher file {path!r} is a state_dict, not a TorchScript module: pass the architecture as "
                f"--teacher (a zoo name or module:callable) and this file as --teacher-weights"
            )
    try:
        model = torch.jit.load(path, map_location="cpu")
    except Exception as e:  # RuntimeError for a truncated file, others for foreign formats
        reason = " ".join(str(e).split())[:200]
        raise ValueError(
            f"teacher file {path!r} is not a TorchScript module ({reason}); save one with torch.jit.save, "
            "or pass module:callable with --teacher-weights"
        ) from None
    return Teacher(path, _file_hash(path), "user", model)


def _load_callable(spec: str, weights: str | None) -> Teacher:
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:  # like `python -m`, find the user's module from the working directory
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"teacher {spec!r}: cannot import {attr!r} from module {module_name!r} ({e})") from None
    try:
        model = fn()
    except Exception as e:  # the user's own code: report it on one line
        raise ValueError(f"teacher {spec!r}: calling {attr}() failed ({type(e).__name__}: {e})") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"teacher {spec!r} must return an nn.Module; got {type(model).__name__}")
    if weights is None:
        raise ValueError(f"teacher {spec!r} needs its trained weights: pass --teacher-weights FILE")
    _load_into(model, weights, f"weights file for teacher {spec!r}")
    return Teacher(spec, _file_hash(weights), "user", model)


def _check_against_task(teacher: Teacher, task: Task) -> Teacher:
    x = task.x_val[:2]
    try:
        with torch.no_grad():
            out = teacher.model(x)
    except Exception as e:  # any forward failure means the shapes do not fit
        reason = " ".join(str(e).split())[:200]
        raise ValueError(
            f"teacher {teacher.name!r} does not accept inputs of shape {tuple(task.in_shape)} from task "
            f"{task.name!r}: {reason}"
        ) from None
    if not torch.is_tensor(out) or out.dim() != 2:
        raise ValueError(f"teacher {teacher.name!r} must return logits of shape (B, classes); got {_shape(out)}")
    if out.shape[1] != task.num_classes:
        raise ValueError(
            f"teacher {teacher.name!r} outputs {out.shape[1]} classes but task {task.name!r} has {task.num_classes}"
        )
    return teacher


def _shape(out: object) -> str:
    return str(tuple(out.shape)) if torch.is_tensor(out) else type(out).__name__


@torch.no_grad()
def check_teacher(teacher: Teacher, task: Task, batch_size: int = 512) -> float:
    """Checks that ``teacher`` can teach ``task``, on at most :data:`CHECK_IMAGES` of its validation images.

    Non-finite outputs (damaged weights, a diverged training, inputs the network does not expect) are a
    ``ValueError``: every student would diverge. An accuracy at or near chance (the share of the most frequent
    class) is a warning: the teacher runs, but it has little to teach -- most often its class order or its input
    normalisation differs from the task's. It stays a warning because an untrained or weak teacher is a
    legitimate point of a meta-dataset, and a smoke test's teacher.

    Returns:
        The teacher's accuracy on the checked images.
    """
    split = "validation" if len(task.y_val) else "training"  # val_fraction=0 leaves no validation images
    x, y = (task.x_val, task.y_val) if len(task.y_val) else (task.x_train, task.y_train)
    step = -(-len(y) // CHECK_IMAGES)  # every step-th image: all classes in proportion, even in a sorted split
    x, y = x[::step], y[::step]
    model = teacher.model.eval()
    logits = torch.cat([model(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)])
    bad = int((~torch.isfinite(logits)).any(1).sum())
    if bad:
        raise ValueError(
            f"teacher {teacher.name!r} gives non-finite outputs (NaN or inf) on {bad} of {len(y)} {split} images "
            f"of task {task.name!r}: its weights are damaged (a diverged training?) or it does not expect these "
            "inputs; no student can learn from it"
        )
    correct = int((logits.argmax(1) == y).sum())
    majority = int(torch.bincount(y, minlength=task.num_classes).max())  # what always naming one class gets
    acc, chance = correct / len(y), majority / len(y)
    if acc < chance + NEAR_CHANCE * (1 - chance):
        verdict = "no better than chance" if correct <= majority else "near chance"
        log.warning(
            "teacher %s is %s on task %s: %s accuracy %.3f on %d images; chance (the most frequent class) %.3f. "
            "Check that its class order and its input normalisation (the task's norm=%s) are the ones it was "
            "trained with: a student distilled from it learns little",
            teacher.name, verdict, task.name, split, acc, len(y), chance, task.spec.norm,
        )  # fmt: skip
    return acc


@torch.no_grad()
def teacher_outputs(teacher: Teacher, task: Task, cache: str | None = None, batch_size: int = 512) -> TeacherOutputs:
    """Logits on the training set, feature maps at the hint positions and accuracies, cached on disk."""
    path = cache_dir(cache) / "outputs" / f"{teacher.id}-{task.id}.pt"
    qkv_layers = attention_layers(teacher.model)  # hint position -> attention layer; {} for a CNN
    if path.exists():
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            cached = TeacherOutputs(
                d["logits_train"],
                dict(d["features"]),
                float(d["val_acc"]),
                float(d["test_acc"]),
                qkv=dict(d.get("qkv", {})),
            )
            if not torch.isfinite(cached.logits_train).all():
                log.warning("recomputing teacher outputs: cache %s holds non-finite logits", path)
            elif set(cached.qkv) != set(qkv_layers):
                log.warning("recomputing teacher outputs: cache %s lacks the teacher's attention q/k/v", path)
            else:
                return cached
        except Exception as e:  # a damaged cache entry is recomputed, never fatal
            log.warning("recomputing teacher outputs: cache %s unreadable (%s)", path, e)
    model = teacher.model.eval()
    layers = list(dict.fromkeys(qkv_layers.values()))  # each distinct layer once, shallow to deep
    logits, feats, qkvs = [], [], []
    for i in range(0, len(task.x_train), batch_size):
        x = task.x_train[i : i + batch_size]
        if layers:  # one forward per distinct layer; the first also gives the logits and the maps
            per_layer = {}
            for layer in layers:
                lg_l, fs_l, qkv = model.forward_qkv(x, layer)
                per_layer[layer] = _shrink(qkv_maps(qkv, fs_l).flatten(1, 2)).unflatten(1, (3, -1))
                if layer == layers[0]:
                    lg, fs = lg_l, fs_l
            qkvs.append(per_layer)
        else:
            lg, fs = teacher.features(x)
        logits.append(lg.float())
        feats.append([_shrink(f) for f in fs])
    bad = sum(int((~torch.isfinite(lg)).any(1).sum()) for lg in logits)
    if bad:  # every student would diverge on them: say so now, and cache nothing
        raise ValueError(
            f"teacher {teacher.name!r} gives non-finite outputs (NaN or inf) on {bad} of {len(task.x_train)} "
            f"training images of task {task.name!r}; no student can learn from it"
        )
    stage_feats = [torch.cat(col) for col in zip(*feats)] if feats and feats[0] else []
    features = {pos: stage_feats[hint_index(pos, len(stage_feats))] for pos in HINT_DEPTH} if stage_feats else {}
    by_layer = {layer: torch.cat([batch[layer] for batch in qkvs]) for layer in layers}
    out = TeacherOutputs(
        logits_train=torch.cat(logits),
        features=features,
        val_acc=accuracy(model, task.x_val, task.y_val),
        test_acc=accuracy(model, task.x_test, task.y_test),
        qkv={pos: by_layer[layer] for pos, layer in qkv_layers.items()},
    )
    write_atomic(
        path,
        {
            "logits_train": out.logits_train,
            "features": out.features,
            "val_acc": out.val_acc,
            "test_acc": out.test_acc,
            "qkv": out.qkv,
        },
    )
    return out


def attention_layers(model: nn.Module) -> dict[str, int]:
    """Hint position -> the attention layer at its relative depth, for a transformer (a network with
    ``forward_qkv`` and ``num_attention_layers``, as :class:`~distill.vit.ViTNet`); ``{}`` for any other."""
    n = int(getattr(model, "num_attention_layers", 0) or 0) if hasattr(model, "forward_qkv") else 0
    return {pos: hint_index(pos, n) for pos in HINT_DEPTH} if n > 0 else {}


def _shrink(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, h, w) float16 with h, w <= MAX_FEATURE_SIDE."""
    if max(f.shape[2:]) > MAX_FEATURE_SIDE:
        f = F.adaptive_avg_pool2d(f, (min(f.shape[2], MAX_FEATURE_SIDE), min(f.shape[3], MAX_FEATURE_SIDE)))
    return f.half()


__all__ = [
    "TEACHER_FAMILIES",
    "attention_layers",
    "Teacher",
    "cache_dir",
    "check_teacher",
    "get_teacher",
    "parse_zoo_name",
    "teacher_outputs",
    "zoo_names",
]

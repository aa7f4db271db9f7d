"""A task: a dataset turned into normalised train / val / test tensors with a stable id.

:func:`load_task` builds the task that a :class:`TaskSpec` names, in this order:

1. the source (``TASK_SOURCES``) reads the whole dataset as a :class:`RawData`, checked by ``check_raw_data``;
2. the class subset is kept and relabelled ``0..K-1`` in sorted order of the original labels;
3. the test set is cut to ``n_test`` images; the training pool to ``n_train``; then ``val_fraction`` of
   the pool becomes the validation set (or, with ``n_val``, the validation set is ``n_val`` further
   images and all ``n_train`` are trained on). All three are stratified and deterministic; asking for
   more images than the data holds is an error that names the maximum, and so is a task whose float
   images would exceed ``limits.MAX_TASK_BYTES`` (checked before they are made);
4. the images become float ``(N, C, H, W)`` in [0, 1], take the spec's ``color`` (gray or RGB), are
   resized to ``size`` (bilinear, antialiased) and pass through the domain transform
   (``DOMAIN_TRANSFORMS``), all splits alike;
5. every split is normalised with the training set's per-channel mean and std (``norm=train``, the
   default), with given constants (``norm=MEAN/STD``, a teacher's own preprocessing), or not at all
   (``norm=none``: images in [0, 1]). What was subtracted and divided is kept in the task
   (``input_mean``, ``input_std``) and saved with a found student.

The order of these steps, and of the random draws in them, fixes the tensors and the id: change neither.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from distill.tasks.color import COLOR_CHANNELS, convert_color
from distill.tasks.formatting import format_classes, format_number
from distill.tasks.limits import check_task_bytes
from distill.tasks.sources.base import TASK_SOURCES, check_raw_data
from distill.tasks.spec import TaskSpec, norm_constants
from distill.tasks.splits import TEST_SEED, stratified_split
from distill.tasks.transforms import DOMAIN_TRANSFORMS, parse_transform

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Task:
    """A dataset ready for training: normalised tensors of three disjoint splits and a stable id."""

    spec: TaskSpec
    x_train: torch.Tensor  # (N, C, H, W) float32, normalised with the training set's per-channel mean/std
    y_train: torch.Tensor  # (N,) int64 in [0, num_classes)
    x_val: torch.Tensor  # (N_val, C, H, W), normalised like x_train
    y_val: torch.Tensor  # (N_val,)
    x_test: torch.Tensor  # (N_test, C, H, W), normalised like x_train
    y_test: torch.Tensor  # (N_test,)
    num_classes: int
    class_names: list[str]
    id: str  # 16 hex digits: sha256 of the spec string (without path) and the fingerprint of the raw data
    pixel_mean: tuple[float, ...] = ()  # per-channel mean of the training images in [0, 1], before normalising
    pixel_std: tuple[float, ...] = ()  # per-channel std of the same; () when the task was built by hand
    # what the images in [0, 1] had subtracted and were divided by (the spec's `norm`); () when built by hand
    input_mean: tuple[float, ...] = ()
    input_std: tuple[float, ...] = ()

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def name(self) -> str:
        return str(self.spec)

    def require_validation(self) -> Task:
        """``self``, or a one-line ``ValueError`` when the task has no validation image: training reports, and the
        search picks, students by their validation accuracy, which would then be 0 for every one."""
        if len(self.y_val) == 0:
            raise ValueError(
                f"task {self.name!r} has no validation images: students are picked and reported by validation "
                "accuracy; give a val_fraction above 0 or n_val"
            )
        return self

    def describe(self) -> dict[str, Any]:
        """Dataset descriptors (plain JSON types), e.g. as task features for the predictor."""
        train_counts = torch.bincount(self.y_train, minlength=self.num_classes)
        mean, std = self.pixel_mean, self.pixel_std
        if not mean:  # a hand-built task: statistics of its (possibly already normalised) training images
            mean = tuple(self.x_train.mean(dim=(0, 2, 3)).tolist())
            std = tuple(self.x_train.std(dim=(0, 2, 3)).tolist())
        return {
            "num_classes": self.num_classes,
            "in_shape": list(self.in_shape),
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "train_class_counts": train_counts.tolist(),
            "val_class_counts": torch.bincount(self.y_val, minlength=self.num_classes).tolist(),
            "test_class_counts": torch.bincount(self.y_test, minlength=self.num_classes).tolist(),
            "class_imbalance": float(train_counts.max() / train_counts.min().clamp_min(1)),
            "pixel_mean": list(mean),
            "pixel_std": list(std),
        }

    def __repr__(self) -> str:
        return (
            f"Task({self.name!r}, id={self.id}, in_shape={self.in_shape}, num_classes={self.num_classes}, "
            f"n_train={len(self.y_train)}, n_val={len(self.y_val)}, n_test={len(self.y_test)})"
        )


def load_task(spec: str | TaskSpec, data_dir: str | None = None) -> Task:
    """Builds the task that ``spec`` names (see the module docstring for the steps).

    Args:
        spec: a :class:`TaskSpec` or its string form, e.g. ``"digits:classes=0-4"``.
        data_dir: directory of file-backed sources (mnist, torchvision); None falls back to ``$DASS_DATA``.

    Returns:
        The task; loading the same spec on the same data gives the same tensors and the same id.
    """
    if isinstance(spec, str):
        spec = TaskSpec.parse(spec)
    raw = check_raw_data(TASK_SOURCES.get(spec.source)(spec, data_dir), spec.source)

    present = np.unique(raw.y_train)
    classes = np.asarray(spec.classes if spec.classes is not None else present)
    missing = np.setdiff1d(classes, present)
    if missing.size:
        raise ValueError(
            f"class(es) {missing.tolist()} are not in the {spec.source!r} data; "
            f"present classes: {format_classes(present.tolist())}"
        )
    if len(classes) < 2:
        raise ValueError(
            f"the {spec.source!r} training data has one class ({format_classes(classes.tolist())}); "
            "a classifier needs at least two"
        )
    pool = np.flatnonzero(np.isin(raw.y_train, classes))  # indices into raw.x_train
    test = np.flatnonzero(np.isin(raw.y_test, classes))  # indices into raw.x_test
    _check_count("n_test", spec.n_test, len(test), f"test images of these classes in {spec.source!r}")
    if spec.n_test is not None and spec.n_test < len(test):
        test = test[stratified_split(raw.y_test[test], spec.n_test, np.random.default_rng(TEST_SEED))[0]]
    rng = np.random.default_rng(spec.seed)
    if spec.n_val is not None:  # validation images beside the training pool
        if spec.n_val >= len(pool):
            raise ValueError(
                f"n_val={spec.n_val} leaves no training images: the {spec.source!r} data has {len(pool)} "
                f"training-split images of these classes"
            )
        val_pos, rest_pos = stratified_split(raw.y_train[pool], spec.n_val, rng, keep_one=True)
        val, train = pool[val_pos], pool[rest_pos]
        _check_count(
            "n_train", spec.n_train, len(train), f"training images left beside n_val={spec.n_val} in {spec.source!r}"
        )
        if spec.n_train is not None and spec.n_train < len(train):
            train = train[stratified_split(raw.y_train[train], spec.n_train, rng)[0]]
    else:
        _check_count(
            "n_train", spec.n_train, len(pool), f"training images of these classes in {spec.source!r} (train + val)"
        )
        if spec.n_train is not None and spec.n_train < len(pool):
            pool = pool[stratified_split(raw.y_train[pool], spec.n_train, rng)[0]]
        split = round(spec.val_fraction * len(pool))
        if spec.val_fraction > 0 and split < 1:
            raise ValueError(
                f"val_fraction={format_number(spec.val_fraction)} of the {len(pool)} training images of "
                f"{str(spec)!r} is no image: raise val_fraction or give n_val"
            )
        val_pos, train_pos = stratified_split(raw.y_train[pool], split, rng, keep_one=True)
        train, val = pool[train_pos], pool[val_pos]

    num_classes = len(classes)
    y_train, y_val, y_test = (
        torch.from_numpy(np.searchsorted(classes, y)) for y in (raw.y_train[train], raw.y_train[val], raw.y_test[test])
    )
    if torch.bincount(y_train, minlength=num_classes).min() == 0:
        raise ValueError(
            f"n_train={spec.n_train} is too small for {num_classes} classes: every class needs a training example"
        )

    # Refuse what cannot fit before any float image is made: the images as read, and as resized and coloured.
    n_images = len(train) + len(val) + len(test)
    native = raw.x_train.shape[1:]  # (H, W, C)
    check_task_bytes(n_images, (native[2], native[0], native[1]), str(spec))
    side = (spec.size, spec.size) if spec.size is not None else native[:2]
    check_task_bytes(n_images, (COLOR_CHANNELS.get(spec.color, native[2]), *side), str(spec))
    # One tensor for all splits, so that resizing and the transform treat them exactly alike.
    x = _float_images(np.concatenate([raw.x_train[train], raw.x_train[val], raw.x_test[test]]))  # (N, C, H, W)
    if spec.color is not None:
        x = convert_color(x, spec.color)
    if spec.size is not None and x.shape[-2:] != (spec.size, spec.size):
        x = F.interpolate(x, size=(spec.size, spec.size), mode="bilinear", antialias=True, align_corners=False)
        x = x.clamp_(0, 1)
    if spec.transform is not None:
        name, param = parse_transform(spec.transform)
        x = DOMAIN_TRANSFORMS.get(name)(x, param, torch.Generator().manual_seed(spec.seed))
    x_train, x_val, x_test = torch.split(x, [len(train), len(val), len(test)])
    pixel_mean = x_train.mean(dim=(0, 2, 3))
    pixel_std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)  # a constant channel must not divide by zero
    channels = x.shape[1]
    if spec.norm == "train":
        mean, std = pixel_mean, pixel_std
    elif spec.norm == "none":
        mean, std = torch.zeros(channels), torch.ones(channels)
    else:
        mean, std = (torch.tensor(v, dtype=torch.float32) for v in norm_constants(spec.norm))
        if len(mean) != channels:
            raise ValueError(
                f"the task spec's 'norm' {spec.norm!r} gives {len(mean)} channel(s); the images have {channels}"
            )

    def normalised(images: torch.Tensor) -> torch.Tensor:
        return (images - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)  # a new tensor, not a view of x

    names = raw.class_names
    task = Task(
        spec=spec,
        x_train=normalised(x_train),
        y_train=y_train,
        x_val=normalised(x_val),
        y_val=y_val,
        x_test=normalised(x_test),
        y_test=y_test,
        num_classes=num_classes,
        class_names=[str(names[c]) if names is not None else str(c) for c in classes.tolist()],
        id=hashlib.sha256(f"{spec.id_text}\n{raw.fingerprint}".encode()).hexdigest()[:16],
        pixel_mean=tuple(pixel_mean.tolist()),
        pixel_std=tuple(pixel_std.tolist()),
        input_mean=tuple(mean.tolist()),
        input_std=tuple(std.tolist()),
    )
    logger.debug("loaded %r", task)
    return task


def _check_count(key: str, asked: int | None, available: int, what: str) -> None:
    """An explicit ``n_train`` / ``n_test`` above what the data holds is an error naming the maximum: capping it
    silently would give a smaller task than the spec says (and another id for the same tensors)."""
    if asked is not None and asked > available:
        raise ValueError(f"{key}={asked} is more than the {available} {what}; give at most {available}")


def _float_images(x: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 0..255 or float 0..1 -> (N, C, H, W) float32 in [0, 1]."""
    images = torch.from_numpy(x).permute(0, 3, 1, 2)
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255).contiguous()
    return images.to(torch.float32).contiguous()

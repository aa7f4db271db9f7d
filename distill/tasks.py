"""Tasks: a dataset (plus class subset, domain transform and input size) as in-memory tensors.

A task is named by a spec string such as ``mnist:classes=0-4:transform=noise0.3:size=16`` (see
:class:`TaskSpec`) and built by :func:`load_task` in this order:

1. the source loader (``TASK_SOURCES``) reads the whole dataset as a :class:`RawData`;
2. the class subset is kept and relabelled ``0..K-1`` in sorted order of the original labels;
3. the test set is capped at ``n_test``; the training pool at ``n_train``; then ``val_fraction`` of
   the pool becomes the validation set (or, with ``n_val``, the validation set is ``n_val`` further
   images and all ``n_train`` are trained on). All three are stratified and deterministic;
4. the images become float ``(N, C, H, W)`` in [0, 1], are resized to ``size`` (bilinear,
   antialiased) and pass through the domain transform (``DOMAIN_TRANSFORMS``), all splits alike;
5. every split is normalised with the training set's per-channel mean and std (``norm=train``, the
   default), with given constants (``norm=MEAN/STD``, a teacher's own preprocessing), or not at all
   (``norm=none``: images in [0, 1]). What was subtracted and divided is kept in the task
   (``input_mean``, ``input_std``) and saved with a found student.

A source loader is ``loader(spec, data_dir) -> RawData``; register a new one with
``@TASK_SOURCES.register("name")``. A domain transform is ``fn(x, param, generator) -> x`` on
``(N, C, H, W)`` images in [0, 1]; register one with ``@domain_transform("name", default=...)``.

Importing this module reads no file; sources import their optional dependencies (scikit-learn,
PIL, torchvision) only when used.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import math
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from distill.registry import Registry

logger = logging.getLogger(__name__)

DATA_ENV = "DASS_DATA"
PATH_SOURCES = ("npz", "folder")  # the sources that read spec.path (and need it)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# A test set must not move with the task seed, so that results under different seeds are comparable:
# test splits that a source has to make, and the n_test cap, use this fixed seed.
TEST_SEED = 0
DIGITS_TEST_FRACTION = 0.3  # scikit-learn's digits have no official test split
FOLDER_TEST_FRACTION = 0.2  # for an image folder without a test/ sub-directory
# The torchvision datasets that are task sources: source name -> class in torchvision.datasets.
TORCHVISION_SOURCES = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "svhn": "SVHN", "fashion_mnist": "FashionMNIST"}

TASK_SOURCES: Registry[Callable[[TaskSpec, str | None], RawData]] = Registry("task source")
DOMAIN_TRANSFORMS: Registry[DomainTransform] = Registry("domain transform")


# ---------------------------------------------------------------------------------------------- spec
MAX_SIZE = 1024  # small students on small images: a larger side is a typo, and would not fit in memory


@dataclass(frozen=True)
class TaskSpec:
    """What a task is made of. ``str(spec)`` is its canonical name; ``TaskSpec.parse`` reads it back.

    Grammar: ``SOURCE[:KEY=VALUE]...``, defaults omitted, keys in any order:

    - ``path``: file or directory; required by the ``npz`` and ``folder`` sources, refused by the others.
    - ``classes``: original labels to keep, e.g. ``0-4``, ``0,2,7`` or ``0-2,7`` (at least two).
    - ``transform``: ``rotate[DEGREES]``, ``invert``, ``noise[STD]``, ``blur[SIGMA]``, ``downsample[FACTOR]``;
      a left-out number takes the default (``rotate`` -> ``rotate30``).
    - ``size``, ``n_train``, ``n_test``: positive integers; ``val_fraction``: in [0, 1); ``seed``: integer >= 0.
    - ``n_val``: a validation set of this many images from outside the training pool, instead of
      ``val_fraction`` of it (a larger validation set picks the best student more reliably).
    - ``norm``: what the networks see: ``train`` (default; standardised with the training set's
      per-channel mean and std), ``none`` (images in [0, 1]) or ``MEAN/STD`` per channel, e.g.
      ``0.1307/0.3081`` or ``0.485,0.456,0.406/0.229,0.224,0.225``: use the preprocessing your own
      teacher was trained with.

    Example: ``mnist:classes=0-4:transform=noise0.3:size=16:n_train=3000:n_test=2000:seed=1``.
    """

    source: str  # a TASK_SOURCES name
    path: str | None = None  # file or directory of the npz / folder sources
    classes: tuple[int, ...] | None = None  # original labels to keep, stored sorted; relabelled 0..K-1
    transform: str | None = None  # domain transform with its parameter written out ("rotate30")
    size: int | None = None  # side length after resizing; None keeps the native size
    n_train: int | None = None  # cap on the training pool (train + val), stratified by `seed`
    n_val: int | None = None  # validation images drawn beside the n_train pool; replaces val_fraction
    n_test: int | None = None  # cap on the test set, stratified with the fixed TEST_SEED
    # 15% of the pool is enough to pick epochs and compare students, and leaves 85% to train on.
    val_fraction: float = 0.15
    seed: int = 0  # seed of the n_train subsample, the val split and the noise transform
    norm: str = "train"  # "train", "none" or "MEAN/STD" per channel (comma-separated); see the docstring

    def __post_init__(self) -> None:
        TASK_SOURCES.get(self.source)  # an unknown source is a ValueError listing the valid ones
        if self.path is not None:
            if self.source not in PATH_SOURCES:
                raise ValueError(
                    f"the {self.source!r} source takes no path (only {' and '.join(PATH_SOURCES)} do); "
                    f"give its data directory with --data-dir or {DATA_ENV}"
                )
            object.__setattr__(self, "path", os.fspath(self.path))
        elif self.source in PATH_SOURCES:
            raise ValueError(f"the {self.source!r} source needs a path, e.g. '{self.source}:path=/data/my_data'")
        if self.classes is not None:
            classes = tuple(sorted(_check_int("classes", c, minimum=0) for c in self.classes))
            if len(set(classes)) != len(classes) or len(classes) < 2:
                raise ValueError(f"the task spec's 'classes' must be at least two distinct labels; got {self.classes}")
            object.__setattr__(self, "classes", classes)
        if self.transform is not None:
            object.__setattr__(self, "transform", _canonical_transform(self.transform))
        for name in ("size", "n_train", "n_val", "n_test"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _check_int(name, getattr(self, name), minimum=1))
        if self.size is not None and self.size > MAX_SIZE:
            raise ValueError(f"the task spec's 'size' must be at most {MAX_SIZE} (pixels a side); got {self.size}")
        object.__setattr__(self, "seed", _check_int("seed", self.seed, minimum=0))
        if not (isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1):
            raise ValueError(f"the task spec's 'val_fraction' must be a number in [0, 1); got {self.val_fraction!r}")
        object.__setattr__(self, "val_fraction", float(self.val_fraction))
        object.__setattr__(self, "norm", _canonical_norm(self.norm))
        if self.n_val is not None and self.val_fraction != 0.15:
            raise ValueError(
                f"the task spec gives both n_val={self.n_val} and val_fraction={self.val_fraction:g}; give one of them"
            )

    @classmethod
    def parse(cls, text: str) -> TaskSpec:
        """Reads ``SOURCE[:KEY=VALUE]...`` (see the class docstring); a bad key or value is a ``ValueError``."""
        source, *parts = text.strip().split(":")
        values: dict[str, str] = {}
        last_key = None
        for part in parts:
            if "=" not in part and last_key == "path":  # a path with a colon in it, e.g. C:\data
                values["path"] += ":" + part
                continue
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep:
                raise ValueError(f"task spec {text!r}: {part!r} is not KEY=VALUE")
            if key not in _SPEC_PARSERS:
                raise ValueError(f"task spec {text!r}: unknown key {key!r}; valid keys: {', '.join(_SPEC_PARSERS)}")
            if key in values:
                raise ValueError(f"task spec {text!r}: key {key!r} is given twice")
            values[key] = value
            last_key = key
        return cls(source=source.strip(), **{key: _SPEC_PARSERS[key](key, value) for key, value in values.items()})

    def __str__(self) -> str:
        return self._format(with_path=True)

    def _format(self, with_path: bool) -> str:
        parts = [self.source]
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if value == f.default or (f.name == "path" and not with_path):
                continue
            if f.name == "classes":
                value = _format_classes(value)
            elif isinstance(value, float):
                value = _format_number(value)
            parts.append(f"{f.name}={value}")
        return ":".join(parts)


def _parse_int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the task spec's {key!r} must be an integer; got {value!r}") from None


def _parse_float(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"the task spec's {key!r} must be a number; got {value!r}") from None


def _parse_classes(key: str, value: str) -> tuple[int, ...]:
    classes: list[int] = []
    for item in value.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        if not match or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ValueError(f"the task spec's 'classes' must be labels like '0-4', '0,2,7' or '0-2,7'; got {value!r}")
        classes.extend(range(int(match[1]), int(match[2] or match[1]) + 1))
    return tuple(classes)


_SPEC_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "path": lambda key, value: value,
    "classes": _parse_classes,
    "transform": lambda key, value: value,
    "size": _parse_int,
    "n_train": _parse_int,
    "n_val": _parse_int,
    "n_test": _parse_int,
    "val_fraction": _parse_float,
    "seed": _parse_int,
    "norm": lambda key, value: value,
}


def _check_int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"the task spec's {key!r} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _format_classes(classes: Sequence[int]) -> str:
    """``(0, 1, 2, 3, 7)`` -> ``"0-3,7"``: runs of three or more labels as ranges."""
    runs: list[list[int]] = []
    for c in classes:
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


NORM_HELP = "'train', 'none' or MEAN/STD per channel, like '0.1307/0.3081' or '0.485,0.456,0.406/0.229,0.224,0.225'"


def _canonical_norm(value: Any) -> str:
    if value in ("train", "none"):
        return value
    try:
        m, s = norm_constants(str(value))
    except ValueError:
        m, s = [], []
    if not m or len(m) != len(s) or not all(math.isfinite(v) for v in m + s) or min(s) <= 0:
        raise ValueError(f"the task spec's 'norm' must be {NORM_HELP} (positive stds); got {value!r}")
    return ",".join(map(_format_number, m)) + "/" + ",".join(map(_format_number, s))


def norm_constants(norm: str) -> tuple[list[float], list[float]] | None:
    """The per-channel ``(mean, std)`` of ``norm=MEAN/STD``; ``None`` for ``train`` and ``none``.

    A value without ``/`` or with a non-number is a ``ValueError``."""
    if norm in ("train", "none"):
        return None
    mean, sep, std = norm.partition("/")
    if not sep:
        raise ValueError(f"{norm!r} is not MEAN/STD")
    return [float(v) for v in mean.split(",")], [float(v) for v in std.split(",")]


def _format_number(value: float) -> str:
    """Shortest exact text: ``30.0`` -> ``"30"``, ``0.3`` -> ``"0.3"``; ``float()`` reads it back unchanged."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ---------------------------------------------------------------------------------------------- task
@dataclass(frozen=True)
class RawData:
    """A whole dataset as a source loader returns it, before any task option is applied.

    Args:
        x_train, x_test: images ``(N, H, W)`` or ``(N, H, W, C)`` with C 1 or 3 (channels last),
            uint8 in 0..255 or float in [0, 1].
        y_train, y_test: ``(N,)`` integer labels >= 0 (any values; a task relabels them 0..K-1).
        class_names: the name of each original label, indexed by label; None names label ``i`` ``"i"``.
        fingerprint: hex digest of the content, part of the task id; None lets :func:`load_task` hash the arrays.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: Sequence[str] | None = None
    fingerprint: str | None = None


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


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    """The data directory: ``data_dir`` (--data-dir) if given, else ``$DASS_DATA``, else None."""
    chosen = data_dir or os.environ.get(DATA_ENV) or None
    return str(Path(chosen).expanduser()) if chosen else None


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
    raw = _checked(TASK_SOURCES.get(spec.source)(spec, data_dir), spec.source)

    present = np.unique(raw.y_train)
    classes = np.asarray(spec.classes if spec.classes is not None else present)
    missing = np.setdiff1d(classes, present)
    if missing.size:
        raise ValueError(
            f"class(es) {missing.tolist()} are not in the {spec.source!r} data; "
            f"present classes: {_format_classes(present.tolist())}"
        )
    if len(classes) < 2:
        raise ValueError(
            f"the {spec.source!r} training data has one class ({_format_classes(classes.tolist())}); "
            "a classifier needs at least two"
        )
    pool = np.flatnonzero(np.isin(raw.y_train, classes))  # indices into raw.x_train
    test = np.flatnonzero(np.isin(raw.y_test, classes))  # indices into raw.x_test
    if spec.n_test is not None and spec.n_test < len(test):
        test = test[_stratified_split(raw.y_test[test], spec.n_test, np.random.default_rng(TEST_SEED))[0]]
    rng = np.random.default_rng(spec.seed)
    if spec.n_val is not None:  # validation images beside the training pool
        if spec.n_val >= len(pool):
            raise ValueError(
                f"n_val={spec.n_val} leaves no training images: the {spec.source!r} data has {len(pool)} "
                f"training-split images of these classes"
            )
        val_pos, rest_pos = _stratified_split(raw.y_train[pool], spec.n_val, rng, keep_one=True)
        val, train = pool[val_pos], pool[rest_pos]
        if spec.n_train is not None and spec.n_train < len(train):
            train = train[_stratified_split(raw.y_train[train], spec.n_train, rng)[0]]
    else:
        if spec.n_train is not None and spec.n_train < len(pool):
            pool = pool[_stratified_split(raw.y_train[pool], spec.n_train, rng)[0]]
        split = round(spec.val_fraction * len(pool))
        val_pos, train_pos = _stratified_split(raw.y_train[pool], split, rng, keep_one=True)
        train, val = pool[train_pos], pool[val_pos]

    num_classes = len(classes)
    y_train, y_val, y_test = (
        torch.from_numpy(np.searchsorted(classes, y)) for y in (raw.y_train[train], raw.y_train[val], raw.y_test[test])
    )
    if torch.bincount(y_train, minlength=num_classes).min() == 0:
        raise ValueError(
            f"n_train={spec.n_train} is too small for {num_classes} classes: every class needs a training example"
        )

    # One tensor for all splits, so that resizing and the transform treat them exactly alike.
    x = _float_images(np.concatenate([raw.x_train[train], raw.x_train[val], raw.x_test[test]]))  # (N, C, H, W)
    if spec.size is not None and x.shape[-2:] != (spec.size, spec.size):
        x = F.interpolate(x, size=(spec.size, spec.size), mode="bilinear", antialias=True, align_corners=False)
        x = x.clamp_(0, 1)
    if spec.transform is not None:
        name, param = _split_transform(spec.transform)
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
        id=hashlib.sha256(f"{spec._format(with_path=False)}\n{raw.fingerprint}".encode()).hexdigest()[:16],
        pixel_mean=tuple(pixel_mean.tolist()),
        pixel_std=tuple(pixel_std.tolist()),
        input_mean=tuple(mean.tolist()),
        input_std=tuple(std.tolist()),
    )
    logger.debug("loaded %r", task)
    return task


def _checked(raw: RawData, source: str) -> RawData:
    """Validates a loader's output; returns it channels-last, with int64 labels and a fingerprint."""
    arrays = {}
    for split in ("train", "test"):
        x, y = np.asarray(getattr(raw, f"x_{split}")), np.asarray(getattr(raw, f"y_{split}"))
        if x.ndim == 3:
            x = x[..., None]
        elif x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(
                f"{source}: x_{split} has shape {x.shape}; expected (N, H, W) or (N, H, W, C) with C = 1 or 3 "
                "(channels last: transpose (N, C, H, W) arrays with x.transpose(0, 2, 3, 1))"
            )
        if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{source}: x_{split} has dtype {x.dtype}; expected uint8 (0..255) or float (0..1)")
        is_float = np.issubdtype(x.dtype, np.floating)
        if is_float and x.size and not (np.isfinite(x).all() and 0 <= x.min() <= x.max() <= 1):
            raise ValueError(
                f"{source}: float x_{split} must lie in [0, 1]; got values in [{x.min()}, {x.max()}] "
                "(scale it, or store uint8 0..255)"
            )
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"{source}: y_{split} must be integer labels of shape ({len(x)},) like x_{split}; "
                f"got {y.dtype} of shape {y.shape}"
            )
        if len(y) == 0 or y.min() < 0:
            raise ValueError(f"{source}: y_{split} must be non-empty labels >= 0")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y.astype(np.int64, copy=False)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(
            f"{source}: train images are {arrays['x_train'].shape[1:]} (H, W, C) but test images are "
            f"{arrays['x_test'].shape[1:]}"
        )
    unseen = np.setdiff1d(arrays["y_test"], arrays["y_train"])
    if unseen.size:
        raise ValueError(f"{source}: y_test has label(s) {unseen.tolist()} that y_train lacks")
    names = raw.class_names
    if names is not None and len(names) <= arrays["y_train"].max():
        raise ValueError(f"{source}: {len(names)} class names for labels up to {arrays['y_train'].max()}")
    fingerprint = raw.fingerprint
    if fingerprint is None:
        fingerprint = _fingerprint(*(arrays[k] for k in NPZ_KEYS), extra="\n".join(map(str, names or ())))
    return RawData(**arrays, class_names=names, fingerprint=fingerprint)


def _fingerprint(*arrays: np.ndarray, extra: str = "") -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(memoryview(a).cast("B"))
    h.update(extra.encode())
    return h.hexdigest()


def _float_images(x: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 0..255 or float 0..1 -> (N, C, H, W) float32 in [0, 1]."""
    images = torch.from_numpy(x).permute(0, 3, 1, 2)
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255).contiguous()
    return images.to(torch.float32).contiguous()


def _stratified_split(
    y: np.ndarray, n_take: int, rng: np.random.Generator, keep_one: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Splits the positions of ``y`` into ``(taken, rest)``, both sorted, with ``n_take`` taken per class share.

    Each class gives ``n_take * count / len(y)`` positions, rounded by largest remainder (ties to the
    lower label), chosen at random by ``rng``. ``keep_one`` leaves at least one of every class in ``rest``.
    """
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n_take / len(y)
    take = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n_take - take.sum()]] += 1
    if keep_one:
        take = np.minimum(take, counts - 1)
    taken = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    mask = np.zeros(len(y), dtype=bool)
    mask[np.concatenate(taken)] = True
    return np.flatnonzero(mask), np.flatnonzero(~mask)


# ---------------------------------------------------------------------------------------------- sources
def _require_data_dir(source: str, data_dir: str | None, wanted: str) -> Path:
    resolved = resolve_data_dir(data_dir)
    if resolved is None:
        raise FileNotFoundError(
            f"the {source!r} source reads {wanted} from a data directory, and none is set: "
            f"pass --data-dir DIR or set {DATA_ENV}=DIR"
        )
    if not Path(resolved).is_dir():
        raise FileNotFoundError(f"data directory {resolved} (from --data-dir or {DATA_ENV}) is not a directory")
    return Path(resolved)


@TASK_SOURCES.register("digits")
def _digits_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """scikit-learn's bundled 8x8 digits, with a fixed stratified 70/30 train/test split."""
    return _read_digits()


@functools.lru_cache(maxsize=1)
def _read_digits() -> RawData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8), pixel values 0..16
    y = digits.target.astype(np.int64)
    test, train = _stratified_split(y, round(DIGITS_TEST_FRACTION * len(y)), np.random.default_rng(TEST_SEED))
    return _checked(RawData(x[train], y[train], x[test], y[test], class_names=[str(i) for i in range(10)]), "digits")


@TASK_SOURCES.register("mnist")
def _mnist_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """MNIST from ``mnist.npz`` or the four IDX files (optionally gzipped) in the data directory."""
    root = _require_data_dir("mnist", data_dir, "mnist.npz or the four MNIST IDX files")
    return _read_mnist(str(root.resolve()))


@functools.lru_cache(maxsize=2)
def _read_mnist(root: str) -> RawData:
    """Cached per resolved directory: later loads of any MNIST task skip reading and hashing."""
    directory = Path(root)
    if (directory / "mnist.npz").is_file():
        raw = _read_npz(directory / "mnist.npz", "mnist")
    else:
        files = [_find_idx(directory, name) for name in MNIST_IDX_FILES]
        if None in files:
            raise FileNotFoundError(
                f"no MNIST data in {directory}: looked for mnist.npz or the IDX files {', '.join(MNIST_IDX_FILES)} "
                f"(each optionally .gz); pass --data-dir DIR or set {DATA_ENV}=DIR to the directory that holds them"
            )
        raw = RawData(*(_read_idx(f) for f in files))
    raw = _checked(RawData(raw.x_train, raw.y_train, raw.x_test, raw.y_test, [str(i) for i in range(10)]), "mnist")
    for array in (raw.x_train, raw.y_train, raw.x_test, raw.y_test):
        array.setflags(write=False)  # shared by every later load through the cache
    return raw


def _find_idx(directory: Path, name: str) -> Path | None:
    return next((p for p in (directory / name, directory / f"{name}.gz") if p.is_file()), None)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the MNIST format): magic 0x0000 0x08 NDIM, NDIM big-endian sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic number {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(shape):
        raise ValueError(f"{path} declares shape {shape} but holds {body.size} values")
    return body.reshape(shape)


@TASK_SOURCES.register("npz")
def _npz_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """A user's ``.npz`` with x_train, y_train, x_test, y_test (and optionally class_names)."""
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz task file {path} does not exist")
    return _read_npz(path, "npz")


def _read_npz(path: Path, source: str) -> RawData:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{source}: {path} is not a readable .npz file: {err}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{source}: {path} holds a single array; expected an .npz with keys {', '.join(NPZ_KEYS)}")
    with data:
        missing = [key for key in NPZ_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"{source}: {path} lacks {', '.join(missing)}; expected keys {', '.join(NPZ_KEYS)}")
        arrays = {key: _npz_array(data, key, path) for key in (*NPZ_KEYS, "class_names") if key in data.files}
    names = arrays.pop("class_names", None)
    return RawData(**arrays, class_names=None if names is None else [str(n) for n in names.tolist()])


def _npz_array(data: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return data[key]
    except ValueError:  # numpy refuses object arrays when allow_pickle=False
        fix = "save it as np.array(names, dtype=str)" if key == "class_names" else "save a numeric array"
        raise ValueError(f"{key} in {path} is an object array, not loaded (allow_pickle=False); {fix}") from None


@TASK_SOURCES.register("folder")
def _folder_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Images in one sub-folder per class, under ``path`` or under ``path/train`` (+ optional ``path/test``).

    Without a test/ folder, a fixed stratified 20% of the images is the test set. Images of mixed
    sizes are resized to ``spec.size`` here (so give one); any colour image makes the task RGB.
    """
    root = Path(spec.path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir():
        if test_dir.is_dir():
            raise ValueError(f"image folder {root} has test/ but no train/ sub-directory")
        train_dir, test_dir = root, None
    elif not test_dir.is_dir():
        test_dir = None
    class_names = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_names) < 2:
        raise ValueError(f"image folder {train_dir} needs one sub-folder per class, at least two; got {class_names}")
    files, labels = _class_files(train_dir, class_names, is_test=False)
    if test_dir is not None:
        test_files, test_labels = _class_files(test_dir, class_names, is_test=True)
        x = _read_images(files + test_files, spec.size)
        return RawData(x[: len(files)], labels, x[len(files) :], test_labels, class_names)
    x = _read_images(files, spec.size)
    test, train = _stratified_split(
        labels, round(FOLDER_TEST_FRACTION * len(labels)), np.random.default_rng(TEST_SEED), keep_one=True
    )
    return RawData(x[train], labels[train], x[test], labels[test], class_names)


def _class_files(directory: Path, class_names: list[str], is_test: bool) -> tuple[list[Path], np.ndarray]:
    """Image files of each class folder (sorted by name) and their labels; a test folder may lack a class."""
    extra = sorted(d.name for d in directory.iterdir() if d.is_dir() and d.name not in class_names)
    if extra and is_test:
        raise ValueError(f"{directory} has class folder(s) {extra} that the train folder lacks")
    files, labels = [], []
    for label, name in enumerate(class_names):
        found = sorted(p for p in (directory / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found and not is_test:
            raise ValueError(f"class folder {directory / name} has no images ({', '.join(IMAGE_SUFFIXES)})")
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


def _read_images(files: list[Path], size: int | None) -> np.ndarray:
    """Image files -> (N, H, W, C) uint8; grayscale unless any image has colour."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ValueError(f"the 'folder' source needs Pillow (installed with matplotlib): {err}") from None
    images = []
    for path in files:
        with Image.open(path) as image:
            image = image.convert("L" if image.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)  # antialiased when shrinking
            images.append(np.asarray(image))
    first = images[0].shape[:2]
    odd = next((i for i, a in enumerate(images) if a.shape[:2] != first), None)
    if odd is not None:
        raise ValueError(
            f"images differ in size: {files[0]} is {first} and {files[odd]} is {images[odd].shape[:2]} (H, W); "
            "give the task a size, e.g. ':size=32'"
        )
    if any(a.ndim == 3 for a in images):
        images = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=-1) for a in images]
    return np.stack(images)


def _torchvision_source(name: str, spec: TaskSpec, data_dir: str | None) -> RawData:
    """A torchvision dataset read from the data directory with download=False; needs torchvision."""
    try:
        import torchvision.datasets
    except (ImportError, RuntimeError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"the {name!r} source needs torchvision (pip install 'dass[vision]'), which does not import here: {reason}"
        ) from None
    root = _require_data_dir(name, data_dir, f"torchvision's {TORCHVISION_SOURCES[name]} files")
    return _read_torchvision(name, str(root.resolve()), torchvision.datasets)


@functools.lru_cache(maxsize=2)
def _read_torchvision(name: str, root: str, datasets: Any) -> RawData:
    cls = getattr(datasets, TORCHVISION_SOURCES[name])
    try:
        if name == "svhn":
            train, test = (cls(root, split=split, download=False) for split in ("train", "test"))
        else:
            train, test = (cls(root, train=flag, download=False) for flag in (True, False))
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise FileNotFoundError(
            f"no {TORCHVISION_SOURCES[name]} data under {root} ({err}); put torchvision's files there "
            "(dass never downloads)"
        ) from None

    def arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(dataset.data)
        if name == "svhn":  # SVHN stores (N, C, H, W)
            x = x.transpose(0, 2, 3, 1)
        return x, np.asarray(dataset.labels if name == "svhn" else dataset.targets, dtype=np.int64)

    class_names = [str(i) for i in range(10)] if name == "svhn" else list(train.classes)
    return _checked(RawData(*arrays(train), *arrays(test), class_names=class_names), name)


for _name in TORCHVISION_SOURCES:
    TASK_SOURCES.add(_name, functools.partial(_torchvision_source, _name))


# ---------------------------------------------------------------------------------------------- transforms
@dataclass(frozen=True)
class DomainTransform:
    """A domain transform ``fn(x, param, generator)`` with its parameter's default and allowed range.

    Calling it fills in the default, checks the parameter and applies ``fn`` to ``(N, C, H, W)``
    images in [0, 1]; the result is in [0, 1] too.
    """

    name: str
    fn: Callable[[torch.Tensor, float | None, torch.Generator | None], torch.Tensor]
    default: float | None  # None: the transform takes no parameter
    allowed: str = "any number"  # the parameter's range, in words, for error messages
    minimum: float = -math.inf
    exclusive: bool = False  # whether `minimum` itself is refused

    def check(self, param: float | None) -> float | None:
        """The parameter to use: the default for None, else ``param`` if allowed (else ``ValueError``)."""
        if self.default is None:
            if param is not None:
                raise ValueError(f"the {self.name!r} transform takes no parameter; got {_format_number(param)}")
            return None
        if param is None:
            return self.default
        if param < self.minimum or (self.exclusive and param == self.minimum) or not math.isfinite(param):
            raise ValueError(f"the {self.name!r} transform's parameter must be {self.allowed}; got {param}")
        return float(param)

    def __call__(
        self, x: torch.Tensor, param: float | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.fn(x, self.check(param), generator)


def domain_transform(
    name: str,
    default: float | None = None,
    allowed: str = "any number",
    minimum: float = -math.inf,
    exclusive: bool = False,
) -> Callable:
    """Decorator that registers ``fn(x, param, generator)`` in ``DOMAIN_TRANSFORMS`` under ``name``."""

    def decorator(fn: Callable) -> Callable:
        DOMAIN_TRANSFORMS.add(name, DomainTransform(name, fn, default, allowed, minimum, exclusive))
        return fn

    return decorator


def _split_transform(text: str) -> tuple[str, float | None]:
    """``"noise0.3"`` -> ``("noise", 0.3)``; ``"invert"`` -> ``("invert", None)``."""
    match = re.fullmatch(r"([a-z_]+?)([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)?", text.strip())
    if not match:
        raise ValueError(
            f"the task spec's 'transform' must be a name and an optional number, e.g. rotate30, invert, noise0.3; "
            f"got {text!r}"
        )
    return match[1], None if match[2] is None else float(match[2])


def _canonical_transform(text: str) -> str:
    name, param = _split_transform(text)
    param = DOMAIN_TRANSFORMS.get(name).check(param)
    return name if param is None else f"{name}{_format_number(param)}"


@domain_transform("rotate", default=30.0)
def rotate(x: torch.Tensor, degrees: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotates every image counter-clockwise by ``degrees`` about its centre (bilinear; corners become 0)."""
    n, _, h, w = x.shape
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # affine_grid maps output to input coordinates, each axis scaled to [-1, 1]; the H/W factors keep the
    # rotation rigid on non-square images.
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp_(0, 1)


@domain_transform("invert")
def invert(x: torch.Tensor, param: None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``1 - x``: dark on light becomes light on dark."""
    return 1 - x


@domain_transform("noise", default=0.3, allowed="a number >= 0", minimum=0.0)
def noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Adds Gaussian noise of standard deviation ``std`` (drawn from ``generator``), clamped to [0, 1]."""
    return (x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)).clamp_(0, 1)


@domain_transform("blur", default=1.0, allowed="a number > 0", minimum=0.0, exclusive=True)
def blur(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel radius ceil(3 sigma), edges replicated)."""
    h, w = x.shape[-2:]
    # The blur is separable and linear: one (H, H) and one (W, W) matrix, two matmuls (faster than conv2d on CPU).
    return (_blur_matrix(h, sigma, x.dtype).T @ x @ _blur_matrix(w, sigma, x.dtype)).clamp_(0, 1)


def _blur_matrix(n: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """(n, n) matrix whose row i is the blurred unit impulse at i, so ``x @ M`` blurs the last axis of x."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    impulses = F.pad(torch.eye(n, dtype=dtype).view(n, 1, 1, n), (radius, radius, 0, 0), mode="replicate")
    return F.conv2d(impulses, (kernel / kernel.sum()).view(1, 1, 1, -1)).view(n, n)


@domain_transform("downsample", default=2.0, allowed="a number >= 1", minimum=1.0)
def downsample(x: torch.Tensor, factor: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shrinks by ``factor`` (antialiased) and scales back up: same size, less detail."""
    h, w = x.shape[-2:]
    small_size = (max(1, round(h / factor)), max(1, round(w / factor)))
    small = F.interpolate(x, size=small_size, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp_(0, 1)

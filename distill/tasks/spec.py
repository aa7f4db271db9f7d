"""The task spec grammar: ``SOURCE[:KEY=VALUE]...``, its validation and its canonical string.

The spec string is a task's name, and (without its path) part of its id, so parsing and printing must
round-trip exactly. What the grammar knows about a source (whether it takes a ``path``, which options
of its own it takes) comes from the source's own declaration in ``TASK_SOURCES``; what it knows about a
transform, from ``DOMAIN_TRANSFORMS``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from distill.tasks.color import COLORS
from distill.tasks.formatting import format_classes, format_number
from distill.tasks.sources.base import TASK_SOURCES, OptionValue, path_sources
from distill.tasks.sources.files import DATA_ENV
from distill.tasks.transforms import canonical_transform

MAX_SIZE = 1024  # small students on small images: a larger side is a typo, and would not fit in memory
# Where the keys print in the canonical string: the source's own options come right after its path.
_FORMAT_ORDER = (
    "path", "options", "classes", "transform", "size", "color", "n_train", "n_val", "n_test", "val_fraction", "seed",
    "norm",
)  # fmt: skip


@dataclass(frozen=True)
class TaskSpec:
    """What a task is made of. ``str(spec)`` is its canonical name; ``TaskSpec.parse`` reads it back.

    Grammar: ``SOURCE[:KEY=VALUE]...``, defaults omitted, keys in any order:

    - ``path``: file or directory; required by the sources declared ``takes_path`` (``npz``, ``folder``),
      refused by the others.
    - ``classes``: original labels to keep, e.g. ``0-4``, ``0,2,7`` or ``0-2,7`` (at least two).
    - ``transform``: ``rotate[DEGREES]``, ``invert``, ``noise[STD]``, ``blur[SIGMA]``, ``downsample[FACTOR]``;
      a left-out number takes the default (``rotate`` -> ``rotate30``).
    - ``size``, ``n_train``, ``n_test``: positive integers; ``val_fraction``: in [0, 1); ``seed``: integer >= 0.
      ``n_train`` and ``n_test`` are stratified subsets: more than the data holds is an error naming the maximum.
    - ``n_val``: a validation set of this many images from outside the training pool, instead of
      ``val_fraction`` of it (a larger validation set picks the best student more reliably).
    - ``norm``: what the networks see: ``train`` (default; standardised with the training set's
      per-channel mean and std), ``none`` (images in [0, 1]) or ``MEAN/STD`` per channel, e.g.
      ``0.1307/0.3081`` or ``0.485,0.456,0.406/0.229,0.224,0.225``: use the preprocessing your own
      teacher was trained with.
    - ``color``: ``gray`` or ``rgb``: the channels the networks see, whatever the source's own
      (gray -> rgb repeats the channel; rgb -> gray takes the luminance 0.299 R + 0.587 G + 0.114 B);
      left out, the source's channels stay.
    - any option the source declares (``TASK_SOURCES.get(name).options``), e.g. ``glyphs:fonts=system``.

    Example: ``mnist:classes=0-4:transform=noise0.3:size=16:n_train=3000:n_test=2000:seed=1``.
    """

    source: str  # a TASK_SOURCES name
    path: str | None = None  # file or directory of the npz / folder sources
    classes: tuple[int, ...] | None = None  # original labels to keep, stored sorted; relabelled 0..K-1
    transform: str | None = None  # domain transform with its parameter written out ("rotate30")
    size: int | None = None  # side length after resizing; None keeps the native size
    n_train: int | None = None  # size of the training pool (train + val), stratified by `seed`; None: all of it
    n_val: int | None = None  # validation images drawn beside the n_train pool; replaces val_fraction
    n_test: int | None = None  # size of the test set, stratified with the fixed TEST_SEED; None: all of it
    # 15% of the pool is enough to pick epochs and compare students, and leaves 85% to train on.
    val_fraction: float = 0.15
    seed: int = 0  # seed of the n_train subsample, the val split and the noise transform
    norm: str = "train"  # "train", "none" or "MEAN/STD" per channel (comma-separated); see the docstring
    color: str | None = None  # "gray" or "rgb": convert the images to it; None keeps the source's channels
    # The source's own options (a mapping or (name, value) pairs), stored as the pairs that differ from their
    # defaults, in the source's declaration order: an option at its default is not part of the name or the id.
    options: tuple[tuple[str, OptionValue], ...] = ()

    def __post_init__(self) -> None:
        source = TASK_SOURCES.get(self.source)  # an unknown source is a ValueError listing the valid ones
        given = dict(self.options.items() if isinstance(self.options, Mapping) else self.options)
        checked = {name: source.option(name).check(value) for name, value in given.items()}
        options = tuple(
            (o.name, checked[o.name]) for o in source.options if o.name in checked and checked[o.name] != o.default
        )
        object.__setattr__(self, "options", options)
        if self.color is not None and self.color not in COLORS:
            raise ValueError(f"the task spec's 'color' must be one of {{{', '.join(COLORS)}}}; got {self.color!r}")
        if self.path is not None:
            if not source.takes_path:
                raise ValueError(
                    f"the {self.source!r} source takes no path (only {' and '.join(path_sources())} do); "
                    f"give its data directory with --data-dir or {DATA_ENV}"
                )
            object.__setattr__(self, "path", os.fspath(self.path))
        elif source.takes_path:
            raise ValueError(f"the {self.source!r} source needs a path, e.g. '{self.source}:path=/data/my_data'")
        if self.classes is not None:
            classes = tuple(sorted(_check_int("classes", c, minimum=0) for c in self.classes))
            if len(set(classes)) != len(classes) or len(classes) < 2:
                raise ValueError(f"the task spec's 'classes' must be at least two distinct labels; got {self.classes}")
            object.__setattr__(self, "classes", classes)
        if self.transform is not None:
            object.__setattr__(self, "transform", canonical_transform(self.transform))
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

    def option(self, name: str) -> OptionValue:
        """The value of the source's option ``name``: the spec's, or the declared default."""
        default = TASK_SOURCES.get(self.source).option(name).default
        return dict(self.options).get(name, default)

    @classmethod
    def parse(cls, text: str) -> TaskSpec:
        """Reads ``SOURCE[:KEY=VALUE]...`` (see the class docstring); a bad key or value is a ``ValueError``."""
        source, *parts = text.strip().split(":")
        declared = {o.name: o for o in TASK_SOURCES.get(source.strip()).options}
        values: dict[str, str] = {}
        last_key = None
        for part in parts:
            if "=" not in part and last_key == "path":  # a path with a colon in it, e.g. C:\data
                values["path"] += ":" + part
                continue
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep:
                raise ValueError(f"task spec {text!r}: {part!r} is not KEY=VALUE")
            if key not in _SPEC_PARSERS and key not in declared:
                valid = ", ".join([*_SPEC_PARSERS, *declared])
                raise ValueError(f"task spec {text!r}: unknown key {key!r}; valid keys: {valid}")
            if key in values:
                raise ValueError(f"task spec {text!r}: key {key!r} is given twice")
            values[key] = value
            last_key = key
        options = {key: declared[key].parse(values.pop(key)) for key in list(values) if key in declared}
        parsed = {key: _SPEC_PARSERS[key](key, value) for key, value in values.items()}
        return cls(source=source.strip(), options=options, **parsed)

    def __str__(self) -> str:
        return self._format(with_path=True)

    @property
    def id_text(self) -> str:
        """The spec string without its path: what the task id hashes, so a dataset moved elsewhere keeps its id."""
        return self._format(with_path=False)

    def _format(self, with_path: bool) -> str:
        parts = [self.source]
        for f in sorted(fields(self)[1:], key=lambda f: _FORMAT_ORDER.index(f.name)):
            value = getattr(self, f.name)
            if value == f.default or (f.name == "path" and not with_path):
                continue
            if f.name == "options":
                source = TASK_SOURCES.get(self.source)
                parts.extend(f"{name}={source.option(name).format(v)}" for name, v in value)
                continue
            if f.name == "classes":
                value = format_classes(value)
            elif isinstance(value, float):
                value = format_number(value)
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
    "color": lambda key, value: value,
}


def _check_int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"the task spec's {key!r} must be an integer >= {minimum}; got {value!r}")
    return int(value)


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
    return ",".join(map(format_number, m)) + "/" + ",".join(map(format_number, s))


def norm_constants(norm: str) -> tuple[list[float], list[float]] | None:
    """The per-channel ``(mean, std)`` of ``norm=MEAN/STD``; ``None`` for ``train`` and ``none``.

    A value without ``/`` or with a non-number is a ``ValueError``."""
    if norm in ("train", "none"):
        return None
    mean, sep, std = norm.partition("/")
    if not sep:
        raise ValueError(f"{norm!r} is not MEAN/STD")
    return [float(v) for v in mean.split(",")], [float(v) for v in std.split(",")]

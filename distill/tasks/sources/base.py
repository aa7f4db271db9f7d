"""The source contract: a registered :class:`TaskSource` reads a whole dataset as :class:`RawData`.

A source is declared once, with what the spec grammar must know about it (whether it reads the
spec's ``path``, and the options of its own it takes, each a :class:`SourceOption` with a default and
its allowed values); :func:`check_raw_data` is the one gate every loader's output passes, so a source
only has to return arrays and the pipeline can trust their shapes, dtypes, labels and fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from distill.registry import Registry
from distill.tasks.formatting import format_classes, format_number

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class RawData:
    """A whole dataset as a source loader returns it, before any task option is applied.

    Args:
        x_train, x_test: images ``(N, H, W)`` or ``(N, H, W, C)`` with C 1 or 3 (channels last),
            uint8 in 0..255 or float in [0, 1].
        y_train, y_test: ``(N,)`` integer labels >= 0: below ``len(class_names)``, or without class names
            consecutive integers from any start (a task relabels them 0..K-1).
        class_names: the name of each original label, indexed by label; None names label ``i`` ``"i"``.
        fingerprint: hex digest of the content, part of the task id; None lets :func:`check_raw_data` hash the arrays.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: Sequence[str] | None = None
    fingerprint: str | None = None


OptionValue = str | int | float


@dataclass(frozen=True)
class SourceOption:
    """An option that one source declares for its specs, e.g. ``glyphs:fonts=system``.

    The kind follows the default: a ``str`` default makes a choice among ``choices``; an ``int`` or
    ``float`` default a number of that type within ``[minimum, maximum]``. A spec leaves an option at
    its default out of its string, so declaring a new option changes no existing task's id.
    """

    name: str
    default: OptionValue
    help: str  # one line for listings and errors
    choices: tuple[str, ...] = ()  # the allowed values of a choice option
    minimum: float | None = None  # bounds of a number option (inclusive); None: unbounded
    maximum: float | None = None

    def __post_init__(self) -> None:
        assert (isinstance(self.default, str)) == bool(self.choices), f"{self.name}: choices go with a str default"
        assert not self.choices or self.default in self.choices, f"{self.name}: default not among the choices"

    @property
    def allowed(self) -> str:
        """The allowed values, in words: ``one of {bundled, system}`` or ``an integer >= 0``."""
        if self.choices:
            return "one of {" + ", ".join(self.choices) + "}"
        kind = "an integer" if isinstance(self.default, int) else "a number"
        bounds = [f">= {format_number(self.minimum)}" if self.minimum is not None else ""]
        bounds.append(f"<= {format_number(self.maximum)}" if self.maximum is not None else "")
        return " ".join([kind, " and ".join(b for b in bounds if b)]).strip()

    def parse(self, text: str) -> OptionValue:
        """The checked value that the spec text ``text`` names (a ``ValueError`` saying what is allowed)."""
        if self.choices:
            return self.check(text.strip())
        try:
            value = int(text) if isinstance(self.default, int) else float(text)
        except ValueError:
            raise ValueError(f"the task spec's {self.name!r} must be {self.allowed}; got {text!r}") from None
        return self.check(value)

    def check(self, value: Any) -> OptionValue:
        """``value`` as this option's type if it is allowed, else a ``ValueError`` listing what is."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"the task spec's {self.name!r} must be {self.allowed}; got {value!r}")
            return str(value)
        is_int = isinstance(self.default, int)
        number_types = (int, np.integer) if is_int else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, number_types) or not np.isfinite(value):
            raise ValueError(f"the task spec's {self.name!r} must be {self.allowed}; got {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ValueError(f"the task spec's {self.name!r} must be {self.allowed}; got {value!r}")
        return int(value) if is_int else float(value)

    def format(self, value: OptionValue) -> str:
        return format_number(value) if isinstance(value, float) else str(value)


# loader(spec, data_dir) -> RawData, with spec a distill.tasks.spec.TaskSpec: typed Any here because the spec
# module validates source names against this registry, and this module must not import it back.
Loader = Callable[[Any, str | None], RawData]


@dataclass(frozen=True)
class TaskSource:
    """A registered task source: its loader and what the spec grammar needs to know about it.

    Calling it calls the loader: ``source(spec, data_dir) -> RawData``.
    """

    name: str
    load: Loader  # (spec, data_dir) -> RawData; reads the whole dataset, ignoring the task options it need not apply
    takes_path: bool = False  # reads the spec's `path` (and needs one); other sources refuse a path
    options: tuple[SourceOption, ...] = ()  # the spec keys of this source alone, in the order specs print them

    def option(self, name: str) -> SourceOption:
        """The declared option ``name``; another name is a ``ValueError`` listing this source's options."""
        for option in self.options:
            if option.name == name:
                return option
        valid = ", ".join(o.name for o in self.options) or "none"
        raise ValueError(f"the {self.name!r} source takes no option {name!r}; its options: {valid}")

    def __call__(self, spec: Any, data_dir: str | None) -> RawData:
        return self.load(spec, data_dir)


TASK_SOURCES: Registry[TaskSource] = Registry("task source")


def task_source(
    name: str, takes_path: bool = False, options: Sequence[SourceOption] = ()
) -> Callable[[Loader], Loader]:
    """Decorator that registers ``loader(spec, data_dir) -> RawData`` in ``TASK_SOURCES`` under ``name``.

    ``options`` are the spec keys this source takes besides the common ones; the loader reads them with
    ``spec.option(name)``.
    """

    def decorator(load: Loader) -> Loader:
        TASK_SOURCES.add(name, TaskSource(name, load, takes_path, tuple(options)))
        return load

    return decorator


def path_sources() -> list[str]:
    """The names of the sources that read the spec's ``path``, in registration order."""
    return [name for name in TASK_SOURCES if TASK_SOURCES.get(name).takes_path]


def check_raw_data(raw: RawData, source: str) -> RawData:
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
    names = raw.class_names
    _check_labels(arrays["y_train"], names, source)
    unseen = np.setdiff1d(arrays["y_test"], arrays["y_train"])
    if unseen.size:
        raise ValueError(f"{source}: y_test has label(s) {unseen.tolist()} that y_train lacks")
    fingerprint = raw.fingerprint
    if fingerprint is None:
        fingerprint = fingerprint_arrays(*(arrays[k] for k in NPZ_KEYS), extra="\n".join(map(str, names or ())))
    return RawData(**arrays, class_names=names, fingerprint=fingerprint)


def _check_labels(y: np.ndarray, names: Sequence[str] | None, source: str) -> None:
    """Training labels must be the classes the data declares: below ``len(class_names)``, or, without class
    names, one run of consecutive integers (from any start: a task relabels them ``0..K-1``).

    A stray label (one 15 among the digits 0-9) would otherwise silently become a class of its own, with one
    image; the error names every stray label with its number of images.
    """
    labels, counts = np.unique(y, return_counts=True)
    if names is not None:
        stray = labels >= len(names)
        where = f"beyond the {len(names)} class_names (labels 0-{len(names) - 1})"
        fix = "relabel or drop those images, or give a class name to every label"
    else:
        runs = np.split(np.arange(len(labels)), np.flatnonzero(np.diff(labels) > 1) + 1)
        main = max(runs, key=lambda run: counts[run].sum())  # the run that holds most images; ties: the lowest
        stray = np.ones(len(labels), dtype=bool)
        stray[main] = False
        gaps = [(a + 1, b - 1) for a, b in zip(labels[:-1].tolist(), labels[1:].tolist()) if b - a > 1]
        missing = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in gaps)
        where = f"outside the classes {format_classes(labels[main].tolist())} (labels {missing} missing)"
        fix = "labels must be consecutive classes: relabel or drop those images, or give class_names"
    if stray.any():
        listed = ", ".join(
            f"{label} ({count} image{'s' if count > 1 else ''})"
            for label, count in zip(labels[stray].tolist(), counts[stray].tolist())
        )
        plural = "s" if stray.sum() > 1 else ""
        raise ValueError(f"{source}: y_train has label{plural} {listed} {where}; {fix}")


def fingerprint_arrays(*arrays: np.ndarray, extra: str = "") -> str:
    """sha256 hex digest of the arrays' dtypes, shapes and bytes, then ``extra``: a dataset's content identity."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(memoryview(a).cast("B"))
    h.update(extra.encode())
    return h.hexdigest()

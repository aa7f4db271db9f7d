"""A suite: the declarative description of a meta-dataset (which tasks, teachers, students, budget).

A suite file is TOML::

    name = "meta-v1"
    budget = 5                 # training epochs of every student; the curve gives lower fidelities
    students_per_pair = 12     # architectures per (task, teacher), spread across the size range
    recipes_per_student = 2    # distilling recipes per architecture, plus one no-distillation control
    label_seeds = 1            # seeds per student; its label is their mean (2 halves the seed noise)
    replicate_fraction = 0.1   # share trained with as many further seeds (noise ceiling): of the
                               # architectures with one label seed, of the (task, teacher) pairs with more
    controls = true            # also train every architecture without distillation
    teacher_epochs = 15        # epochs of each zoo teacher (trained once per task, then cached)
    space = "default"          # the search space the architectures are drawn from
    seed = 0                   # seed of the draws of architectures, recipes and replicated pairs
    data_dir = ""              # empty: --data-dir, else $DASS_DATA

    [[groups]]                 # a group expands to the product of its lists
    source = "mnist"
    classes = ["0-4", "5-9"]
    transforms = ["none", "rotate30"]
    n_train = [1000]
    size = 12
    n_test = 2000
    teachers = ["resnet-s", "cnn-s", "mobilenet-s"]
    teachers_per_task = 2      # taken round-robin from `teachers`
    heldout = false            # true: every record of the group is kept out of predictor training
    heldout_teachers = []      # teachers whose records are held out wherever they appear
    replicate = false          # true: every pair of the group gets the further seeds, not only
                               # replicate_fraction of them (labels of 2 x label_seeds seeds, e.g.
                               # for a small held-out dataset whose test split is noisy)
    replicate_candidates = true  # false: none of the group's pairs is picked by replicate_fraction
                               # (a group added to a suite already collected leaves its picks as they were)
    seeds = 0                  # n > 0: every student of the group is trained with at least seeds 0 .. n-1
                               # (more precise labels where the evaluation rests on them)
    colors = ["gray", "rgb"]   # colour modes, expanded like the lists above (empty: the source's own)
    options = ["background=texture"]  # the source's own options, added to every task spec of the group

Everything here is data; the same suite always expands to the same jobs.
"""

from __future__ import annotations

import hashlib
import itertools
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from distill.genome import get_space
from distill.tasks import TaskSpec
from distill.teachers import parse_zoo_name, zoo_names


@dataclass(frozen=True)
class TaskGroup:
    source: str
    teachers: tuple[str, ...]
    classes: tuple[str, ...] = ("",)  # "" is every class
    transforms: tuple[str, ...] = ("none",)
    n_train: tuple[int, ...] = (0,)  # 0 is the whole training set
    size: int = 0  # 0 keeps the native size
    n_test: int = 0
    teachers_per_task: int = 2
    heldout: bool = False
    heldout_teachers: tuple[str, ...] = ()  # teachers whose records are held out wherever they appear
    replicate: bool = False  # every student of the group gets the further seeds (noise ceiling, 2k-seed labels)
    # false: the group's pairs are never among the replicate_fraction picked for further seeds, so adding the
    # group to a suite leaves the picks (and so the jobs) of the groups already collected unchanged
    replicate_candidates: bool = True
    seeds: int = 0  # n > 0: every student of the group gets at least seeds 0 .. n-1
    colors: tuple[str, ...] = ("",)  # "" keeps the source's own colour mode
    options: tuple[str, ...] = ()  # source options ("key=value"), added to every task spec of the group

    def specs(self) -> list[tuple[str, dict[str, Any]]]:
        """``(task spec, tags)`` for every task of the group."""
        out = []
        for classes, transform, color, n_train in itertools.product(
            self.classes, self.transforms, self.colors, self.n_train
        ):
            parts = [self.source, *self.options]
            if classes:
                parts.append(f"classes={classes}")
            if transform and transform != "none":
                parts.append(f"transform={transform}")
            if self.size:
                parts.append(f"size={self.size}")
            if color:
                parts.append(f"color={color}")
            if n_train:
                parts.append(f"n_train={n_train}")
            if self.n_test:
                parts.append(f"n_test={self.n_test}")
            domain = (transform or "none").rstrip("0123456789.")
            tags = {"source": self.source, "domain": domain, "heldout": self.heldout}
            if color:  # only when the suite names one: the jobs of earlier suites keep their tags
                tags["color"] = color
            out.append((":".join(parts), tags))
        return out


@dataclass(frozen=True)
class Suite:
    name: str
    groups: tuple[TaskGroup, ...]
    seed: int = 0
    budget: int = 5
    space: str = "default"
    students_per_pair: int = 12
    recipes_per_student: int = 2
    controls: bool = True
    label_seeds: int = 1
    replicate_fraction: float = 0.1
    teacher_epochs: int = 15
    data_dir: str = ""  # empty: --data-dir or $DASS_DATA

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"suite file {str(path)!r} does not exist")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"suite file {str(path)!r} is not valid TOML: {e}") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Suite:
        raw = dict(raw)
        groups_raw = raw.pop("groups", None)
        if not groups_raw:
            raise ValueError("a suite needs at least one [[groups]] table")
        suite_fields = {f.name: f for f in fields(cls) if f.name != "groups"}
        _check_keys("suite", raw, suite_fields, required={"name"})
        for name, value in raw.items():
            _check_type(f"the suite's {name!r}", value, suite_fields[name].type)
        groups = []
        group_fields = {f.name: f for f in fields(TaskGroup)}
        for i, g in enumerate(groups_raw):
            if not isinstance(g, dict):
                raise ValueError(f"groups[{i}] must be a table; got {g!r}")
            _check_keys(f"groups[{i}]", g, group_fields, required={"source", "teachers"})
            for name, value in g.items():
                _check_type(f"groups[{i}].{name}", value, group_fields[name].type)
            g = {k: tuple(v) if isinstance(v, list) else v for k, v in g.items()}
            groups.append(TaskGroup(**g))
        suite = cls(groups=tuple(groups), **raw)
        suite.validate()
        return suite

    def validate(self) -> None:
        get_space(self.space)
        for name in ("budget", "students_per_pair", "teacher_epochs", "label_seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"the suite's {name!r} must be at least 1; got {getattr(self, name)}")
        if not 0 <= self.replicate_fraction <= 1:
            raise ValueError(f"the suite's 'replicate_fraction' must be in [0, 1]; got {self.replicate_fraction}")
        for i, g in enumerate(self.groups):
            for key in ("teachers", "heldout_teachers"):
                for t in getattr(g, key):
                    try:
                        parse_zoo_name(t)
                    except ValueError:
                        raise ValueError(
                            f"groups[{i}].{key}: unknown teacher {t!r}; a suite's teachers are zoo names: "
                            f"{', '.join(zoo_names())}"
                        ) from None
            for spec, _ in g.specs():  # a bad colour, option or transform fails here, before any training
                try:
                    TaskSpec.parse(spec)
                except ValueError as e:
                    raise ValueError(f"groups[{i}]: {e}") from None
            if g.seeds < 0:
                raise ValueError(f"groups[{i}].seeds must be 0 (the suite's rule) or a positive count; got {g.seeds}")
            if not 1 <= g.teachers_per_task <= len(g.teachers):
                raise ValueError(
                    f"groups[{i}].teachers_per_task must be in [1, {len(g.teachers)}]; got {g.teachers_per_task}"
                )

    def pairs(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(task spec, teacher name, tags)`` for every (task, teacher) pair, in a stable order."""
        out = []
        # a held-out teacher is held out wherever it appears, in every group
        heldout_teachers = {t for g in self.groups for t in g.heldout_teachers}
        for gi, group in enumerate(self.groups):
            for ti, (spec, tags) in enumerate(group.specs()):
                for k in range(group.teachers_per_task):
                    teacher = group.teachers[(ti + k) % len(group.teachers)]
                    held = tags["heldout"] or teacher in heldout_teachers
                    out.append((spec, teacher, {**tags, "group": gi, "heldout": held}))
        return out


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from any values, stable across runs and machines (unlike ``hash``)."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def _check_type(what: str, value: object, annotation: str) -> None:
    """Check a TOML value against a field annotation such as ``int``, ``float`` or ``tuple[str, ...]``."""
    if annotation.startswith("tuple["):
        inner = annotation[len("tuple[") : -len(", ...]")]
        if not isinstance(value, list):
            raise ValueError(f"{what} must be a list of {inner}; got {value!r}")
        for v in value:
            _check_type(f"an entry of {what}", v, inner)
        return
    allowed = _TYPES[annotation]
    if not isinstance(value, allowed) or (annotation != "bool" and isinstance(value, bool)):
        raise ValueError(f"{what} must be of type {annotation}; got {value!r}")


def _check_keys(what: str, d: dict, allowed: dict, required: set[str] = frozenset()) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {what}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(d))
    if missing:
        raise ValueError(f"{what} is missing the key {missing[0]!r}")

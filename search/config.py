"""What a search run is: one small typed dataclass, saved as ``config.json`` in the run directory.

A run can be reproduced (and resumed) from its directory alone: ``dass search --resume DIR`` reads
this file back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from search.problem import COST_KINDS, check_cost_kind

__all__ = ["CONFIG_FILE", "SearchConfig"]

CONFIG_FILE = "config.json"
# NSGA-II's default population: `ours` scores it with the predictor (free), so it keeps a large one; on the
# benchmark's 10-class noisy MNIST task 100 instead of 32 raised the best student after 20 trainings from
# 0.583 to 0.616 (benchmarks/RESULTS.md, "Population").
OURS_POPULATION, POPULATION = 100, 32


@dataclass
class SearchConfig:
    """Everything that decides what a search does.

    Paths (teacher file, weights, checkpoint, data directory, run directory) are made absolute, so a
    run resumes from any working directory.
    """

    task: str  # task spec, e.g. "digits" or "mnist:classes=0-4:size=16:n_train=3000"
    teacher: str  # zoo name (resnet-s, vgg-s, ...), TorchScript file, or module:callable
    out: str  # the run directory
    teacher_weights: str | None = None  # state_dict for a zoo or module:callable teacher
    # The zoo trains a teacher it has not cached for this many epochs (its own default).
    teacher_epochs: int = 15
    data_dir: str | None = None  # where mnist.npz & co. live; None: $DASS_DATA
    checkpoint: str | None = None  # predictor checkpoint; only the predictor-guided strategy needs one
    space: str = "default"  # the search space (distill.genome.SPACES)
    objective: str = "params"  # the cost objective: params, flops or latency
    max_params: float | None = None  # hard budgets; each one given is a constraint
    max_flops: float | None = None  # multiply-adds of one forward pass of one input
    max_latency: float | None = None  # milliseconds per image on the CPU (batch of one)
    strategy: str = "ours"  # ours, random, diswot, uniads, autokd (search.strategies.STRATEGIES)
    # NSGA-II: the predictor makes a generation nearly free, so many small generations are cheap, and
    # `ours` keeps a large population for its rungs to choose from (None: 100 for ours, 32 for the others,
    # whose population costs trainings: UniADS-style's fitness is one, random/DisWOT/AutoKD count them).
    generations: int = 20
    population: int | None = None
    # Successive-halving budgets in epochs; the last one is the full budget every reported student gets.
    # 1/3/6 spans the steep start of the learning curves of these small students.
    rungs: tuple[int, ...] = (1, 3, 6)
    rung_every: int = 5  # a bracket of rungs every this many generations
    rung_size: int = 9  # candidates trained at the first rung of a bracket
    eta: int = 3  # keep ceil(n / eta) of n at every rung (Hyperband's usual rate)
    verify: int = 8  # final Pareto candidates (at most) trained at the full budget
    # Stop after this many full-budget-equivalent trainings (sum(epochs) / full budget); None: no limit
    # for ours/uniads (the generations bound them), `population` trainings for random/diswot/autokd.
    max_trainings: float | None = None
    exploration: float = 1.0  # weight of the predictor's std in the optimistic rung selection
    # Share of each bracket's and of the final verification's candidates taken by (predicted or first-rung)
    # accuracy alone; the rest spread along the front. 0: the front only; 1: the most accurate only. Half:
    # the tool's first answer is the best student under the budget, its second the front around it.
    accuracy_share: float = 0.5
    adapt_steps: int = 20  # fine-tuning steps of the predictor on this task's records after a bracket
    executor: str = "local"  # local (in-process, or a pool with workers > 1) or ray
    workers: int = 1
    ray_address: str | None = None
    device: str = "auto"  # training device: auto picks CUDA when present (the in-process executor)
    seed: int = 0  # the one seed: NSGA-II, sampling, training seeds
    save_best: bool = True  # retrain the best student to save its weights in best/
    wandb: bool = False

    def __post_init__(self) -> None:
        check_cost_kind(self.objective)
        from search.executors import EXECUTORS
        from search.strategies import STRATEGIES

        STRATEGIES.get(self.strategy)  # an unknown name is a ValueError listing the valid ones
        if self.population is None:
            self.population = OURS_POPULATION if self.strategy == "ours" else POPULATION
        if self.executor not in EXECUTORS:
            raise ValueError(f"the executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        self.rungs = tuple(int(r) for r in self.rungs)
        if not self.rungs or any(r < 1 for r in self.rungs) or list(self.rungs) != sorted(set(self.rungs)):
            raise ValueError(f"the rungs must be increasing positive epochs, e.g. 1,3,6; got {self.rungs}")
        for name in ("generations", "population", "rung_every", "rung_size", "verify", "workers", "teacher_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"the {name!r} setting must be a positive integer; got {value!r}")
        if self.population < 2:
            raise ValueError(f"the population must be at least 2; got {self.population}")
        if isinstance(self.eta, bool) or not isinstance(self.eta, int) or self.eta < 2:
            raise ValueError(f"eta must be an integer >= 2; got {self.eta!r}")
        if self.max_trainings is not None and not self.max_trainings > 0:
            raise ValueError(f"--max-trainings must be positive; got {self.max_trainings}")
        if self.adapt_steps < 0 or self.exploration < 0:
            raise ValueError("adapt_steps and exploration must be >= 0")
        if not 0 <= self.accuracy_share <= 1:
            raise ValueError(f"--accuracy-share must be in [0, 1]; got {self.accuracy_share}")
        for name in ("teacher_weights", "checkpoint", "data_dir", "out"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, os.path.abspath(value))
        if os.path.exists(self.teacher):  # a TorchScript file (a zoo name or module:callable stays as it is)
            self.teacher = os.path.abspath(self.teacher)
        from distill.tasks import TaskSpec
        from distill.trainer import TrainConfig

        TrainConfig(device=self.device)  # a bad device fails here, not in every training

        spec = TaskSpec.parse(self.task)  # a bad spec fails here, before anything runs
        if spec.path is not None:
            self.task = str(replace(spec, path=os.path.abspath(spec.path)))

    @property
    def full_budget(self) -> int:
        return self.rungs[-1]

    @property
    def limits(self) -> dict[str, float]:
        """``{cost kind: maximum}`` of the budgets that were given."""
        return {k: float(v) for k in COST_KINDS if (v := getattr(self, f"max_{k}")) is not None}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rungs"] = list(self.rungs)
        return d

    def save(self, directory: str | os.PathLike) -> Path:
        from distill.io import write_json

        return write_json(Path(directory) / CONFIG_FILE, self.to_dict())

    @classmethod
    def load(cls, directory: str | os.PathLike) -> SearchConfig:
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{str(path)!r} does not exist: --resume needs the directory of a dass search run")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{str(path)!r} is not valid JSON ({e})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{str(path)!r} has unknown settings {unknown} (written by another dass version?)")
        d["out"] = os.fspath(Path(directory).resolve())  # the directory may have moved
        return cls(**d)

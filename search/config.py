"""What a search run is: one small typed dataclass, saved as ``config.json`` in the run directory.

Every setting is declared once, here: its type, its default (with why it is what it is), its help text
and its ``dass search`` flag (:func:`search.flags.setting`); the command line is generated from these
fields. A run can be reproduced (and resumed) from its directory alone: ``dass search --resume DIR``
reads ``config.json`` back.

The strategy's name is checked where the run starts (:func:`search.loop.run_search`), against the
strategy registry: the settings do not import the strategies, which import the run, which reads the
settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distill.devices import PRECISIONS, check_precision, parse_devices
from distill.executors import EXECUTORS
from distill.genome import SPACES
from distill.io import write_json
from distill.tasks import TaskSpec
from distill.trainer import TrainConfig
from predictor.estimator import ADAPT_METHODS
from search.flags import increasing_epochs, non_negative_int, positive_int, setting
from search.problem import COST_KINDS, check_cost_kind

__all__ = ["CONFIG_FILE", "RESUMABLE", "SearchConfig"]

CONFIG_FILE = "config.json"
# NSGA-II's default population: `ours` scores it with the predictor (free), so it keeps a large one; on the
# benchmark's 10-class noisy MNIST task 100 instead of 32 raised the best student after 20 trainings from
# 0.583 to 0.616 (benchmarks/RESULTS.md, "Population").
OURS_POPULATION, POPULATION = 100, 32
# autodistil's population is the sub-networks it scores with inherited weights per sub-space: AutoDistil's grid
# of 4 x 4 x 4 x 4 = 256 (a forward pass of the validation set each, no training).
AUTODISTIL_POPULATION = 256
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class SearchConfig:
    """Everything that decides what a search does.

    Paths (teacher file, weights, checkpoint, data directory, run directory) are made absolute, so a
    run resumes from any working directory.
    """

    task: str = setting(help="task spec, e.g. digits, mnist:classes=0-4:size=16:n_train=3000")
    teacher: str = setting(help="zoo name (see `dass teachers`), TorchScript file, or module:callable")
    out: str = setting(help="run directory (config.json, records.db, front.csv, best/, plots, report.md)")
    teacher_weights: str | None = setting(None, help="state_dict file for a zoo teacher or a module:callable teacher")
    # The zoo trains a teacher it has not cached for this many epochs (its own default).
    teacher_epochs: int = setting(15, type=positive_int, help="epochs of a zoo teacher trained on demand ({default})")
    data_dir: str | None = setting(None, help="where mnist.npz / IDX / torchvision files live (default: $DASS_DATA)")
    # Only the predictor-guided strategy needs one; the command line fills in the shipped checkpoint.
    checkpoint: str | None = setting(
        None,
        help="predictor checkpoint for --strategy ours (default: checkpoints/predictor_v2.pt)",
    )
    space: str = setting("default", choices=SPACES.names(), help="search space: {choices}")
    objective: str = setting("params", choices=COST_KINDS, help="cost objective: {choices} (default: {default})")
    # Hard budgets; each one given is a constraint of the search (none: the front is unconstrained).
    max_params: float | None = setting(None, type=float, help="parameter budget of the student")
    max_flops: float | None = setting(None, type=float, help="multiply-add budget of one forward pass of one input")
    max_latency: float | None = setting(  # measured on this machine's CPU with a batch of one
        None, type=float, metavar="MS", help="latency budget, ms per image on the CPU"
    )
    # The strategy the tool is for; the others are the baselines it is measured against.
    strategy: str = setting(
        "ours", help="{choices} (default: {default}, dass's own predictor-guided search; the others are baselines)"
    )
    # NSGA-II: the predictor makes a generation nearly free, so many small generations are cheap, and
    # `ours` keeps a large population for its rungs to choose from (None: 100 for ours, 32 for the others,
    # whose population costs trainings: UniADS-style's fitness is one, random/DisWOT/AutoKD count them).
    generations: int = setting(20, type=positive_int, help="NSGA-II generations ({default})")
    population: int | None = setting(
        None,
        type=positive_int,
        default_text=f"{OURS_POPULATION} for ours, {AUTODISTIL_POPULATION} for autodistil, {POPULATION} otherwise",
        help="NSGA-II population; for autodistil, sub-networks scored per supernet ({default})",
    )
    # Successive-halving budgets in epochs; the last one is the full budget every reported student gets.
    # 1/3/6 spans the steep start of the learning curves of these small students.
    rungs: tuple[int, ...] = setting(
        (1, 3, 6), type=increasing_epochs, help="successive-halving budgets in epochs; the last is full ({default})"
    )
    # Five generations let NSGA-II move the population before the predictor is corrected again.
    rung_every: int = setting(5, type=positive_int, help="a bracket of rungs every this many generations ({default})")
    # Nine at 1 epoch, three at 3, one at 6 with eta 3: a bracket costs 9/6 + 3/2 + 1 = 4 full trainings.
    rung_size: int = setting(9, type=positive_int, help="candidates at the first rung of a bracket ({default})")
    # keep ceil(n / eta) of n at every rung (Hyperband's usual rate)
    eta: int = setting(3, type=positive_int, help="keep 1/eta of the candidates at every rung ({default})")
    # Enough to span a front of a few students under one budget, few enough to cost a handful of trainings.
    verify: int = setting(8, type=positive_int, help="final Pareto candidates trained at the full budget ({default})")
    # Stop after this many full-budget-equivalent trainings (sum(epochs) / full budget); None: no limit
    # for ours/uniads (the generations bound them), `population` trainings for random/diswot/autokd.
    max_trainings: float | None = setting(None, type=float, help="stop at this many full-budget-equivalent trainings")
    # Weight of the predictor's std in the optimistic rung selection: 1 is the plain upper confidence bound.
    exploration: float = setting(1.0, cli=False, help="weight of the predictor's std in the rung selection")
    # Share of each bracket's and of the final verification's candidates taken by (predicted or first-rung)
    # accuracy alone; the rest spread along the front. 0: the front only; 1: the most accurate only. Half:
    # the tool's first answer is the best student under the budget, its second the front around it.
    accuracy_share: float = setting(
        0.5,
        type=float,
        metavar="S",
        help="share of the candidates picked by accuracy alone, the rest spread along the front ({default})",
    )
    # Random students trained at the first rung's budget before the first generation, and the predictor adapted to
    # them: the rungs train the predictor's own picks, which teach it little where it ranks a task badly. They cost
    # scouts x rungs[0] / full budget trainings. None by default: with 24 (4 of 20 trainings) a held-out family's
    # ranking rose by 0.08-0.13 (predictor_search_students_heldout_v2lm_textures_scouts24, 0.01-0.04 without), but the
    # best student after 20 trainings was no better on three held-out families over six seeds and a point worse on
    # digits (benchmarks/RESULTS.md: search_efficiency_heldout_v2lm_*_scouts{0,24}, search_efficiency_v2_scouts24).
    scouts: int = setting(
        0,
        type=non_negative_int,
        metavar="N",
        help="--strategy ours: train N random students at the first rung's budget before the first generation and "
        "adapt the predictor to them ({default}: none)",
    )
    # Fine-tuning steps of the predictor on this task's records after a bracket: a few, so that a handful of
    # records corrects the predictor without overwriting what meta-training taught it.
    adapt_steps: int = setting(20, cli=False, help="fine-tuning steps of the predictor after a bracket")
    # How the predictor adapts to this task's records (AccuracyPredictor.adapt): fine-tuning, as every run
    # before had; "guarded" drops the fine-tuning where, fitted on part of the records, it orders the others
    # worse than the meta-trained predictor, and only shifts the predictions then (predictor/guard.py).
    adapt_method: str = setting(
        "finetune",
        choices=ADAPT_METHODS,
        help="how the predictor adapts to the run's trainings: {choices} (default: {default})",
    )
    # Where the trainings run; the result does not depend on it, so a resumed run may change it.
    executor: str = setting("local", choices=EXECUTORS, help="{choices} (default: {default})")
    workers: int = setting(1, type=positive_int, help="local worker processes (1: train in this process)")
    # A GPU trains several candidates in one interleaved loop (distill.executors.train_group); None: $DASS_GROUP,
    # else 8 on CUDA and 1 on the CPU (one at a time, the path every CPU record was made by). Results never depend
    # on it, so a resumed run may change it.
    group: int | None = setting(
        None,
        type=positive_int,
        metavar="N",
        default_text="$DASS_GROUP, else 8 on CUDA, 1 on the CPU",
        help="candidates a worker trains together in one loop ({default}); the results do not depend on it",
    )
    ray_address: str | None = setting(None, help="Ray cluster address for --executor ray ('local' starts one here)")
    # auto picks CUDA when present (the in-process executor)
    device: str = setting("auto", choices=DEVICES, help="training device: {choices} (default: {default})")
    # With --workers N, worker i trains on devices[i % n]: a rung spreads over the GPUs, several per GPU.
    devices: str | None = setting(
        None,
        metavar="LIST",
        help="GPUs of the worker pool, e.g. 0,1 (default: every visible GPU; on a machine without one, the CPU)",
    )
    # fp32: what the meta-dataset and the shipped predictor were made with; bf16 is several times faster on a GPU,
    # and the run's records say which they are.
    precision: str = setting(
        "fp32", choices=PRECISIONS, help="{choices} (default: {default}; bf16: autocast, CUDA only)"
    )
    # Weight-sharing supernets (distill.supernet). `ours` reads a trained directory as one more cheap fidelity;
    # `autodistil` trains its own in OUT/supernets.
    supernet: str | None = setting(
        None,
        metavar="DIR",
        help="trained supernets of this task and teacher (`dass supernet --out DIR`): --strategy ours uses their "
        "inherited-weight accuracy where it ranks the first rung better than the predictor",
    )
    # Without --max-trainings, autodistil trains each supernet for this many epochs of sandwich steps (as `dass
    # supernet`); with it, the supernets share what the verification does not need (search.strategies.autodistil).
    supernet_epochs: int = setting(
        6,
        type=positive_int,
        help="sandwich epochs per supernet of --strategy autodistil without --max-trainings ({default})",
    )
    seed: int = setting(0, type=non_negative_int, help="the one seed: NSGA-II, sampling, training seeds ({default})")
    # The saved weights are what a user deploys; a benchmark comparing strategies skips the retraining.
    save_best: bool = setting(
        True, flag="--no-best", switch=False, help="do not retrain the best student to save its weights"
    )
    wandb: bool = setting(False, switch=True, help="log rungs and the front to Weights & Biases (offline)")

    def __post_init__(self) -> None:
        check_cost_kind(self.objective)
        if self.population is None:
            defaults = {"ours": OURS_POPULATION, "autodistil": AUTODISTIL_POPULATION}
            self.population = defaults.get(self.strategy, POPULATION)
        if self.executor not in EXECUTORS:
            raise ValueError(f"the executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        self.rungs = tuple(int(r) for r in self.rungs)
        if not self.rungs or any(r < 1 for r in self.rungs) or list(self.rungs) != sorted(set(self.rungs)):
            raise ValueError(f"the rungs must be increasing positive epochs, e.g. 1,3,6; got {self.rungs}")
        names = ("generations", "population", "rung_every", "rung_size", "verify", "workers", "teacher_epochs",
                 "supernet_epochs")  # fmt: skip
        if self.group is not None:
            names += ("group",)
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"the {name!r} setting must be a positive integer; got {value!r}")
        if self.population < 2:
            raise ValueError(f"the population must be at least 2; got {self.population}")
        if isinstance(self.eta, bool) or not isinstance(self.eta, int) or self.eta < 2:
            raise ValueError(f"eta must be an integer >= 2; got {self.eta!r}")
        if self.max_trainings is not None and not self.max_trainings > 0:
            raise ValueError(f"--max-trainings must be positive; got {self.max_trainings}")
        if self.adapt_method not in ADAPT_METHODS:
            raise ValueError(f"--adapt-method must be one of {', '.join(ADAPT_METHODS)}; got {self.adapt_method!r}")
        if isinstance(self.scouts, bool) or not isinstance(self.scouts, int) or self.scouts < 0:
            raise ValueError(f"--scouts must be an integer >= 0; got {self.scouts!r}")
        if self.adapt_steps < 0 or self.exploration < 0:
            raise ValueError("adapt_steps and exploration must be >= 0")
        if not 0 <= self.accuracy_share <= 1:
            raise ValueError(f"--accuracy-share must be in [0, 1]; got {self.accuracy_share}")
        for name in ("teacher_weights", "checkpoint", "data_dir", "out", "supernet"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, os.path.abspath(value))
        if os.path.exists(self.teacher):  # a TorchScript file (a zoo name or module:callable stays as it is)
            self.teacher = os.path.abspath(self.teacher)
        TrainConfig(device=self.device)  # a bad device fails here, not in every training
        if self.devices is not None:
            parse_devices(self.devices)  # a GPU this machine lacks fails here too
        check_precision(self.precision, self.device if self.devices is None else parse_devices(self.devices)[0])

        spec = TaskSpec.parse(self.task)  # a bad spec fails here, before anything runs
        if spec.path is not None:
            self.task = str(replace(spec, path=os.path.abspath(spec.path)))

    @property
    def full_budget(self) -> int:
        return self.rungs[-1]

    @property
    def device_list(self) -> list[str] | None:
        """The worker pool's devices (``--devices``); ``None`` when the run trains on ``device`` alone.

        A pool on a machine with GPUs spreads over all of them unless ``--devices`` says otherwise; a run that
        names a ``--device`` other than ``auto`` keeps every training there.
        """
        if self.devices is None and self.device != "auto":
            return None
        devices = parse_devices(self.devices)
        return None if self.devices is None and devices == ["cpu"] else devices  # no GPU: as before, on `device`

    @property
    def limits(self) -> dict[str, float]:
        """``{cost kind: maximum}`` of the budgets that were given."""
        return {k: float(v) for k in COST_KINDS if (v := getattr(self, f"max_{k}")) is not None}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rungs"] = list(self.rungs)
        return d

    def save(self, directory: str | os.PathLike) -> Path:
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


# Where the trainings run: the only settings a resumed run may change (the result does not depend on them).
RESUMABLE = ("executor", "workers", "group", "ray_address")

"""One search run: what a strategy works with, and the few verbs it uses.

A strategy (:mod:`search.strategies`) reads the run's task, teacher, search space, costs and settings,
and acts through these verbs:

* ``predict`` -- the predictor, one call per population (and ``note_predictions``, ``adapt``);
* ``train`` -- real trainings at a budget through the run's record store, counted against the training
  budget (``budget``), and ``bracket`` -- a successive-halving bracket of them;
* ``full_results`` / ``best`` -- the measured front so far;
* ``save_state`` / ``load_state`` -- the run's state, with the strategy's own (:mod:`search.state`).

What is not a verb lives in small collaborators: the progress bar (:mod:`search.progress`), the wall
clock over sessions (:mod:`search.clock`), the state files (:mod:`search.state`), the training budget
(:mod:`search.budget`), the teacher (:mod:`search.teacher`) and the trainer (:mod:`search.rungs`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from datasets_meta.store import SQLiteStore
from distill.executors import Executor, make_executor, train_group
from distill.genome import Genome, get_space
from distill.io import write_json
from distill.landmarks import LANDMARK_EPOCHS, REFERENCE_STUDENTS, task_landmarks
from distill.records import KEY_FIELDS, JobKey
from distill.tasks import load_task
from distill.teachers import teacher_outputs
from distill.trainer import TeacherOutputs
from predictor.data import to_example
from predictor.estimator import AccuracyPredictor
from search.budget import BudgetExhausted, TrainingBudget
from search.clock import RunClock
from search.config import SearchConfig
from search.problem import CostModel, check_budget, single_threaded_torch
from search.progress import Progress
from search.run_files import DamagedFile, read_json
from search.rungs import Measurement, Trainer, successive_halving
from search.state import StateFiles
from search.teacher import SearchTeacher

log = logging.getLogger(__name__)

__all__ = ["BudgetExhausted", "Progress", "SearchRun", "adapt_example"]

COSTS_FILE = "costs.json"
# What every saved state holds besides the strategy's own (see SearchRun.save_state).
STATE_KEYS = ("ledger", "adapted_on", "history", "predictions")  # and "charges" (absent in older runs' states)
DB_FILE = "records.db"
# Each training job may be tried twice: a worker that died or ran out of memory gets a second chance,
# a deterministic error does not waste a third.
MAX_ATTEMPTS = 2


def adapt_example(record: dict[str, Any], landmarks: list[float] | None = None) -> dict[str, Any]:
    """A store record as a predictor record whose target is the *validation* accuracy: the search decides
    on validation accuracy only, and the test accuracy stays untouched for the report. ``landmarks``: the task's
    (:func:`distill.landmarks.task_landmarks`), for a predictor that reads them (the records do not carry them)."""
    example = to_example(record, label="val_acc")
    if landmarks is not None:
        example["task_features"] = {**example["task_features"], "landmarks": list(landmarks)}
    return example


def _key_of(record: dict[str, Any]) -> JobKey:
    return JobKey(*(record[name] for name in KEY_FIELDS))


def job_fields(config: SearchConfig, task_id: str, task_spec: str, teacher_id: str) -> dict[str, Any]:
    """What every training job of the run shares (the key's task, teacher and seed, and its provenance)."""
    tags: dict[str, Any] = {"teacher_epochs": config.teacher_epochs, "search": config.strategy}
    if config.teacher_weights:
        tags["teacher_weights"] = config.teacher_weights
    if config.precision != "fp32":  # fp32 jobs keep the tags (and so the records) of earlier runs
        tags["precision"] = config.precision
    return {
        "task_id": task_id,
        "teacher_id": teacher_id,
        "task_spec": task_spec,
        "teacher": config.teacher,
        "seed": config.seed,
        "suite": f"search-{config.strategy}",
        "tags": tags,
    }


def open_run_store(path: Path) -> SQLiteStore:
    """The run's record store at ``path``; one that cannot be opened is a one-line error about the run (the
    store's own advice is about ``dass collect --db``, an option ``dass search`` does not have)."""
    try:
        return SQLiteStore(path, max_attempts=MAX_ATTEMPTS)
    except (ValueError, sqlite3.DatabaseError) as e:
        message = " ".join(str(e).split())
        if isinstance(e, ValueError) and "--db" not in message:
            raise  # the store's advice holds here too (e.g. a database file with two names)
        problem = re.split(r"; |: (?=export)", message, maxsplit=1)[0]  # the store's finding, not its --db advice
        raise ValueError(
            f"the run's record store cannot be opened: {problem}; a run cannot go on without its trainings: "
            "start a new --out (the file is left as it is)"
        ) from None


def wandb_run(out: Path, config: dict[str, Any]) -> Any:
    """The search's W&B run (offline without an API key), its files in the run directory (``out/wandb``), never
    in the working directory."""
    try:
        import wandb  # an optional dependency
    except ImportError:
        raise ValueError("--wandb needs W&B: pip install 'dass[wandb]'") from None
    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    return wandb.init(project="dass-search", config=config, mode=mode, dir=str(out))


def load_predictor(config: SearchConfig) -> AccuracyPredictor:
    """The predictor checkpoint of ``config``; a warning when it was not trained for the full budget."""
    if not config.checkpoint:
        raise ValueError(f"the {config.strategy!r} strategy needs a predictor: pass --checkpoint FILE")
    predictor = AccuracyPredictor.load(config.checkpoint)
    # a predictor meta-trained without a family of the space refuses its genomes: say so before the teacher trains
    refusal = predictor.space_refusal(config.space)
    if refusal:
        raise ValueError(refusal)
    note = predictor.budget_note(config.full_budget)
    if note:  # the search ranks students by their predicted accuracy at the full budget
        log.warning("%s (the full budget of --rungs)", note)
    return predictor


class SearchRun:
    """Everything a strategy needs, built once per run (cheap checks first, the teacher last).

    The run owns its executor and record store for its lifetime: :meth:`close` (or ``with``) releases them.

    Args:
        config: the run's settings (never changed by the run or a strategy).
        needs_predictor: load the predictor checkpoint (the predictor-guided strategy).
        progress: the progress bar.
    """

    def __init__(self, config: SearchConfig, needs_predictor: bool, progress: Progress | None = None) -> None:
        self.config = config
        self.out = Path(config.out)
        self.progress = progress or Progress(enabled=False)
        self.space = get_space(config.space)
        self.limits = config.limits
        self.history: list[dict[str, Any]] = []  # the best verified student after every batch of trainings
        self.predictions: dict[str, list[float]] = {}  # genome hash -> [mean, std] when first chosen to train
        self.adapted_on = 0  # the predictor is adapted on the records of the first `adapted_on` ledger jobs
        self.population_view: dict[str, Any] | None = None  # the final population, for the Pareto plot
        self.notes: dict[str, str] = {}  # what the strategy decided, one line each, for the report
        self.predictor: AccuracyPredictor | None = None
        self.logger: Any = None
        self.store: SQLiteStore | None = None
        self.clock = RunClock(self.out)
        if self.clock.sessions > 1:  # a resumed run: this session counts from now, even if killed while loading
            self.clock.start_session()
        self.state_files = StateFiles(self.out, config.strategy, required=STATE_KEYS)
        self._resources = contextlib.ExitStack()

        # Loaded as a training worker loads it, on one thread: a task's normalisation statistics are float32
        # reductions whose last bit depends on the thread count, and the best student's retraining must see
        # the very inputs its stored run saw (``save_best``).
        with single_threaded_torch():
            self.task = load_task(config.task, config.data_dir).require_validation()
        self.costs = CostModel(self.task.in_shape, self.task.num_classes)
        self._load_costs()
        check_budget(self.space, self.costs, self.limits)  # an infeasible budget fails before any training
        if needs_predictor:
            self.predictor = load_predictor(config)
        try:
            if config.wandb:
                self.logger = wandb_run(self.out, config.to_dict())
            self.executor: Executor = self._resources.enter_context(
                make_executor(
                    config.executor,
                    config.workers,
                    config.data_dir,
                    config.device,
                    config.ray_address,
                    devices=config.device_list,
                )
            )
            teacher = SearchTeacher.load(config.teacher, self.task, config.teacher_weights, config.teacher_epochs)
            self.teacher, self.hints, self.features = teacher.teacher, teacher.hints, teacher.features
            if needs_predictor and self.predictor.landmarks:  # two short trainings, cached by task id
                self.features = {**self.features, "landmarks": task_landmarks(self.task)}
            if needs_predictor and (note := self.predictor.task_note(self.features)):
                log.warning("%s", note)  # the predictor is out of its depth: say so, in the log and the report
                self.note("unfamiliar task", note)
            self.store = open_run_store(self.out / DB_FILE)
            self._resources.callback(self.store.close)
            self._resources.callback(self._save_costs_and_clock)  # on close, before the store closes
        except BaseException:
            self.close()
            raise
        fields = job_fields(config, self.task.id, str(self.task.spec), self.teacher.id)
        on_result = lambda job, outcome: self.progress.note(trainings=f"{self.trainer.spent:.1f}")  # noqa: E731
        # the group is explicit (the run's setting, else the default of the executor's device), never read from
        # the environment behind the run's back
        self.group = config.group if config.group is not None else train_group(self.executor.device)
        self.trainer = Trainer(
            self.store, self.executor, fields, config.full_budget, on_result=on_result, group=self.group
        )
        if "landmarks" in self.features:  # paid as any other training: 2 reference students x their epochs
            self.charge("landmarks", len(REFERENCE_STUDENTS) * LANDMARK_EPOCHS / config.full_budget)
        self.budget = TrainingBudget(self.trainer, config.max_trainings)

    # ------------------------------------------------------------------ what the run knows
    @property
    def max_trainings(self) -> float | None:
        """The run's training budget (``--max-trainings``)."""
        return self.config.max_trainings

    @property
    def workers(self) -> int:
        """Trainings that run at once (``workers x group``: each worker trains a group together): a strategy that
        trains one by one batches this many."""
        return max(1, self.executor.workers) * self.group

    def cost(self, genomes: list[Genome]) -> np.ndarray:
        """The cost objective of each genome, ``(N,)``."""
        return self.costs(genomes, self.config.objective)

    def feasible(self, genomes: list[Genome]) -> np.ndarray:
        """``(N,)`` bool: within every budget that was given."""
        return self.costs.within(genomes, self.limits)

    def trained_hashes(self, min_budget: int = 1) -> set[str]:
        """Genome hashes this run has trained at ``min_budget`` epochs or more."""
        return self.trainer.trained_hashes(min_budget)

    def note(self, name: str, text: str) -> None:
        """A line of the report on what the strategy decided (e.g. which fidelity it trusts), under ``name``."""
        self.notes[name] = text

    def teacher_outputs(self) -> TeacherOutputs:
        """The teacher's cached outputs on the task (logits, features): what a supernet is distilled from."""
        return teacher_outputs(self.teacher, self.task)

    def show_population(self, view: dict[str, Any]) -> None:
        """Keep the final population (label, acc, std, cost, feasible) for the Pareto plot."""
        self.population_view = view

    # ------------------------------------------------------------------ predictor
    def predict(self, genomes: list[Genome], budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy at ``budget`` epochs (default: the full budget), ``(mean, std)``; one call for all
        genomes."""
        return self.predictor.predict(genomes, self.features, self.config.full_budget if budget is None else budget)

    def note_predictions(self, genomes: list[Genome], mean: np.ndarray, std: np.ndarray) -> None:
        """Remember what was predicted for a genome when it was first chosen to be trained (before any of
        its results could reach the predictor): the honest predicted-vs-measured pairs."""
        for g, m, s in zip(genomes, mean, std):
            self.predictions.setdefault(g.hash, [float(m), float(s)])

    def adapt(self, n: int | None = None) -> None:
        """Fine-tune the predictor on the successful records of the first ``n`` ledger jobs (all by default).

        Records are sorted by job key, so the adapted predictor depends on which trainings were done, not on
        the order in which they finished; :meth:`AccuracyPredictor.adapt` always starts from the
        meta-trained weights, so this is a function of the records alone.
        """
        n = len(self.trainer.ledger) if n is None else n
        records = [
            r
            for r in self.trainer.ledger_records(n)
            if r["state"] == "done" and r["status"] == "ok" and r["val_acc"] is not None
        ]
        records.sort(key=_key_of)
        if records:
            # calibrate=False: the rung selection's upper confidence bound (mean + exploration * std) was tuned and
            # measured with the ensemble's spread as it is; a per-task re-scaling of it would change the picks
            self.predictor.adapt(
                [adapt_example(r, self.features.get("landmarks")) for r in records],
                steps=self.config.adapt_steps,
                method=self.config.adapt_method,
                calibrate=False,
            )
        else:
            self.predictor.reset_adaptation()
        self.adapted_on = n

    # ------------------------------------------------------------------ training
    def charge(self, name: str, trainings: float) -> None:
        """Count ``trainings`` full-budget-equivalents spent outside the record store (e.g. a supernet's training)
        against the training budget, under ``name`` (charging a name again replaces its amount); saved with the
        state."""
        self.trainer.charge(name, trainings)

    @property
    def charges(self) -> dict[str, float]:
        """What :meth:`charge` counted, by name."""
        return dict(self.trainer.charges)

    def train(self, genomes: list[Genome], budget: int) -> list[Measurement]:
        """Train (or read back) ``genomes`` at ``budget`` epochs; every result is recorded and logged."""
        measured = self.trainer.train(genomes, budget)
        best = self.best()
        best_cost = float(self.cost([best.genome])[0]) if best else None
        entry = {
            "trainings": round(self.trainer.spent, 6),
            "budget": int(budget),
            "n": len(genomes),
            "best_val_acc": best.val_acc if best else None,
            "best_test_acc": best.test_acc if best else None,
            "best_hash": best.genome.hash if best else None,
            "best_cost": best_cost,
        }
        self.history.append(entry)
        if best:
            self.progress.note(best=f"{best.val_acc:.3f}@{best_cost:,.0f}")
        if self.logger is not None:
            self.logger.log({k: v for k, v in entry.items() if k != "best_hash" and v is not None})
        return measured

    def bracket(self, candidates: list[Genome], start_level: int = 0) -> list[list[Measurement]]:
        """A successive-halving bracket over ``candidates`` (most promising first), within the budget."""
        c = self.config
        levels = successive_halving(
            candidates, self.train, c.rungs, c.eta, self.cost, self.budget.affordable, start_level=start_level
        )
        self.progress.note(rungs=self.progress.postfix.get("rungs", 0) + 1)
        return levels

    # ------------------------------------------------------------------ the measured front
    def full_results(self) -> list[Measurement]:
        """Successful full-budget trainings of feasible students, in ledger order."""
        out = []
        for r in self.trainer.ledger_records():
            if r["budget"] == self.config.full_budget and r["state"] == "done" and r["status"] == "ok":
                g = Genome.from_json(r["genome"])
                if self.feasible([g])[0] and r["val_acc"] is not None and math.isfinite(r["val_acc"]):
                    out.append(Measurement(g, r["budget"], "ok", r["val_acc"], r["test_acc"], r))
        return out

    def best(self) -> Measurement | None:
        """The most accurate (validation) feasible student trained at the full budget so far."""
        results = self.full_results()
        if not results:
            return None
        costs = self.cost([m.genome for m in results])
        return results[min(range(len(results)), key=lambda i: (-results[i].val_acc, costs[i], i))]

    # ------------------------------------------------------------------ state
    def save_state(self, strategy_state: dict[str, Any]) -> None:
        """Write the run's state with the strategy's (``generation`` first; its ``arrays`` go to the npz)."""
        self._save_costs_and_clock()
        extra = dict(strategy_state)
        generation, arrays = extra.pop("generation"), extra.pop("arrays", None)
        state = {
            "generation": generation,
            "ledger": [list(key) for key in self.trainer.ledger],
            "adapted_on": self.adapted_on,
            "history": self.history,
            "predictions": self.predictions,
            "charges": dict(self.trainer.charges),
            **extra,
        }
        self.state_files.write(state, arrays)

    def load_state(self) -> dict[str, Any] | None:
        """The saved state with its ``arrays`` (``None`` for a new run); restores the ledger, the histories
        and the predictor's adaptation."""
        state, arrays = self.state_files.read()
        if state is None:
            return None
        self.trainer.restore_ledger(state["ledger"])
        self.trainer.charges = {str(k): float(v) for k, v in state.get("charges", {}).items()}
        self.history = list(state["history"])
        self.predictions = dict(state["predictions"])
        if self.predictor is not None and state["adapted_on"]:
            self.adapt(state["adapted_on"])
        log.info("resumed at generation %d after %.2f trainings", state["generation"], self.trainer.spent)
        return {**state, "arrays": arrays}

    # ------------------------------------------------------------------ the run's files
    def _load_costs(self) -> None:
        """The costs measured by earlier sessions (``costs.json``). A damaged file is measured again, with a
        warning; unless a measured latency is part of the search (it may come out differently): then the
        error says what to do."""
        path = self.out / COSTS_FILE
        if not path.is_file():
            return
        try:
            self.costs.load_state_dict(read_json(path))
        except (DamagedFile, AttributeError, KeyError, TypeError, ValueError) as e:
            problem = e if isinstance(e, DamagedFile) else f"{path} is not a cost table (written by another dass?)"
            if self.config.objective == "latency" or "latency" in self.limits:
                raise ValueError(
                    f"{problem}; it holds the latencies the earlier sessions measured: delete it to measure them "
                    "again (they may come out differently), or start a new --out"
                ) from None
            log.warning("%s; the costs are computed again", problem)
            self.costs = CostModel(self.task.in_shape, self.task.num_classes)

    # ------------------------------------------------------------------ closing
    def _save_costs_and_clock(self) -> None:
        write_json(self.out / COSTS_FILE, self.costs.state_dict())
        self.clock.save()

    def close(self) -> None:
        """Keep the measured costs and the clock, close the store, stop the executor; safe to call twice."""
        self._resources.close()
        self.store = None

    def __enter__(self) -> SearchRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

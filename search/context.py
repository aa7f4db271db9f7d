"""One search run: the task, the teacher, the costs, the trainer, the predictor, and the run's state.

Strategies receive a :class:`SearchRun` and use its few verbs: ``predict`` (the predictor, one call per
population), ``train`` (real trainings through the run's record store, counted against
``--max-trainings``), ``bracket`` (a successive-halving bracket), ``adapt`` (fine-tune the predictor on
every record of this task so far) and ``save_state`` / ``load_state``.

The state is written at the end of every generation, crash-safe (a temporary file, then a rename):
``state.json`` (generation counter, the ledger of trainings paid for, the RNG state, histories) and
``state-GGGGG.npz`` (the population's arrays, read back with ``allow_pickle=False``). ``state.json`` is
written last and names its ``.npz``, so it is the commit point: a crash in between leaves the previous
generation's pair intact.
"""

from __future__ import annotations

import io
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from distill.genome import Genome, get_space
from distill.io import write_atomic, write_json
from search.config import SearchConfig
from search.executors import make_executor
from search.problem import CostModel, check_budget, single_threaded_torch
from search.rungs import Measurement, Trainer, successive_halving

log = logging.getLogger(__name__)

__all__ = ["BudgetExhausted", "Progress", "SearchRun", "adapt_example"]

STATE_FILE = "state.json"
COSTS_FILE = "costs.json"
CLOCK_FILE = "clock.json"  # wall time of the sessions so far: a resumed run reports its whole time
DB_FILE = "records.db"
STATE_VERSION = 1
# Each training job may be tried twice: a worker that died or ran out of memory gets a second chance,
# a deterministic error does not waste a third.
MAX_ATTEMPTS = 2


class BudgetExhausted(Exception):
    """Raised by a strategy's fitness when the next trainings would exceed ``--max-trainings``."""


class Progress:
    """A tqdm bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: Any = None
        self.postfix: dict[str, Any] = {}

    def start(self, total: int, unit: str, desc: str) -> None:
        if self.enabled and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True)

    def advance(self, n: int = 1, to: int | None = None) -> None:
        if self.bar is not None:
            self.bar.update((to - self.bar.n) if to is not None else n)

    def note(self, **postfix: Any) -> None:
        self.postfix.update(postfix)
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def adapt_example(record: dict[str, Any]) -> dict[str, Any]:
    """A store record as a predictor record whose target is the *validation* accuracy: the search decides
    on validation accuracy only, and the test accuracy stays untouched for the report."""
    from predictor.data import to_example

    return {**to_example(record), "target": float(record["val_acc"])}


def _key_of(record: dict[str, Any]) -> tuple:
    return (record["task_id"], record["teacher_id"], record["genome_hash"], record["budget"], record["seed"])


class SearchRun:
    """Everything a strategy needs, built once per run (cheap checks first, the teacher last).

    Args:
        config: the run's settings.
        needs_predictor: load the predictor checkpoint (the predictor-guided strategy).
        progress: the progress bar.
    """

    def __init__(self, config: SearchConfig, needs_predictor: bool, progress: Progress | None = None) -> None:
        from datasets_meta.store import SQLiteStore
        from distill.tasks import load_task

        self.config = config
        self.out = Path(config.out)
        self.progress = progress or Progress(enabled=False)
        self.space = get_space(config.space)
        self.limits = config.limits
        self.max_trainings = config.max_trainings
        self.history: list[dict[str, Any]] = []
        self.predictions: dict[str, list[float]] = {}  # genome hash -> [mean, std] when first chosen to train
        self.adapted_on = 0
        self.population_view: dict[str, Any] | None = None  # the final population, for the Pareto plot
        self.predictor: Any = None
        self.logger: Any = None
        self.executor: Any = None
        self.store: Any = None
        self.started = time.perf_counter()
        self.sessions, self.wall_before = 1, 0.0
        if (self.out / CLOCK_FILE).is_file():  # a resumed run: add the time of its earlier sessions
            clock = json.loads((self.out / CLOCK_FILE).read_text())
            self.sessions, self.wall_before = int(clock.get("sessions", 1)) + 1, float(clock.get("wall_s", 0.0))

        # Loaded as a training worker loads it, on one thread: a task's normalisation statistics are float32
        # reductions whose last bit depends on the thread count, and the best student's retraining must see
        # the very inputs its stored run saw (``save_best``).
        with single_threaded_torch():
            self.task = load_task(config.task, config.data_dir)
        self.costs = CostModel(self.task.in_shape, self.task.num_classes)
        if (self.out / COSTS_FILE).is_file():
            self.costs.load_state_dict(json.loads((self.out / COSTS_FILE).read_text()))
        check_budget(self.space, self.costs, self.limits)  # an infeasible budget fails before any training
        if needs_predictor:
            from predictor.estimator import AccuracyPredictor

            if not config.checkpoint:
                raise ValueError(f"the {config.strategy!r} strategy needs a predictor: pass --checkpoint FILE")
            self.predictor = AccuracyPredictor.load(config.checkpoint)
            note = self.predictor.budget_note(config.full_budget)
            if note:  # the search ranks students by their predicted accuracy at the full budget
                log.warning("%s (the full budget of --rungs)", note)
        try:
            if config.wandb:
                from predictor.pretrain import wandb_logger

                self.logger = wandb_logger(project="dass-search", config=config.to_dict())
            self.executor = make_executor(
                config.executor, config.workers, config.data_dir, config.device, config.ray_address
            )
            self._load_teacher()
            self.store = SQLiteStore(self.out / DB_FILE, max_attempts=MAX_ATTEMPTS)
        except BaseException:
            self.close()
            raise
        tags: dict[str, Any] = {"teacher_epochs": config.teacher_epochs, "search": config.strategy}
        if config.teacher_weights:
            tags["teacher_weights"] = config.teacher_weights
        self.trainer = Trainer(
            self.store,
            self.executor,
            {
                "task_id": self.task.id,
                "teacher_id": self.teacher.id,
                "task_spec": str(self.task.spec),
                "teacher": config.teacher,
                "seed": config.seed,
                "suite": f"search-{config.strategy}",
                "tags": tags,
            },
            config.full_budget,
            on_result=lambda job, outcome: self.progress.note(trainings=f"{self.trainer.spent:.1f}"),
        )

    def _load_teacher(self) -> None:
        from distill.probe import probe_features
        from distill.teachers import get_teacher, teacher_config

        c = self.config
        # exactly as the collector's run_job builds it, so that both get the same teacher (and id)
        config = teacher_config(c.teacher_epochs)
        self.teacher = get_teacher(c.teacher, self.task, weights=c.teacher_weights, config=config)
        # A teacher that exposes no feature maps (a plain TorchScript module) cannot give a feature hint.
        self.hints = self.teacher.has_feature_maps(self.task.x_val[:2])
        if not self.hints:
            log.warning("teacher %s exposes no stage features: the search uses no feature hints", c.teacher)
        self.features = probe_features(self.teacher, self.task)

    # ------------------------------------------------------------------ costs and budgets
    def cost(self, genomes: list[Genome]) -> np.ndarray:
        """The cost objective of each genome, ``(N,)``."""
        return self.costs(genomes, self.config.objective)

    def feasible(self, genomes: list[Genome]) -> np.ndarray:
        ok = np.ones(len(genomes), dtype=bool)
        for kind, limit in self.limits.items():
            ok &= self.costs(genomes, kind) <= limit
        return ok

    def room(self) -> float | None:
        """Full-budget-equivalent trainings left, or ``None`` without a limit."""
        return None if self.max_trainings is None else self.max_trainings - self.trainer.spent

    def can_train(self, budget: int) -> bool:
        room = self.room()
        return room is None or room + 1e-9 >= budget / self.config.full_budget

    # ------------------------------------------------------------------ predictor
    def predict(self, genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy at the full budget, ``(mean, std)``; one call for all genomes."""
        return self.predictor.predict(genomes, self.features, self.config.full_budget)

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
            self.predictor.adapt([adapt_example(r) for r in records], steps=self.config.adapt_steps)
        else:
            self.predictor.reset_adaptation()
        self.adapted_on = n

    # ------------------------------------------------------------------ training
    def train(self, genomes: list[Genome], budget: int) -> list[Measurement]:
        """Train (or read back) ``genomes`` at ``budget`` epochs; every result is recorded and logged."""
        measured = self.trainer.train(genomes, budget)
        best = self.best()
        entry = {
            "trainings": round(self.trainer.spent, 6),
            "budget": int(budget),
            "n": len(genomes),
            "best_val_acc": best.val_acc if best else None,
            "best_test_acc": best.test_acc if best else None,
            "best_hash": best.genome.hash if best else None,
            "best_cost": float(self.cost([best.genome])[0]) if best else None,
        }
        self.history.append(entry)
        if best:
            self.progress.note(best=f"{best.val_acc:.3f}@{entry['best_cost']:,.0f}")
        if self.logger is not None:
            self.logger.log({k: v for k, v in entry.items() if k != "best_hash" and v is not None})
        return measured

    def bracket(self, candidates: list[Genome], start_level: int = 0) -> list[list[Measurement]]:
        """A successive-halving bracket over ``candidates`` (most promising first), within the budget."""
        c = self.config
        levels = successive_halving(
            candidates,
            self.train,
            c.rungs,
            c.eta,
            self.cost,
            affordable=lambda genomes, budget: self.trainer.affordable(genomes, budget, self.room()),
            start_level=start_level,
        )
        self.progress.note(rungs=self.progress.postfix.get("rungs", 0) + 1)
        return levels

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
    def save_state(self, generation: int, arrays: dict[str, np.ndarray] | None = None, **extra: Any) -> None:
        """Write the search state of ``generation`` (crash-safe; ``state.json`` last, as the commit point)."""
        self._save_costs_and_clock()
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "strategy": self.config.strategy,
            "generation": generation,
            "ledger": [list(key) for key in self.trainer.ledger],
            "adapted_on": self.adapted_on,
            "history": self.history,
            "predictions": self.predictions,
            **extra,
        }
        name = None
        if arrays is not None:
            name = f"state-{generation:05d}.npz"
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            write_atomic(self.out / name, buffer.getvalue())
            state["arrays"] = name
        write_json(self.out / STATE_FILE, state)
        for old in self.out.glob("state-*.npz"):
            if old.name != name:
                old.unlink()

    def load_state(self) -> tuple[dict[str, Any] | None, dict[str, np.ndarray] | None]:
        """The saved state and arrays (``(None, None)`` for a new run); restores the ledger, the histories and
        the predictor's adaptation."""
        path = self.out / STATE_FILE
        if not path.is_file():
            return None, None
        state = json.loads(path.read_text())
        if state.get("version") != STATE_VERSION or state.get("strategy") != self.config.strategy:
            raise ValueError(f"{path} was written by another dass version or strategy; start a new run")
        self.trainer.restore_ledger(state["ledger"])
        self.history = list(state["history"])
        self.predictions = dict(state["predictions"])
        arrays = None
        if state.get("arrays"):
            with np.load(self.out / state["arrays"], allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        if self.predictor is not None and state["adapted_on"]:
            self.adapt(state["adapted_on"])
        log.info("resumed at generation %d after %.2f trainings", state["generation"], self.trainer.spent)
        return state, arrays

    @property
    def session_s(self) -> float:
        """Seconds of wall time since this session (the first run, or a resume) began."""
        return time.perf_counter() - self.started

    @property
    def wall_s(self) -> float:
        """Seconds of wall time of this run, every session so far included (each up to its last save)."""
        return self.wall_before + self.session_s

    def _save_costs_and_clock(self) -> None:
        write_json(self.out / COSTS_FILE, self.costs.state_dict())
        write_json(self.out / CLOCK_FILE, {"wall_s": round(self.wall_s, 3), "sessions": self.sessions})

    def close(self) -> None:
        """Stop the executor, close the store, keep the measured costs; safe to call twice."""
        if self.store is not None:
            self._save_costs_and_clock()
        if self.executor is not None:
            self.executor.close()
            self.executor = None
        if self.store is not None:
            self.store.close()
            self.store = None

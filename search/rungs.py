"""Successive-halving rungs over several objectives, and the trainer that runs them.

A *bracket* starts from candidates chosen out of the current population and trains them at growing
budgets (epochs), e.g. ``(1, 3, 6)``::

    level 0: n candidates        x 1 epoch
    level 1: ceil(n / eta) best  x 3 epochs      best = Pareto rank of (measured accuracy, cost)
    level 2: ceil(n / eta^2)     x 6 epochs      (the full budget: these are verified students)

Unlike the scalar successive halving of Hyperband, candidates are promoted by **Pareto rank** of
(measured validation accuracy (max), cost (min)), with NSGA-II's crowding distance breaking ties, so
both a small and an accurate student survive a level. A diverged or failed run is a result: it is
recorded in the store and ranked last.

Every training goes through :func:`datasets_meta.collector.collect` into the run's own record store, so
trainings are idempotent (a genome asked for again at the same budget is read back) and a killed run
loses only the trainings in flight. On a GPU a rung's candidates train together, a group of them per worker
(``--group``, :func:`distill.executors.train_group`), each with the result it would have had alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from datasets_meta.collector import collect
from datasets_meta.store import RecordStore
from distill.genome import Genome
from distill.records import Job, JobKey

log = logging.getLogger(__name__)

__all__ = [
    "Measurement",
    "Trainer",
    "non_dominated",
    "pareto_order",
    "select_candidates",
    "successive_halving",
    "with_accuracy_share",
]

WORKER_NAME = "dass-search"


@dataclass(frozen=True)
class Measurement:
    """The outcome of training one genome at one budget.

    ``status`` is the training outcome (``"ok"`` or ``"diverged"``), or ``"failed"`` when every attempt
    ended in an error; only ``"ok"`` has accuracies.
    """

    genome: Genome
    budget: int
    status: str
    val_acc: float | None = None
    test_acc: float | None = None
    record: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.val_acc is not None and math.isfinite(self.val_acc)


class Trainer:
    """Trains genomes of one (task, teacher) pair through the collector, into the run's own store.

    The *ledger* lists the jobs this run asked for, in order; it is what the run has paid for, counted in
    full-budget-equivalent trainings (``sum(epochs) / full_budget``). It is saved with the search state, so
    a resumed run pays for exactly what the uninterrupted run would have.

    Args:
        store: the run's record store.
        executor: the run's executor (:mod:`distill.executors`); it is reused across calls.
        job_fields: the fields every job shares: ``task_id``, ``teacher_id``, ``task_spec``, ``teacher``,
            ``seed``, ``suite`` and ``tags``.
        full_budget: epochs of a full training.
        on_result: called with ``(job, outcome dict)`` after every finished training.
        group: how many candidates a worker trains together; ``None``: ``$DASS_GROUP``, else 8 on CUDA and 1
            (one at a time) on the CPU. The results do not depend on it.
    """

    def __init__(
        self,
        store: RecordStore,
        executor: Any,
        job_fields: dict[str, Any],
        full_budget: int,
        on_result: Callable[[Job, dict[str, Any]], None] | None = None,
        group: int | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.job_fields = dict(job_fields)
        self.full_budget = int(full_budget)
        self.on_result = on_result
        self.group = group
        self.ledger: list[JobKey] = []
        self._in_ledger: set[JobKey] = set()
        # Work paid for outside the record store (a strategy's supernets), by name, in full-budget-equivalents.
        self.charges: dict[str, float] = {}

    def job(self, genome: Genome, budget: int) -> Job:
        return Job(genome_hash=genome.hash, budget=int(budget), genome=genome.to_json(indent=None), **self.job_fields)

    @property
    def spent(self) -> float:
        """Full-budget-equivalent trainings this run has paid for: its trainings and its :attr:`charges`."""
        return sum(key.budget for key in self.ledger) / self.full_budget + sum(self.charges.values())

    def charge(self, name: str, trainings: float) -> None:
        """Pay ``trainings`` full-budget-equivalents for ``name`` (once: charging a name again replaces it)."""
        self.charges[name] = float(trainings)

    def cost(self, genomes: Sequence[Genome], budget: int) -> float:
        """What training ``genomes`` at ``budget`` would add to :attr:`spent` (known jobs are free)."""
        keys = {self.job(g, budget).key for g in genomes} - self._in_ledger
        return len(keys) * budget / self.full_budget

    def affordable(self, genomes: Sequence[Genome], budget: int, room: float | None) -> int:
        """How many of the first ``genomes`` can be trained at ``budget`` within ``room`` more trainings."""
        if room is None:
            return len(genomes)
        n = 0
        while n < len(genomes) and self.cost(genomes[: n + 1], budget) <= room + 1e-9:
            n += 1
        return n

    def restore_ledger(self, keys: Sequence[Sequence[Any]]) -> None:
        self.ledger = []
        self._in_ledger = set()
        for key in keys:
            self._add(JobKey(*key))

    def _add(self, key: JobKey) -> None:
        if key not in self._in_ledger:
            self._in_ledger.add(key)
            self.ledger.append(key)

    def train(self, genomes: Sequence[Genome], budget: int) -> list[Measurement]:
        """Train every genome at ``budget`` (those already in the store are read back) and return the outcomes."""
        jobs = [self.job(g, budget) for g in genomes]
        self.store.add_jobs(jobs)
        for job in jobs:
            self._add(job.key)
        if any(self.store.get(job.key)["state"] in ("pending", "running") for job in jobs):
            collect(self.store, self.executor, worker_name=WORKER_NAME, on_result=self.on_result, group=self.group)
        return [self.measurement(g, job.key) for g, job in zip(genomes, jobs)]

    def measurement(self, genome: Genome, key: JobKey) -> Measurement:
        record = self.store.get(key)
        if record is None or record["state"] not in ("done", "failed"):
            raise AssertionError(f"job {key} has not finished")
        if record["state"] == "failed":
            return Measurement(genome, record["budget"], "failed", record=record)
        return Measurement(genome, record["budget"], record["status"], record["val_acc"], record["test_acc"], record)

    def ledger_records(self, n: int | None = None) -> list[dict[str, Any]]:
        """Finished flat records of the first ``n`` ledger jobs (all when ``None``), in ledger order."""
        out = []
        for key in self.ledger[:n]:
            record = self.store.get(key)
            if record is not None and record["state"] in ("done", "failed"):
                out.append(record)
        return out

    def trained_hashes(self, min_budget: int = 1) -> set[str]:
        """Genome hashes this run has trained at ``min_budget`` epochs or more (any budget by default)."""
        return {key.genome_hash for key in self.ledger if key.budget >= min_budget}


# --------------------------------------------------------------------------------------------- ranking
def _ranks_and_crowding(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pareto rank and crowding distance (within its front) of each row of ``F`` (minimised)."""
    ranks = np.zeros(len(F), dtype=np.int64)
    crowding = np.zeros(len(F))
    if len(F) == 0:
        return ranks, crowding
    fronts = NonDominatedSorting().do(F)
    for k, front in enumerate(fronts):
        ranks[front] = k
        crowding[front] = calc_crowding_distance(F[front]) if len(front) > 2 else np.inf
    return ranks, crowding


def pareto_order(
    accuracy: np.ndarray, cost: np.ndarray, ok: np.ndarray | None = None, tiebreak: np.ndarray | None = None
) -> np.ndarray:
    """Indices from best to worst by Pareto rank of (accuracy (max), cost (min)).

    Within a front, a larger crowding distance comes first (the two ends of a front are infinitely
    crowded, so the most accurate and the cheapest survive), then a larger ``tiebreak`` (default: the
    accuracy), then the lower index. Entries with ``ok`` false (diverged or failed runs) come last.
    """
    accuracy = np.asarray(accuracy, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    ok = np.ones(len(accuracy), dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
    ok = ok & np.isfinite(accuracy) & np.isfinite(cost)
    tiebreak = accuracy if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    good = np.flatnonzero(ok)
    ranks, crowding = _ranks_and_crowding(np.column_stack([-accuracy[good], cost[good]]))
    order = np.lexsort((good, -tiebreak[good], -crowding, ranks))  # the last key is the primary one
    return np.concatenate([good[order], np.flatnonzero(~ok)]).astype(np.int64)


def with_accuracy_share(
    front_first: Sequence[int], accuracy: np.ndarray, share: float, pool: Sequence[int] | None = None
) -> list[int]:
    """Interleave a Pareto order with the most accurate entries: a ``share`` of the slots goes to accuracy.

    The search's goal is the best student under the budget *and* a front: with ``share`` 0 the order is
    ``front_first`` (spread along the front), with 1 it is by accuracy alone. Slot ``i`` (from 0) is an
    accuracy slot when ``floor(share * (i + 1)) > floor(share * i)``, so with 0.5 every second slot is,
    starting with the second (the first of a Pareto order is already the most accurate end). When one
    source runs out, the other fills the remaining slots.

    Args:
        front_first: indices, best first by Pareto rank and crowding.
        accuracy: accuracy of every index (higher first; ties by index).
        share: the share of accuracy slots, in [0, 1].
        pool: the indices the accuracy slots draw from (default ``front_first``; ignored when ``share`` is 0).
    """
    front_first = [int(i) for i in front_first]
    pool = front_first if pool is None or share == 0 else [int(i) for i in pool]
    queues = (front_first, sorted(pool, key=lambda i: (-accuracy[i], i)))
    heads = [0, 0]
    out: list[int] = []
    taken: set[int] = set()
    for i in range(len(set(front_first) | set(pool))):
        preferred = int(math.floor(share * (i + 1)) > math.floor(share * i))
        for q in (preferred, 1 - preferred):
            queue = queues[q]
            while heads[q] < len(queue) and queue[heads[q]] in taken:
                heads[q] += 1
            if heads[q] < len(queue):
                out.append(queue[heads[q]])
                taken.add(queue[heads[q]])
                break
    return out


def non_dominated(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both accuracy (max) and cost (min), by cost."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if len(accuracy) == 0:
        return np.zeros(0, dtype=np.int64)
    front = NonDominatedSorting().do(np.column_stack([-accuracy, cost]), only_non_dominated_front=True)
    front = np.asarray(front, dtype=np.int64)
    return front[np.lexsort((-accuracy[front], cost[front]))]


def select_candidates(
    F: np.ndarray,
    std: np.ndarray,
    eligible: np.ndarray,
    n: int,
    exploration: float = 1.0,
    accuracy_share: float = 0.0,
) -> np.ndarray:
    """The ``n`` most promising individuals of a population to train, best first.

    The accuracy objective is made optimistic by the predictor's uncertainty (an upper confidence bound,
    ``mean + exploration * std``), so a student the predictor is unsure about gets a chance; then the
    individuals are ordered by Pareto rank, crowding distance and, last, uncertainty, and an
    ``accuracy_share`` of the slots goes to the most accurate (optimistic) ones instead
    (:func:`with_accuracy_share`).

    Args:
        F: the population's objectives ``(N, 2)``: ``[-predicted accuracy, cost]``.
        std: the predictor's uncertainty ``(N,)``.
        eligible: ``(N,)`` bool: feasible and not trained yet.
        n: how many to return.
        exploration: weight of the uncertainty bonus.
        accuracy_share: share of the slots taken by optimistic accuracy alone, in [0, 1].
    """
    optimistic = -F[:, 0] + exploration * std
    order = pareto_order(optimistic, F[:, 1], ok=eligible, tiebreak=std)
    order = with_accuracy_share([i for i in order if eligible[i]], optimistic, accuracy_share)
    return np.asarray(order[:n], dtype=np.int64)


def successive_halving(
    candidates: Sequence[Genome],
    train: Callable[[list[Genome], int], list[Measurement]],
    budgets: Sequence[int],
    eta: int,
    cost: Callable[[list[Genome]], np.ndarray],
    affordable: Callable[[list[Genome], int], int] | None = None,
    start_level: int = 0,
) -> list[list[Measurement]]:
    """One bracket: train ``candidates`` at ``budgets[start_level]``, keep the best ``1/eta`` by Pareto rank
    of (measured validation accuracy, cost), train those at the next budget, and so on.

    Args:
        candidates: genomes, most promising first (a level that cannot be paid for in full keeps the first).
        train: ``train(genomes, budget) -> measurements``.
        budgets: epochs of each level, increasing; the last is the full budget.
        eta: the halving rate: ``ceil(n / eta)`` of ``n`` go up a level.
        cost: the cost objective of genomes, ``(N,)``.
        affordable: ``affordable(genomes, budget) -> k``: only the first ``k`` fit the training budget.
        start_level: the first level to train (e.g. 1 when every candidate was measured at level 0 already).

    Returns:
        The measurements of every level that ran, in order.
    """
    levels: list[list[Measurement]] = []
    genomes = list(candidates)
    for level in range(start_level, len(budgets)):
        budget = int(budgets[level])
        if affordable is not None:
            genomes = genomes[: affordable(genomes, budget)]
        if not genomes:
            break
        measured = train(genomes, budget)
        levels.append(measured)
        if level == len(budgets) - 1:
            break
        keep = math.ceil(len(measured) / eta)
        accuracy = np.array([m.val_acc if m.ok else np.nan for m in measured], dtype=np.float64)
        ok = np.array([m.ok for m in measured])
        order = pareto_order(accuracy, cost([m.genome for m in measured]), ok=ok)
        genomes = [measured[i].genome for i in order[:keep] if ok[i]]
        log.info(
            "rung at %d epochs: %d trained, %d promoted to %d epochs",
            budget,
            len(measured),
            len(genomes),
            budgets[level + 1],
        )
    return levels

"""What the baselines that train every pick at the full budget share: their own training cap, batches.

Without ``--max-trainings`` such a baseline trains ``population`` students: the cap is the strategy's,
kept here, never written into the run's settings. These strategies are short sequential loops that replay
from the seed on resume, reading every finished training back from the store (no state of their own).
"""

from __future__ import annotations

from distill.genome import Genome
from search.budget import TrainingBudget
from search.context import SearchRun
from search.strategies.base import SearchStrategy

__all__ = ["FullBudgetBaseline", "train_next_batch"]


def train_next_batch(run: SearchRun, budget: TrainingBudget, queue: list[Genome]) -> int:
    """Train the first of ``queue`` at the full budget, ``workers`` at a time, if the budget allows.

    Returns:
        How many were trained (0: the queue or the budget is spent).
    """
    full = run.config.full_budget
    if not queue or not budget.can_train(full):
        return 0
    n = min(run.workers, budget.affordable(queue, full))
    if n:
        run.train(queue[:n], full)
        run.progress.advance(n)
    return n


def train_in_batches(run: SearchRun, budget: TrainingBudget, ranked: list[Genome]) -> None:
    """Train ``ranked`` at the full budget in order, ``workers`` at a time, while the budget lasts."""
    queue = list(ranked)
    while n := train_next_batch(run, budget, queue):
        queue = queue[n:]


class FullBudgetBaseline(SearchStrategy):
    """A baseline that trains its picks at the full budget, under its own cap (``self.budget``)."""

    def setup(self, run: SearchRun) -> None:
        super().setup(run)
        c = run.config
        self.cap = float(c.population) if c.max_trainings is None else c.max_trainings
        self.budget = run.budget.with_cap(self.cap)

    def start_progress(self) -> None:
        self.run.progress.start(int(self.cap), "training", self.run.config.strategy)

    def training_cap(self) -> float | None:
        return self.cap

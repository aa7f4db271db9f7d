"""The training budget of a search, in full-budget-equivalent trainings (``sum(epochs) / full budget``).

The run's budget is ``--max-trainings``; a strategy that needs its own cap (the baselines train
``population`` students when no cap is given) takes a :meth:`TrainingBudget.with_cap` view and keeps it:
the run's settings never change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from distill.genome import Genome
from search.rungs import Trainer

__all__ = ["BudgetExhausted", "TrainingBudget", "bracket_cost"]

# Spent and room are sums of fractions: a training that exactly fills the budget still fits.
TOLERANCE = 1e-9


class BudgetExhausted(Exception):
    """Raised by a strategy's fitness when the next trainings would exceed the training budget."""


class TrainingBudget:
    """What the run may still train, given what its trainer has paid for.

    Args:
        trainer: the run's trainer (its ledger is what was paid for).
        cap: full-budget-equivalent trainings allowed in all; ``None``: no limit.
    """

    def __init__(self, trainer: Trainer, cap: float | None) -> None:
        self.trainer = trainer
        self.cap = cap

    def with_cap(self, cap: float | None) -> TrainingBudget:
        """The same ledger under another cap."""
        return TrainingBudget(self.trainer, cap)

    @property
    def spent(self) -> float:
        return self.trainer.spent

    def room(self) -> float | None:
        """Full-budget-equivalent trainings left, or ``None`` without a limit."""
        return None if self.cap is None else self.cap - self.trainer.spent

    def can_train(self, budget: int) -> bool:
        """Whether one more training at ``budget`` epochs fits."""
        room = self.room()
        return room is None or room + TOLERANCE >= budget / self.trainer.full_budget

    def fits(self, genomes: Sequence[Genome], budget: int) -> bool:
        """Whether training all of ``genomes`` at ``budget`` fits (jobs already paid for are free)."""
        room = self.room()
        return room is None or self.trainer.cost(genomes, budget) <= room + TOLERANCE

    def affordable(self, genomes: Sequence[Genome], budget: int) -> int:
        """How many of the first ``genomes`` can be trained at ``budget``."""
        return self.trainer.affordable(genomes, budget, self.room())


def bracket_cost(n: int, rungs: Sequence[int], eta: int, start_level: int = 0) -> tuple[float, str]:
    """What one successive-halving bracket of ``n`` candidates costs when every level is paid in full, in
    full-budget-equivalent trainings, and its trainings as text (``"9 x 1 + 3 x 3 + 1 x 6 epochs"``).

    Args:
        n: candidates at ``rungs[start_level]``.
        rungs: the budgets (epochs) of the levels; the last is the full budget.
        eta: ``ceil(k / eta)`` of the ``k`` candidates of a level go up to the next.
        start_level: the first level trained.
    """
    terms = []
    for epochs in rungs[start_level:]:
        terms.append((n, int(epochs)))
        n = math.ceil(n / eta)
    cost = sum(k * epochs for k, epochs in terms) / rungs[-1]
    return cost, " + ".join(f"{k} x {epochs}" for k, epochs in terms) + " epochs"

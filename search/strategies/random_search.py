"""``random``: random students under the budget, each trained at the full budget."""

from __future__ import annotations

import numpy as np

from distill.genome import Genome
from search.context import SearchRun
from search.problem import sample_feasible
from search.strategies.base import register
from search.strategies.baselines import FullBudgetBaseline, train_in_batches

__all__ = ["RandomSearch"]


@register("random", "random students under the budget, each trained at the full budget")
class RandomSearch(FullBudgetBaseline):
    def setup(self, run: SearchRun) -> None:
        super().setup(run)
        self.rng = np.random.default_rng(run.config.seed)
        self.seen: set[str] = set()
        self.tries = 0  # samples drawn: a budget that few students fit ends the search, not an endless loop
        self.start_progress()

    def step(self) -> bool:
        run = self.run
        if not (self.budget.can_train(run.config.full_budget) and self.tries < 100 * self.cap):
            return False
        genomes: list[Genome] = []
        while len(genomes) < run.workers and self.tries < 100 * self.cap:
            self.tries += 1
            g = sample_feasible(run.space, self.rng, lambda g: bool(run.feasible([g])[0]), run.hints)
            if g.hash not in self.seen:
                self.seen.add(g.hash)
                genomes.append(g)
        train_in_batches(run, self.budget, genomes)
        return True

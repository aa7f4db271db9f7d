"""``uniads``: NSGA-II over student and distiller without a predictor (UniADS, AAAI 2024).

The fitness is the accuracy measured after the first rung's budget, and brackets promote the best of the
population to the full budget.
"""

from __future__ import annotations

import math

import numpy as np

from distill.genome import Genome
from search.budget import BudgetExhausted, bracket_cost
from search.config import SearchConfig
from search.problem import StudentProblem
from search.rungs import pareto_order, with_accuracy_share
from search.strategies.base import register
from search.strategies.nsga import EvolutionStrategy, unique

__all__ = ["UniADS"]


@register("uniads", "NSGA-II with rungs and no predictor: fitness = accuracy measured at the first rung")
class UniADS(EvolutionStrategy):
    @property
    def label(self) -> str:
        return f"measured at {self.run.config.rungs[0]} epoch(s) (final population)"

    @classmethod
    def min_trainings(cls, config: SearchConfig) -> tuple[float, str]:
        """The first generation's fitness (the whole population at the first rung), then one bracket from the
        second rung (or, without one, the verification of one student)."""
        rungs, full = config.rungs, config.full_budget
        first = config.population * rungs[0] / full
        what = f"the first generation's fitness ({config.population} x {rungs[0]} epochs)"
        if len(rungs) == 1:  # the fitness is a full-budget training
            return first, what
        if config.generations < config.rung_every:
            return first + 1.0, f"{what} and one training at the full budget of {full} epoch(s)"
        promoted = math.ceil(min(config.rung_size, config.population) / config.eta)
        rest, trainings = bracket_cost(promoted, rungs, config.eta, start_level=1)
        return first + rest, f"{what} and one bracket from the second rung ({trainings})"

    def make_problem(self) -> StudentProblem:
        run, c = self.run, self.run.config
        return StudentProblem(run.space, self.measured_accuracy, run.costs, c.objective, run.limits, run.hints)

    def measured_accuracy(self, genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray]:
        """Validation accuracy after the first rung; an infeasible student is never trained (accuracy 0)."""
        run, first = self.run, self.run.config.rungs[0]
        feasible = self.problem.feasible(genomes)
        to_train = unique([g for g, ok in zip(genomes, feasible) if ok])
        if not run.budget.fits(to_train, first):
            raise BudgetExhausted
        results = {m.genome.hash: m for m in run.train(to_train, first)} if to_train else {}
        acc = [results[g.hash].val_acc if g.hash in results and results[g.hash].ok else 0.0 for g in genomes]
        return np.asarray(acc, dtype=np.float64), np.zeros(len(genomes))

    def bracket(self) -> None:
        run, c = self.run, self.run.config
        first = c.rungs[0]
        X, F = self.algorithm.pop.get("X", "F")
        genomes = self.problem.decode(X)
        promoted = run.trained_hashes(min_budget=first + 1)
        eligible = self.problem.feasible(genomes) & np.array([g.hash not in promoted for g in genomes])
        order = [i for i in pareto_order(-F[:, 0], F[:, 1], ok=eligible) if eligible[i]]
        order = with_accuracy_share(order, -F[:, 0], c.accuracy_share)[: c.rung_size]
        # the first rung of this bracket is the population's own fitness: promote its best 1/eta
        candidates = [genomes[i] for i in order[: math.ceil(len(order) / c.eta)]]
        if candidates and len(c.rungs) > 1:
            run.bracket(candidates, start_level=1)

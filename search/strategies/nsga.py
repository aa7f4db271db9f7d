"""NSGA-II as a search strategy: one generation per step, a bracket of rungs every few generations.

The population and the RNG state are saved after every generation (as plain arrays, no pickles), so a
resumed run continues exactly where the uninterrupted one would be.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.population import Population
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling

from distill.genome import Genome
from search.budget import BudgetExhausted, bracket_cost
from search.config import SearchConfig
from search.context import SearchRun
from search.problem import GenomeDuplicateElimination, StudentProblem
from search.rungs import non_dominated, pareto_order, with_accuracy_share
from search.strategies.base import SearchStrategy

__all__ = ["EvolutionStrategy", "make_nsga2", "population_arrays", "restore_population", "unique"]


def make_nsga2(population: int, problem: StudentProblem) -> NSGA2:
    """NSGA-II on the integer genome vector: SBX and polynomial mutation on the relaxed vector, rounded
    back to integers; two vectors that decode to the same genome are duplicates."""
    return NSGA2(
        pop_size=population,
        sampling=IntegerRandomSampling(),
        crossover=SBX(prob=0.9, eta=15, repair=RoundingRepair(), vtype=float),
        mutation=PM(eta=20, repair=RoundingRepair()),
        eliminate_duplicates=GenomeDuplicateElimination(problem.decoder),
    )


def population_arrays(algorithm: NSGA2) -> dict[str, np.ndarray]:
    """The population as plain arrays (no pickles): what resuming needs besides the RNG state."""
    pop = algorithm.pop

    def column(name: str) -> np.ndarray:  # rank/crowding are unset (None) for infeasible individuals
        return np.array([np.nan if (v := ind.get(name)) is None else float(v) for ind in pop], dtype=np.float64)

    return {
        "X": np.asarray(pop.get("X")),
        "F": np.asarray(pop.get("F"), dtype=np.float64),
        "G": np.asarray(pop.get("G"), dtype=np.float64).reshape(len(pop), -1),
        "std": np.asarray(pop.get("std"), dtype=np.float64),
        "rank": column("rank"),
        "crowding": column("crowding"),
    }


def restore_population(algorithm: NSGA2, arrays: dict[str, np.ndarray], generation: int, rng_state: dict) -> None:
    """Put a saved population and RNG state back into a freshly set-up NSGA-II."""
    n = len(arrays["X"])
    pop = Population.new("X", arrays["X"])
    pop.set("F", arrays["F"], "G", arrays["G"], "H", np.zeros((n, 0)), "std", arrays["std"])
    for ind, rank, crowding in zip(pop, arrays["rank"], arrays["crowding"]):
        ind.set("rank", None if np.isnan(rank) else int(rank))
        ind.set("crowding", None if np.isnan(crowding) else float(crowding))
        ind.evaluated.update(("F", "G", "H", "std"))
    algorithm.pop = pop
    algorithm.is_initialized = True
    algorithm.n_iter = generation + 1
    algorithm.random_state.bit_generator.state = rng_state


def unique(genomes: list[Genome]) -> list[Genome]:
    """``genomes`` without repeats (by hash), in order."""
    seen: set[str] = set()
    return [g for g in genomes if not (g.hash in seen or seen.add(g.hash))]


class EvolutionStrategy(SearchStrategy):
    """NSGA-II's ask/tell loop, one generation per :meth:`step`, with a :meth:`bracket` of rungs every
    ``rung_every`` generations; the final candidates are the feasible first front of the last population.

    Subclasses give the fitness (:meth:`make_problem`), the bracket, and what the population's accuracy
    is (``label``, for the Pareto plot).
    """

    label = "final population"

    def make_problem(self) -> StudentProblem:
        raise NotImplementedError

    def bracket(self) -> None:
        """Train some of the population for real (called every ``rung_every`` generations)."""

    @classmethod
    def min_trainings(cls, config: SearchConfig) -> tuple[float, str]:
        """One bracket paid in full, when the run has one (its first full-budget student comes from there);
        else the verification of one student."""
        if config.generations < config.rung_every:
            return super().min_trainings(config)
        need, trainings = bracket_cost(min(config.rung_size, config.population), config.rungs, config.eta)
        return need, f"one bracket of rungs ({trainings})"

    def setup(self, run: SearchRun) -> None:
        super().setup(run)
        self.problem = self.make_problem()
        self.algorithm = make_nsga2(run.config.population, self.problem)
        self.algorithm.setup(self.problem, seed=run.config.seed, termination=NoTermination())
        self.generation = 0
        self._progress_started = False

    def step(self) -> bool:
        run, c = self.run, self.run.config
        if not self._progress_started:
            run.progress.start(c.generations, "gen", c.strategy)
            run.progress.advance(to=self.generation)
            self._progress_started = True
        generation = self.generation + 1
        # the last generation ran, or the training budget is spent (nothing more could be verified)
        if generation > c.generations or not run.budget.can_train(c.rungs[0]):
            return False
        infills = self.algorithm.ask()
        if infills is None or len(infills) == 0:
            return False
        try:
            self.algorithm.evaluator.eval(self.problem, infills)
        except BudgetExhausted:
            return False
        self.algorithm.tell(infills=infills)
        if generation % c.rung_every == 0:
            self.bracket()
        self.generation = generation
        run.progress.advance()
        run.progress.note(gen=generation)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "rng": self.algorithm.random_state.bit_generator.state,
            "arrays": None if self.algorithm.pop is None else population_arrays(self.algorithm),  # before generation 1
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("arrays") is not None:
            restore_population(self.algorithm, state["arrays"], state["generation"], state["rng"])
            self.generation = state["generation"]

    def refresh(self) -> None:
        """Re-score the population (the fitness changed, e.g. the predictor adapted) and re-rank it."""
        algorithm, pop = self.algorithm, self.algorithm.pop
        algorithm.evaluator.eval(self.problem, pop, skip_already_evaluated=False)
        algorithm.pop = algorithm.survival.do(
            self.problem, pop, n_survive=len(pop), algorithm=algorithm, random_state=algorithm.random_state
        )

    def candidates(self) -> list[Genome]:
        """The feasible first front of the final population, ends and sparse regions first, and the most
        accurate feasible individuals in an ``accuracy_share`` of the slots; at most ``verify``."""
        if self.algorithm.pop is None:  # no generation ran
            return []
        X, F, std = self.algorithm.pop.get("X", "F", "std")
        genomes = self.problem.decode(X)
        feasible = self.problem.feasible(genomes)
        self.run.show_population(
            {
                "label": self.label,
                "acc": (-F[:, 0]).tolist(),
                "std": np.asarray(std, dtype=np.float64).tolist(),
                "cost": F[:, 1].tolist(),
                "feasible": feasible.tolist(),
            }
        )
        c = self.run.config
        order = pareto_order(-F[:, 0], F[:, 1], ok=feasible)
        idx = np.flatnonzero(feasible)
        first = {int(idx[i]) for i in non_dominated(-F[idx, 0], F[idx, 1])}
        # the front, ends and sparse regions first, with a share of the slots for the most accurate feasible
        order = with_accuracy_share([i for i in order if i in first], -F[:, 0], c.accuracy_share, pool=idx)
        return unique([genomes[i] for i in order])[: c.verify]

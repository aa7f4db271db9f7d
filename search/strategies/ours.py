"""``ours``: NSGA-II with the meta-trained predictor as fitness.

A successive-halving bracket every few generations trains the most promising students for real (an
optimistic upper confidence bound of the prediction, spread along the front), and the predictor is
adapted to every record of the task before the search goes on.
"""

from __future__ import annotations

import numpy as np

from distill.genome import Genome
from search.problem import StudentProblem
from search.rungs import select_candidates
from search.strategies.base import register
from search.strategies.nsga import EvolutionStrategy

__all__ = ["PredictorGuided"]


@register(
    "ours",
    "dass's own search: NSGA-II scored by the meta-trained accuracy predictor, successive-halving rungs that "
    "train the most promising students, and the predictor adapted to every result",
    True,
)
class PredictorGuided(EvolutionStrategy):
    label = "predicted (final population)"

    def make_problem(self) -> StudentProblem:
        run, c = self.run, self.run.config
        return StudentProblem(run.space, run.predict, run.costs, c.objective, run.limits, run.hints)

    def bracket(self) -> None:
        run, c = self.run, self.run.config
        X, F, std = self.algorithm.pop.get("X", "F", "std")
        genomes = self.problem.decode(X)
        trained = run.trained_hashes()
        eligible = self.problem.feasible(genomes) & np.array([g.hash not in trained for g in genomes])
        idx = select_candidates(F, std, eligible, c.rung_size, c.exploration, c.accuracy_share)
        candidates = [genomes[i] for i in idx]
        run.note_predictions(candidates, -F[idx, 0], std[idx])
        if candidates:
            run.bracket(candidates)
            run.adapt()
            self.refresh()

    def candidates(self) -> list[Genome]:
        candidates = super().candidates()
        if candidates:
            mean, std = self.run.predict(candidates)
            self.run.note_predictions(candidates, mean, std)
        return candidates

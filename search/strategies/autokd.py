"""``autokd``: Bayesian optimisation over student and recipe (AutoKD).

A random-forest surrogate over one-hot genes picks the students with the highest expected improvement
(Jones et al., 1998) among random students and mutations of the incumbents; every pick is trained at the
full budget. The first step trains a few random students; every later step is one acquisition.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from sklearn.ensemble import RandomForestRegressor

from distill.genome import Genome
from search.context import SearchRun
from search.problem import sample_feasible, without_hint
from search.strategies.base import register
from search.strategies.baselines import FullBudgetBaseline
from search.strategies.nsga import unique

__all__ = ["AutoKD", "expected_improvement"]

# Random students scored by AutoKD's acquisition function at every step (plus mutations of the incumbents).
AUTOKD_POOL = 64
# The incumbents (best measured) whose mutations join the pool, and mutations tried per incumbent.
INCUMBENTS, MUTATIONS = 5, 8


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """``E[max(f - best - xi, 0)]`` under ``N(mean, std^2)`` (Jones et al., 1998)."""
    std = np.maximum(std, 1e-9)
    z = (mean - best - xi) / std
    return (mean - best - xi) * norm.cdf(z) + std * norm.pdf(z)


@register("autokd", "Bayesian optimisation: random-forest surrogate over one-hot genes, expected improvement")
class AutoKD(FullBudgetBaseline):
    def setup(self, run: SearchRun) -> None:
        super().setup(run)
        self.rng = np.random.default_rng(run.config.seed)
        self.start_progress()
        self.measured: dict[str, tuple[Genome, float]] = {}  # hash -> (genome, validation accuracy; 0 if failed)
        self.started = False

    def feasible(self, g: Genome) -> bool:
        return bool(self.run.feasible([g])[0])

    def train(self, genomes: list[Genome]) -> None:
        run, full = self.run, self.run.config.full_budget
        n = self.budget.affordable(genomes, full)
        for m in run.train(genomes[:n], full) if n else []:
            self.measured[m.genome.hash] = (m.genome, m.val_acc if m.ok else 0.0)
        run.progress.advance(n)

    def initial_design(self) -> None:
        """A few random students, trained ``workers`` at a time."""
        run, batch = self.run, self.run.workers
        n_init = max(2, min(5, int(self.cap // 3)))
        initial = unique([sample_feasible(run.space, self.rng, self.feasible, run.hints) for _ in range(n_init)])
        for i in range(0, len(initial), batch):
            self.train(initial[i : i + batch])

    def pool(self) -> list[Genome]:
        """Random students and local moves around the incumbents, none measured yet."""
        run, rng = self.run, self.rng
        best = sorted(self.measured.values(), key=lambda p: -p[1])[:INCUMBENTS]
        pool = [sample_feasible(run.space, rng, self.feasible, run.hints) for _ in range(AUTOKD_POOL)]
        for g, _ in best:
            for _ in range(MUTATIONS):
                child = g.mutate(rng)
                child = child if run.hints else without_hint(child)
                if self.feasible(child):
                    pool.append(child)
        return [g for g in unique(pool) if g.hash not in self.measured]

    def step(self) -> bool:
        run, c = self.run, self.run.config
        if not self.started:
            self.started = True
            self.initial_design()
            return True
        if not self.budget.can_train(c.full_budget):
            return False
        pool = self.pool()
        if not pool:
            return False
        genomes = [g for g, _ in self.measured.values()]
        target = np.array([acc for _, acc in self.measured.values()])
        forest = RandomForestRegressor(n_estimators=100, random_state=c.seed + len(self.measured), n_jobs=1)
        forest.fit(run.space.one_hot(genomes), target)
        features = run.space.one_hot(pool)
        per_tree = np.stack([tree.predict(features) for tree in forest.estimators_])  # (trees, pool)
        ei = expected_improvement(per_tree.mean(0), per_tree.std(0), float(target.max()))
        order = np.lexsort((np.arange(len(pool)), -ei))
        picks = [pool[i] for i in order[: run.workers]]
        run.note_predictions(picks, per_tree.mean(0)[order[: run.workers]], per_tree.std(0)[order[: run.workers]])
        before = len(self.measured)
        self.train(picks)
        return len(self.measured) > before

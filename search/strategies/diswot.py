"""``diswot``: regularised evolution (Real et al., AAAI 2019) with the training-free DisWOT score (Dong et
al., CVPR 2023) of the student at initialisation against the teacher as fitness, with DisWOT's fixed KD
recipe; the best-scored students are then trained at the full budget.

The first step runs the whole (training-free) evolution; every later step trains one batch.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from distill.genome import Genome, Recipe
from distill.job import probe_batch
from distill.nets import build_student
from distill.proxies import PROXIES
from search.context import SearchRun
from search.problem import architecture_key, sample_feasible, without_hint
from search.strategies.base import register
from search.strategies.baselines import FullBudgetBaseline, train_next_batch
from search.strategies.nsga import unique

__all__ = ["DisWOT"]

# Mutations of a parent tried for a new feasible child before the cycle gives up.
MUTATION_TRIES = 50


def default_recipe(run: SearchRun) -> Recipe | None:
    """DisWOT distils with plain KD: the default recipe, when the search space allows it."""
    recipe = Recipe()
    allowed = dict(run.space.recipe_choices)
    return recipe if all(getattr(recipe, k) in v for k, v in allowed.items()) else None


@register("diswot", "regularised evolution with the training-free DisWOT score; the top ones are trained")
class DisWOT(FullBudgetBaseline):
    def setup(self, run: SearchRun) -> None:
        super().setup(run)
        self.rng = np.random.default_rng(run.config.seed)
        self.x, self.y = probe_batch(run.task)
        self.proxy = PROXIES.get("diswot")
        self.recipe = default_recipe(run)
        self.scores: dict[str, float] = {}  # architecture key -> DisWOT score
        self.queue: list[Genome] | None = None  # the ranked students still to train, after the evolution

    def score(self, g: Genome) -> float:
        run, key = self.run, architecture_key(g)
        if key not in self.scores:
            student = build_student(g, run.task.in_shape, run.task.num_classes, seed=run.config.seed)
            try:
                value = self.proxy(student, run.teacher.model, self.x, self.y)
            except (AttributeError, RuntimeError, ValueError) as e:
                raise ValueError(
                    f"the diswot strategy needs a teacher with stage feature maps (not a TorchScript module); "
                    f"{run.config.teacher!r} failed: {' '.join(str(e).split())[:200]}"
                ) from None
            self.scores[key] = value if math.isfinite(value) else -math.inf
        return self.scores[key]

    def feasible(self, g: Genome) -> bool:
        return bool(self.run.feasible([g])[0])

    def fix(self, g: Genome) -> Genome:
        g = g if self.run.hints else without_hint(g)
        return g.with_recipe(self.recipe) if self.recipe is not None else g

    def evolve(self) -> list[Genome]:
        """Aging evolution on the score alone; every student ever born, best-scored first."""
        run, c, rng = self.run, self.run.config, self.rng
        population: deque[tuple[Genome, float]] = deque()
        history: list[tuple[Genome, float]] = []
        for _ in range(c.population):
            g = sample_feasible(run.space, rng, self.feasible, run.hints, recipe=self.recipe)
            population.append((g, self.score(g)))
            history.append(population[-1])
        sample_size = max(2, c.population // 4)  # Real et al. sample 25 of 100
        for _ in range((c.generations - 1) * c.population):
            picks = rng.choice(len(population), size=min(sample_size, len(population)), replace=False)
            parent = max((population[i] for i in picks), key=lambda p: p[1])[0]
            for _ in range(MUTATION_TRIES):
                child = self.fix(parent.mutate(rng))
                if child.hash != parent.hash and self.feasible(child):
                    population.append((child, self.score(child)))
                    history.append(population[-1])
                    population.popleft()  # the oldest dies, not the worst: regularised (aging) evolution
                    break
        # a stable sort: among equal scores the earlier-born student comes first
        return unique([g for g, _ in sorted(history, key=lambda p: -p[1])])

    def step(self) -> bool:
        if self.queue is None:
            self.queue = self.evolve()
            self.start_progress()
            return True
        n = train_next_batch(self.run, self.budget, self.queue)
        self.queue = self.queue[n:]
        return n > 0

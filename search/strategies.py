"""Search strategies, one registry entry each; every one stops at the same training budget.

A strategy is ``run(search_run) -> candidates``: it searches, trains what it decides to train through
``search_run.train`` / ``search_run.bracket`` (so every training is stored and counted in
full-budget-equivalents, ``sum(epochs) / full budget``), and returns its final Pareto candidates, which
the runner verifies at the full budget while the training budget lasts.

* ``ours`` -- NSGA-II with the meta-trained predictor as fitness; a successive-halving bracket every few
  generations trains the most promising students for real, and the predictor is adapted to every record
  of the task before the search goes on.
* ``random`` -- random students (under the budget), each trained at the full budget.
* ``diswot`` -- regularised evolution (Real et al., AAAI 2019) with the training-free DisWOT score
  (Dong et al., CVPR 2023) of the student at initialisation against the teacher as fitness, with
  DisWOT's fixed KD recipe; the best-scored students are trained at the full budget.
* ``uniads`` -- NSGA-II over student and distiller (UniADS, AAAI 2024) without a predictor: the fitness is
  the accuracy measured after the first rung's budget, and brackets promote the best to the full budget.
* ``autokd`` -- Bayesian optimisation (AutoKD): a random-forest surrogate over one-hot genes picks the
  student with the highest expected improvement; every pick is trained at the full budget.

``ours`` and ``uniads`` save their population and RNG every generation and resume from it; the others
are short sequential loops that replay from the seed on resume, reading every finished training back
from the store.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.population import Population
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling

from distill.genome import Genome, Recipe, SearchSpace
from distill.registry import Registry
from search.context import BudgetExhausted, SearchRun
from search.problem import GenomeDuplicateElimination, StudentProblem, sample_feasible, without_hint
from search.rungs import non_dominated, pareto_order, select_candidates, with_accuracy_share

log = logging.getLogger(__name__)

__all__ = ["STRATEGIES", "Strategy", "make_nsga2", "one_hot"]


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    run: Callable[[SearchRun], list[Genome]]
    needs_predictor: bool = False


STRATEGIES: Registry[Strategy] = Registry("search strategy")
# Random students scored by AutoKD's acquisition function at every step (plus mutations of the incumbents).
AUTOKD_POOL = 64


def register(name: str, description: str, needs_predictor: bool = False) -> Callable:
    def decorator(fn: Callable[[SearchRun], list[Genome]]) -> Callable[[SearchRun], list[Genome]]:
        STRATEGIES.add(name, Strategy(name, description, fn, needs_predictor))
        return fn

    return decorator


# ------------------------------------------------------------------------------------------ NSGA-II
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


def _refresh(algorithm: NSGA2, problem: StudentProblem) -> None:
    """Re-score the population (the fitness changed, e.g. the predictor adapted) and re-rank it."""
    pop = algorithm.pop
    algorithm.evaluator.eval(problem, pop, skip_already_evaluated=False)
    algorithm.pop = algorithm.survival.do(
        problem, pop, n_survive=len(pop), algorithm=algorithm, random_state=algorithm.random_state
    )


def evolve(run: SearchRun, problem: StudentProblem, bracket: Callable[[NSGA2], None] | None = None) -> NSGA2 | None:
    """NSGA-II's ask/tell loop with a bracket of rungs every ``rung_every`` generations, saving the state
    after each generation and resuming from it. Returns the algorithm (``None`` if no generation ran)."""
    c = run.config
    algorithm = make_nsga2(c.population, problem)
    algorithm.setup(problem, seed=c.seed, termination=NoTermination())
    state, arrays = run.load_state()
    start = 0
    if state is not None and arrays is not None:
        restore_population(algorithm, arrays, state["generation"], state["rng"])
        start = state["generation"]
    run.progress.start(c.generations, "gen", c.strategy)
    run.progress.advance(to=start)
    for generation in range(start + 1, c.generations + 1):
        if not run.can_train(c.rungs[0]):  # the training budget is spent: nothing more can be verified
            break
        infills = algorithm.ask()
        if infills is None or len(infills) == 0:
            break
        try:
            algorithm.evaluator.eval(problem, infills)
        except BudgetExhausted:
            break
        algorithm.tell(infills=infills)
        if bracket is not None and generation % c.rung_every == 0:
            bracket(algorithm)
        run.save_state(generation, population_arrays(algorithm), rng=algorithm.random_state.bit_generator.state)
        run.progress.advance()
        run.progress.note(gen=generation)
    return algorithm if algorithm.pop is not None else None


def _unique(genomes: list[Genome]) -> list[Genome]:
    seen: set[str] = set()
    return [g for g in genomes if not (g.hash in seen or seen.add(g.hash))]


def final_candidates(run: SearchRun, algorithm: NSGA2 | None, problem: StudentProblem, label: str) -> list[Genome]:
    """The feasible first front of the final population, ends and sparse regions first, and the most
    accurate feasible individuals in an ``accuracy_share`` of the slots; at most ``verify``."""
    if algorithm is None:
        return []
    X, F, std = algorithm.pop.get("X", "F", "std")
    genomes = problem.decode(X)
    feasible = problem.feasible(genomes)
    run.population_view = {
        "label": label,
        "acc": (-F[:, 0]).tolist(),
        "std": np.asarray(std, dtype=np.float64).tolist(),
        "cost": F[:, 1].tolist(),
        "feasible": feasible.tolist(),
    }
    order = pareto_order(-F[:, 0], F[:, 1], ok=feasible)
    idx = np.flatnonzero(feasible)
    first = {int(idx[i]) for i in non_dominated(-F[idx, 0], F[idx, 1])}
    # the front, ends and sparse regions first, with a share of the slots for the most accurate feasible
    order = with_accuracy_share([i for i in order if i in first], -F[:, 0], run.config.accuracy_share, pool=idx)
    return _unique([genomes[i] for i in order])[: run.config.verify]


@register("ours", "predictor-guided NSGA-II with successive-halving rungs and online adaptation", True)
def ours(run: SearchRun) -> list[Genome]:
    c = run.config
    problem = StudentProblem(run.space, run.predict, run.costs, c.objective, run.limits, run.hints)

    def bracket(algorithm: NSGA2) -> None:
        X, F, std = algorithm.pop.get("X", "F", "std")
        genomes = problem.decode(X)
        trained = run.trainer.trained_hashes()
        eligible = problem.feasible(genomes) & np.array([g.hash not in trained for g in genomes])
        idx = select_candidates(F, std, eligible, c.rung_size, c.exploration, c.accuracy_share)
        candidates = [genomes[i] for i in idx]
        run.note_predictions(candidates, -F[idx, 0], std[idx])
        if candidates:
            run.bracket(candidates)
            run.adapt()
            _refresh(algorithm, problem)

    algorithm = evolve(run, problem, bracket)
    candidates = final_candidates(run, algorithm, problem, "predicted (final population)")
    if candidates:
        mean, std = run.predict(candidates)
        run.note_predictions(candidates, mean, std)
    return candidates


@register("uniads", "NSGA-II with rungs and no predictor: fitness = accuracy measured at the first rung")
def uniads(run: SearchRun) -> list[Genome]:
    c = run.config
    first = c.rungs[0]

    def measured_accuracy(genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray]:
        feasible = problem.feasible(genomes)  # an infeasible student is never trained; its accuracy is 0
        to_train = _unique([g for g, ok in zip(genomes, feasible) if ok])
        room = run.room()
        if room is not None and run.trainer.cost(to_train, first) > room + 1e-9:
            raise BudgetExhausted
        results = {m.genome.hash: m for m in run.train(to_train, first)} if to_train else {}
        acc = [results[g.hash].val_acc if g.hash in results and results[g.hash].ok else 0.0 for g in genomes]
        return np.asarray(acc, dtype=np.float64), np.zeros(len(genomes))

    problem = StudentProblem(run.space, measured_accuracy, run.costs, c.objective, run.limits, run.hints)

    def bracket(algorithm: NSGA2) -> None:
        X, F = algorithm.pop.get("X", "F")
        genomes = problem.decode(X)
        promoted = {key[2] for key in run.trainer.ledger if key[3] > first}
        eligible = problem.feasible(genomes) & np.array([g.hash not in promoted for g in genomes])
        order = [i for i in pareto_order(-F[:, 0], F[:, 1], ok=eligible) if eligible[i]]
        order = with_accuracy_share(order, -F[:, 0], c.accuracy_share)[: c.rung_size]
        # the first rung of this bracket is the population's own fitness: promote its best 1/eta
        candidates = [genomes[i] for i in order[: math.ceil(len(order) / c.eta)]]
        if candidates and len(c.rungs) > 1:
            run.bracket(candidates, start_level=1)

    algorithm = evolve(run, problem, bracket)
    return final_candidates(run, algorithm, problem, f"measured at {first} epoch(s) (final population)")


# ------------------------------------------------------------------------------------------ baselines
def _trainings_cap(run: SearchRun) -> None:
    """Without ``--max-trainings`` a baseline trains ``population`` students at the full budget."""
    if run.max_trainings is None:
        run.max_trainings = float(run.config.population)


def _train_in_batches(run: SearchRun, ranked: list[Genome]) -> None:
    """Train ``ranked`` at the full budget in order, ``workers`` at a time, while the budget lasts."""
    full = run.config.full_budget
    batch = max(1, getattr(run.executor, "workers", 1))
    queue = list(ranked)
    while queue and run.can_train(full):
        n = min(batch, run.trainer.affordable(queue, full, run.room()))
        if n == 0:
            break
        run.train(queue[:n], full)
        run.progress.advance(n)
        queue = queue[n:]


@register("random", "random students under the budget, each trained at the full budget")
def random_search(run: SearchRun) -> list[Genome]:
    _trainings_cap(run)
    c = run.config
    rng = np.random.default_rng(c.seed)
    run.progress.start(int(run.max_trainings), "training", c.strategy)
    seen: set[str] = set()
    full = c.full_budget
    batch = max(1, getattr(run.executor, "workers", 1))
    tries = 0
    while run.can_train(full) and tries < 100 * run.max_trainings:
        genomes: list[Genome] = []
        while len(genomes) < batch and tries < 100 * run.max_trainings:
            tries += 1
            g = sample_feasible(run.space, rng, lambda g: bool(run.feasible([g])[0]), run.hints)
            if g.hash not in seen:
                seen.add(g.hash)
                genomes.append(g)
        _train_in_batches(run, genomes)
    return []


def _probe_batch(run: SearchRun) -> tuple:
    import torch

    from datasets_meta.collector import PROBE_SIZE

    # the same probe images as the collector's proxies
    idx = torch.randperm(len(run.task.x_train), generator=torch.Generator().manual_seed(0))[:PROBE_SIZE]
    return run.task.x_train[idx], run.task.y_train[idx]


def _default_recipe(run: SearchRun) -> Recipe | None:
    """DisWOT distils with plain KD: the default recipe, when the search space allows it."""
    recipe = Recipe()
    allowed = dict(run.space.recipe_choices)
    return recipe if all(getattr(recipe, k) in v for k, v in allowed.items()) else None


@register("diswot", "regularised evolution with the training-free DisWOT score; the top ones are trained")
def diswot(run: SearchRun) -> list[Genome]:
    from distill.nets import build_student
    from distill.proxies import PROXIES
    from search.problem import architecture_key

    _trainings_cap(run)
    c = run.config
    rng = np.random.default_rng(c.seed)
    x, y = _probe_batch(run)
    proxy = PROXIES.get("diswot")
    recipe = _default_recipe(run)
    scores: dict[str, float] = {}

    def score(g: Genome) -> float:
        key = architecture_key(g)
        if key not in scores:
            student = build_student(g, run.task.in_shape, run.task.num_classes, seed=c.seed)
            try:
                value = proxy(student, run.teacher.model, x, y)
            except (AttributeError, RuntimeError, ValueError) as e:
                raise ValueError(
                    f"the diswot strategy needs a teacher with stage feature maps (not a TorchScript module); "
                    f"{run.config.teacher!r} failed: {' '.join(str(e).split())[:200]}"
                ) from None
            scores[key] = value if math.isfinite(value) else -math.inf
        return scores[key]

    def feasible(g: Genome) -> bool:
        return bool(run.feasible([g])[0])

    def fix(g: Genome) -> Genome:
        g = g if run.hints else without_hint(g)
        return g.with_recipe(recipe) if recipe is not None else g

    population: deque[tuple[Genome, float]] = deque()
    history: list[tuple[Genome, float]] = []
    for _ in range(c.population):
        g = sample_feasible(run.space, rng, feasible, run.hints, recipe=recipe)
        population.append((g, score(g)))
        history.append(population[-1])
    sample_size = max(2, c.population // 4)  # Real et al. sample 25 of 100
    for _ in range((c.generations - 1) * c.population):
        picks = rng.choice(len(population), size=min(sample_size, len(population)), replace=False)
        parent = max((population[i] for i in picks), key=lambda p: p[1])[0]
        for _ in range(50):
            child = fix(parent.mutate(rng))
            if child.hash != parent.hash and feasible(child):
                population.append((child, score(child)))
                history.append(population[-1])
                population.popleft()  # the oldest dies, not the worst: regularised (aging) evolution
                break
    # a stable sort: among equal scores the earlier-born student comes first
    ranked = _unique([g for g, _ in sorted(history, key=lambda p: -p[1])])
    run.progress.start(int(run.max_trainings), "training", c.strategy)
    _train_in_batches(run, ranked)
    return []


def one_hot(genomes: list[Genome], space: SearchSpace) -> np.ndarray:
    """Flat features of genomes: one-hot of every position of the integer vector, ``(N, sum of choices)``."""
    sizes = np.array([len(choices) for _, choices in space.vector_choices()])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = np.zeros((len(genomes), int(sizes.sum())), dtype=np.float32)
    for row, g in enumerate(genomes):
        out[row, offsets + g.to_vector()] = 1.0
    return out


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """``E[max(f - best - xi, 0)]`` under ``N(mean, std^2)`` (Jones et al., 1998)."""
    from scipy.stats import norm

    std = np.maximum(std, 1e-9)
    z = (mean - best - xi) / std
    return (mean - best - xi) * norm.cdf(z) + std * norm.pdf(z)


@register("autokd", "Bayesian optimisation: random-forest surrogate over one-hot genes, expected improvement")
def autokd(run: SearchRun) -> list[Genome]:
    from sklearn.ensemble import RandomForestRegressor

    _trainings_cap(run)
    c = run.config
    rng = np.random.default_rng(c.seed)
    full = c.full_budget
    batch = max(1, getattr(run.executor, "workers", 1))
    run.progress.start(int(run.max_trainings), "training", c.strategy)

    def feasible(g: Genome) -> bool:
        return bool(run.feasible([g])[0])

    measured: dict[str, tuple[Genome, float]] = {}  # hash -> (genome, validation accuracy; 0 if it failed)

    def train(genomes: list[Genome]) -> None:
        n = run.trainer.affordable(genomes, full, run.room())
        for m in run.train(genomes[:n], full) if n else []:
            measured[m.genome.hash] = (m.genome, m.val_acc if m.ok else 0.0)
        run.progress.advance(n)

    n_init = max(2, min(5, int(run.max_trainings // 3)))
    initial = _unique([sample_feasible(run.space, rng, feasible, run.hints) for _ in range(n_init)])
    for i in range(0, len(initial), batch):
        train(initial[i : i + batch])
    while run.can_train(full):
        best = sorted(measured.values(), key=lambda p: -p[1])[:5]
        pool = [sample_feasible(run.space, rng, feasible, run.hints) for _ in range(AUTOKD_POOL)]
        for g, _ in best:  # local moves around the incumbents
            for _ in range(8):
                child = g.mutate(rng)
                child = child if run.hints else without_hint(child)
                if feasible(child):
                    pool.append(child)
        pool = [g for g in _unique(pool) if g.hash not in measured]
        if not pool:
            break
        genomes = [g for g, _ in measured.values()]
        target = np.array([acc for _, acc in measured.values()])
        forest = RandomForestRegressor(n_estimators=100, random_state=c.seed + len(measured), n_jobs=1)
        forest.fit(one_hot(genomes, run.space), target)
        features = one_hot(pool, run.space)
        per_tree = np.stack([tree.predict(features) for tree in forest.estimators_])  # (trees, pool)
        ei = expected_improvement(per_tree.mean(0), per_tree.std(0), float(target.max()))
        order = np.lexsort((np.arange(len(pool)), -ei))
        picks = [pool[i] for i in order[:batch]]
        run.note_predictions(picks, per_tree.mean(0)[order[:batch]], per_tree.std(0)[order[:batch]])
        before = len(measured)
        train(picks)
        if len(measured) == before:
            break
    return []

"""The pymoo problem of the search: a genome vector -> (-accuracy, cost) under a cost budget.

The decision variables are the integer vector of :meth:`distill.genome.SearchSpace.vector_choices`
(bounds from :meth:`~distill.genome.SearchSpace.bounds`); a vector is decoded and repaired with
:meth:`~distill.genome.Genome.from_vector`. The two objectives, both minimised, are::

    F = [-accuracy(genome), cost(genome)]          # accuracy: predicted (ours) or measured (uniads)
    G = [cost_k(genome) - max_k for every budget k] # <= 0 is feasible

where cost is ``params``, ``flops`` (multiply-adds) or ``latency`` (milliseconds for a batch of one). The
whole population is scored by ONE call of the accuracy source, so a predictor batches it.

Costs depend on the architecture only (never on the recipe), so :class:`CostModel` measures each
architecture once and caches it by the hash of the architecture; the cache is saved in the run directory
because latency is measured, not computed, and a resumed search must see the same numbers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import numpy as np
import torch
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.problem import Problem

from distill.cost import count_flops, count_params, measure_latency
from distill.genome import Genome, Recipe, SearchSpace

log = logging.getLogger(__name__)

__all__ = [
    "COST_KINDS",
    "CostModel",
    "Decoder",
    "GenomeDuplicateElimination",
    "StudentProblem",
    "check_budget",
    "decode",
    "format_cost",
    "limit_flag",
    "sample_feasible",
    "smallest_students",
    "without_hint",
]

COST_KINDS = ("params", "flops", "latency")
COST_UNITS = {"params": "parameters", "flops": "multiply-adds", "latency": "ms"}

# accuracy(genomes) -> (mean, std), each (N,): a predictor, or measured accuracy with std 0
AccuracySource = Callable[[list[Genome]], tuple[np.ndarray, np.ndarray]]


@contextlib.contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Run the block with one torch intra-op thread, then restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def format_cost(kind: str, value: float) -> str:
    """``20,000`` parameters / multiply-adds, ``1.23`` ms."""
    return f"{value:.3g}" if kind == "latency" else f"{value:,.0f}"


def limit_flag(kind: str) -> str:
    """The command-line flag of a budget: ``params`` -> ``--max-params``."""
    return f"--max-{kind}"


def check_cost_kind(kind: str, what: str = "objective") -> str:
    if kind not in COST_KINDS:
        raise ValueError(f"the {what} must be one of {', '.join(COST_KINDS)}; got {kind!r}")
    return kind


def decode(x: np.ndarray, space: SearchSpace, hints: bool = True) -> Genome:
    """The repaired genome of one vector; ``hints=False`` switches the feature hint off (a teacher
    that exposes no feature maps cannot give one)."""
    genome = Genome.from_vector(x, space)
    return genome if hints else without_hint(genome)


def without_hint(genome: Genome) -> Genome:
    """The same genome with the feature hint switched off."""
    if not genome.recipe.has_hint:
        return genome
    return replace(genome, recipe=replace(genome.recipe, hint_position="off")).repaired()


def architecture_key(genome: Genome) -> str:
    """The hash of the student network alone: genomes that differ only in the recipe cost the same."""
    return replace(genome, recipe=Recipe.plain()).hash


class CostModel:
    """Parameters, FLOPs (MACs) and latency of students, measured once per architecture.

    Args:
        in_shape: ``(C, H, W)`` of the task's inputs.
        num_classes: classes of the task.
        device: where latency is measured.

    Attributes:
        cache: ``{architecture hash: {"params": ..., "flops": ..., "latency": ...}}``; latency only once asked for.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, device: str = "cpu") -> None:
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.device = device
        self.cache: dict[str, dict[str, float]] = {}

    def _measure(self, genome: Genome, kinds: Sequence[str]) -> dict[str, float]:
        key = architecture_key(genome)
        entry = self.cache.setdefault(key, {})
        missing = [k for k in kinds if k not in entry]
        if missing:
            # One thread: these networks are tiny, and torch's intra-op threads stall badly on a busy machine.
            with single_threaded_torch():
                if missing == ["params"]:  # counted by the student family, without building the network
                    try:
                        n = genome.count_params(self.in_shape, self.num_classes)
                    except (AttributeError, NotImplementedError):  # a block without a count: shapes on meta
                        with torch.device("meta"):
                            n = count_params(genome.build(self.in_shape, self.num_classes, seed=0))
                    entry["params"] = float(n)
                    return entry
                # seed=0: building a network must not move the global torch RNG
                net = genome.build(self.in_shape, self.num_classes, seed=0)
                entry.setdefault("params", float(count_params(net)))
                if "flops" in missing:  # a forward pass: only when asked for
                    entry["flops"] = float(count_flops(net, self.in_shape))
                if "latency" in missing:
                    entry["latency"] = measure_latency(net, self.in_shape, device=self.device)
        return entry

    def __call__(self, genomes: Sequence[Genome], kind: str) -> np.ndarray:
        """The ``kind`` cost of every genome, shape ``(N,)`` float64."""
        return np.array([self._measure(g, (kind,))[kind] for g in genomes], dtype=np.float64)

    def within(self, genomes: Sequence[Genome], limits: dict[str, float]) -> np.ndarray:
        """``(N,)`` bool: whether each genome fits every budget of ``limits`` (cost kind -> largest cost)."""
        ok = np.ones(len(genomes), dtype=bool)
        for kind, limit in limits.items():
            ok &= self(genomes, kind) <= limit
        return ok

    def all_of(self, genome: Genome, kinds: Sequence[str] = ("params", "flops")) -> dict[str, float]:
        return dict(self._measure(genome, kinds))

    def state_dict(self) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in sorted(self.cache.items())}

    def load_state_dict(self, state: dict[str, dict[str, float]]) -> CostModel:
        self.cache = {k: {kind: float(v) for kind, v in d.items()} for k, d in state.items()}
        return self


def smallest_students(space: SearchSpace) -> list[Genome]:
    """The candidates for the cheapest student of ``space`` (its family's :meth:`smallest`), training plain CE."""
    return [
        Genome(**arch, recipe=Recipe.plain(), space=space.name).repaired() for arch in space.family.smallest(space.arch)
    ]


def check_budget(space: SearchSpace, costs: CostModel, limits: dict[str, float]) -> None:
    """Raise ``ValueError`` if no student of ``space`` fits one of the ``limits`` (e.g. ``{"params": 5000}``)."""
    if not limits:
        return
    candidates = smallest_students(space)
    for kind, limit in limits.items():
        check_cost_kind(kind, "budget")
        if not limit > 0:
            raise ValueError(f"{limit_flag(kind)} must be positive; got {limit:g}")
        smallest = float(costs(candidates, kind).min())
        if smallest > limit:
            raise ValueError(
                f"{limit_flag(kind)} {limit:g} is infeasible: the smallest student of the {space.name!r} search space "
                f"has {format_cost(kind, smallest)} {COST_UNITS[kind]} for this task; raise the budget"
            )


def sample_feasible(
    space: SearchSpace,
    rng: np.random.Generator,
    feasible: Callable[[Genome], bool],
    hints: bool = True,
    tries: int = 2000,
    recipe: Recipe | None = None,
) -> Genome:
    """A random genome that fits the budget (rejection sampling).

    Args:
        space: the search space.
        rng: the source of randomness.
        feasible: whether a genome fits the budget.
        hints: ``False`` switches the feature hint off.
        tries: how many samples before giving up with a ``ValueError``.
        recipe: a fixed recipe for every student (``None``: sampled).
    """
    for _ in range(tries):
        genome = space.sample(rng)
        genome = genome if hints else without_hint(genome)
        if recipe is not None:
            genome = genome.with_recipe(recipe)
        if feasible(genome):
            return genome
    raise ValueError(
        f"no random student of the {space.name!r} space fit the budget in {tries} tries; the budget is very tight"
    )


class Decoder:
    """Vector -> repaired genome (and its hash), remembered: decoding is pure, and pymoo's mating and
    duplicate checks ask for the same vectors many times.

    Args:
        space: the search space.
        hints: ``False`` decodes every genome without a feature hint.
        max_size: the memory is cleared when it holds this many vectors.
    """

    def __init__(self, space: SearchSpace, hints: bool = True, max_size: int = 200_000) -> None:
        self.space = space
        self.hints = hints
        self.max_size = max_size
        self._memo: dict[bytes, tuple[Genome, str]] = {}

    def _entry(self, x: np.ndarray) -> tuple[Genome, str]:
        key = np.asarray(x, dtype=np.float64).round().astype(np.int64).tobytes()
        entry = self._memo.get(key)
        if entry is None:
            if len(self._memo) >= self.max_size:
                self._memo.clear()
            genome = decode(x, self.space, self.hints)
            entry = self._memo[key] = (genome, genome.hash)
        return entry

    def __call__(self, x: np.ndarray) -> Genome:
        return self._entry(x)[0]

    def hash(self, x: np.ndarray) -> str:
        return self._entry(x)[1]


class GenomeDuplicateElimination(DuplicateElimination):
    """Two vectors are duplicates when they decode to the same genome: inactive stages and genes
    without effect (e.g. the temperature of an MSE logit loss) do not make a new student."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder

    def _hashes(self, pop) -> list[str]:
        return [self.decoder.hash(x) for x in pop.get("X")]

    def _do(self, pop, other, is_duplicate: np.ndarray) -> np.ndarray:
        seen = set(self._hashes(other)) if other is not None else set()
        for i, h in enumerate(self._hashes(pop)):
            if h in seen:
                is_duplicate[i] = True
            seen.add(h)
        return is_duplicate


class StudentProblem(Problem):
    """Student architecture + distillation recipe, two objectives and one constraint per budget.

    Args:
        space: the search space; its integer vector is the decision variable.
        accuracy: ``accuracy(genomes) -> (mean, std)``, called once per population.
        costs: the cached cost model of the task.
        objective: the cost objective, one of :data:`COST_KINDS`.
        limits: ``{cost kind: maximum}``; each is a constraint ``cost - maximum <= 0``.
        hints: ``False`` decodes every genome without a feature hint.

    Besides ``F`` and ``G``, ``_evaluate`` fills ``out["std"]``: the accuracy source's uncertainty, which
    pymoo stores on every individual and the rungs use as an exploration bonus.
    """

    def __init__(
        self,
        space: SearchSpace,
        accuracy: AccuracySource,
        costs: CostModel,
        objective: str = "params",
        limits: dict[str, float] | None = None,
        hints: bool = True,
    ) -> None:
        self.space = space
        self.accuracy = accuracy
        self.costs = costs
        self.objective = check_cost_kind(objective)
        self.limits = dict(limits or {})
        for kind in self.limits:
            check_cost_kind(kind, "budget")
        self.hints = hints
        self.decoder = Decoder(space, hints)
        xl, xu = space.bounds()
        super().__init__(n_var=space.n_var, n_obj=2, n_ieq_constr=len(self.limits), xl=xl, xu=xu, vtype=int)

    def decode(self, X: np.ndarray) -> list[Genome]:
        return [self.decoder(x) for x in np.atleast_2d(X)]

    def feasible(self, genomes: Sequence[Genome]) -> np.ndarray:
        """Whether each genome fits every budget, ``(N,)`` bool."""
        return self.costs.within(genomes, self.limits)

    def _evaluate(self, X: np.ndarray, out: dict, *args, **kwargs) -> None:
        genomes = self.decode(X)  # N genomes
        mean, std = self.accuracy(genomes)  # (N,), (N,)
        out["F"] = np.column_stack([-np.asarray(mean, dtype=np.float64), self.costs(genomes, self.objective)])
        if self.limits:
            out["G"] = np.column_stack([self.costs(genomes, k) - v for k, v in self.limits.items()])  # (N, n_limits)
        out["std"] = np.asarray(std, dtype=np.float64)

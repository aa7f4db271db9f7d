"""``autodistil``: AutoDistil's one-shot search (Xu et al., 2022): weight-sharing supernets, no training per candidate.

1. **Supernets.** The K sub-spaces of the search space (:data:`distill.supernet.SUBSPACES`: base, small, tiny)
   each get one supernet, trained with the sandwich rule from the run's teacher
   (:func:`distill.supernet.training.train_supernet`), one sub-space per step, in ``OUT/supernets`` (a
   :class:`~distill.supernet.store.SupernetDir`). Each one's cost, from the supernet's own accounting
   (``cost.json``, :func:`~distill.supernet.training.supernet_cost`), is charged against the training budget in
   full-budget-equivalent trainings. A sub-space whose smallest sub-network is over the budget holds no candidate:
   it is not trained.
2. **Scoring.** Sub-networks under the budget are scored by their accuracy with inherited weights (BatchNorm
   recalibrated, :func:`~distill.supernet.evaluate.inherited_accuracy`). A sub-space of at most ``population``
   sub-networks is enumerated whole (AutoDistil's 4 x 4 x 4 x 4 grid is 256); a larger one -- the staged CNN's
   hold 10^3 to 10^4 -- gets its largest, its smallest and uniformly random ones up to ``population``. Why not
   NSGA-II over the sub-space: scoring is cheap next to the training, a uniform sample covers the sizes a front
   needs, and it needs nothing of a sub-space but its :class:`~distill.supernet.subspace.SubSpace` contract
   (``sample``, ``genomes``, ``largest``, ``smallest``), so a new family's supernet (the ViT's) works as it is.
3. **Verification.** The first Pareto front of (inherited accuracy, cost) is the candidate list (ends and
   sparse regions first, with ``accuracy_share`` of the slots for the most accurate), which the runner distils
   stand-alone at the full budget through the run's verbs while the budget lasts. The inherited accuracy stands
   in the "predicted" column of the report, so its plot of predicted vs measured is inherited vs stand-alone.

The budget: without ``--max-trainings`` each supernet trains ``supernet_epochs`` epochs of sandwich steps; with
it, the verification keeps ``min(verify, half the budget)`` trainings and the supernets share the rest equally.
AutoDistil searches architectures only: the candidates carry the space's default recipe.

Resuming: the state is the number of supernets done and, once scored, the scores. A supernet killed mid-way
goes on from its last checkpoint (its training is a function of its seed and step), and one already trained in
the run directory is read back, not retrained; its charge is the same either way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from distill.genome import Genome
from distill.supernet import SUBSPACES, SUPERNETS, SubSpace, build_supernet, get_subspaces
from distill.supernet.evaluate import inherited_accuracy
from distill.supernet.store import SupernetDir
from distill.supernet.training import SupernetConfig, load_checkpoint, supernet_cost, train_supernet, write_cost
from search.config import SearchConfig
from search.context import SearchRun
from search.run_files import DamagedFile, read_json
from search.rungs import non_dominated, pareto_order, with_accuracy_share
from search.strategies.base import SearchStrategy, register
from search.strategies.nsga import unique

__all__ = ["AutoDistil", "supernet_spaces", "supernet_trainings"]

SUPERNET_DIR = "supernets"


def supernet_spaces() -> list[str]:
    """The search spaces with sub-spaces whose every family has a supernet class."""
    return [n for n in SUBSPACES.names() if all(s.family in SUPERNETS for s in SUBSPACES.get(n).values())]


def supernet_trainings(cap: float | None, verify: int) -> float | None:
    """Full-budget-equivalent trainings all supernets together may cost out of a training budget ``cap``
    (``None``: no budget, ``supernet_epochs`` each).

    The verification of ``verify`` students keeps ``min(verify, cap / 2)``: the supernets never get less than
    half the budget, and with a budget of ``verify`` trainings or more, every candidate is verified.
    """
    if cap is None:
        return None
    return cap - min(verify, cap / 2)


@register(
    "autodistil",
    "AutoDistil-style one-shot search: one weight-sharing supernet per size sub-space (sandwich rule, distilled "
    "from the teacher, its cost counted), sub-networks scored by inherited-weight accuracy, the front verified "
    "stand-alone",
)
class AutoDistil(SearchStrategy):
    @classmethod
    def check_config(cls, config: SearchConfig) -> None:
        super().check_config(config)
        spaces = supernet_spaces()
        if config.space not in spaces:
            raise ValueError(
                f"--strategy autodistil needs weight-sharing supernets of the search space; space {config.space!r} "
                f"has none: use one of {', '.join(spaces)}"
            )

    @classmethod
    def min_trainings(cls, config: SearchConfig) -> tuple[float, str]:
        full = config.full_budget
        return 2.0, f"supernets worth half the budget and one training at the full budget of {full} epoch(s)"

    def setup(self, run: SearchRun) -> None:
        super().setup(run)
        c = run.config
        self.store = SupernetDir(run.out / SUPERNET_DIR)
        all_subspaces = get_subspaces(c.space)
        self.subspaces: dict[str, SubSpace] = {
            name: sub for name, sub in all_subspaces.items() if run.feasible([sub.smallest()])[0]
        }
        if not self.subspaces:  # check_budget passed: the space has a student under the budget, no sub-space has
            smallest = min(all_subspaces.values(), key=lambda s: float(run.cost([s.smallest()])[0]))
            raise ValueError(
                f"no supernet sub-space of space {c.space!r} holds a student within the budget (the smallest "
                f"sub-network, of {smallest.name!r}, costs {float(run.cost([smallest.smallest()])[0]):,.0f} "
                f"{c.objective}): raise the budget, or use another --strategy"
            )
        n_train = len(run.task.x_train)
        self.n_train = n_train
        self.supernet_config = SupernetConfig(steps=self._steps(n_train), device=c.device)
        self.done = 0  # supernets trained (in the order of self.subspaces)
        self.scores: list[tuple[str, dict[str, Any], float]] | None = None  # (sub-space, genome, inherited acc)
        self._claimed = False
        run.progress.start(len(self.subspaces) + 1, "step", c.strategy)

    def _steps(self, n_train: int) -> int:
        """Sandwich steps per supernet: ``supernet_epochs`` epochs, or its equal share of :func:`supernet_trainings`."""
        c, batch = self.run.config, SupernetConfig.batch_size
        share = supernet_trainings(self.run.budget.cap, c.verify)
        if share is None:
            return c.supernet_epochs * math.ceil(n_train / batch)
        per_supernet = share / len(self.subspaces)
        # supernet_cost's equivalents: steps x sandwich x batch images over full budget x n_train images
        return max(1, math.floor(per_supernet * c.full_budget * n_train / (len(SupernetConfig.sandwich) * batch)))

    # ------------------------------------------------------------------ steps
    def step(self) -> bool:
        names = list(self.subspaces)
        if self.done < len(names):
            self._supernet(names[self.done])
            self.done += 1
        elif self.scores is None:
            self._score()
        else:
            return False
        self.run.progress.advance(to=self.done + (self.scores is not None))
        return True

    def _claim(self) -> None:
        """Record what the run's supernets are trained on (once per session; a directory of another run is refused)."""
        if self._claimed:
            return
        run = self.run
        meta = {
            "task": run.task.name,
            "task_id": run.task.id,
            "in_shape": list(run.task.in_shape),
            "num_classes": run.task.num_classes,
            "teacher": run.config.teacher,
            "teacher_id": run.teacher.id,
            "space": run.config.space,
            "seed": run.config.seed,
            "config": self.supernet_config.identity(),
        }
        self.store.claim(meta, self.subspaces)
        self._claimed = True

    def _supernet(self, name: str) -> None:
        """Train (or read back) the supernet of sub-space ``name`` and charge its cost."""
        run, c, config = self.run, self.run.config, self.supernet_config
        planned = supernet_cost(config, config.steps, self.n_train, c.full_budget)["full_budget_equivalent_trainings"]
        room, share = run.budget.room(), supernet_trainings(run.budget.cap, c.verify)
        if room is not None and planned > room - (run.budget.cap - share) + 1e-9:
            # what the verification keeps cannot pay for it (a tiny task's one step costs more than its share):
            # the sub-space is left out, uncharged
            return
        self._claim()
        checkpoint, cost_path = self.store.checkpoint(name), self.store.cost_path(name)
        trained = checkpoint.exists() and int(load_checkpoint(checkpoint)["step"]) >= config.steps
        if not (trained and cost_path.is_file()):
            sub = self.subspaces[name]
            net = build_supernet(sub, run.task.in_shape, run.task.num_classes, seed=c.seed)
            result = train_supernet(net, run.task, run.teacher_outputs(), config, c.seed, checkpoint)
            write_cost(cost_path, result, config, self.n_train, c.full_budget)
            if result.status != "ok":
                run.note(f"supernet {name}", f"training ended as {result.status} ({result.reason}); left out")
        run.charge(f"supernet {name}", self._charged(cost_path))

    @staticmethod
    def _charged(cost_path) -> float:
        try:
            return float(read_json(cost_path)["full_budget_equivalent_trainings"])
        except (DamagedFile, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{cost_path} is not a supernet cost file ({e}): delete it to train again") from None

    def _trained(self) -> list[str]:
        """The sub-spaces whose supernet finished its steps."""
        out = []
        for name in self.subspaces:
            path = self.store.checkpoint(name)
            if path.exists() and int(load_checkpoint(path)["step"]) >= self.supernet_config.steps:
                out.append(name)
        return out

    def _sample(self, name: str, sub: SubSpace) -> list[Genome]:
        """The sub-networks of ``sub`` under the budget to score: all, or the ends and a uniform sample."""
        run, population = self.run, self.run.config.population
        if sub.size <= population:
            genomes = list(sub.genomes())
        else:
            rng = np.random.default_rng([run.config.seed, list(self.subspaces).index(name)])
            genomes, seen, tries = [sub.largest(), sub.smallest()], set(), 0
            seen.update(g.hash for g in genomes)
            while len(genomes) < population and tries < 20 * population:
                tries += 1
                g = sub.sample(rng)
                if g.hash not in seen:
                    seen.add(g.hash)
                    genomes.append(g)
        ok = run.feasible(genomes)
        return [g for g, keep in zip(genomes, ok) if keep]

    def _score(self) -> None:
        run = self.run
        self.scores = []
        for name in self._trained():
            sub = self.subspaces[name]
            genomes = self._sample(name, sub)
            if not genomes:
                continue
            net, _ = self.store.load(sub)
            acc = inherited_accuracy(net, genomes, run.task, split="val", seed=run.config.seed)
            self.scores += [(name, g.to_dict(), float(a)) for g, a in zip(genomes, acc)]
        run.note(
            "inherited-weight scoring",
            f"{len(self.scores)} sub-networks of {len(self._trained())} supernet(s) scored with inherited weights",
        )

    # ------------------------------------------------------------------ the candidates
    def candidates(self) -> list[Genome]:
        if not self.scores:
            return []
        run, c = self.run, self.run.config
        genomes = [Genome.from_dict(g) for _, g, _ in self.scores]
        acc = np.array([a for _, _, a in self.scores], dtype=np.float64)
        cost = run.cost(genomes)
        run.show_population(
            {
                "label": "inherited-weight accuracy (scored sub-networks)",
                "acc": acc.tolist(),
                "std": [0.0] * len(acc),
                "cost": cost.tolist(),
                "feasible": [True] * len(acc),
            }
        )
        first = {int(i) for i in non_dominated(acc, cost)}
        order = [int(i) for i in pareto_order(acc, cost) if int(i) in first]
        order = with_accuracy_share(order, acc, c.accuracy_share, pool=range(len(acc)))
        picked = unique([genomes[i] for i in order])[: c.verify]
        by_hash = {g.hash: a for g, a in zip(genomes, acc)}
        run.note_predictions(picked, [by_hash[g.hash] for g in picked], [0.0] * len(picked))
        return picked

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"generation": self.done + (self.scores is not None), "supernets_done": self.done,
                "scores": self.scores}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = int(state.get("supernets_done", 0))
        scores = state.get("scores")
        self.scores = None if scores is None else [(str(n), dict(g), float(a)) for n, g, a in scores]

"""``ours``: NSGA-II with the meta-trained predictor as fitness.

A successive-halving bracket every few generations trains the most promising students for real (an
optimistic upper confidence bound of the prediction, spread along the front), and the predictor is
adapted to every record of the task before the search goes on. A bracket the training budget cannot pay in full is
not started (its low rungs would not reach a verified student): what is left goes to the final verification.

With ``--scouts N``, the search starts with N random students under the budget, trained at the first rung's
budget, and the predictor adapted to them before the first generation: the rungs train the predictor's own picks,
which correct it little where it ranks a task badly, and unbiased records correct it more (``SearchConfig.scouts``).
The report says how well the meta-trained predictor ranked the scouts, before it saw them: how familiar the task is.

With ``--supernet DIR`` (trained supernets of the task and teacher), the first bracket's first rung also decides
whether their inherited-weight accuracy ranks the candidates it covers better than the predictor
(:mod:`search.supernet_fidelity`); without it, nothing of that runs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from distill.genome import Genome
from distill.supernet.store import SupernetDir
from search.budget import TOLERANCE, bracket_cost
from search.config import SearchConfig
from search.context import SearchRun
from search.problem import StudentProblem, sample_feasible
from search.rungs import select_candidates
from search.strategies.base import register
from search.strategies.nsga import EvolutionStrategy
from search.supernet_fidelity import FidelityDecision, SupernetFidelity, decide

log = logging.getLogger(__name__)

__all__ = ["PredictorGuided", "draw_scouts"]

# Draws per scout before the sampling gives up (a budget that few students fit).
SCOUT_TRIES = 100


def draw_scouts(run: SearchRun, n: int) -> list[Genome]:
    """``n`` distinct random students under the run's budget (fewer when the budget admits fewer), from a stream of
    the run's seed of their own: the same scouts for a seed whatever the rest of the search does."""
    rng = np.random.default_rng([run.config.seed, 1])
    feasible = lambda g: bool(run.feasible([g])[0])  # noqa: E731
    scouts: dict[str, Genome] = {}
    for _ in range(SCOUT_TRIES * n):
        if len(scouts) == n:
            break
        g = sample_feasible(run.space, rng, feasible, run.hints)
        scouts.setdefault(g.hash, g)
    return list(scouts.values())


@register(
    "ours",
    "dass's own search: NSGA-II scored by the meta-trained accuracy predictor, successive-halving rungs that "
    "train the most promising students, and the predictor adapted to every result",
    True,
)
class PredictorGuided(EvolutionStrategy):
    label = "predicted (final population)"
    reads_supernet = True
    trains_scouts = True

    @classmethod
    def min_trainings(cls, config: SearchConfig) -> tuple[float, str]:
        """The scouts, and one bracket (or the verification of one student) after them."""
        need, what = super().min_trainings(config)
        if not config.scouts:
            return need, what
        scouts = config.scouts * config.rungs[0] / config.full_budget
        return scouts + need, f"{config.scouts} scouts x {config.rungs[0]} epochs and {what}"

    @classmethod
    def check_config(cls, config: SearchConfig) -> None:
        super().check_config(config)
        if config.supernet is not None:
            meta = SupernetDir(config.supernet).require_meta()  # a directory without supernets fails here
            if meta["space"] != config.space:
                raise ValueError(
                    f"--supernet {config.supernet} holds supernets of space {meta['space']!r}; the search's is "
                    f"{config.space!r}"
                )

    def setup(self, run: SearchRun) -> None:
        c = run.config
        self.fidelity = None if c.supernet is None else SupernetFidelity(c.supernet, run.task, run.teacher.id, c.space,
                                                                         c.seed)  # fmt: skip
        self.decision: FidelityDecision | None = None
        self.scouted = not c.scouts
        super().setup(run)

    def step(self) -> bool:
        if not self.scouted:  # a step of its own: the state saved after it keeps the scouts' adaptation
            self.scout()
            return True
        return super().step()

    def scout(self) -> None:
        """Train the scouts at the first rung's budget, note how the meta-trained predictor ranked them, and adapt
        the predictor to them."""
        run, budget = self.run, self.run.config.rungs[0]
        scouts = draw_scouts(run, run.config.scouts)
        scouts = scouts[: run.budget.affordable(scouts, budget)]
        if scouts:
            predicted, _ = run.predict(scouts, budget)
            measured = run.train(scouts, budget)
            run.note("scouts", describe_scouts(predicted, measured, budget))
            run.adapt()
        self.scouted = True

    def make_problem(self) -> StudentProblem:
        run, c = self.run, self.run.config
        accuracy = run.predict if self.fidelity is None else self.accuracy
        return StudentProblem(run.space, accuracy, run.costs, c.objective, run.limits, run.hints)

    def accuracy(self, genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray]:
        """The predictor's ``(mean, std)``, the inherited accuracy in its place where the decision says so."""
        mean, std = self.run.predict(genomes)
        if self.decision is not None and self.decision.source == "inherited":
            inherited = self.fidelity.score(genomes)
            inside = np.isfinite(inherited)
            mean = np.array(mean, dtype=np.float64)
            mean[inside] = self.decision.shift + self.decision.scale * inherited[inside]
        return mean, std

    def decide(self, candidates: list[Genome], predicted: np.ndarray, first_rung: list) -> None:
        """Take the fidelity decision on the first rung's measurements (once), and record it."""
        measured = np.array([m.val_acc if m.ok else np.nan for m in first_rung], dtype=np.float64)
        self.decision = decide(predicted, self.fidelity.score(candidates), measured)
        self.run.note("supernet fidelity", self.decision.describe())

    def bracket(self) -> None:
        run, c = self.run, self.run.config
        X, F, std = self.algorithm.pop.get("X", "F", "std")
        genomes = self.problem.decode(X)
        trained = run.trained_hashes()
        eligible = self.problem.feasible(genomes) & np.array([g.hash not in trained for g in genomes])
        idx = select_candidates(F, std, eligible, c.rung_size, c.exploration, c.accuracy_share)
        candidates = [genomes[i] for i in idx]
        room = run.budget.room()
        need, _ = bracket_cost(len(candidates), c.rungs, c.eta)
        if room is not None and need > room + TOLERANCE:  # it could not reach the full budget: keep the trainings
            log.info("a bracket of %d costs %.2f trainings, %.2f are left: not started", len(idx), need, room)
            return
        run.note_predictions(candidates, -F[idx, 0], std[idx])
        if candidates:
            levels = run.bracket(candidates)
            if self.fidelity is not None and self.decision is None and levels:
                self.decide(candidates[: len(levels[0])], -F[idx[: len(levels[0])], 0], levels[0])
            run.adapt()
            self.refresh()

    def candidates(self) -> list[Genome]:
        candidates = super().candidates()
        if candidates:
            mean, std = self.run.predict(candidates)
            self.run.note_predictions(candidates, mean, std)
        return candidates

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["scouted"] = self.scouted
        if "scouts" in self.run.notes:
            state["scouts_note"] = self.run.notes["scouts"]
        if self.decision is not None:
            state["supernet_decision"] = self.decision.to_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.scouted = bool(state.get("scouted", True))  # a run saved before scouts existed had none
        if state.get("scouts_note"):
            self.run.note("scouts", state["scouts_note"])
        if state.get("supernet_decision") is not None and self.fidelity is not None:
            self.decision = FidelityDecision(**state["supernet_decision"])
            self.run.note("supernet fidelity", self.decision.describe())  # the saved population was scored with it


def describe_scouts(predicted: np.ndarray, measured: list, budget: int) -> str:
    """The report's line on the scouts: how many trained, and how the predictor ranked them before seeing them."""
    ok = np.array([m.ok for m in measured])
    text = f"{len(measured)} random students trained at {budget} epoch(s), {int(ok.sum())} without failure"
    accuracy = np.array([m.val_acc for m in measured if m.ok], dtype=np.float64)
    if ok.sum() >= 3 and np.ptp(accuracy) > 0 and np.ptp(predicted[ok]) > 0:
        rho = float(spearmanr(predicted[ok], accuracy)[0])
        text += (
            f"; the meta-trained predictor ranked their validation accuracy at Spearman {rho:.2f} before it was "
            "adapted to them"
        )
    return text

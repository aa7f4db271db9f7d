"""``ours``: NSGA-II with the meta-trained predictor as fitness.

A successive-halving bracket every few generations trains the most promising students for real (an
optimistic upper confidence bound of the prediction, spread along the front), and the predictor is
adapted to every record of the task before the search goes on.

With ``--supernet DIR`` (trained supernets of the task and teacher), the first bracket's first rung also decides
whether their inherited-weight accuracy ranks the candidates it covers better than the predictor
(:mod:`search.supernet_fidelity`); without it, nothing of that runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distill.genome import Genome
from distill.supernet.store import SupernetDir
from search.config import SearchConfig
from search.context import SearchRun
from search.problem import StudentProblem
from search.rungs import select_candidates
from search.strategies.base import register
from search.strategies.nsga import EvolutionStrategy
from search.supernet_fidelity import FidelityDecision, SupernetFidelity, decide

__all__ = ["PredictorGuided"]


@register(
    "ours",
    "dass's own search: NSGA-II scored by the meta-trained accuracy predictor, successive-halving rungs that "
    "train the most promising students, and the predictor adapted to every result",
    True,
)
class PredictorGuided(EvolutionStrategy):
    label = "predicted (final population)"
    reads_supernet = True

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
        super().setup(run)

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
        if self.decision is not None:
            state["supernet_decision"] = self.decision.to_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("supernet_decision") is not None and self.fidelity is not None:
            self.decision = FidelityDecision(**state["supernet_decision"])
            self.run.note("supernet fidelity", self.decision.describe())  # the saved population was scored with it

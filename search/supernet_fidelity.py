"""A trained supernet's inherited-weight accuracy as one more cheap fidelity of ``ours``, when it measures better.

``ours --supernet DIR`` reads the supernets ``dass supernet`` trained for the run's task and teacher. After the
first bracket's first rung has been trained for real, it compares, over that rung's candidates that lie in a
sub-space of the supernets (:func:`decide`):

* ``rho_predictor`` -- Spearman of the predictor's accuracy when they were chosen with the measured accuracy;
* ``rho_inherited`` -- Spearman of their inherited-weight accuracy with the measured accuracy.

The rule: with at least :data:`MIN_PAIRS` such candidates, ``rho_inherited > rho_predictor`` (strictly: a tie
keeps the predictor, what ``ours`` does without a supernet) and ``rho_inherited > 0``, the inherited accuracy
replaces the predictor's for every genome inside a sub-space, mapped onto the predictor's scale by matching the
mean and spread of the two over those candidates (a rank-keeping affine map: the two fidelities then compete on
one axis with the predictor's scores of genomes outside the sub-spaces). Otherwise the predictor stays alone.
A Spearman that is
undefined (constant scores) counts as 0: no ranking information. The decision is taken once, recorded in the
run's state and report, and never revisited (a resumed run reads it back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from distill.genome import Genome
from distill.supernet import SubSpace, Supernet
from distill.supernet.evaluate import inherited_accuracy
from distill.supernet.store import SupernetDir
from distill.tasks import Task

__all__ = ["MIN_PAIRS", "FidelityDecision", "SupernetFidelity", "decide"]

# Fewer pairs than this rank nothing reliably (Spearman of 3 pairs takes 4 values): the predictor stays.
MIN_PAIRS = 4


@dataclass(frozen=True)
class FidelityDecision:
    """Which fidelity scores the genomes inside the supernets' sub-spaces, and why."""

    source: str  # "predictor" or "inherited"
    pairs: int
    rho_predictor: float | None = None
    rho_inherited: float | None = None
    scale: float = 0.0  # inherited -> predictor scale: shift + scale * inherited
    shift: float = 0.0

    def describe(self) -> str:
        if self.rho_predictor is None:
            return f"predictor alone: {self.pairs} first-rung candidate(s) in the supernets' sub-spaces (< {MIN_PAIRS})"
        rhos = f"Spearman with the first rung: inherited {self.rho_inherited:.3f}, predictor {self.rho_predictor:.3f}"
        chosen = "inherited-weight accuracy inside the sub-spaces" if self.source == "inherited" else "predictor alone"
        return f"{chosen} ({rhos}, {self.pairs} candidates)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    rho = float(spearmanr(a, b)[0])
    return rho if np.isfinite(rho) else 0.0


def decide(predicted: np.ndarray, inherited: np.ndarray, measured: np.ndarray) -> FidelityDecision:
    """The rule of the module docstring over the candidates whose three values are all finite.

    Args:
        predicted: the predictor's accuracy of each first-rung candidate when it was chosen, ``(N,)``.
        inherited: its inherited-weight accuracy (NaN outside the supernets' sub-spaces), ``(N,)``.
        measured: its measured validation accuracy at the first rung (NaN for a failed run), ``(N,)``.
    """
    predicted, inherited, measured = (np.asarray(v, dtype=np.float64) for v in (predicted, inherited, measured))
    ok = np.isfinite(predicted) & np.isfinite(inherited) & np.isfinite(measured)
    p, i, m = predicted[ok], inherited[ok], measured[ok]
    if len(p) < MIN_PAIRS:
        return FidelityDecision("predictor", int(len(p)))
    rho_p, rho_i = _spearman(p, m), _spearman(i, m)
    if not (rho_i > rho_p and rho_i > 0):  # a fidelity that ranks nothing right (or is constant) is no help
        return FidelityDecision("predictor", int(len(p)), rho_p, rho_i)
    scale = float(p.std() / i.std()) if p.std() > 0 else float(m.std() / i.std())  # i.std() > 0: rho_i > 0
    return FidelityDecision("inherited", int(len(p)), rho_p, rho_i, scale, float(p.mean() - scale * i.mean()))


class SupernetFidelity:
    """Inherited-weight accuracy of genomes from the trained supernets in ``root`` (NaN outside their sub-spaces).

    Args:
        root: a directory written by ``dass supernet`` for ``task`` and the run's teacher.
        task: the run's task (its validation split is scored).
        teacher_id: the run's teacher (supernets of another teacher are refused).
        space: the run's search space.
        seed: which calibration images recalibrate BatchNorm.
    """

    def __init__(self, root: str | Path, task: Task, teacher_id: str, space: str, seed: int = 0) -> None:
        self.store = SupernetDir(root)
        meta = self.store.require_meta()
        for key, ours, what in (("task_id", task.id, "task"), ("teacher_id", teacher_id, "teacher"),
                                ("space", space, "space")):  # fmt: skip
            if meta.get(key) != ours:
                raise ValueError(
                    f"--supernet {self.store.root} holds the supernets of another {what} "
                    f"({meta.get(key)!r}, not {ours!r}); train them for this run with dass supernet"
                )
        self.task, self.seed = task, seed
        self.subspaces: dict[str, SubSpace] = self.store.subspaces()
        self._nets: dict[str, Supernet] = {}
        self._cache: dict[str, float] = {}

    def _home(self, genome: Genome) -> str | None:
        for name, sub in self.subspaces.items():
            try:
                sub.validate(genome)
            except ValueError:
                continue
            return name
        return None

    def score(self, genomes: list[Genome]) -> np.ndarray:
        """``(N,)`` validation accuracy with inherited weights; NaN for a genome in none of the sub-spaces."""
        out = np.full(len(genomes), np.nan)
        for k, g in enumerate(genomes):
            if g.hash not in self._cache:
                name = self._home(g)
                if name is None:
                    self._cache[g.hash] = float("nan")
                    continue
                if name not in self._nets:
                    self._nets[name] = self.store.load(self.subspaces[name])[0]
                self._cache[g.hash] = float(inherited_accuracy(self._nets[name], [g], self.task, seed=self.seed)[0])
            out[k] = self._cache[g.hash]
        return out

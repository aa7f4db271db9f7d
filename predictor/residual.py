"""Adaptation as a correction of the meta-trained predictor's errors on a new task: a Gaussian process on its
residuals.

Fine-tuning the ensemble on a handful of records of a new task can lower its ranking: ten noisy labels pull
every weight, and a task unlike the meta-training ones (where adaptation matters most) is where the pull goes
wrong. Here the meta-trained predictor is left as it is and the records only say where it errs: the residual
``r = measured - predicted`` of a student is modelled as

    r(x) = b + f(x) + noise,   b ~ N(0, s_b^2),  f ~ GP(0, s_f^2 exp(-|e(x) - e(x')|^2 / (2 l^2))),

with ``e(x)`` the ensemble's graph embedding of the student. ``b`` is one offset shared by the whole task:
it corrects a predictor that over- or under-predicts every student (what it does on an unfamiliar kind of
data) and cannot change the ranking. ``f`` corrects students like the ones measured, and fades to zero away
from them. The hyper-parameters (``s_b``, ``s_f``, ``l`` as a multiple of the median distance between the
records' embeddings, the noise ``s_n``) are chosen by the marginal likelihood of the residuals from a small
grid, so ten residuals that look like noise get ``s_f`` near zero and leave the ranking alone, while a
systematic error seen in 48 records of a search's rungs moves it. The posterior variance is added to the
ensemble's, so the uncertainty widens where the predictor is known to err (Rasmussen & Williams, *Gaussian
Processes for Machine Learning*, 2006, ch. 2 and 5).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ResidualGP"]

# the grid of the marginal-likelihood search: accuracies, so 0.01 is one point of accuracy
OFFSET_SCALES = (0.01, 0.03, 0.1)
FUNCTION_SCALES = (0.0, 0.01, 0.02, 0.04, 0.08)
LENGTH_FACTORS = (0.5, 1.0, 2.0)  # times the median distance between the records' embeddings
NOISE_SCALES = (0.005, 0.01, 0.02, 0.04)


@dataclass
class ResidualGP:
    """A Gaussian process fitted on residuals of one task; see the module docstring.

    Attributes:
        x: the records' embeddings, ``(n, d)``.
        alpha: ``(K + s_n^2 I)^{-1} r``.
        chol: the Cholesky factor of ``K + s_n^2 I``.
        offset, scale, length, noise: the chosen hyper-parameters.
        log_marginal: their log marginal likelihood.
    """

    x: np.ndarray
    alpha: np.ndarray
    chol: np.ndarray
    offset: float
    scale: float
    length: float
    noise: float
    log_marginal: float

    @classmethod
    def fit(cls, embeddings: np.ndarray, residuals: np.ndarray) -> ResidualGP:
        """The posterior of the residuals ``(n,)`` at the embeddings ``(n, d)``, hyper-parameters by marginal
        likelihood."""
        x = np.asarray(embeddings, dtype=np.float64)
        r = np.asarray(residuals, dtype=np.float64)
        if x.ndim != 2 or r.shape != (len(x),) or len(x) < 1:
            raise ValueError(f"need embeddings (n, d) and n residuals; got {x.shape} and {r.shape}")
        if not np.isfinite(r).all():
            raise ValueError("the residuals must be finite numbers")
        sq = _sq_dists(x, x)
        off_diagonal = sq[np.triu_indices(len(x), k=1)]
        median = math.sqrt(float(np.median(off_diagonal))) if off_diagonal.size and off_diagonal.any() else 1.0
        best, best_score = None, -math.inf
        for s_b, s_f, factor, s_n in itertools.product(OFFSET_SCALES, FUNCTION_SCALES, LENGTH_FACTORS, NOISE_SCALES):
            if s_f == 0.0 and factor != LENGTH_FACTORS[0]:
                continue  # without f, the length scale changes nothing
            length = factor * median
            k = _kernel(sq, s_b, s_f, length) + s_n**2 * np.eye(len(x))
            chol = np.linalg.cholesky(k)
            alpha = _solve(chol, r)
            lml = -0.5 * r @ alpha - np.log(np.diag(chol)).sum() - 0.5 * len(x) * math.log(2 * math.pi)
            # BIC over the hyper-parameters: f's scale and length must pay for themselves in likelihood, so a
            # handful of residuals that fit no better with f than as an offset plus noise leave the ranking alone
            score = lml - 0.5 * (2 + 2 * (s_f > 0)) * math.log(len(x))
            if best is None or score > best_score + 1e-12:
                best, best_score = cls(x, alpha, chol, s_b, s_f, length, s_n, float(lml)), score
        assert best is not None
        return best

    def state_dict(self) -> dict[str, Any]:
        """Tensors and floats only, so a predictor file holding an adaptation loads with ``weights_only=True``."""
        arrays = {k: torch.from_numpy(np.ascontiguousarray(getattr(self, k))) for k in ("x", "alpha", "chol")}
        return {
            **arrays,
            **{k: float(getattr(self, k)) for k in ("offset", "scale", "length", "noise", "log_marginal")},
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ResidualGP:
        arrays = {k: state[k].double().numpy() for k in ("x", "alpha", "chol")}
        return cls(**arrays, **{k: float(state[k]) for k in ("offset", "scale", "length", "noise", "log_marginal")})

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the residual (without the noise) at ``embeddings`` ``(m, d)``."""
        z = np.asarray(embeddings, dtype=np.float64)
        k_star = _kernel(_sq_dists(z, self.x), self.offset, self.scale, self.length)  # (m, n)
        mean = k_star @ self.alpha
        v = np.linalg.solve(self.chol, k_star.T)  # (n, m): L^{-1} k_*
        prior = self.offset**2 + self.scale**2
        var = np.maximum(prior - (v**2).sum(axis=0), 0.0)
        return mean, var


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _kernel(sq: np.ndarray, offset: float, scale: float, length: float) -> np.ndarray:
    k = np.full(sq.shape, offset**2)
    if scale > 0:
        k = k + scale**2 * np.exp(-sq / (2.0 * length**2))
    return k


def _solve(chol: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.linalg.solve(chol.T, np.linalg.solve(chol, r))

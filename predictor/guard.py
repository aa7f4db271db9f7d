"""Choosing an adaptation by cross-validation on the records it adapts to.

Fine-tuning on a handful of records of an unfamiliar task can lower the predictor's ranking (on a natural-image
task, 10 records took Spearman from 0.719 to 0.700), and which correction helps differs from task to task. The
guarded adaptation (:meth:`AccuracyPredictor.adapt` with ``method="guarded"``) therefore asks the records
themselves: the students are split into ``k`` folds; every candidate correction is fitted on ``k - 1`` folds
and predicts the students of the last; the candidate whose out-of-fold predictions order the records best
(pairwise concordance within a budget) is kept, if it removes at least ``GUARD_MARGIN`` of the zero-shot
order's discordant pairs (out of fold). Otherwise only a shift is applied: one offset for the task, the mean
residual, which mends a predictor that over- or under-predicts every student and cannot reorder them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GUARD_FOLDS = 5
# the share of the zero-shot order's discordant pairs a ranking-changing candidate must set right, out of fold,
# to be chosen: a margin against the winner's curse of picking the best of noisy estimates on ten records (45
# pairs; from a zero-shot concordance of 0.7 it asks for 0.73, two pairs more)
GUARD_MARGIN = 0.1


def student_folds(keys: Sequence[str], n_folds: int, seed: int) -> list[np.ndarray]:
    """Indices of ``keys`` (one per record) split into at most ``n_folds`` folds, all records of one student
    (same key) in the same fold; seeded, and independent of the records' order."""
    unique = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: k % n_folds for k, i in enumerate(order)}
    folds = [np.array([i for i, key in enumerate(keys) if fold_of[key] == f], dtype=int) for f in range(n_folds)]
    return [f for f in folds if len(f)]


def concordance(pred: np.ndarray, target: np.ndarray, budget: np.ndarray) -> float:
    """Share of record pairs of the same budget (and different targets) that ``pred`` orders as ``target`` does;
    a tie in ``pred`` counts half. NaN when there is no such pair."""
    pred, target, budget = (np.asarray(a, dtype=float) for a in (pred, target, budget))
    i, j = np.triu_indices(len(pred), k=1)
    keep = (budget[i] == budget[j]) & (target[i] != target[j])
    if not keep.any():
        return float("nan")
    i, j = i[keep], j[keep]
    agree = np.sign(pred[i] - pred[j]) * np.sign(target[i] - target[j])
    return float(np.mean((agree > 0) + 0.5 * (agree == 0)))

"""A guard on fine-tuning: cross-validation on the records it adapts to.

Fine-tuning the predictor on a few records of an unfamiliar task usually improves its ranking (leave one family
out, 10 records: glyphs 0.672 -> 0.755, shapes 0.753 -> 0.849; ``benchmarks/leave_one_family_out.py``), but ten
noisy labels pull every weight, and on some tasks and draws it lowers the ranking. The guarded adaptation
(:meth:`AccuracyPredictor.adapt` with ``method="guarded"``) asks the records themselves: the students are split
into ``k`` folds, the predictor is fine-tuned on ``k - 1`` of them and predicts the students of the last, and if
these out-of-fold predictions order the records worse than the meta-trained predictor does -- by more than
``GUARD_MARGIN`` of its discordant pairs (pairwise concordance within a budget) -- the fine-tuning is not kept.
Only a shift is applied then: one offset for the task, the mean residual in logit space, which mends a predictor
that over- or under-predicts every student and cannot reorder them (as it does when there are fewer than two
students). A known weakness: the out-of-fold predictions come from ``k`` different fine-tuned models, and pairs
across folds compare two models with their own offsets -- noise the zero-shot order does not pay.

Measured so far (leave one family out, 10 records, 5 draws per group): guarded 0.713 / 0.830 / 0.342 on glyphs /
shapes / textures against fine-tuning's 0.755 / 0.849 / 0.421. On ten records the out-of-fold estimate drops
helpful fine-tunings more often than it catches harmful ones, so fine-tuning stays the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

GUARD_FOLDS = 5
# how much worse than the zero-shot order, as a share of its discordant pairs, the out-of-fold fine-tuned order may
# be before the fine-tuning is dropped: fitted on four fifths of the records, the out-of-fold models are weaker than
# the one kept, so a tie is no reason to drop it (ten records make 45 pairs; from a zero-shot concordance of 0.7 it
# drops the fine-tuning below 0.67)
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


def task_scale(err: np.ndarray, std: np.ndarray, coverage: float) -> float:
    """The factor on the predicted standard deviations ``std`` that makes the +-1 sigma interval cover ``coverage``
    of a task's records, from their out-of-fold absolute errors ``err``: the split-conformal quantile of
    ``err / std`` (the ``ceil((n + 1) * coverage)``-th smallest ratio, so that a new record of the task is
    covered with probability at least ``coverage`` when the ratios are exchangeable; Vovk et al. 2005).
    With too few records for that rank, the largest ratio. Records predicted with a zero ``std`` (a one-member
    ensemble without a calibration floor) say nothing about a factor on it and are left out; 1.0 (no change)
    when no record is left or the quantile is zero."""
    err, std = np.asarray(err, dtype=float), np.asarray(std, dtype=float)
    ratio = np.sort(err[std > 0] / std[std > 0])
    if not len(ratio):
        return 1.0
    k = min(len(ratio), math.ceil(round((len(ratio) + 1) * coverage, 9)))  # round: no float drift past an integer
    scale = float(ratio[k - 1])
    return scale if scale > 0 else 1.0

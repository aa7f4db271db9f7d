"""Stratified, seeded splits of labelled positions: the one way tasks and sources cut data."""

from __future__ import annotations

import numpy as np

# A test set must not move with the task seed, so that results under different seeds are comparable:
# test splits that a source has to make, and the n_test cap, use this fixed seed.
TEST_SEED = 0


def stratified_split(
    y: np.ndarray, n_take: int, rng: np.random.Generator, keep_one: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Splits the positions of ``y`` into ``(taken, rest)``, both sorted, with ``n_take`` taken per class share.

    Each class gives ``n_take * count / len(y)`` positions, rounded by largest remainder (ties to the
    lower label), chosen at random by ``rng``. ``keep_one`` leaves at least one of every class in ``rest``.
    """
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n_take / len(y)
    take = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n_take - take.sum()]] += 1
    if keep_one:
        take = np.minimum(take, counts - 1)
    taken = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    mask = np.zeros(len(y), dtype=bool)
    mask[np.concatenate(taken)] = True
    return np.flatnonzero(mask), np.flatnonzero(~mask)

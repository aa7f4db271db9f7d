"""The stratified split that tasks and sources cut data with."""

import numpy as np

from distill.tasks import stratified_split


def test_stratified_split_takes_each_class_share_and_is_a_partition():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    taken, rest = stratified_split(y, 10, np.random.default_rng(0))
    assert np.bincount(y[taken]).tolist() == [5, 3, 2]
    assert np.intersect1d(taken, rest).size == 0 and np.union1d(taken, rest).tolist() == list(range(100))
    again, _ = stratified_split(y, 10, np.random.default_rng(0))
    other, _ = stratified_split(y, 10, np.random.default_rng(1))
    assert np.array_equal(taken, again) and not np.array_equal(taken, other)


def test_stratified_split_keep_one_leaves_every_class_in_the_rest():
    y = np.array([0, 0, 0, 0, 1])
    _, rest = stratified_split(y, 4, np.random.default_rng(0), keep_one=True)
    assert set(y[rest].tolist()) == {0, 1}

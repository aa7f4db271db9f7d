"""``digits``: scikit-learn's bundled 8x8 digits, always available (the embedded default source)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.sources.base import RawData, check_raw_data, task_source
from distill.tasks.splits import TEST_SEED, stratified_split

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

DIGITS_TEST_FRACTION = 0.3  # scikit-learn's digits have no official test split


@task_source("digits")
def digits_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """scikit-learn's bundled 8x8 digits, with a fixed stratified 70/30 train/test split."""
    return _read_digits()


@functools.lru_cache(maxsize=1)
def _read_digits() -> RawData:
    from sklearn.datasets import load_digits  # scikit-learn is heavy: imported when the source is first used

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8), pixel values 0..16
    y = digits.target.astype(np.int64)
    test, train = stratified_split(y, round(DIGITS_TEST_FRACTION * len(y)), np.random.default_rng(TEST_SEED))
    return check_raw_data(
        RawData(x[train], y[train], x[test], y[test], class_names=[str(i) for i in range(10)]), "digits"
    )

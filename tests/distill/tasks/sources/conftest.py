"""Helpers of the generated-source tests, as fixtures (test folders are not packages: --import-mode=importlib)."""

import hashlib

import numpy as np
import pytest

from distill.tasks import TASK_SOURCES, RawData, TaskSpec
from distill.tasks.sources import generated


def _draw(text: str) -> RawData:
    """The source's raw data for ``text``, drawn afresh (the memory cache cleared first)."""
    generated._generate_cached.cache_clear()
    spec = TaskSpec.parse(text)
    return TASK_SOURCES.get(spec.source)(spec, None)


def _checksum(raw: RawData) -> str:
    h = hashlib.sha256()
    for a in (raw.x_train, raw.y_train, raw.x_test, raw.y_test):
        h.update(f"{a.dtype}{a.shape};".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _nearest_mean_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of the nearest class mean (Euclidean) on flattened features: a linear sanity check."""
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    classes = np.unique(y_train)
    means = np.stack([x_train[y_train == c].mean(axis=0) for c in classes])
    dist = ((x_test[:, None, :] - means[None]) ** 2).sum(axis=-1)
    return float((classes[dist.argmin(axis=1)] == y_test).mean())


@pytest.fixture
def draw():
    """``draw(spec_text)``: the generated source's raw data, drawn afresh."""
    return _draw


@pytest.fixture
def checksum():
    """``checksum(raw)``: 16 hex digits over every array of a RawData."""
    return _checksum


@pytest.fixture
def nearest_mean_accuracy():
    """``nearest_mean_accuracy(x_train, y_train, x_test, y_test)``."""
    return _nearest_mean_accuracy


def _check_generated(text: str, num_classes: int) -> RawData:
    """The contract every generated source keeps, on a small spec ``text`` with ``num_classes`` classes.

    Same spec -> same bytes, whatever the BLAS/OpenMP and torch thread counts; exactly the images asked
    for, shared evenly by the classes; RGB uint8 32x32 images that are not blank; the pipeline turns them
    into gray or RGB tasks of any size.
    """
    import torch
    from threadpoolctl import threadpool_limits

    from distill.tasks import load_task

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with threadpool_limits(limits=1):
            one = _draw(text)
            task_one = load_task(f"{text}:color=gray")
        torch.set_num_threads(2)
        with threadpool_limits(limits=2):
            two = _draw(text)
            task_two = load_task(f"{text}:color=gray")
    finally:
        torch.set_num_threads(before)
    assert _checksum(one) == _checksum(two)
    assert task_one.id == task_two.id and torch.equal(task_one.x_train, task_two.x_train)

    spec = TaskSpec.parse(text)
    for x, y, n in ((one.x_train, one.y_train, spec.n_train), (one.x_test, one.y_test, spec.n_test)):
        assert x.shape == (n, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64
        counts = np.bincount(y)[np.unique(y)]
        assert len(counts) == num_classes and counts.max() - counts.min() <= 1
        assert x.reshape(n, -1).std(axis=1).min() > 1.0  # no blank image
    assert x.min() < 60 and x.max() > 195  # the value range is used
    assert task_one.in_shape == (1, 32, 32)
    small = load_task(f"{text}:size=16:color=rgb")
    assert small.in_shape == (3, 16, 16) and small.id != task_one.id
    return one


@pytest.fixture
def check_generated():
    """``check_generated(spec_text, num_classes) -> RawData``: the shared contract of generated sources."""
    return _check_generated

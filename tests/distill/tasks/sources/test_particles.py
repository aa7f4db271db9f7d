"""The particles source: spatial point patterns, told apart by how the dots lie."""

import numpy as np

from distill.tasks import load_task
from distill.tasks.sources.particles import PARTICLE_NAMES, _dots, _hardcore


def test_contract_and_class_names(check_generated):
    raw = check_generated("particles:classes=0-11:n_train=24:n_test=12", num_classes=12)
    assert list(raw.class_names) == list(PARTICLE_NAMES) and len(PARTICLE_NAMES) == 12


def test_patterns_are_told_apart_by_their_autocorrelation(nearest_mean_accuracy):
    """The colours are no class cue; the arrangement (second-order statistics) is: the nearest mean of the images'
    autocorrelations separates the classes far above chance."""
    task = load_task("particles:n_train=300:n_test=200:color=gray:norm=none:val_fraction=0")

    def autocorrelation(x):
        x = x.numpy()[:, 0]
        x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-6)
        return np.fft.irfft2(np.abs(np.fft.rfft2(x)) ** 2, s=x.shape[1:]).reshape(len(x), -1)

    accuracy = nearest_mean_accuracy(
        autocorrelation(task.x_train), task.y_train.numpy(), autocorrelation(task.x_test), task.y_test.numpy()
    )
    assert accuracy > 0.35  # chance: 0.1


def test_hardcore_keeps_its_distance_on_the_torus():
    points = _hardcore(np.random.default_rng(0), 90)  # more than fit: it keeps what 1,500 candidates allow
    d = np.abs(points[:, None] - points[None])
    d = np.sqrt((np.minimum(d, 32 - d) ** 2).sum(-1)) + np.eye(len(points)) * 99
    assert 40 <= len(points) < 90 and d.min() > 3.4
    assert len(_hardcore(np.random.default_rng(0), 20)) == 20


def test_dots_wrap_around_the_edges():
    field = _dots(np.array([[0.2, 16.5]]), np.array([1.0]))  # a dot on the left edge shows on the right one too
    assert field[16, 0] == 1.0 and field[16, 31] > 0.5 and field[0, 16] == 0.0
    assert _dots(np.empty((0, 2)), np.empty(0)).max() == 0.0

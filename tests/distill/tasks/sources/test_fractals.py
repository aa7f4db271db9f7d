"""The fractals source: FractalDB-style classes, one random iterated function system each."""

import numpy as np
import pytest

from distill.tasks import TaskSpec, load_task
from distill.tasks.sources import fractals


def test_contract_and_class_names(check_generated):
    raw = check_generated("fractals:classes=0-2,998:n_train=16:n_test=8", num_classes=4)
    assert raw.class_names[998] == "ifs998" and len(raw.class_names) == fractals.NUM_FRACTAL_CLASSES


def test_class_systems_are_contractive_and_fill_the_frame():
    for label in range(20):
        sv, angles, flip, shift = fractals.class_ifs(0, label)
        used = sv[:, 0] > 0
        assert 2 <= used.sum() <= fractals.MAX_MAPS and (sv[used] <= 0.8).all()
        rng = np.random.default_rng(label)
        points = fractals._chaos_game(fractals._matrices(sv, angles, flip, shift)[None], rng.random((1, 80, 32)))
        assert 0.05 <= fractals._fill(points[0]) <= 0.7


def test_data_seed_redraws_the_class_systems():
    assert not np.array_equal(fractals.class_ifs(0, 3)[0], fractals.class_ifs(1, 3)[0])
    assert TaskSpec.parse("fractals:data_seed=1").option("data_seed") == 1
    with pytest.raises(ValueError, match=r"'data_seed' must be an integer >= 0; got 'x'"):
        TaskSpec.parse("fractals:data_seed=x")


def test_fractals_are_told_apart_by_a_nearest_class_mean(nearest_mean_accuracy):
    task = load_task("fractals:n_train=300:n_test=200:size=16:color=gray:norm=none:val_fraction=0")
    accuracy = nearest_mean_accuracy(*(t.numpy() for t in (task.x_train, task.y_train, task.x_test, task.y_test)))
    assert accuracy > 0.25  # chance: 0.1

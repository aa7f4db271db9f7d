"""The aerial source: land-cover tiles, told apart by the layout and texture of their materials."""

import numpy as np

from distill.tasks import load_task
from distill.tasks.sources.aerial import COVER_NAMES, G, _band, _coords, _render


def test_contract_and_class_names(check_generated):
    raw = check_generated("aerial:classes=0-11:n_train=24:n_test=12", num_classes=12)
    assert list(raw.class_names) == list(COVER_NAMES) and len(COVER_NAMES) == 12


def test_covers_are_told_apart_by_colour_and_texture(nearest_mean_accuracy):
    """A linear sanity check: the nearest class mean of each image's mean colour and its local contrast (the mean
    absolute difference of neighbouring pixels, per axis) separates the classes far above chance; colour alone
    does not decide (the classes share materials)."""
    task = load_task("aerial:n_train=300:n_test=200:norm=none:val_fraction=0")

    def features(x, texture=True):
        x = x.numpy()
        colour = x.mean(axis=(2, 3))
        if not texture:
            return colour
        contrast = [np.abs(np.diff(x, axis=a)).mean(axis=(1, 2, 3))[:, None] for a in (2, 3)]
        return np.concatenate([colour, 10 * np.sort(np.concatenate(contrast, axis=1), axis=1)], axis=1)

    y_train, y_test = task.y_train.numpy(), task.y_test.numpy()
    both = nearest_mean_accuracy(features(task.x_train), y_train, features(task.x_test), y_test)
    colour = nearest_mean_accuracy(features(task.x_train, False), y_train, features(task.x_test, False), y_test)
    assert both > 0.55 and colour < 0.6  # chance: 0.1


def test_a_river_crosses_the_tile_in_water_and_a_highway_in_asphalt():
    rng = np.random.default_rng(0)
    river = _render(COVER_NAMES.index("river"), [rng])[0].astype(float) / 255
    bluish = river[..., 2] > river[..., 1]  # water is the only material bluer than it is green
    assert 0.05 < bluish.mean() < 0.5 and bluish.any(axis=0).sum() + bluish.any(axis=1).sum() > 32
    u, _ = _coords(np.random.default_rng(1))
    assert u.shape == (G, G) and _band(u, 1.0).max() == 1.0 and _band(u, 1.0).mean() < 0.2

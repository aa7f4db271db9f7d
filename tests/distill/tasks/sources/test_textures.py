"""The textures source: dead leaves, 1/f noise, gratings and cellular patterns."""

import numpy as np

from distill.tasks import load_task
from distill.tasks.sources.textures import TEXTURE_NAMES


def test_contract_and_class_names(check_generated):
    raw = check_generated("textures:classes=0-11:n_train=24:n_test=12", num_classes=12)
    assert list(raw.class_names) == list(TEXTURE_NAMES) and len(TEXTURE_NAMES) >= 10


def test_textures_are_told_apart_by_their_spectra(nearest_mean_accuracy):
    """The classes differ in second-order statistics: the nearest mean of log power spectra separates them."""
    task = load_task("textures:n_train=300:n_test=200:size=16:color=gray:norm=none:val_fraction=0")

    def spectra(x):
        x = x.numpy()[:, 0]
        x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-6)
        return np.log(np.abs(np.fft.rfft2(x)) ** 2 + 1e-3)

    accuracy = nearest_mean_accuracy(
        spectra(task.x_train), task.y_train.numpy(), spectra(task.x_test), task.y_test.numpy()
    )
    assert accuracy > 0.5  # chance: 0.1


def test_grating_orientations_differ(draw):
    raw = draw("textures:classes=5,6:n_train=10:n_test=2")
    gray = raw.x_train.astype(float).mean(axis=-1)  # (N, H, W)
    # a 0-degree grating's stripes are vertical: it changes along x far more than along y; a 60-degree one does not
    ratio = np.abs(np.diff(gray, axis=2)).mean(axis=(1, 2)) / np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2))
    assert (ratio[raw.y_train == 5] > 3).all() and (ratio[raw.y_train == 6] < 1.5).all()

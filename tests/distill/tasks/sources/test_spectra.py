"""The spectra source: spectrograms of synthetic sounds, told apart by their shape in time and frequency."""

import numpy as np

from distill.tasks import load_task
from distill.tasks.sources.spectra import HOP, N_FFT, SAMPLES, SOUND_NAMES, _envelope, _partial, spectrogram


def test_contract_and_class_names(check_generated):
    raw = check_generated("spectra:classes=0-11:n_train=24:n_test=12", num_classes=12)
    assert list(raw.class_names) == list(SOUND_NAMES) and len(SOUND_NAMES) == 12


def test_sounds_are_told_apart_by_their_spectrograms(nearest_mean_accuracy):
    """A linear sanity check on the gray images: the nearest class mean of each image's mean over time (its
    spectrum) and over frequency (its loudness in time) separates the classes far above chance."""
    task = load_task("spectra:n_train=300:n_test=200:color=gray:norm=none:val_fraction=0")

    def profiles(x):
        x = x.numpy()[:, 0]
        x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-6)
        return np.concatenate([np.sort(x.mean(axis=2), axis=1), np.abs(np.diff(x.mean(axis=1), axis=1))], axis=1)

    accuracy = nearest_mean_accuracy(
        profiles(task.x_train), task.y_train.numpy(), profiles(task.x_test), task.y_test.numpy()
    )
    assert accuracy > 0.3  # chance: 0.1


def test_a_tone_lights_its_frequency_row_and_a_chirp_climbs():
    bins = N_FFT // 2
    tone = spectrogram(_partial(10 / N_FFT))  # bin 10 of 32 (DC left out): row 32 - 10 from the top
    assert tone.shape == (bins, bins) and (tone.argmax(axis=0) == bins - 10).all()
    sweep = spectrogram(_partial(np.linspace(4 / N_FFT, 28 / N_FFT, SAMPLES)))
    rows = sweep.argmax(axis=0)
    assert rows[0] > rows[-1] and (np.diff(rows) <= 0).all()  # higher frequency, higher up the image
    assert SAMPLES == (bins - 1) * HOP + N_FFT


def test_an_envelope_lasts_its_share_with_ramps():
    env = _envelope(np.random.default_rng(0), (0.5, 0.5))
    assert env.min() == 0.0 and env.max() == 1.0
    assert abs(np.count_nonzero(env) - SAMPLES // 2) <= 2

"""``spectra``: spectrograms of synthetic sounds, the images an audio classifier (keyword spotting, bird or
machine sounds) reads.

Twelve classes (labels 0-11, the first ten by default), each a kind of sound event synthesised as a waveform of
808 samples and drawn as its short-time Fourier magnitude on a decibel scale: time runs left to right (32
frames, a Hann window of 64 samples every 24), frequency bottom to top (32 bins, DC left out), 45 dB of range.

- ``tone`` (one steady partial), ``two_tones`` (two at least 0.08 cycles/sample apart), ``harmonics`` (a
  fundamental and 2-4 overtones), ``vibrato`` (a partial whose frequency swings sinusoidally);
- ``chirp_up`` and ``chirp_down`` (a partial sweeping 0.12-0.35 cycles/sample up or down), ``trill`` (two
  partials in alternation), ``gated`` (one partial switched on and off, 4-9 times);
- ``clicks`` (broadband clicks at a regular period), ``noise_band`` (noise in a band 0.03-0.08 wide);
- ``burst`` (broadband noise in one interval), ``glide_harmonics`` (a harmonic stack sweeping up or down).

Every event starts and stops at random (it lasts 55-100 % of the window), its frequencies are drawn per image,
half of the images have a background sound (a steady partial over 20-50 % of the window, 6-18 dB below the
event), and white noise lies 0-25 dB below the event, so a class is a shape in the time-frequency plane, not a
position or a level. The magnitude is drawn from a random dark ground colour (luminance below 0.5) to a random
ink colour at least 0.3 brighter, as spectrograms are drawn (``transform=invert`` gives the other polarity), so
colour is no class cue and the pattern survives ``color=gray``. What sets the family apart from the others: an
image's two axes mean different things (time, frequency), and the classes are thin curves and bands spanning the
image, not objects or textures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.sources.base import RawData, task_source
from distill.tasks.sources.drawing import color_against, colorize, luma, random_color, to_uint8
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

_VERSION = "spectra-1"
N_FFT = 2 * GENERATED_SIZE  # 33 bins; DC dropped, 32 kept
HOP = 24
SAMPLES = (GENERATED_SIZE - 1) * HOP + N_FFT  # 808: 32 frames exactly
DYNAMIC_RANGE_DB = 45.0
F_LOW, F_HIGH = 0.03, 0.47  # partials stay inside the drawn bins (cycles per sample; bin k is k / 64)


@task_source("spectra", options=(DATA_SEED,))
def spectra_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Spectrograms of synthetic sounds, drawn for the spec (see the module docstring)."""
    return generate(spec, SOUND_NAMES, range(10), _render, version=_VERSION)


def _render(label: int, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    synthesise = _SOUNDS[SOUND_NAMES[label]]
    images = np.empty((len(rngs), GENERATED_SIZE, GENERATED_SIZE, 3))
    for i, rng in enumerate(rngs):
        event = synthesise(rng) * _envelope(rng)
        if rng.random() < 0.5:  # a background sound: a steady partial for 20-50 % of the window, 6-18 dB down
            event = event + _partial(rng.uniform(F_LOW, F_HIGH)) * _envelope(rng, (0.2, 0.5)) * np.std(event) * (
                np.sqrt(2) * 10 ** (-rng.uniform(6.0, 18.0) / 20)
            )
        noise = rng.normal(0.0, 1.0, SAMPLES) * np.std(event) * 10 ** (rng.uniform(-25.0, 0.0) / 20)
        ground = random_color(rng, (0.0, 0.5))  # a dark ground, a brighter ink: the polarity of a spectrogram
        images[i] = colorize(spectrogram(event + noise), ground, color_against(rng, luma(ground), 0.3, "brighter"))
    return to_uint8(images)


def spectrogram(signal: np.ndarray) -> np.ndarray:
    """``(SAMPLES,)`` waveform -> ``(S, S)`` magnitude in [0, 1]: decibels, the top :data:`DYNAMIC_RANGE_DB`
    mapped onto [0, 1]; rows are frequency bins from the highest (row 0) down, columns are frames."""
    frames = np.lib.stride_tricks.sliding_window_view(signal, N_FFT)[::HOP] * np.hanning(N_FFT)
    db = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1))[:, 1:] + 1e-9)  # (frames, bins)
    return np.clip((db - db.max()) / DYNAMIC_RANGE_DB + 1.0, 0.0, 1.0).T[::-1]


def _envelope(rng: np.random.Generator, share: tuple[float, float] = (0.55, 1.0)) -> np.ndarray:
    """1 while a sound lasts (a ``share`` of the window, anywhere in it), with 16-sample ramps at its ends."""
    length = int(rng.uniform(*share) * SAMPLES)
    start = int(rng.integers(0, SAMPLES - length + 1))
    t = np.arange(SAMPLES)
    return np.clip(np.minimum(t - start, start + length - t) / 16.0, 0.0, 1.0)


def _partial(freq: np.ndarray | float) -> np.ndarray:
    """A sinusoid starting at phase 0 whose frequency (cycles per sample) may change from sample to sample."""
    return np.sin(2 * np.pi * np.cumsum(np.broadcast_to(freq, (SAMPLES,))))


# ----------------------------------------------------------------------------- sounds: rng -> (SAMPLES,) waveform
def _tone(rng: np.random.Generator) -> np.ndarray:
    return _partial(rng.uniform(F_LOW, F_HIGH))


def _two_tones(rng: np.random.Generator) -> np.ndarray:
    low = rng.uniform(F_LOW, F_HIGH - 0.08)
    return _partial(low) + rng.uniform(0.5, 1.0) * _partial(rng.uniform(low + 0.08, F_HIGH))


def _harmonic_stack(rng: np.random.Generator, fundamental: np.ndarray | float) -> np.ndarray:
    """The fundamental and 2-4 overtones (those below :data:`F_HIGH`), partial k at 0.4-1.0 of 1 / sqrt(k)."""
    overtones = int(rng.integers(2, 5))
    out = np.zeros(SAMPLES)
    for k in range(1, overtones + 2):
        if np.max(k * np.asarray(fundamental)) <= F_HIGH:
            out += _partial(k * np.asarray(fundamental)) * rng.uniform(0.4, 1.0) / k**0.5
    return out


def _harmonics(rng: np.random.Generator) -> np.ndarray:
    return _harmonic_stack(rng, rng.uniform(0.04, 0.11))


def _vibrato(rng: np.random.Generator) -> np.ndarray:
    depth = rng.uniform(0.02, 0.05)
    centre = rng.uniform(F_LOW + depth, F_HIGH - depth)
    cycles = rng.uniform(1.5, 4.0)
    phase = rng.uniform(0.0, 2 * np.pi)
    return _partial(centre + depth * np.sin(2 * np.pi * cycles * np.arange(SAMPLES) / SAMPLES + phase))


def _sweep(rng: np.random.Generator, up: bool) -> np.ndarray:
    span = rng.uniform(0.12, 0.35)
    low = rng.uniform(F_LOW, F_HIGH - span)
    ramp = np.linspace(0.0, span, SAMPLES)
    return _partial(low + (ramp if up else span - ramp))


def _trill(rng: np.random.Generator) -> np.ndarray:
    low = rng.uniform(F_LOW, F_HIGH - 0.08)
    high = rng.uniform(low + 0.08, F_HIGH)
    period = int(rng.integers(90, 200))
    which = (np.arange(SAMPLES) + rng.integers(0, period)) // (period // 2) % 2
    return _partial(np.where(which == 1, high, low))


def _gated(rng: np.random.Generator) -> np.ndarray:
    period = SAMPLES / rng.uniform(4.0, 9.0)
    on = (np.arange(SAMPLES) + rng.uniform(0.0, period)) % period < rng.uniform(0.35, 0.6) * period
    return _partial(rng.uniform(F_LOW, F_HIGH)) * on


def _clicks(rng: np.random.Generator) -> np.ndarray:
    period = int(rng.integers(70, 160))
    out = np.zeros(SAMPLES)
    for start in range(int(rng.integers(0, period)), SAMPLES - 6, period):
        out[start : start + 6] = rng.normal(0.0, 1.0, 6) * np.hanning(6)
    return out


def _band(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """White noise with every frequency outside [low, high] (cycles per sample) removed."""
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, SAMPLES))
    freqs = np.fft.rfftfreq(SAMPLES)
    return np.fft.irfft(spectrum * ((freqs >= low) & (freqs <= high)), n=SAMPLES)


def _noise_band(rng: np.random.Generator) -> np.ndarray:
    width = rng.uniform(0.03, 0.08)
    low = rng.uniform(F_LOW, F_HIGH - width)
    return _band(rng, low, low + width)


def _burst(rng: np.random.Generator) -> np.ndarray:
    length = int(rng.uniform(0.15, 0.4) * SAMPLES)
    start = int(rng.integers(0, SAMPLES - length))
    out = np.zeros(SAMPLES)
    out[start : start + length] = _band(rng, F_LOW, F_HIGH)[:length] * np.hanning(length)
    return out


def _glide_harmonics(rng: np.random.Generator) -> np.ndarray:
    low, span = rng.uniform(0.04, 0.07), rng.uniform(0.02, 0.05)
    ramp = np.linspace(0.0, span, SAMPLES)
    return _harmonic_stack(rng, low + (ramp if rng.random() < 0.5 else span - ramp))


_SOUNDS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "tone": _tone,
    "chirp_up": lambda rng: _sweep(rng, up=True),
    "chirp_down": lambda rng: _sweep(rng, up=False),
    "harmonics": _harmonics,
    "vibrato": _vibrato,
    "clicks": _clicks,
    "noise_band": _noise_band,
    "trill": _trill,
    "gated": _gated,
    "two_tones": _two_tones,
    "burst": _burst,
    "glide_harmonics": _glide_harmonics,
}
SOUND_NAMES = tuple(_SOUNDS)

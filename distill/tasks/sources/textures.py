"""``textures``: procedural texture classes with the statistics of natural images.

Twelve classes (labels 0-11, the first ten by default), each a generative process, not a picture:

- dead leaves (occluding discs of power-law radius ``p(r) ~ r**-3``, the model of natural-image
  occlusion): ``leaves_small`` (radius 1-5 px), ``leaves_large`` (3-16 px), ``leaves_squares``
  (rotated squares of half-diagonal 1.5-8 px);
- 1/f noise, power spectrum ``1 / f**alpha``: ``noise_a1``, ``noise_a2``, ``noise_a3`` (alpha 1, 2, 3,
  each +-0.25);
- oriented gratings, period 4-9 px, random phase, over faint 1/f noise: ``grating_0``, ``grating_60``,
  ``grating_120`` (degrees, +-10), and ``plaid`` (two crossed gratings at any angle);
- cellular (Worley) patterns of 8-20 random seeds on a torus: ``cells`` (distance to the nearest seed)
  and ``cracks`` (the difference of the two nearest: a network of lines).

Every image is coloured on a random two-colour ramp whose ends differ in luminance by at least 0.25, so
colour and brightness are no class cue and the texture survives ``color=gray``. The classes differ in
second-order statistics, not in their mean image: a linear classifier on raw pixels is near chance,
a small convolutional network is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from distill.tasks.sources.base import RawData, task_source
from distill.tasks.sources.drawing import (
    SUPERSAMPLE,
    color_against,
    colorize,
    downsample,
    luma,
    power_noise,
    random_color,
    rescale,
    to_uint8,
)
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

_VERSION = "textures-1"


@task_source("textures", options=(DATA_SEED,))
def textures_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Procedural textures, drawn for the spec (see the module docstring)."""
    return generate(spec, TEXTURE_NAMES, range(10), _render, version=_VERSION)


def _render(label: int, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    name = TEXTURE_NAMES[label]
    if name.startswith("leaves"):  # drawn in colour with Pillow, supersampled
        return to_uint8(downsample(np.stack([_dead_leaves(rng, name) for rng in rngs])))
    images = np.empty((len(rngs), GENERATED_SIZE, GENERATED_SIZE, 3))
    for i, rng in enumerate(rngs):
        field = _FIELDS[name](rng, GENERATED_SIZE)
        low = random_color(rng)
        images[i] = colorize(field, low, color_against(rng, luma(low)))
    return to_uint8(images)


# ------------------------------------------------------------------------------------ scalar fields in [0, 1]
def _noise(alpha: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    def field(rng: np.random.Generator, size: int) -> np.ndarray:
        return power_noise(rng, alpha + rng.uniform(-0.25, 0.25), size)

    return field


def _wave(rng: np.random.Generator, size: int, degrees: float) -> np.ndarray:
    """A sine grating at ``degrees`` (+-10), period 4-9 px, random phase, in [-1, 1]."""
    theta = np.radians(degrees + rng.uniform(-10.0, 10.0))
    period, phase = rng.uniform(4.0, 9.0), rng.uniform(0.0, 2 * np.pi)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    return np.sin(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / period + phase)


def _grating(degrees: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    def field(rng: np.random.Generator, size: int) -> np.ndarray:
        wave = _wave(rng, size, degrees)
        return rescale(wave + 0.6 * (power_noise(rng, 2.0, size) - 0.5))

    return field


def _plaid(rng: np.random.Generator, size: int) -> np.ndarray:
    degrees = rng.uniform(0.0, 180.0)
    waves = _wave(rng, size, degrees) + _wave(rng, size, degrees + 90.0)
    return rescale(waves + 0.6 * (power_noise(rng, 2.0, size) - 0.5))


def _worley(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``(F1, F2)`` of every pixel to its nearest and second-nearest of 8-20 seeds, on a torus."""
    seeds = rng.uniform(0.0, size, (int(rng.integers(8, 21)), 2))
    y, x = np.mgrid[0:size, 0:size] + 0.5
    dx = np.abs(x.reshape(-1, 1) - seeds[:, 0])
    dy = np.abs(y.reshape(-1, 1) - seeds[:, 1])
    dist = np.sqrt(np.minimum(dx, size - dx) ** 2 + np.minimum(dy, size - dy) ** 2)  # (pixels, seeds)
    nearest = np.sort(dist, axis=1)
    return nearest[:, 0].reshape(size, size), nearest[:, 1].reshape(size, size)


def _cells(rng: np.random.Generator, size: int) -> np.ndarray:
    return rescale(_worley(rng, size)[0])


def _cracks(rng: np.random.Generator, size: int) -> np.ndarray:
    f1, f2 = _worley(rng, size)
    return np.clip((f2 - f1) / rng.uniform(1.5, 3.0), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------- dead leaves
_LEAVES = {  # name -> (smallest radius, largest radius, leaves drawn), in pixels of the 32-pixel image
    "leaves_small": (1.0, 5.0, 300),
    "leaves_large": (3.0, 16.0, 80),
    "leaves_squares": (1.5, 8.0, 200),
}


def _dead_leaves(rng: np.random.Generator, name: str) -> np.ndarray:
    """A ``(F*S, F*S, 3)`` uint8 dead-leaves image, leaf colours spread around a random two-colour ramp."""
    r_min, r_max, count = _LEAVES[name]
    big = GENERATED_SIZE * SUPERSAMPLE
    low = random_color(rng)
    high = color_against(rng, luma(low))
    # inverse CDF of p(r) ~ r**-3 on [r_min, r_max]
    radii = (r_min**-2 - rng.random(count) * (r_min**-2 - r_max**-2)) ** -0.5 * SUPERSAMPLE
    centers = rng.uniform(-0.1 * big, 1.1 * big, (count, 2))
    mix = rng.random(count)[:, None]
    colors = np.clip(low + mix * (high - low) + rng.normal(0.0, 0.05, (count, 3)), 0.0, 1.0)
    angles = rng.uniform(0.0, np.pi / 2, count)[:, None] + np.arange(4) * np.pi / 2  # the corners of squares
    corners = centers[:, None, :] + radii[:, None, None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    image = Image.new("RGB", (big, big), tuple(int(v) for v in np.rint(low * 255)))
    draw = ImageDraw.Draw(image)
    fills = [tuple(c) for c in np.rint(colors * 255).astype(int).tolist()]
    if name == "leaves_squares":
        for square, fill in zip(corners.tolist(), fills):
            draw.polygon([tuple(p) for p in square], fill=fill)
    else:
        for (x, y), r, fill in zip(centers.tolist(), radii.tolist(), fills):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    return np.asarray(image)


_FIELDS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "noise_a1": _noise(1.0),
    "noise_a2": _noise(2.0),
    "noise_a3": _noise(3.0),
    "grating_0": _grating(0.0),
    "grating_60": _grating(60.0),
    "grating_120": _grating(120.0),
    "cells": _cells,
    "cracks": _cracks,
    "plaid": _plaid,
}
TEXTURE_NAMES = (
    "leaves_small", "leaves_large", "noise_a1", "noise_a2", "noise_a3", "grating_0", "grating_60", "grating_120",
    "cells", "cracks", "leaves_squares", "plaid",
)  # fmt: skip

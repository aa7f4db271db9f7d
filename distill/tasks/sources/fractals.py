"""``fractals``: FractalDB-style categories, each one random iterated function system (IFS).

Class ``c`` (any of 0-999, the first ten by default) is an IFS of 2-4 contractive affine maps drawn from
its own seed ``(data_seed, c)``: each map's linear part is a rotation, singular values in [0.25, 0.8],
a second rotation and maybe a reflection; its translation is in [-1, 1]^2; a map is chosen with
probability proportional to its determinant. An IFS whose attractor fills less than 8% or more than 60%
of a 32x32 frame is redrawn (deterministically), as FractalDB filters its categories, so every class is
a shape and not a dot or a blob.

An instance jitters every map (singular values x[0.9, 1.1], angles +-0.12 rad, translations +-0.1),
is rendered by the chaos game (32 walkers x 80 steps, the first 12 dropped; vectorised over the
instances of a class), fitted into the frame with its aspect kept at a random scale (70-95%) and offset,
and painted in a random colour on a random background (luminances at least 0.25 apart) with faint 1/f
noise, so colour and brightness are no class cue.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.sources.base import RawData, task_source
from distill.tasks.sources.drawing import color_against, luma, power_noise, random_color, to_uint8
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

NUM_FRACTAL_CLASSES = 1000  # as FractalDB-1k; each class costs nothing until drawn
FRACTAL_NAMES = tuple(f"ifs{c:03d}" for c in range(NUM_FRACTAL_CLASSES))
MAX_MAPS = 4
WALKERS, STEPS, BURN_IN = 32, 80, 12
BACKGROUND_LUMA = (0.0, 0.6)  # fractals are brighter than their background (FractalDB's polarity)
_VERSION = "fractals-1"


@task_source("fractals", options=(DATA_SEED,))
def fractals_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """FractalDB-style images, drawn for the spec (see the module docstring)."""
    seed = int(spec.option(DATA_SEED.name))
    return generate(spec, FRACTAL_NAMES, range(10), _render, (seed,), _VERSION)


# An IFS as arrays: singular values (K, 2), angles (K, 2) [before, after], reflection (K,) of +-1,
# translations (K, 2), K <= MAX_MAPS; unused maps have singular values 0.
Ifs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@functools.lru_cache(maxsize=1024)
def class_ifs(seed: int, label: int) -> Ifs:
    """The IFS of class ``label``: drawn from ``(seed, label)`` until its attractor fills 8-60% of the frame."""
    rng = np.random.default_rng([0x1F5, seed, label])
    while True:
        k = int(rng.integers(2, MAX_MAPS + 1))
        sv = np.zeros((MAX_MAPS, 2))
        sv[:k] = rng.uniform(0.25, 0.8, (k, 2))
        angles = rng.uniform(-np.pi, np.pi, (MAX_MAPS, 2))
        flip = np.where(rng.random(MAX_MAPS) < 0.5, -1.0, 1.0)
        shift = rng.uniform(-1.0, 1.0, (MAX_MAPS, 2))
        ifs = (sv, angles, flip, shift)
        points = _chaos_game(_matrices(*ifs)[None], rng.random((1, STEPS, WALKERS)))
        if 0.08 <= _fill(points[0]) <= 0.6:
            return ifs


def _render(label: int, rngs: Sequence[np.random.Generator], seed: int) -> np.ndarray:
    size = GENERATED_SIZE
    sv, angles, flip, shift = class_ifs(seed, label)
    live = sv[:, :1] > 0  # (K, 1): maps the class uses
    n = len(rngs)
    maps = np.empty((n, MAX_MAPS, 2, 3))
    choices = np.empty((n, STEPS, WALKERS))
    frames = np.empty((n, 3))  # the fraction of the side the fractal takes, and where it sits in the room left
    colors, backs = np.empty((n, 3)), np.empty((n, size, size, 3))
    for i, rng in enumerate(rngs):
        jittered = (
            sv * rng.uniform(0.9, 1.1, sv.shape),
            angles + rng.uniform(-0.12, 0.12, angles.shape),
            flip,
            shift + live * rng.uniform(-0.1, 0.1, shift.shape),
        )
        maps[i] = _matrices(*jittered)
        choices[i] = rng.random((STEPS, WALKERS))
        frames[i] = rng.uniform(0.7, 0.95), rng.random(), rng.random()
        back = random_color(rng, BACKGROUND_LUMA)
        colors[i] = color_against(rng, luma(back), side="brighter")
        backs[i] = np.clip(back + 0.15 * (power_noise(rng, 2.0, size)[..., None] - 0.5), 0.0, 1.0)
    points = _chaos_game(maps, choices)  # (n, P, 2)
    masks = _rasterise(points, frames, size)
    m = masks[..., None]
    return to_uint8(m * colors[:, None, None, :] + (1.0 - m) * backs)


def _matrices(sv: np.ndarray, angles: np.ndarray, flip: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(K, 2, 3)`` affine maps ``[A | t]`` with ``A = R(angle0) diag(s0, flip * s1) R(angle1)``; an unused map
    (singular values 0) gets ``A = 0``, so determinant and probability 0."""
    c0, s0, c1, s1 = np.cos(angles[:, 0]), np.sin(angles[:, 0]), np.cos(angles[:, 1]), np.sin(angles[:, 1])
    d0, d1 = sv[:, 0], sv[:, 1] * flip
    a = c0 * d0 * c1 - s0 * d1 * s1
    b = -c0 * d0 * s1 - s0 * d1 * c1
    c = s0 * d0 * c1 + c0 * d1 * s1
    d = -s0 * d0 * s1 + c0 * d1 * c1
    return np.stack([np.stack([a, b, shift[:, 0]], axis=-1), np.stack([c, d, shift[:, 1]], axis=-1)], axis=1)


def _chaos_game(maps: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Points ``(N, (STEPS - BURN_IN) * WALKERS, 2)`` of N IFS ``(N, K, 2, 3)``, maps picked by ``choices`` in [0, 1).

    A map is picked with probability proportional to ``|det A|`` (the area it covers), FractalDB's rule.
    """
    n = len(maps)
    det = np.abs(maps[:, :, 0, 0] * maps[:, :, 1, 1] - maps[:, :, 0, 1] * maps[:, :, 1, 0])  # (N, K)
    cumulative = np.cumsum(det / det.sum(axis=1, keepdims=True), axis=1)  # (N, K)
    bounds = np.where(det[:, 1:] > 0, cumulative[:, :-1], np.inf)  # rounding must never pick an unused map
    picks = np.zeros(choices.shape, dtype=np.intp)  # (N, STEPS, WALKERS)
    for k in range(bounds.shape[1]):
        picks += choices >= bounds[:, k, None, None]
    coefficients = maps.reshape(n, -1, 6)  # (N, K, 6): a, b, tx, c, d, ty
    x = np.zeros((n, choices.shape[2]))
    y = np.zeros((n, choices.shape[2]))
    points = []
    for step in range(choices.shape[1]):
        a, b, tx, c, d, ty = np.take_along_axis(coefficients, picks[:, step, :, None], axis=1).transpose(2, 0, 1)
        x, y = a * x + b * y + tx, c * x + d * y + ty
        if step >= BURN_IN:
            points.append(np.stack([x, y], axis=-1))
    return np.concatenate(points, axis=1)


def _rasterise(points: np.ndarray, frames: np.ndarray, size: int) -> np.ndarray:
    """Coverage ``(N, size, size)`` in [0, 1] of each point cloud, fitted into the frame (aspect kept).

    ``frames[:, 0]`` is the fraction of the side the cloud's longer extent takes; ``frames[:, 1:3]`` place
    it within the room left over.
    """
    lo, hi = points.min(axis=1), points.max(axis=1)  # (N, 2)
    extent = np.maximum((hi - lo).max(axis=1), 1e-9)  # (N,)
    scale = frames[:, 0] * size / extent  # pixels per unit
    room = size - (hi - lo) * scale[:, None]  # (N, 2)
    origin = frames[:, 1:3] * room
    pixels = np.floor((points - lo[:, None, :]) * scale[:, None, None] + origin[:, None, :]).astype(np.int64)
    pixels = np.clip(pixels, 0, size - 1)
    flat = (np.arange(len(points))[:, None] * size + pixels[..., 1]) * size + pixels[..., 0]
    counts = np.bincount(flat.ravel(), minlength=len(points) * size * size).reshape(len(points), size, size)
    return 1.0 - np.exp(-counts / 2.0)


def _fill(points: np.ndarray) -> float:
    """The fraction of a 32x32 frame that the point cloud ``(P, 2)``, fitted into it, touches."""
    mask = _rasterise(points[None], np.asarray([[1.0, 0.0, 0.0]]), GENERATED_SIZE)
    return float((mask > 0.5).mean())

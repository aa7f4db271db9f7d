"""``particles``: spatial point patterns, classes told apart by how the dots lie, not by what they are.

Twelve classes (labels 0-11, the first ten by default), each a point process on a 32-pixel torus drawn as
round dots of one colour on another: the kind of image fluorescence microscopy (cells, puncta), astronomy or
wafer inspection give, where the question is the arrangement.

- ``poisson`` (complete spatial randomness), ``clustered`` (a Thomas process: tight clusters around 5-8
  parents), ``wide_clusters`` (the same, four times as wide), ``regular`` (a jittered lattice, 3.6-4.6 px),
  ``hardcore`` (no two dots closer than 3.4 px);
- ``lines`` (dots along 3-5 random lines), ``rings`` (along 2-4 circles), ``chains`` (short random walks),
  ``pairs`` (dots two by two, 1.8-2.6 px apart);
- ``gradient`` (a density rising across the image in a random direction), ``voids`` (uniform but for three
  empty discs), ``sizes`` (a few large dots among small ones).

Every class draws 50-90 dots (``regular`` as many as its lattice has, 64-81; ``hardcore`` as many as fit,
50-60), on a random colour with a dot colour at least 0.25 apart in luminance, so neither colour nor
brightness is a class cue and the pattern survives ``color=gray``. The classes differ in second-order
statistics (pair distances, anisotropy), as ``textures``' do; what sets the two apart is that these are
sparse dots on a flat ground, not dense fields.
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

_VERSION = "particles-1"
S = float(GENERATED_SIZE)


@task_source("particles", options=(DATA_SEED,))
def particles_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Spatial point patterns, drawn for the spec (see the module docstring)."""
    return generate(spec, PARTICLE_NAMES, range(10), _render, version=_VERSION)


def _render(label: int, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    name = PARTICLE_NAMES[label]
    images = np.empty((len(rngs), GENERATED_SIZE, GENERATED_SIZE, 3))
    for i, rng in enumerate(rngs):
        n = int(rng.integers(50, 91))
        points = _PROCESSES[name](rng, n)
        radii = np.full(len(points), rng.uniform(0.9, 1.3))
        if name == "sizes":  # 15 % of the dots two to three times as large
            radii = np.where(rng.random(len(points)) < 0.15, rng.uniform(1.8, 2.8, len(points)), 0.5)
        ground = random_color(rng)
        images[i] = colorize(_dots(points, radii), ground, color_against(rng, luma(ground)))
    return to_uint8(images)


def _dots(points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """A ``(S, S)`` field in [0, 1]: 1 inside a dot of radius ``radii[k]`` at ``points[k]`` (x, y), an anti-aliased
    one-pixel edge, distances measured on the torus."""
    y, x = np.mgrid[0:GENERATED_SIZE, 0:GENERATED_SIZE] + 0.5
    if not len(points):
        return np.zeros((GENERATED_SIZE, GENERATED_SIZE))
    dx = np.abs(x.reshape(-1, 1) - points[:, 0])
    dy = np.abs(y.reshape(-1, 1) - points[:, 1])
    dist = np.sqrt(np.minimum(dx, S - dx) ** 2 + np.minimum(dy, S - dy) ** 2)  # (pixels, dots)
    return np.clip(radii + 0.5 - dist, 0.0, 1.0).max(axis=1).reshape(GENERATED_SIZE, GENERATED_SIZE)


# ----------------------------------------------------------------------------- point processes: (n, 2) in [0, S)
def _poisson(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.0, S, (n, 2))


def _clusters(low: float, high: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    def process(rng: np.random.Generator, n: int) -> np.ndarray:
        parents = rng.uniform(0.0, S, (int(rng.integers(5, 9)), 2))
        spread = rng.uniform(low, high)
        return (parents[rng.integers(0, len(parents), n)] + rng.normal(0.0, spread, (n, 2))) % S

    return process


def _regular(rng: np.random.Generator, n: int) -> np.ndarray:
    step = rng.uniform(3.6, 4.6)
    grid = np.arange(int(np.ceil(S / step)))
    lattice = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2) * step + rng.uniform(0.0, step, 2)
    return (lattice + rng.normal(0.0, 0.4, lattice.shape)) % S


def _hardcore(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sequential inhibition: candidates closer than 3.4 px (on the torus) to a kept dot are dropped."""
    kept = np.empty((0, 2))
    for candidate in rng.uniform(0.0, S, (1500, 2)):
        d = np.abs(kept - candidate)
        if not len(kept) or (np.minimum(d, S - d) ** 2).sum(axis=1).min() > 3.4**2:
            kept = np.vstack([kept, candidate])
            if len(kept) == n:
                break
    return kept


def _lines(rng: np.random.Generator, n: int) -> np.ndarray:
    k = int(rng.integers(3, 6))
    out = []
    for _ in range(k):
        theta = rng.uniform(0.0, np.pi)
        t = rng.uniform(-S, S, n // k)[:, None]
        out.append(rng.uniform(0.0, S, 2) + t * [np.cos(theta), np.sin(theta)] + rng.normal(0.0, 0.4, (n // k, 2)))
    return np.concatenate(out) % S


def _rings(rng: np.random.Generator, n: int) -> np.ndarray:
    k = int(rng.integers(2, 5))
    out = []
    for _ in range(k):
        radius, angle = rng.uniform(4.0, 9.0), rng.uniform(0.0, 2 * np.pi, n // k)
        circle = radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        out.append(rng.uniform(0.0, S, 2) + circle + rng.normal(0.0, 0.4, (n // k, 2)))
    return np.concatenate(out) % S


def _chains(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random walks of 8 steps of 1.8 px, each turning by a normal angle of 0.5 rad."""
    walks = n // 8
    turns = np.cumsum(rng.normal(0.0, 0.5, (walks, 8)), axis=1) + rng.uniform(0.0, 2 * np.pi, (walks, 1))
    steps = 1.8 * np.stack([np.cos(turns), np.sin(turns)], axis=-1)  # (walks, 8, 2)
    steps[:, 0] = 0.0
    return (rng.uniform(0.0, S, (walks, 1, 2)) + np.cumsum(steps, axis=1)).reshape(-1, 2) % S


def _pairs(rng: np.random.Generator, n: int) -> np.ndarray:
    first = rng.uniform(0.0, S, (n // 2, 2))
    angle, gap = rng.uniform(0.0, 2 * np.pi, n // 2), rng.uniform(1.8, 2.6)
    return np.concatenate([first, first + gap * np.stack([np.cos(angle), np.sin(angle)], axis=-1)]) % S


def _gradient(rng: np.random.Generator, n: int) -> np.ndarray:
    """Density rising as the square of the position along a random direction (thinned uniform candidates)."""
    theta = rng.uniform(0.0, 2 * np.pi)
    candidates = rng.uniform(0.0, S, (6 * n, 2))
    along = (candidates - S / 2) @ [np.cos(theta), np.sin(theta)] / S + 0.5  # 0 to 1 across the image, roughly
    return candidates[rng.random(len(candidates)) < np.clip(along, 0.0, 1.0) ** 2][:n]


def _voids(rng: np.random.Generator, n: int) -> np.ndarray:
    candidates = rng.uniform(0.0, S, (4 * n, 2))
    holes, radius = rng.uniform(0.0, S, (3, 2)), rng.uniform(5.0, 8.0)
    d = np.abs(candidates[:, None, :] - holes[None])
    outside = (np.minimum(d, S - d) ** 2).sum(axis=-1).min(axis=1) > radius**2
    return candidates[outside][:n]


_PROCESSES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "poisson": _poisson,
    "clustered": _clusters(1.0, 1.8),
    "regular": _regular,
    "lines": _lines,
    "rings": _rings,
    "gradient": _gradient,
    "sizes": _poisson,
    "pairs": _pairs,
    "wide_clusters": _clusters(3.5, 5.0),
    "hardcore": _hardcore,
    "chains": _chains,
    "voids": _voids,
}
PARTICLE_NAMES = tuple(_PROCESSES)

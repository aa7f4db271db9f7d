"""``aerial``: land-cover tiles seen from above, the images a remote-sensing classifier (EuroSAT-like scenes of
fields, towns, roads and water) reads.

Twelve classes (labels 0-11, the first ten by default), each a kind of ground, drawn at twice the size and
averaged down:

- ``water`` (a smooth, dark surface with faint ripples), ``forest`` (a dense canopy of tree crowns and their
  shadows), ``cropland`` (3-6 parcels, each ploughed or sown in stripes of its own direction and period),
  ``pasture`` (2-5 smooth parcels of grass, hedges between some);
- ``residential`` (a street grid at a random angle, rows of small houses with roofs of mixed colours, gardens),
  ``industrial`` (2-4 large flat roofs on asphalt with parking stripes), ``highway`` (a straight carriageway with a
  centre line across fields), ``river`` (a meandering band of water through vegetation);
- ``mountains`` (a ridged relief, hill-shaded, snow above a random height), ``dunes`` (sand with wind ripples
  4-7 px apart, warped);
- ``wetland`` (vegetation with irregular pools), ``orchard`` (a rotated lattice of round crowns on soil or grass).

Colours are natural ones (a material's colour jittered per image: grass, soil, water, asphalt, roofs), as in
real land-cover data, where colour is a cue but not a decisive one: grass and soil appear in most classes, and a
random light gain (0.7-1.3), haze (0-25 % towards a pale blue-grey) and sensor noise come on top. What sets the
family apart from the others: no object on a ground, no figure; a class is a layout of materials with natural
(1/f) textures, rotated freely, which is how satellite tiles differ from photographs of objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.sources.base import RawData, task_source
from distill.tasks.sources.drawing import SUPERSAMPLE, power_noise, to_uint8
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

_VERSION = "aerial-1"
G = GENERATED_SIZE * SUPERSAMPLE  # the drawing grid's side; one unit below is one final pixel

# a material's colour (RGB in [0, 1]) before the per-image jitter
MATERIALS = {
    "water": (0.10, 0.20, 0.32),
    "canopy": (0.13, 0.28, 0.11),
    "grass": (0.36, 0.50, 0.22),
    "crop": (0.62, 0.60, 0.30),
    "soil": (0.47, 0.37, 0.26),
    "sand": (0.82, 0.71, 0.50),
    "rock": (0.50, 0.47, 0.43),
    "snow": (0.92, 0.93, 0.95),
    "asphalt": (0.30, 0.30, 0.32),
    "concrete": (0.72, 0.71, 0.68),
    "roof": (0.62, 0.28, 0.21),
}
HAZE = np.array([0.72, 0.76, 0.82])


@task_source("aerial", options=(DATA_SEED,))
def aerial_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Land-cover tiles seen from above, drawn for the spec (see the module docstring)."""
    return generate(spec, COVER_NAMES, range(10), _render, version=_VERSION)


def _render(label: int, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    draw = _COVERS[COVER_NAMES[label]]
    images = np.empty((len(rngs), GENERATED_SIZE, GENERATED_SIZE, 3))
    for i, rng in enumerate(rngs):
        big = draw(rng) * rng.uniform(0.7, 1.3)  # the light
        haze = rng.uniform(0.0, 0.25)
        big = (1.0 - haze) * big + haze * HAZE
        small = big.reshape(GENERATED_SIZE, SUPERSAMPLE, GENERATED_SIZE, SUPERSAMPLE, 3).mean(axis=(1, 3))
        images[i] = small + rng.normal(0.0, rng.uniform(0.005, 0.03), small.shape)
    return to_uint8(np.clip(images, 0.0, 1.0))


# ----------------------------------------------------------------------------- helpers, on the (G, G) grid
def material(rng: np.random.Generator, name: str, spread: float = 0.12) -> np.ndarray:
    """``name``'s colour jittered for one image: a brightness factor and a small shift per channel."""
    base = np.asarray(MATERIALS[name])
    return np.clip(base * rng.uniform(1.0 - spread, 1.0 + spread) + rng.normal(0.0, 0.03, 3), 0.0, 1.0)


def _noise(rng: np.random.Generator, alpha: float) -> np.ndarray:
    """A 1/f**alpha field in [-0.5, 0.5] on the grid."""
    return power_noise(rng, alpha, G) - 0.5


def _paint(field: np.ndarray, color: np.ndarray, amount: float) -> np.ndarray:
    """``color`` modulated by a texture ``field`` in [-0.5, 0.5]: ``(G, G, 3)``."""
    return color * (1.0 + amount * field[..., None])


def _over(mask: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top`` where ``mask`` (``(G, G)`` in [0, 1]) covers, ``bottom`` elsewhere."""
    return mask[..., None] * top + (1.0 - mask[..., None]) * bottom


def _coords(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The grid's coordinates in final pixels, turned by a random angle about the centre: ``(u, v)``."""
    y, x = (np.mgrid[0:G, 0:G] + 0.5) / SUPERSAMPLE - GENERATED_SIZE / 2
    theta = rng.uniform(0.0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    return c * x + s * y, -s * x + c * y


def _band(distance: np.ndarray, half_width: float) -> np.ndarray:
    """1 within ``half_width`` (final pixels) of a line, given each point's distance to it, a soft edge."""
    return np.clip(half_width + 0.5 - np.abs(distance), 0.0, 1.0)


def _parcels(rng: np.random.Generator, k: int) -> np.ndarray:
    """A Voronoi partition of the grid into ``k`` parcels: ``(G, G)`` labels."""
    y, x = np.mgrid[0:G, 0:G]
    seeds = rng.uniform(0, G, (k, 2))
    d = (x[..., None] - seeds[:, 0]) ** 2 + (y[..., None] - seeds[:, 1]) ** 2
    return d.argmin(axis=-1)


def _vegetation(rng: np.random.Generator) -> np.ndarray:
    """A background of grass and crops, what roads and rivers cross."""
    ground = _paint(_noise(rng, 2.5), material(rng, "grass"), 0.5)
    crop = _paint(_noise(rng, 2.0), material(rng, rng.choice(["crop", "soil"])), 0.4)
    return _over((_noise(rng, 3.0) > rng.uniform(-0.1, 0.3)).astype(float), crop, ground)


def _crowns(rng: np.random.Generator, centres: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round tree crowns at ``centres`` (final pixels, ``(n, 2)``): their cover and their lit side, each ``(G, G)``
    in [0, 1], lit from a random direction."""
    y, x = (np.mgrid[0:G, 0:G] + 0.5) / SUPERSAMPLE
    light = rng.uniform(0.0, 2 * np.pi)
    cover, lit = np.zeros((G, G)), np.zeros((G, G))
    for (cx, cy), r in zip(centres, radius):
        dx, dy = x - cx, y - cy
        inside = np.clip(r + 0.5 - np.sqrt(dx**2 + dy**2), 0.0, 1.0)
        side = np.clip((dx * np.cos(light) + dy * np.sin(light)) / r, -1.0, 1.0) * 0.5 + 0.5
        cover, lit = np.maximum(cover, inside), np.where(inside > cover, side, lit)
    return cover, lit


# ----------------------------------------------------------------------------- the covers: (G, G, 3) in [0, ~1]
def _water(rng: np.random.Generator) -> np.ndarray:
    u, _ = _coords(rng)
    ripples = 0.15 * np.sin(2 * np.pi * u / rng.uniform(2.0, 4.0) + 3.0 * _noise(rng, 2.0))
    return _paint(0.3 * _noise(rng, 3.5) + ripples * rng.uniform(0.0, 1.0), material(rng, "water"), 0.6)


def _forest(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(120, 200))
    cover, lit = _crowns(rng, rng.uniform(0, GENERATED_SIZE, (n, 2)), rng.uniform(1.0, 2.2, n))
    shade = material(rng, "canopy") * 0.45
    canopy = _paint(_noise(rng, 2.0), material(rng, "canopy"), 0.5)
    return _over(cover * (0.4 + 0.6 * lit), canopy * 1.35, shade)


def _cropland(rng: np.random.Generator) -> np.ndarray:
    parcels = _parcels(rng, int(rng.integers(3, 7)))
    y, x = (np.mgrid[0:G, 0:G] + 0.5) / SUPERSAMPLE
    out = np.empty((G, G, 3))
    for p in range(parcels.max() + 1):
        theta, period = rng.uniform(0.0, np.pi), rng.uniform(1.5, 3.0)
        stripes = np.sin(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / period) * rng.uniform(0.1, 0.3)
        color = material(rng, rng.choice(["crop", "soil", "grass"]), 0.2)
        out[parcels == p] = _paint(stripes, color, 1.0)[parcels == p]
    return out


def _pasture(rng: np.random.Generator) -> np.ndarray:
    parcels = _parcels(rng, int(rng.integers(2, 6)))
    out = np.empty((G, G, 3))
    for p in range(parcels.max() + 1):
        color = material(rng, "grass", 0.2) * rng.uniform(0.85, 1.15, 3)
        out[parcels == p] = _paint(_noise(rng, 3.0), color, 0.25)[parcels == p]
    if rng.random() < 0.6:  # hedges: the parcels' edges in dark green
        edge = (np.diff(parcels, axis=0, prepend=parcels[:1]) != 0) | (np.diff(parcels, axis=1, prepend=0) != 0)
        edge[:, 0] = False
        out = _over(edge.astype(float), material(rng, "canopy"), out)
    return out


def _residential(rng: np.random.Generator) -> np.ndarray:
    u, v = _coords(rng)
    block = rng.uniform(7.0, 10.0)
    road_u, road_v = (u + rng.uniform(0, block)) % block, (v + rng.uniform(0, block)) % block
    roads = np.maximum(_band(road_u - block / 2, 0.6), _band(road_v - block / 2, 0.6))
    ground = _paint(_noise(rng, 2.5), material(rng, "grass"), 0.5)
    # two rows of houses per block, one each side of its middle, 2-3 px roofs with a gap
    size = rng.uniform(2.0, 2.8)
    house_u = np.abs((road_u % (block / 2)) - block / 4) < size / 2
    house_v = (np.abs(road_v - block / 2) > 1.2) & (np.abs(road_v - block / 2) < 1.2 + size)
    cells = np.floor((u + 100.0) / (block / 2)) * 7 + np.floor((v + 100.0) / (block / 2)) * 13
    roof_colors = np.stack([material(rng, rng.choice(["roof", "concrete", "asphalt"]), 0.2) for _ in range(5)])
    roofs = roof_colors[cells.astype(int) % 5]
    houses = (house_u & house_v).astype(float)
    return _over(roads, material(rng, "asphalt"), _over(houses, roofs, ground))


def _industrial(rng: np.random.Generator) -> np.ndarray:
    u, v = _coords(rng)
    ground = _paint(_noise(rng, 2.0), material(rng, "asphalt"), 0.3)
    lines = _band((u % rng.uniform(2.0, 3.0)) - 0.5, 0.15) * (rng.random() < 0.7)
    out = _over(lines * 0.6, material(rng, "concrete"), ground)
    for _ in range(int(rng.integers(2, 5))):
        cu, cv = rng.uniform(-12, 12, 2)
        hu, hv = rng.uniform(3.0, 7.0, 2)
        roof = np.clip(hu + 0.5 - np.abs(u - cu), 0, 1) * np.clip(hv + 0.5 - np.abs(v - cv), 0, 1)
        color = material(rng, rng.choice(["concrete", "concrete", "rock", "water"]), 0.15)
        out = _over(roof, _paint(_noise(rng, 3.0), color, 0.15), out)
    return out


def _highway(rng: np.random.Generator) -> np.ndarray:
    u, _ = _coords(rng)
    offset, width = rng.uniform(-8.0, 8.0), rng.uniform(1.3, 2.2)
    road = _band(u - offset, width)
    verge = _band(u - offset, width + rng.uniform(0.5, 1.5))
    out = _over(verge, material(rng, "soil"), _vegetation(rng))
    out = _over(road, _paint(_noise(rng, 2.0), material(rng, "asphalt"), 0.2), out)
    return _over(_band(u - offset, 0.15) * 0.8, material(rng, "concrete"), out)


def _river(rng: np.random.Generator) -> np.ndarray:
    u, v = _coords(rng)
    bend = rng.uniform(2.0, 7.0) * np.sin(2 * np.pi * v / rng.uniform(14.0, 30.0) + rng.uniform(0, 2 * np.pi))
    centre = u - rng.uniform(-6.0, 6.0) - bend
    width = rng.uniform(1.0, 2.4)
    banks = _band(centre, width + rng.uniform(0.4, 1.2))
    out = _over(banks, material(rng, rng.choice(["canopy", "sand"])), _vegetation(rng))
    return _over(_band(centre, width), _paint(_noise(rng, 3.0), material(rng, "water"), 0.3), out)


def _mountains(rng: np.random.Generator) -> np.ndarray:
    height = 1.0 - np.abs(2.0 * _noise(rng, 3.0))  # ridged: crests where the field crosses zero
    light = rng.uniform(0.0, 2 * np.pi)
    gy, gx = np.gradient(height * rng.uniform(6.0, 12.0))
    shade = np.clip(0.7 + 0.5 * (gx * np.cos(light) + gy * np.sin(light)), 0.2, 1.3)
    rock = _paint(_noise(rng, 2.2), material(rng, rng.choice(["rock", "soil"])), 0.4)
    snow = np.clip((height - rng.uniform(0.6, 0.95)) * 8.0, 0.0, 1.0)
    return _over(snow, material(rng, "snow"), rock) * shade[..., None]


def _dunes(rng: np.random.Generator) -> np.ndarray:
    u, _ = _coords(rng)
    phase = 2 * np.pi * (u / rng.uniform(4.0, 7.0)) + rng.uniform(2.0, 6.0) * _noise(rng, 3.0)
    ripple = (phase / (2 * np.pi)) % 1.0  # a sawtooth: long windward slopes, short lee faces
    return _paint(ripple - 0.5 + 0.3 * _noise(rng, 2.0), material(rng, "sand"), rng.uniform(0.25, 0.5))


def _wetland(rng: np.random.Generator) -> np.ndarray:
    pools = np.clip((_noise(rng, 2.2) - rng.uniform(0.05, 0.2)) * 12.0, 0.0, 1.0)
    reeds = _paint(_noise(rng, 1.2), material(rng, rng.choice(["grass", "canopy"])), 0.7)
    return _over(pools, _paint(_noise(rng, 3.0), material(rng, "water"), 0.3), reeds)


def _orchard(rng: np.random.Generator) -> np.ndarray:
    step, theta = rng.uniform(3.0, 4.5), rng.uniform(0.0, np.pi)
    grid = np.arange(-8, 9) * step
    lattice = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    c, s = np.cos(theta), np.sin(theta)
    centres = lattice @ [[c, s], [-s, c]] + GENERATED_SIZE / 2 + rng.uniform(0, step, 2)
    centres = centres[(centres > -2).all(axis=1) & (centres < GENERATED_SIZE + 2).all(axis=1)]
    cover, lit = _crowns(rng, centres + rng.normal(0.0, 0.2, centres.shape), np.full(len(centres), step * 0.32))
    ground = _paint(_noise(rng, 2.0), material(rng, rng.choice(["soil", "grass"])), 0.3)
    return _over(cover, material(rng, "canopy") * (0.6 + 0.7 * lit[..., None]), ground)


_COVERS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "water": _water,
    "forest": _forest,
    "cropland": _cropland,
    "pasture": _pasture,
    "residential": _residential,
    "industrial": _industrial,
    "highway": _highway,
    "river": _river,
    "mountains": _mountains,
    "dunes": _dunes,
    "wetland": _wetland,
    "orchard": _orchard,
}
COVER_NAMES = tuple(_COVERS)

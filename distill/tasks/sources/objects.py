"""``objects``: solid objects photographed in a scene, shaded by a light, the images an object classifier
(CIFAR-like photographs of things) reads.

Twelve classes (labels 0-11, the first ten by default), each a solid: ``sphere``, ``cube``, ``cylinder``,
``cone``, ``torus``, ``octahedron``, ``capsule``, ``hex_prism``, ``tri_prism``, ``pyramid``, ``ellipsoid``,
``tetrahedron``. Every image is ray-cast (sphere tracing of the solid's signed distance function) through a
perspective camera at twice the size and averaged down:

- the solid stands upright, as things are photographed (a cone on its base, a torus lying flat), turned about
  its vertical axis by any angle, leaning by up to 25 degrees, seen from 10-40 degrees above; its proportions
  jittered by up to 15 %, its size (0.7-0.95 of the view's half-width) and position (up to 0.2 of it off
  centre) drawn per image;
- one directional light from a random direction in front of and above the object, a random ambient share
  (0.15-0.4) and a Blinn-Phong highlight of random strength (0-0.5): the object's shape shows in its
  silhouette *and* in its shading (a cube's flat faces, a sphere's gradient), as in photographs;
- a random albedo at least 0.25 in luminance from the background behind it, so the object survives
  ``color=gray``;
- a scene behind it: a ground (a natural material: grass, soil, sand, wood, stone) under a sky or a wall,
  the horizon at a random height, both with 1/f textures, a soft shadow under the object, then sensor noise.

What sets the family apart from the others: the classes are 3-D shapes seen from many sides, so one class has
many silhouettes (a cube seen on an edge or on a face) and two classes can look alike (a hexagonal prism and a
cylinder); what a class is lies in shading and perspective, which no other family has, and which natural
photographs are full of.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.sources.base import RawData, task_source
from distill.tasks.sources.drawing import SUPERSAMPLE, color_against, luma, power_noise, to_uint8
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

_VERSION = "objects-1"
G = GENERATED_SIZE * SUPERSAMPLE  # the drawing grid's side
CAMERA_DISTANCE = 4.0
HALF_FOV = np.tan(np.radians(17.5))  # the view's half-width at unit distance (a 35-degree field of view)
MARCH_STEPS = 48
HIT = 2e-3  # a ray whose distance to the surface falls below this has hit it
MAX_TILT = 25.0  # degrees an object leans from upright
ELEVATION = (10.0, 40.0)  # degrees the camera looks down on the object

# the ground's materials (RGB in [0, 1]) before the per-image jitter
GROUNDS = {
    "grass": (0.34, 0.48, 0.22),
    "soil": (0.45, 0.35, 0.25),
    "sand": (0.80, 0.70, 0.50),
    "wood": (0.55, 0.38, 0.22),
    "stone": (0.52, 0.50, 0.47),
}


@task_source("objects", options=(DATA_SEED,))
def objects_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Solid objects in a scene, ray-cast for the spec (see the module docstring)."""
    return generate(spec, SOLID_NAMES, range(10), _render, version=_VERSION)


def _render(label: int, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    solid = _SOLIDS[SOLID_NAMES[label]]
    images = np.empty((len(rngs), GENERATED_SIZE, GENERATED_SIZE, 3))
    for i, rng in enumerate(rngs):
        big = render_object(rng, solid)
        small = big.reshape(GENERATED_SIZE, SUPERSAMPLE, GENERATED_SIZE, SUPERSAMPLE, 3).mean(axis=(1, 3))
        images[i] = small + rng.normal(0.0, rng.uniform(0.005, 0.03), small.shape)
    return to_uint8(np.clip(images, 0.0, 1.0))


# ----------------------------------------------------------------------------- signed distance functions
# Each takes points (3, K) in the solid's own frame (y up, the solid inside the unit sphere) and the jittered
# proportions j (3,), each near 1, and returns (K,) distances: exact, or a lower bound (what sphere tracing needs).
def _length(*parts: np.ndarray) -> np.ndarray:
    return np.sqrt(sum(p * p for p in parts))


def _box(p: np.ndarray, b: Sequence[float]) -> np.ndarray:
    q = np.abs(p) - np.asarray(b, dtype=float)[:, None]
    outside = _length(*np.maximum(q, 0.0))
    return outside + np.minimum(q.max(axis=0), 0.0)


def _capped(d_side: np.ndarray, d_caps: np.ndarray) -> np.ndarray:
    """The distance to a prism or cylinder capped by two planes, from the distances to its side (``d_side``) and to
    the caps' slab (``d_caps``): the 2-D box formula, exact since the two directions are orthogonal."""
    return np.minimum(np.maximum(d_side, d_caps), 0.0) + _length(np.maximum(d_side, 0.0), np.maximum(d_caps, 0.0))


def _sphere(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    return _length(*p) - 0.8


def _cube(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    return _box(p, 0.5 * j)


def _cylinder(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    return _capped(_length(p[0], p[2]) - 0.45 * j[0], np.abs(p[1]) - 0.6 * j[1])


def _cone(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    height, radius = 1.3 * j[1], 0.6 * j[0]
    apex = height / 2
    norm = np.hypot(height, radius)
    side = (_length(p[0], p[2]) * height - (apex - p[1]) * radius) / norm  # distance to the slanted side
    return np.maximum(side, np.abs(p[1]) - apex)


def _torus(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    return _length(_length(p[0], p[2]) - 0.62 * j[0], p[1]) - 0.24 * j[1]


def _octahedron(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    q = np.abs(p) / j[:, None]
    return (q.sum(axis=0) - 0.9) * (0.57735 * j.min())


def _capsule(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    half = 0.5 * j[1]
    return _length(p[0], p[1] - np.clip(p[1], -half, half), p[2]) - 0.35 * j[0]


def _hex_prism(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    radius, half = 0.55 * j[0], 0.4 * j[1]  # the hexagon's inradius, the prism's half-length along y
    x, z = np.abs(p[0]), np.abs(p[2])
    # folded into one sixth of the hexagon, then the distance to its edge
    k = np.array([-0.8660254, 0.5])
    dot = np.minimum(k[0] * x + k[1] * z, 0.0)
    x, z = x - 2 * dot * k[0], z - 2 * dot * k[1]
    edge = _length(x - np.clip(x, -0.57735 * radius, 0.57735 * radius), z - radius) * np.sign(z - radius)
    return _capped(edge, np.abs(p[1]) - half)


def _tri_prism(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    size, half = 0.75 * j[0], 0.45 * j[1]
    x, y = np.abs(p[0]), p[1]
    triangle = np.maximum(x * 0.8660254 + y * 0.5, -y) - 0.5 * size
    return np.maximum(triangle, np.abs(p[2]) - half)


def _pyramid(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    height, half = 1.2 * j[1], 0.6 * j[0]  # a square base of side 2 * half
    base = -height / 2
    norm = np.hypot(height, half)
    faces = [(np.abs(p[a]) * height + (p[1] - base) * half - height * half) / norm for a in (0, 2)]
    return np.maximum(np.maximum(*faces), base - p[1])


def _ellipsoid(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    r = np.array([0.42, 0.9, 0.42])[:, None] * j[:, None]
    k0 = _length(*(p / r))
    k1 = _length(*(p / (r * r)))
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _tetrahedron(p: np.ndarray, j: np.ndarray) -> np.ndarray:
    q = p / j[:, None]
    x, y, z = q
    planes = np.maximum(np.maximum(-x - y - z, x + y - z), np.maximum(-x + y + z, x - y + z))
    return (planes - 0.5) * (0.57735 * j.min())


Solid = Callable[[np.ndarray, np.ndarray], np.ndarray]
_SOLIDS: dict[str, Solid] = {
    "sphere": _sphere,
    "cube": _cube,
    "cylinder": _cylinder,
    "cone": _cone,
    "torus": _torus,
    "octahedron": _octahedron,
    "capsule": _capsule,
    "hex_prism": _hex_prism,
    "tri_prism": _tri_prism,
    "pyramid": _pyramid,
    "ellipsoid": _ellipsoid,
    "tetrahedron": _tetrahedron,
}
SOLID_NAMES = tuple(_SOLIDS)


# ----------------------------------------------------------------------------- the camera and the scene
def axis_rotation(axis: Sequence[float], angle: float) -> np.ndarray:
    """The rotation ``(3, 3)`` by ``angle`` (radians) about the unit vector ``axis`` (Rodrigues' formula)."""
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """How a photographed object stands, as a rotation ``(3, 3)`` of its own frame (y up) into the camera's.

    Upright, as things are photographed (a cone on its base, a torus lying flat): turned about its vertical axis
    by any angle, tilted by up to :data:`MAX_TILT` degrees about a random horizontal axis, and seen from above at
    an elevation of :data:`ELEVATION` degrees.
    """
    yaw = axis_rotation((0.0, 1.0, 0.0), rng.uniform(0.0, 2 * np.pi))
    phi = rng.uniform(0.0, 2 * np.pi)
    tilt = axis_rotation((np.cos(phi), 0.0, np.sin(phi)), np.radians(rng.uniform(0.0, MAX_TILT)))
    elevation = axis_rotation((1.0, 0.0, 0.0), -np.radians(rng.uniform(*ELEVATION)))  # the top turns to the camera
    return elevation @ tilt @ yaw


def camera_rays() -> np.ndarray:
    """Unit directions ``(3, G*G)`` of the rays through the grid's pixel centres (x right, y up, z into the view)."""
    v, u = (np.mgrid[0:G, 0:G] + 0.5) / G * 2.0 - 1.0
    d = np.stack([u.ravel() * HALF_FOV, -v.ravel() * HALF_FOV, np.ones(G * G)])
    return d / np.linalg.norm(d, axis=0)


_RAYS = camera_rays()


def ray_cast(
    solid: Solid, proportions: np.ndarray, rotation: np.ndarray, centre: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sphere-traces the solid (turned by ``rotation``, scaled, moved to ``centre``) from the camera.

    Returns ``(hit, normal)``: a ``(G*G,)`` bool mask of the rays that meet the solid and the unit surface
    normals ``(3, G*G)`` there (world frame; zeros elsewhere).
    """
    origin = np.array([0.0, 0.0, -CAMERA_DISTANCE])

    def distance(points: np.ndarray) -> np.ndarray:  # world points (3, K) -> (K,)
        # rotation.T @ shifted, written out: no BLAS call, so the images are the same on any thread count
        local = (rotation[:, :, None] * (points - centre[:, None])[:, None, :]).sum(axis=0) / scale
        return solid(local, proportions) * scale

    t = np.full(_RAYS.shape[1], CAMERA_DISTANCE - 1.2 * scale - np.linalg.norm(centre))
    d = np.zeros_like(t)
    for _ in range(MARCH_STEPS):
        d = distance(origin[:, None] + t * _RAYS)
        t += d
    hit = (np.abs(d) < HIT) & (t < CAMERA_DISTANCE + 2.0)
    normal = np.zeros_like(_RAYS)
    if hit.any():  # the gradient of the distance, by the tetrahedron technique
        points = origin[:, None] + t[hit] * _RAYS[:, hit]
        eps = 1e-3
        grad = np.zeros_like(points)
        for k in ((1, -1, -1), (-1, -1, 1), (-1, 1, -1), (1, 1, 1)):
            k = np.asarray(k, dtype=float)[:, None]
            grad += k * distance(points + eps * k)
        normal[:, hit] = grad / np.maximum(np.linalg.norm(grad, axis=0), 1e-12)
    return hit, normal


def _scene(rng: np.random.Generator) -> np.ndarray:
    """The background ``(G, G, 3)``: a textured ground under a sky or a wall, the horizon at a random row."""
    horizon = rng.uniform(0.25, 0.65) * G
    rows = np.arange(G)[:, None] + 0.5
    ground_color = np.asarray(GROUNDS[rng.choice(list(GROUNDS))]) * rng.uniform(0.75, 1.25) + rng.normal(0, 0.03, 3)
    if rng.random() < 0.5:  # outdoors: a sky brightening towards the horizon
        top = np.array([0.45, 0.62, 0.85]) * rng.uniform(0.8, 1.15) + rng.normal(0, 0.04, 3)
        far = np.array([0.82, 0.85, 0.88]) * rng.uniform(0.85, 1.1)
    else:  # indoors: a wall of any pale colour
        top = far = rng.uniform(0.35, 0.9, 3)
    above = np.clip(rows / horizon, 0.0, 1.0)[..., None]
    back = top + above * (far - top) + 0.08 * (power_noise(rng, 2.2, G)[..., None] - 0.5)
    # the ground: its texture coarser near the camera (a cheap perspective)
    depth = np.clip((rows - horizon) / (G - horizon), 0.0, 1.0)
    texture = power_noise(rng, 1.6, G) - 0.5
    ground = ground_color * (0.8 + 0.25 * depth[..., None]) * (1.0 + 0.35 * texture[..., None])
    ground_mask = np.clip(rows - horizon + 0.5, 0.0, 1.0)[..., None] * np.ones((1, G, 1))
    return np.clip(ground_mask * ground + (1.0 - ground_mask) * back, 0.0, 1.0)


def render_object(rng: np.random.Generator, solid: Solid) -> np.ndarray:
    """One photograph of ``solid`` at the grid's size, ``(G, G, 3)`` floats in [0, 1]."""
    background = _scene(rng)
    scale = rng.uniform(0.7, 0.95) * HALF_FOV * CAMERA_DISTANCE
    centre = np.array([*(rng.uniform(-0.2, 0.2, 2) * HALF_FOV * CAMERA_DISTANCE), 0.0])
    proportions = rng.uniform(0.85, 1.15, 3)
    hit, normal = ray_cast(solid, proportions, random_pose(rng), centre, scale)
    mask = hit.reshape(G, G)

    # the shadow: a soft dark ellipse under the object, on whatever is behind it
    v, u = (np.mgrid[0:G, 0:G] + 0.5) / G * 2.0 - 1.0
    cu, cv = centre[0] / (HALF_FOV * CAMERA_DISTANCE), -centre[1] / (HALF_FOV * CAMERA_DISTANCE)
    size = scale / (HALF_FOV * CAMERA_DISTANCE)
    shadow = np.exp(-(((u - cu) / (1.1 * size)) ** 2) - ((v - cv - 0.85 * size) / (0.3 * size)) ** 2)
    background = background * (1.0 - rng.uniform(0.2, 0.5) * shadow[..., None])

    # the albedo, told apart in luminance from the background behind the object
    around = background[mask].mean(axis=0) if mask.any() else background.mean(axis=(0, 1))
    albedo = color_against(rng, float(luma(around)), min_gap=0.25)

    light = np.array([rng.uniform(-1.0, 1.0), rng.uniform(0.2, 1.0), rng.uniform(-1.0, -0.3)])
    light /= np.linalg.norm(light)
    ambient = rng.uniform(0.15, 0.4)
    n = normal[:, hit]
    diffuse = np.maximum((light[:, None] * n).sum(axis=0), 0.0)
    half = light - _RAYS[:, hit].mean(axis=1)  # Blinn-Phong's half vector (towards the light and the camera)
    half /= np.linalg.norm(half)
    specular = rng.uniform(0.0, 0.5) * np.maximum((half[:, None] * n).sum(axis=0), 0.0) ** rng.uniform(10.0, 40.0)
    shade = ambient + (1.0 - ambient) * diffuse
    image = background.reshape(G * G, 3).copy()
    image[hit] = albedo * shade[:, None] + specular[:, None]
    return np.clip(image.reshape(G, G, 3), 0.0, 1.0)

"""``shapes``: coloured geometric shapes at random position, scale, stretch and rotation on busy backgrounds.

Twelve classes (circle, triangle, square, pentagon, hexagon, star, cross, ring, crescent, heart, arrow,
semicircle; labels 0-11, the first ten by default). Each shape is a set of polygons in a unit frame,
stretched (aspect 0.8-1.25), rotated (any angle), scaled (radius 9-13 of 32 pixels) and shifted up to
2.5 pixels from the centre, in a colour at least 0.25 brighter in luminance than the background, so the
class survives ``color=gray``. Shapes that only a rotation tells apart (a square and a diamond) are one
class. The background (option ``background``) is ``clutter`` (the default: a plain colour under small
blobs, bars and strokes of random colours), ``texture`` (a coloured 1/f noise field) or ``plain``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from distill.tasks.sources.base import RawData, SourceOption, task_source
from distill.tasks.sources.drawing import (
    SUPERSAMPLE,
    affine_points,
    color_against,
    colorize,
    composite,
    downsample,
    draw_polygons,
    luma,
    power_noise,
    random_color,
    to_uint8,
)
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

SHAPE_NAMES = (
    "circle", "triangle", "square", "pentagon", "hexagon", "star", "cross", "ring", "crescent", "heart", "arrow",
    "semicircle",
)  # fmt: skip
BACKGROUND = SourceOption(
    "background",
    "clutter",
    "what the shapes lie on: small random blobs and strokes, a 1/f noise texture, or one colour",
    choices=("clutter", "texture", "plain"),
)
MAX_SHIFT = 2.5  # pixels the centre strays from the image's: anywhere would leave a linear model at chance
BACKGROUND_LUMA = (0.0, 0.6)  # shapes are brighter than what they lie on
_VERSION = "shapes-1"


@task_source("shapes", options=(BACKGROUND, DATA_SEED))
def shapes_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Coloured shapes, drawn for the spec (see the module docstring)."""
    background = str(spec.option(BACKGROUND.name))
    return generate(spec, SHAPE_NAMES, range(10), _render, (background,), _VERSION)


def _render(label: int, rngs: Sequence[np.random.Generator], background: str) -> np.ndarray:
    size, big = GENERATED_SIZE, GENERATED_SIZE * SUPERSAMPLE
    outline = _outline(SHAPE_NAMES[label])
    masks = np.empty((len(rngs), big, big), dtype=np.uint8)
    clutter = np.empty((len(rngs), big, big, 3), dtype=np.uint8) if background == "clutter" else None
    backs = np.empty((len(rngs), size, size, 3))
    for i, rng in enumerate(rngs):
        scale = rng.uniform(9.0, 13.0)
        aspect = rng.uniform(0.8, 1.25)
        angle = rng.uniform(0.0, 2 * np.pi)
        center = size / 2 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
        masks[i] = draw_polygons(size, [(affine_points(p, angle, scale, aspect, center), fill) for p, fill in outline])
        if clutter is not None:
            clutter[i] = _clutter(rng, big)
        else:
            backs[i] = _background(rng, background, size)
    if clutter is not None:
        backs = downsample(clutter)
    colors = np.stack(
        [color_against(rng, luma(back.mean(axis=(0, 1))), side="brighter") for rng, back in zip(rngs, backs)]
    )
    return to_uint8(composite(downsample(masks), colors[:, None, None, :], backs))


def _background(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A ``(size, size, 3)`` plain or textured background in [0, 1]."""
    base = random_color(rng, BACKGROUND_LUMA)
    if kind == "plain":
        return np.broadcast_to(base, (size, size, 3))
    field = power_noise(rng, rng.uniform(1.5, 3.0), size)
    contrast = rng.uniform(0.2, 0.5)
    return np.clip(colorize(field, base - contrast / 2, base + contrast / 2), 0.0, 1.0)


def _clutter(rng: np.random.Generator, big: int) -> np.ndarray:
    """A ``(big, big, 3)`` uint8 background: one colour under 6-12 small blobs, strokes and bars of random colours."""
    base = np.rint(random_color(rng, BACKGROUND_LUMA) * 255)
    image = Image.new("RGB", (big, big), tuple(int(v) for v in base))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(6, 13)):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = rng.uniform(0, big, 2)
        item = rng.integers(3)
        if item == 0:  # a blob
            r = rng.uniform(1.0, 4.0) * SUPERSAMPLE
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        elif item == 1:  # a stroke
            length, direction = rng.uniform(4, 14) * SUPERSAMPLE, rng.uniform(0, 2 * np.pi)
            end = (x + length * np.cos(direction), y + length * np.sin(direction))
            draw.line([(x, y), end], fill=color, width=int(rng.integers(1, 3)) * SUPERSAMPLE)
        else:  # a small bar
            w, h = rng.uniform(1.0, 4.0, 2) * SUPERSAMPLE
            draw.rectangle([x, y, x + w, y + h], fill=color)
    return np.asarray(image)


@functools.cache
def _outline(name: str) -> tuple[tuple[np.ndarray, bool], ...]:
    """The shape as ``(points, fill)`` polygons in a unit frame (radius about 1, y down); fill False is a hole."""
    if name == "circle":
        return ((_regular(64), True),)
    if name in ("triangle", "square", "pentagon", "hexagon"):
        return ((_regular({"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}[name]), True),)
    if name == "star":
        outer, inner = _regular(5), 0.45 * _regular(5, phase=np.pi / 5)
        return ((np.stack([outer, inner], axis=1).reshape(-1, 2), True),)
    if name == "cross":
        a, b = 0.3, 1.0
        points = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a)]
        return ((np.asarray([*points, (-a, -a)]), True),)
    if name == "ring":
        return ((_regular(64), True), (0.55 * _regular(64), False))
    if name == "crescent":
        return ((_regular(64), True), (0.85 * _regular(64) + [0.45, 0.0], False))
    if name == "heart":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        return ((np.stack([x, -y - 2.5], axis=1) / 16, True),)
    if name == "arrow":
        points = [(-1, -0.25), (0.1, -0.25), (0.1, -0.7), (1, 0), (0.1, 0.7), (0.1, 0.25), (-1, 0.25)]
        return ((np.asarray(points, dtype=np.float64), True),)
    if name == "semicircle":
        t = np.linspace(0, np.pi, 33)
        return ((np.stack([np.cos(t), np.sin(t) - 0.4], axis=1), True),)
    raise AssertionError(name)


def _regular(k: int, phase: float = 0.0) -> np.ndarray:
    """The ``k`` vertices of a regular polygon of radius 1, the first pointing up."""
    t = phase - np.pi / 2 + 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(t), np.sin(t)], axis=1)

"""Drawing primitives of the generated sources: colours, noise fields, supersampled masks, compositing.

Images here are float arrays in [0, 1], ``(S, S, 3)`` or ``(N, S, S, 3)`` channels last, until
:func:`to_uint8`. Masks are drawn with Pillow at :data:`SUPERSAMPLE` times the size and averaged down,
which anti-aliases their edges. Every random draw comes from the generator passed in.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from distill.tasks.color import LUMA_WEIGHTS

SUPERSAMPLE = 2  # masks are drawn at this many times the size, then averaged down (anti-aliasing)
_LUMA = np.asarray(LUMA_WEIGHTS)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance of RGB values in [0, 1] (last axis), with the weights of the spec's ``color=gray``."""
    return (rgb * _LUMA).sum(axis=-1)


def random_color(rng: np.random.Generator, luma_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """A colour ``(3,)`` in [0, 1], uniform in RGB among those whose luminance lies in ``luma_range``."""
    lo, hi = luma_range
    for _ in range(64):
        color = rng.random(3)
        if lo <= luma(color) <= hi:
            return color
    return np.full(3, (lo + hi) / 2)  # rare: the grey in the middle of the range


def color_against(
    rng: np.random.Generator, reference_luma: float, min_gap: float = 0.25, side: str = "any"
) -> np.ndarray:
    """A random colour whose luminance is at least ``min_gap`` from ``reference_luma``.

    ``side`` is ``"brighter"``, ``"darker"`` or ``"any"``; the contrast survives ``color=gray``. A source
    fixes the side (the polarity), as datasets of real images do: ``transform=invert`` gives the other.
    """
    brighter = (reference_luma + min_gap, 1.0)
    darker = (0.0, reference_luma - min_gap)
    if side == "any":
        side = "brighter" if rng.random() < 0.5 else "darker"
    wanted, other = (brighter, darker) if side == "brighter" else (darker, brighter)
    if wanted[0] > wanted[1]:  # no room on that side: black or white
        return np.full(3, 1.0 if side == "brighter" else 0.0)
    return random_color(rng, wanted)


def power_noise(rng: np.random.Generator, alpha: float, size: int) -> np.ndarray:
    """A ``(size, size)`` Gaussian field with power spectrum ``1 / f**alpha``, rescaled to [0, 1].

    alpha 0 is white noise; natural images have alpha near 2. Random phases, so the field is stationary.
    """
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    amplitude = f ** (-alpha / 2)
    amplitude[0, 0] = 0.0  # zero mean
    spectrum = amplitude * (rng.standard_normal(amplitude.shape) + 1j * rng.standard_normal(amplitude.shape))
    field = np.fft.irfft2(spectrum, s=(size, size))
    return rescale(field)


def rescale(field: np.ndarray) -> np.ndarray:
    """``field`` linearly mapped onto [0, 1] (a constant field becomes 0.5)."""
    lo, hi = field.min(), field.max()
    return np.full_like(field, 0.5) if hi - lo < 1e-12 else (field - lo) / (hi - lo)


def colorize(field: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(S, S)`` values in [0, 1] -> ``(S, S, 3)`` colours on the line from ``low`` (0) to ``high`` (1)."""
    return low + field[..., None] * (high - low)


def draw_polygons(size: int, polygons: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """Filled polygons as a ``(F*size, F*size)`` uint8 mask (F = :data:`SUPERSAMPLE`); :func:`downsample` a batch.

    Args:
        size: side of the final mask in pixels.
        polygons: ``(points, fill)`` drawn in order: ``points`` ``(K, 2)`` as ``(x, y)`` pixel coordinates of
            the ``size`` grid (pixel centres at ``i + 0.5``); ``fill`` False cuts a hole.
    """
    big = size * SUPERSAMPLE
    image = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(image)
    for points, fill in polygons:
        draw.polygon([tuple(p) for p in (points * SUPERSAMPLE).tolist()], fill=255 if fill else 0)
    return np.asarray(image)


def downsample(images: np.ndarray, factor: int = SUPERSAMPLE) -> np.ndarray:
    """Averages ``factor x factor`` blocks of a uint8 batch: ``(N, F*S, F*S, ...)`` -> ``(N, S, S, ...)`` in [0, 1]."""
    total = np.zeros((images.shape[0], images.shape[1] // factor, images.shape[2] // factor, *images.shape[3:]))
    for dy in range(factor):
        for dx in range(factor):
            total += images[:, dy::factor, dx::factor]
    return total / (255.0 * factor * factor)


def composite(mask: np.ndarray, color: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Paints ``color`` over ``background`` where ``mask`` covers: ``(N, S, S)`` masks, ``(N, S, S, 3)`` images."""
    m = mask[..., None]
    return m * color + (1.0 - m) * background


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] -> uint8 0..255 (rounded, clipped)."""
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def affine_points(
    points: np.ndarray, angle: float, scale: float, aspect: float, center: tuple[float, float]
) -> np.ndarray:
    """Unit-frame points ``(K, 2)`` stretched by ``aspect`` along x, rotated by ``angle`` (radians), scaled, moved."""
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[:, 0] * aspect, points[:, 1] / aspect
    return np.stack([c * x - s * y, s * x + c * y], axis=1) * scale + np.asarray(center)

"""``glyphs``: letters rendered from font files, notMNIST-style, warped and painted at random.

Classes are the letters A-Z (labels 0-25); a spec without ``classes`` draws A-J, as notMNIST. Each image
picks a font and a stroke weight (0, 3 or 6% of the glyph's height added around the outline), warps the
glyph (rotation +-15 degrees, shear +-0.25, scale 0.75-1.05 of a 24-pixel glyph, aspect 0.85-1.15,
shift +-3 px) and paints it in a colour at least 0.3 in luminance away from its background: one colour,
a linear gradient, or a faint 1/f noise field.

Fonts (option ``fonts``): ``bundled`` (the default) are the font files matplotlib ships (DejaVu Sans,
Sans Mono and Serif, STIX General, each in four styles, and six Computer Modern faces), the same on
every machine; ``system`` are the machine's own (``matplotlib.font_manager.findSystemFonts``) and
``all`` both. The chosen files' names and sizes are part of the task's cache key, and the images part
of its id, so a task drawn from other fonts has another id.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from distill.tasks.sources.base import RawData, SourceOption, task_source
from distill.tasks.sources.drawing import (
    SUPERSAMPLE,
    color_against,
    colorize,
    composite,
    downsample,
    luma,
    power_noise,
    random_color,
    to_uint8,
)
from distill.tasks.sources.generated import DATA_SEED, GENERATED_SIZE, generate

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

LETTERS = tuple(chr(ord("A") + i) for i in range(26))
FONTS = SourceOption(
    "fonts",
    "bundled",
    "the font files: matplotlib's own (the same everywhere), the machine's, or both",
    choices=("bundled", "system", "all"),
)
# matplotlib's bundled faces with ordinary Latin letters (its other files are symbols, sizes or fallbacks)
BUNDLED_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmti10.ttf", "cmmi10.ttf", "cmss10.ttf", "cmtt10.ttf",
)  # fmt: skip
STROKES = (0.0, 0.03, 0.06)  # outline added around the glyph, as a fraction of the rendering size
_RENDER_SIZE = 96  # font size of the templates, in pixels
_TEMPLATE = 64  # templates are _TEMPLATE pixels a side (SUPERSAMPLE x the image), the glyph's longer side 3/4 of it
BACKGROUND_LUMA = (0.4, 1.0)  # letters are darker than their background, as print is
_VERSION = "glyphs-1"


@task_source("glyphs", options=(FONTS, DATA_SEED))
def glyphs_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Rendered letters, drawn for the spec (see the module docstring)."""
    fonts = font_files(str(spec.option(FONTS.name)))
    key = ";".join(f"{Path(f).name}:{os.path.getsize(f)}" for f in fonts)
    return generate(spec, LETTERS, range(10), _render, (fonts,), f"{_VERSION}:{key}")


def font_files(which: str) -> tuple[str, ...]:
    """The font files of ``fonts=which``, in a fixed order; none is a ``ValueError``."""
    bundled, system = (), ()
    if which in ("bundled", "all"):
        import matplotlib  # imported when the source is used: matplotlib is slow to import

        directory = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        bundled = tuple(str(directory / name) for name in BUNDLED_FONTS if (directory / name).is_file())
    if which in ("system", "all"):
        from matplotlib import font_manager

        found = sorted(set(font_manager.findSystemFonts(fontext="ttf")), key=lambda p: (Path(p).name, p))
        system = tuple(p for p in found if _has_letters(p) and "lastresort" not in Path(p).name.lower())
    fonts = tuple(dict.fromkeys(bundled + system))
    if not fonts:
        raise ValueError(f"the 'glyphs' source found no {which} font files with the letters A-Z; try fonts=bundled")
    return fonts


def _has_letters(path: str) -> bool:
    """Whether the font maps every letter A-Z to a glyph (symbol fonts and unreadable files do not)."""
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(letter) in charmap for letter in LETTERS)


def _render(label: int, rngs: Sequence[np.random.Generator], fonts: tuple[str, ...]) -> np.ndarray:
    size, big = GENERATED_SIZE, GENERATED_SIZE * SUPERSAMPLE
    masks = np.empty((len(rngs), big, big), dtype=np.uint8)
    backs = np.empty((len(rngs), size, size, 3))
    colors = np.empty((len(rngs), 3))
    for i, rng in enumerate(rngs):
        font, stroke = int(rng.integers(len(fonts))), int(rng.integers(len(STROKES)))
        template = _template(fonts[font], LETTERS[label], stroke)
        masks[i] = np.asarray(template.transform((big, big), Image.Transform.AFFINE, _warp(rng, big), Image.BILINEAR))
        backs[i] = _background(rng, size)
        colors[i] = color_against(rng, luma(backs[i].mean(axis=(0, 1))), min_gap=0.3, side="darker")
    return to_uint8(composite(downsample(masks), colors[:, None, None, :], backs))


def _warp(rng: np.random.Generator, big: int) -> tuple[float, ...]:
    """PIL's affine coefficients (output -> template pixel) of a random rotation, shear, scale and shift."""
    angle = np.radians(rng.uniform(-15.0, 15.0))
    shear = rng.uniform(-0.25, 0.25)
    scale = rng.uniform(0.75, 1.05)
    aspect = rng.uniform(0.85, 1.15)
    shift = rng.uniform(-3.0, 3.0, 2) * SUPERSAMPLE
    c, s = np.cos(angle), np.sin(angle)
    k = big / _TEMPLATE
    # template -> output pixels: rotation @ shear @ diag(scale * aspect, scale / aspect), written out (2x2)
    a, b = c * scale * aspect * k, (c * shear - s) * scale / aspect * k
    d, e = s * scale * aspect * k, (s * shear + c) * scale / aspect * k
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det  # its inverse: output -> template
    cx, cy = big / 2 + shift[0], big / 2 + shift[1]
    half = _TEMPLATE / 2
    return (ia, ib, half - (ia * cx + ib * cy), id_, ie, half - (id_ * cx + ie * cy))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """One colour, a linear gradient between two, or a faint 1/f noise field: ``(size, size, 3)`` in [0, 1]."""
    base = random_color(rng, BACKGROUND_LUMA)
    kind = int(rng.integers(3))
    if kind == 0:
        return np.broadcast_to(base, (size, size, 3))
    if kind == 1:
        angle = rng.uniform(0.0, 2 * np.pi)
        y, x = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
        ramp = np.clip(0.5 + x * np.cos(angle) + y * np.sin(angle), 0.0, 1.0)
        return colorize(ramp, base, np.clip(base + rng.uniform(-0.3, 0.3, 3), 0.0, 1.0))
    return np.clip(base + rng.uniform(0.1, 0.3) * (power_noise(rng, 2.0, size)[..., None] - 0.5), 0.0, 1.0)


@functools.lru_cache(maxsize=4096)
def _template(font: str, letter: str, stroke: int) -> Image.Image:
    """``letter`` in ``font`` with outline ``STROKES[stroke]``, white on black, its longer side 3/4 of the template."""
    face = ImageFont.truetype(font, _RENDER_SIZE)
    width = round(STROKES[stroke] * _RENDER_SIZE)
    canvas = Image.new("L", (3 * _RENDER_SIZE, 3 * _RENDER_SIZE), 0)
    ImageDraw.Draw(canvas).text(
        (_RENDER_SIZE, _RENDER_SIZE), letter, fill=255, font=face, stroke_width=width, stroke_fill=255
    )
    box = canvas.getbbox()
    assert box is not None, f"{font} renders no {letter!r}"
    glyph = canvas.crop(box)
    fit = 0.75 * _TEMPLATE / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * fit)), max(1, round(glyph.height * fit))), Image.LANCZOS)
    template = Image.new("L", (_TEMPLATE, _TEMPLATE), 0)
    template.paste(glyph, ((_TEMPLATE - glyph.width) // 2, (_TEMPLATE - glyph.height) // 2))
    return template

"""What the generated sources (``glyphs``, ``shapes``, ``textures``, ``fractals``, ``particles``) share.

A generated source has no files and no fixed size: it draws exactly the images a spec asks for, from
a seed, at :data:`GENERATED_SIZE` pixels a side (the pipeline's ``size`` resizes), channels last, RGB
uint8. Its loader is one call to :func:`generate` with a renderer ``render(label, rngs, *params) -> images``
that draws one class's images, image ``j`` from ``rngs[j]`` alone.

Why per-image generators: image ``j`` of class ``c`` in split ``s`` is seeded by
``(source, data_seed, s, c, j)``, so it is the same image whatever ``n_train``, ``n_test`` or the class
subset are; asking for more images only adds images. Everything is numpy and Pillow on one thread, so
the arrays are bit-identical on any thread count.

The counts: ``n_train`` (default :data:`DEFAULT_N_TRAIN`) is the training pool, and ``n_val`` more
images are made when the spec gives it, so the pipeline cuts its splits from exactly what was made;
``n_test`` (default :data:`DEFAULT_N_TEST`). Classes share the images evenly, the first labels taking
the remainder. A generation that took longer than :data:`CACHE_MIN_SECONDS` is saved under the dass
cache (``$DASS_CACHE/tasks``) and read back from there next time.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill.io import write_atomic
from distill.tasks.formatting import format_classes
from distill.tasks.sources.base import RawData, SourceOption

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

logger = logging.getLogger(__name__)

GENERATED_SIZE = 32  # native side length: the pipeline's `size` resizes
DEFAULT_N_TRAIN = 3000  # training pool when the spec gives no n_train (then n_val more, if given)
DEFAULT_N_TEST = 1000
MAX_GENERATED = 200_000  # images per request: more is a typo (and gigabytes of memory)
CACHE_MIN_SECONDS = 2.0  # generations slower than this are saved to disk
CACHE_ENV = "DASS_CACHE"

DATA_SEED = SourceOption(
    "data_seed", 0, "seed of the generated images: another value draws another dataset of the same kind", minimum=0
)

# render(label, rngs, *params) -> (len(rngs), GENERATED_SIZE, GENERATED_SIZE, 3) uint8: class `label`'s images,
# image j drawn from rngs[j] alone; params are the source's option values (hashable: they key the memory cache).
Renderer = Callable[..., np.ndarray]


def generate(
    spec: TaskSpec,
    class_names: Sequence[str],
    default_classes: Sequence[int],
    render: Renderer,
    params: tuple = (),
    version: str = "",
) -> RawData:
    """The images ``spec`` asks of a generated source, from the memory or disk cache or freshly drawn.

    Args:
        spec: the task spec; its source name, ``data_seed``, classes and counts decide the images.
        class_names: the name of every label the source can draw (label ``i`` is ``class_names[i]``).
        default_classes: the labels drawn when the spec gives no ``classes``.
        render: a module-level function that draws one class's images (see :data:`Renderer`); it must
            depend on nothing but its arguments and ``version``.
        params: the values passed to ``render`` after the generators (the source's options, say).
        version: everything else the images depend on (the generator's revision, the font files), part of the
            cache key: change it whenever the images change.
    """
    classes = tuple(spec.classes if spec.classes is not None else default_classes)
    unknown = [c for c in classes if c >= len(class_names)]
    if unknown:
        raise ValueError(
            f"the {spec.source!r} source has classes 0-{len(class_names) - 1} "
            f"({class_names[0]}..{class_names[-1]}); got {format_classes(unknown)}"
        )
    n_train = (spec.n_train or DEFAULT_N_TRAIN) + (spec.n_val or 0)
    n_test = spec.n_test or DEFAULT_N_TEST
    if n_train < len(classes):
        raise ValueError(
            f"the {spec.source!r} source needs at least one training image per class: n_train={n_train} "
            f"for {len(classes)} classes"
        )
    if n_train + n_test > MAX_GENERATED:
        raise ValueError(
            f"the {spec.source!r} source makes at most {MAX_GENERATED} images; asked for {n_train + n_test}"
        )
    seed = int(spec.option(DATA_SEED.name))
    return _generate_cached(spec.source, seed, classes, n_train, n_test, tuple(class_names), render, params, version)


@functools.lru_cache(maxsize=4)
def _generate_cached(
    source: str,
    seed: int,
    classes: tuple[int, ...],
    n_train: int,
    n_test: int,
    class_names: tuple[str, ...],
    render: Renderer,
    params: tuple,
    version: str,
) -> RawData:
    """Kept in memory (the last few), since a process often loads one task many times; read-only arrays."""
    text = f"{source}\n{version}\n{params}\n{seed}\n{classes}\n{n_train}\n{n_test}"
    key = hashlib.sha256(text.encode()).hexdigest()[:24]
    path = cache_dir() / f"{source}-{key}.npz"
    arrays = _read_cache(path)
    if arrays is None:
        start = time.perf_counter()
        arrays = {}
        for split, (name, n) in enumerate((("train", n_train), ("test", n_test))):
            x, y = draw_split(source, seed, split, classes, n, render, params)
            arrays[f"x_{name}"], arrays[f"y_{name}"] = x, y
        seconds = time.perf_counter() - start
        logger.debug("%s: drew %d images in %.2f s", source, n_train + n_test, seconds)
        if seconds > CACHE_MIN_SECONDS:
            _write_cache(path, arrays)
    for array in arrays.values():
        array.setflags(write=False)  # shared by every later load through the cache
    return RawData(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], list(class_names))


def draw_split(
    source: str, seed: int, split: int, classes: Sequence[int], n: int, render: Renderer, params: tuple = ()
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of one split (0 train, 1 test), shared evenly by ``classes`` (the first take the remainder).

    Returns ``(x, y)``: ``(n, S, S, 3)`` uint8 images in class order and their ``(n,)`` int64 labels.
    """
    counts = np.full(len(classes), n // len(classes))
    counts[: n % len(classes)] += 1
    salt = int.from_bytes(hashlib.sha256(source.encode()).digest()[:4], "little")  # sources draw apart
    xs, ys = [], []
    for label, count in zip(classes, counts.tolist()):
        if count == 0:
            continue
        rngs = [np.random.default_rng([salt, seed, split, label, j]) for j in range(count)]
        images = render(label, rngs, *params)
        assert images.shape == (count, GENERATED_SIZE, GENERATED_SIZE, 3) and images.dtype == np.uint8, images.shape
        xs.append(images)
        ys.append(np.full(count, label, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def cache_dir() -> Path:
    """Where generated tasks are saved: ``$DASS_CACHE/tasks``, else ``~/.cache/dass/tasks`` (as the teachers)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dass") / "tasks"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays saved at ``path``, or None when there are none (or they are unreadable: then they are redrawn)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        logger.warning("ignoring the unreadable generated-task cache %s (%s); drawing the images again", path, err)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Saves atomically (a temporary file, then ``os.replace``), so a reader never sees half a file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())

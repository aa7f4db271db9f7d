"""``folder``: images in one sub-folder per class (optionally under train/ and test/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.limits import check_task_bytes
from distill.tasks.sources.base import RawData, task_source
from distill.tasks.splits import TEST_SEED, stratified_split

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FOLDER_TEST_FRACTION = 0.2  # for an image folder without a test/ sub-directory


@task_source("folder", takes_path=True)
def folder_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """Images in one sub-folder per class, under ``path`` or under ``path/train`` (+ optional ``path/test``).

    Without a test/ folder, a fixed stratified 20% of the images is the test set. Images of mixed
    sizes are resized to ``spec.size`` here (so give one); any colour image makes the task RGB.
    """
    root = Path(spec.path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir():
        if test_dir.is_dir():
            raise ValueError(f"image folder {root} has test/ but no train/ sub-directory")
        train_dir, test_dir = root, None
    elif not test_dir.is_dir():
        test_dir = None
    class_names = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_names) < 2:
        raise ValueError(f"image folder {train_dir} needs one sub-folder per class, at least two; got {class_names}")
    files, labels = _class_files(train_dir, class_names, is_test=False)
    if test_dir is not None:
        test_files, test_labels = _class_files(test_dir, class_names, is_test=True)
        x = _read_images(files + test_files, spec.size, str(spec))
        return RawData(x[: len(files)], labels, x[len(files) :], test_labels, class_names)
    x = _read_images(files, spec.size, str(spec))
    test, train = stratified_split(
        labels, round(FOLDER_TEST_FRACTION * len(labels)), np.random.default_rng(TEST_SEED), keep_one=True
    )
    return RawData(x[train], labels[train], x[test], labels[test], class_names)


def _class_files(directory: Path, class_names: list[str], is_test: bool) -> tuple[list[Path], np.ndarray]:
    """Image files of each class folder (sorted by name) and their labels; a test folder may lack a class."""
    extra = sorted(d.name for d in directory.iterdir() if d.is_dir() and d.name not in class_names)
    if extra and is_test:
        raise ValueError(f"{directory} has class folder(s) {extra} that the train folder lacks")
    files, labels = [], []
    for label, name in enumerate(class_names):
        found = sorted(p for p in (directory / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found and not is_test:
            raise ValueError(f"class folder {directory / name} has no images ({', '.join(IMAGE_SUFFIXES)})")
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


def _read_images(files: list[Path], size: int | None, task: str) -> np.ndarray:
    """Image files -> (N, H, W, C) uint8; grayscale unless any image has colour.

    A folder too large for memory is refused after its first image, before the others are read: the
    images must share one size (``size``, or the first image's), so the first one tells the task's bytes.
    """
    try:
        from PIL import Image  # optional: Pillow comes with matplotlib, and only this source needs it
    except ImportError as err:
        raise ValueError(f"the 'folder' source needs Pillow (installed with matplotlib): {err}") from None
    images = []
    for path in files:
        with Image.open(path) as image:
            image = image.convert("L" if image.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)  # antialiased when shrinking
            images.append(np.asarray(image))
        if len(images) == 1:  # RGB: the task is in colour as soon as any image is
            check_task_bytes(len(files), (3, *images[0].shape[:2]), task)
    first = images[0].shape[:2]
    odd = next((i for i, a in enumerate(images) if a.shape[:2] != first), None)
    if odd is not None:
        raise ValueError(
            f"images differ in size: {files[0]} is {first} and {files[odd]} is {images[odd].shape[:2]} (H, W); "
            "give the task a size, e.g. ':size=32'"
        )
    if any(a.ndim == 3 for a in images):
        images = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=-1) for a in images]
    return np.stack(images)

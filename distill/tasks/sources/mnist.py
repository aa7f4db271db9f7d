"""``mnist``: the standard ``mnist.npz`` or the four IDX files (optionally gzipped) from the data directory."""

from __future__ import annotations

import functools
import gzip
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill.tasks.sources.base import RawData, check_raw_data, task_source
from distill.tasks.sources.files import DATA_ENV, read_npz, require_data_dir

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

MNIST_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@task_source("mnist")
def mnist_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """MNIST from ``mnist.npz`` or the four IDX files (optionally gzipped) in the data directory."""
    root = require_data_dir("mnist", data_dir, "mnist.npz or the four MNIST IDX files")
    return _read_mnist(str(root.resolve()))


@functools.lru_cache(maxsize=2)
def _read_mnist(root: str) -> RawData:
    """Cached per resolved directory: later loads of any MNIST task skip reading and hashing."""
    directory = Path(root)
    if (directory / "mnist.npz").is_file():
        raw = read_npz(directory / "mnist.npz", "mnist")
    else:
        files = [_find_idx(directory, name) for name in MNIST_IDX_FILES]
        if None in files:
            raise FileNotFoundError(
                f"no MNIST data in {directory}: looked for mnist.npz or the IDX files {', '.join(MNIST_IDX_FILES)} "
                f"(each optionally .gz); pass --data-dir DIR or set {DATA_ENV}=DIR to the directory that holds them"
            )
        raw = RawData(*(_read_idx(f) for f in files))
    raw = check_raw_data(
        RawData(raw.x_train, raw.y_train, raw.x_test, raw.y_test, [str(i) for i in range(10)]), "mnist"
    )
    for array in (raw.x_train, raw.y_train, raw.x_test, raw.y_test):
        array.setflags(write=False)  # shared by every later load through the cache
    return raw


def _find_idx(directory: Path, name: str) -> Path | None:
    return next((p for p in (directory / name, directory / f"{name}.gz") if p.is_file()), None)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the MNIST format): magic 0x0000 0x08 NDIM, NDIM big-endian sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic number {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(shape):
        raise ValueError(f"{path} declares shape {shape} but holds {body.size} values")
    return body.reshape(shape)

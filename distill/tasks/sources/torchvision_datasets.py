"""``cifar10``, ``cifar100``, ``svhn``, ``fashion_mnist``: torchvision datasets, when torchvision imports.

torchvision is an optional extra (the PyPI build does not load against the CPU torch wheel), so it is
imported when one of these sources is used, and its absence is a one-line error. dass never downloads:
the files must already be in the data directory.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from distill.tasks.sources.base import TASK_SOURCES, RawData, TaskSource, check_raw_data
from distill.tasks.sources.files import require_data_dir

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec

# The torchvision datasets that are task sources: source name -> class in torchvision.datasets.
TORCHVISION_SOURCES = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "svhn": "SVHN", "fashion_mnist": "FashionMNIST"}


def torchvision_source(name: str, spec: TaskSpec, data_dir: str | None) -> RawData:
    """A torchvision dataset read from the data directory with download=False; needs torchvision."""
    try:
        import torchvision.datasets
    except (ImportError, RuntimeError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"the {name!r} source needs torchvision (pip install 'dass[vision]'), which does not import here: {reason}"
        ) from None
    root = require_data_dir(name, data_dir, f"torchvision's {TORCHVISION_SOURCES[name]} files")
    return _read_torchvision(name, str(root.resolve()), torchvision.datasets)


@functools.lru_cache(maxsize=2)
def _read_torchvision(name: str, root: str, datasets: Any) -> RawData:
    cls = getattr(datasets, TORCHVISION_SOURCES[name])
    try:
        if name == "svhn":
            train, test = (cls(root, split=split, download=False) for split in ("train", "test"))
        else:
            train, test = (cls(root, train=flag, download=False) for flag in (True, False))
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise FileNotFoundError(
            f"no {TORCHVISION_SOURCES[name]} data under {root} ({err}); put torchvision's files there "
            "(dass never downloads)"
        ) from None

    def arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(dataset.data)
        if name == "svhn":  # SVHN stores (N, C, H, W)
            x = x.transpose(0, 2, 3, 1)
        return x, np.asarray(dataset.labels if name == "svhn" else dataset.targets, dtype=np.int64)

    class_names = [str(i) for i in range(10)] if name == "svhn" else list(train.classes)
    return check_raw_data(RawData(*arrays(train), *arrays(test), class_names=class_names), name)


for _name in TORCHVISION_SOURCES:
    TASK_SOURCES.add(_name, TaskSource(_name, functools.partial(torchvision_source, _name)))

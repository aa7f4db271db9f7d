"""Helpers shared by the task tests, as fixtures (test folders are not packages: --import-mode=importlib)."""

import numpy as np
import pytest
import torch

from distill.tasks import Task


def _raw_images(task: Task, split: str) -> torch.Tensor:
    """Undo the normalisation: the split's images in [0, 1]."""
    mean = torch.tensor(task.pixel_mean).view(1, -1, 1, 1)
    std = torch.tensor(task.pixel_std).view(1, -1, 1, 1)
    return getattr(task, f"x_{split}") * std + mean


def _save_npz(path, n_train=40, n_test=20, shape=(6, 6), classes=4, dtype=np.uint8, **extra):
    """Image i is filled with the value i (train) or 100 + i (test), so every image is unique and traceable."""
    x_train = np.broadcast_to(np.arange(n_train, dtype=dtype).reshape(-1, *[1] * len(shape)), (n_train, *shape))
    x_test = np.broadcast_to(np.arange(100, 100 + n_test, dtype=dtype).reshape(-1, *[1] * len(shape)), (n_test, *shape))
    arrays = dict(
        x_train=x_train, y_train=np.arange(n_train) % classes, x_test=x_test, y_test=np.arange(n_test) % classes
    )
    arrays.update(extra)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


@pytest.fixture
def raw_images():
    """``raw_images(task, split)``: the split's images in [0, 1], normalisation undone."""
    return _raw_images


@pytest.fixture
def save_npz():
    """``save_npz(path, ...)``: writes a small npz whose image i is filled with i (train) or 100 + i (test)."""
    return _save_npz

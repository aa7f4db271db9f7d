"""Accuracy of sub-networks with the weights they inherit from a trained supernet (no retraining).

AutoDistil picks its students this way: each candidate is the supernet with that sub-network active, its
BatchNorm statistics recalibrated on a few training images (OFA: the shared running statistics belong to no
sub-network), scored on the validation split. The calibration images are the same for every candidate, so
the scores differ by the architecture alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from distill.genome import Genome
from distill.supernet.base import Supernet
from distill.tasks import Task

__all__ = ["CALIBRATION_IMAGES", "calibration_images", "inherited_accuracy"]

# As the trainer's bn_recalibration: enough images for stable statistics of these small networks.
CALIBRATION_IMAGES = 512


def calibration_images(task: Task, n: int = CALIBRATION_IMAGES, seed: int = 0) -> torch.Tensor:
    """``n`` training images drawn once by ``seed`` (every class in proportion, on average)."""
    gen = torch.Generator().manual_seed(seed)
    return task.x_train[torch.randperm(len(task.x_train), generator=gen)[:n]]


@torch.no_grad()
def inherited_accuracy(
    supernet: Supernet,
    genomes: Iterable[Genome],
    task: Task,
    split: str = "val",
    calibration: int = CALIBRATION_IMAGES,
    batch_size: int = 1024,
    seed: int = 0,
) -> np.ndarray:
    """The ``split`` accuracy of each genome's sub-network with inherited weights, BatchNorm recalibrated.

    Args:
        supernet: a trained supernet; it is left in eval mode with the last genome active.
        genomes: sub-networks of its sub-space (``ValueError`` naming the gene for one outside it).
        task: the task it was trained on.
        split: ``"val"`` (what a search selects by) or ``"test"``.
        calibration: training images the BatchNorm statistics are re-estimated on.
        batch_size: images per forward pass.
        seed: which calibration images.

    Returns:
        ``(len(genomes),)`` float64 accuracies in [0, 1].
    """
    if split not in ("val", "test"):
        raise ValueError(f"the split must be one of {{'val', 'test'}}; got {split!r}")
    device = next(supernet.parameters()).device
    calib = calibration_images(task, calibration, seed).to(device)
    x, y = (getattr(task, f"x_{split}").to(device), getattr(task, f"y_{split}").to(device))
    scores = []
    for genome in genomes:
        supernet.set_active(genome)
        supernet.recalibrate_bn(calib, batch_size)
        supernet.eval()
        correct = torch.zeros((), dtype=torch.long, device=device)
        for i in range(0, len(x), batch_size):
            correct += (supernet(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum()
        scores.append(int(correct) / max(1, len(x)))
    return np.asarray(scores, dtype=np.float64)

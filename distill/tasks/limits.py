"""How large a task may be: it is held in memory whole, so what cannot fit is refused before it is made.

``digits:size=1000`` is a valid spec with only 1,797 images, yet its tensors are 6.7 GiB and building them
took 16.5 GB and 101 s before anything could fail. The pipeline and the sources that resize on reading check
the bytes of the float32 images they are about to make against :data:`MAX_TASK_BYTES` first.
"""

from __future__ import annotations

import math

# The float32 images of a task's three splits together. Building a task holds about twice that at its peak
# (the resized images and their normalised copies), and every worker of a collection or a search holds its own
# task: 4 GiB keeps that within a workstation's memory, and is ample for the tasks the tool is made for
# (all of MNIST at 28x28 is 0.2 GiB, CIFAR-10 at 32x32 0.7 GiB, at 64x64 2.7 GiB).
MAX_TASK_BYTES = 4 * 2**30
FLOAT_BYTES = 4  # the task tensors are float32


def task_bytes(n_images: int, shape: tuple[int, int, int]) -> int:
    """Bytes of ``n_images`` float32 images of ``shape`` ``(C, H, W)``."""
    return n_images * math.prod(shape) * FLOAT_BYTES


def check_task_bytes(n_images: int, shape: tuple[int, int, int], task: str) -> None:
    """A ``ValueError`` naming the size and the limit when ``n_images`` float32 images of ``shape`` ``(C, H, W)``
    are more than :data:`MAX_TASK_BYTES`; called before they are allocated."""
    nbytes = task_bytes(n_images, shape)
    if nbytes > MAX_TASK_BYTES:
        raise ValueError(
            f"task {task!r} would hold {n_images} images of {'x'.join(map(str, shape))} as float32, "
            f"{format_bytes(nbytes)}: more than the limit of {format_bytes(MAX_TASK_BYTES)} for a task held in "
            "memory; give a smaller 'size', or fewer images with n_train / n_test"
        )


def format_bytes(n: int) -> str:
    """``7188000000`` -> ``"6.7 GiB"``, ``2**32`` -> ``"4 GiB"``, ``6480000`` -> ``"6.2 MiB"``."""
    value, unit = (n / 2**30, "GiB") if n >= 2**30 else (n / 2**20, "MiB")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"

"""Pinned tasks: the spec string, the id and every tensor of a few tasks, bit for bit.

The expected values were computed with the single-module ``distill/tasks.py`` before it became this
package. A task's id keys the teacher cache and the meta-dataset's records, and its tensors are what every
stored accuracy was trained on, so a refactor must reproduce both exactly: same random draws in the same
order, same resizing, same transforms. If one of these changes on purpose, every cached teacher and record
of that task changes meaning too.

The tasks are built on one torch thread: ``rotate`` (grid_sample) and ``downsample`` (antialiased
interpolate) give other low bits on two threads than on one, in today's code as before the split.
"""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from distill.tasks import Task, load_task


def _checksum(task: Task) -> str:
    """16 hex digits of sha256 over every split's dtype, shape and bytes, and the task's class and pixel facts."""
    h = hashlib.sha256()
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        t = getattr(task, name).contiguous()
        h.update(f"{name}{t.dtype}{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    facts = (task.num_classes, task.class_names, task.pixel_mean, task.pixel_std, task.input_mean, task.input_std)
    h.update(repr(facts).encode())
    return h.hexdigest()[:16]


def _make_npz(path) -> str:
    rng = np.random.default_rng(7)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (60, 6, 6), dtype=np.uint8),
        y_train=np.arange(60) % 3,
        x_test=rng.integers(0, 256, (30, 6, 6), dtype=np.uint8),
        y_test=np.arange(30) % 3,
        class_names=np.array(["a", "b", "c"]),
    )
    return str(path)


def _make_folder(root) -> str:
    """Two classes of six random 5x5 PNGs; one colour image makes the task RGB."""
    rng = np.random.default_rng(3)
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(6):
            mode = "RGB" if (c, i) == (1, 5) else "L"
            shape = (5, 5, 3) if mode == "RGB" else (5, 5)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name / f"{i}.png")
    return str(root)


# spec -> (canonical spec string, id, checksum); NPZ and FOLDER stand for the files made above.
PINNED = {
    "digits": ("digits", "1bf2633ec0896010", "61ecb781b0cdfd67"),
    "digits:classes=0-4:transform=noise0.3:size=16:n_train=300:seed=1": (
        "digits:classes=0-4:transform=noise0.3:size=16:n_train=300:seed=1",
        "38d66aa813d8a012",
        "fe5e1774c49a9ec2",
    ),
    "digits:classes=0,2,7:transform=rotate:size=12:n_val=50:n_test=100": (
        "digits:classes=0,2,7:transform=rotate30:size=12:n_val=50:n_test=100",
        "3340dc9ecff1d4de",
        "a1e5743ed42579af",
    ),
    "digits:classes=1-3:transform=blur:norm=none": (
        "digits:classes=1-3:transform=blur1:norm=none",
        "796824815de05a21",
        "7e947d978f3473a3",
    ),
    "digits:transform=downsample3:norm=0.5/0.25:val_fraction=0.2": (
        "digits:transform=downsample3:val_fraction=0.2:norm=0.5/0.25",
        "020ea09ce6749d8f",
        "b5dc8ed55e7550b3",
    ),
    "digits:classes=8,9:transform=invert:size=10:seed=4": (
        "digits:classes=8,9:transform=invert:size=10:seed=4",
        "08bc9845ee1f83fa",
        "cbed33bfa843c4f2",
    ),
    "npz:path=NPZ:transform=noise0.1:seed=2": (
        "npz:path=NPZ:transform=noise0.1:seed=2",
        "ae339ea8f40e9bb8",
        "ee74ffa522add02d",
    ),
    "folder:path=FOLDER:size=4": ("folder:path=FOLDER:size=4", "f2ac090c8766b856", "3be4015b48fcb6de"),
}

PINNED_MNIST = {
    "mnist:classes=0-4:transform=rotate15:size=16:n_train=500:n_val=100:n_test=200:seed=2": (
        "c2473f2a070f6eb3",
        "ecab780d9259eff5",
    ),
    "mnist:classes=3,5:n_train=200:n_test=100:norm=0.1307/0.3081": ("7d3ec5f5f6976296", "3a943098ec3e13a5"),
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tensors of some transforms depend on torch's thread count (see the module docstring): pin it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinned")
    return {"NPZ": _make_npz(root / "data.npz"), "FOLDER": _make_folder(root / "imgs")}


@pytest.mark.parametrize("spec", PINNED)
def test_pinned_task_is_bit_identical(spec, files):
    text, task_id, checksum = PINNED[spec]
    for placeholder, path in files.items():
        spec, text = spec.replace(placeholder, path), text.replace(placeholder, path)
    task = load_task(spec)
    assert (str(task.spec), task.id, _checksum(task)) == (text, task_id, checksum)


@pytest.mark.parametrize("spec", PINNED_MNIST)
def test_pinned_mnist_task_is_bit_identical(spec, mnist_dir):
    task = load_task(spec, mnist_dir)
    assert (str(task.spec), task.id, _checksum(task)) == (spec, *PINNED_MNIST[spec])

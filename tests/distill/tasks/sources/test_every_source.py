"""The source contract, checked for every registered source (a new source is tested here for free).

A source that needs files gets tiny hand-made ones below; any other source (e.g. a generated one) is
loaded from its name with small n_train and n_test (a generated source makes exactly that many images).
"""

import numpy as np
import pytest
import torch
from PIL import Image

from distill.tasks import TASK_SOURCES, TORCHVISION_SOURCES, RawData, TaskSource, TaskSpec, check_raw_data, load_task


def _spec_and_data_dir(name: str, tmp_path) -> tuple[str, str | None]:
    """A spec of source ``name`` and the data directory it loads from, on tiny hand-made files where it needs some."""
    rng = np.random.default_rng(0)
    if name == "npz":
        path = tmp_path / "d.npz"
        np.savez(
            path,
            x_train=rng.integers(0, 256, (30, 6, 6), dtype=np.uint8),
            y_train=np.arange(30) % 3,
            x_test=rng.integers(0, 256, (12, 6, 6), dtype=np.uint8),
            y_test=np.arange(12) % 3,
        )
        return f"npz:path={path}", None
    if name == "folder":
        for label in ("a", "b", "c"):
            (tmp_path / label).mkdir()
            for i in range(5):
                Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
        return f"folder:path={tmp_path}", None
    if name == "mnist":
        np.savez(
            tmp_path / "mnist.npz",
            x_train=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
            y_train=np.arange(50) % 10,
            x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
            y_test=np.arange(20) % 10,
        )
        return "mnist", str(tmp_path)
    if name in TORCHVISION_SOURCES:
        pytest.skip("torchvision's dataset files cannot be made here (test_torchvision_datasets.py checks the rest)")
    return f"{name}:n_train=60:n_test=20", None


@pytest.mark.parametrize("name", TASK_SOURCES.names())
def test_source_is_declared_under_its_name(name):
    source = TASK_SOURCES.get(name)
    assert isinstance(source, TaskSource) and source.name == name and callable(source.load)


@pytest.mark.parametrize("name", TASK_SOURCES.names())
def test_the_grammar_takes_a_path_exactly_when_the_source_declares_it(name):
    if TASK_SOURCES.get(name).takes_path:
        assert TaskSpec.parse(f"{name}:path=/data/x").path == "/data/x"
        with pytest.raises(ValueError, match=rf"the '{name}' source needs a path, e.g. '{name}:path="):
            TaskSpec.parse(name)
    else:
        assert TaskSpec.parse(name).path is None
        with pytest.raises(ValueError, match=rf"the '{name}' source takes no path \(only npz and folder do\)"):
            TaskSpec.parse(f"{name}:path=/data/x")


@pytest.mark.parametrize("name", TASK_SOURCES.names())
def test_source_loads_valid_raw_data_and_a_deterministic_task(name, tmp_path):
    text, data_dir = _spec_and_data_dir(name, tmp_path)
    raw = TASK_SOURCES.get(name)(TaskSpec.parse(text), data_dir)
    assert isinstance(raw, RawData)
    checked = check_raw_data(raw, name)  # raises if the loader broke the contract
    assert len(checked.fingerprint) == 64

    task = load_task(text, data_dir)
    assert str(task.spec) == text and len(task.id) == 16
    channels = task.in_shape[0]
    assert channels in (1, 3)
    for split in ("train", "val", "test"):
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        assert x.dtype == torch.float32 and x.shape == (len(y), *task.in_shape)
        assert y.dtype == torch.int64 and (y.min() >= 0).item() and (y.max() < task.num_classes).item()
    assert set(task.y_train.tolist()) == set(range(task.num_classes))
    assert len(task.class_names) == task.num_classes

    again = load_task(text, data_dir)
    assert again.id == task.id and torch.equal(again.x_train, task.x_train) and torch.equal(again.y_val, task.y_val)
    first_two = np.unique(checked.y_train)[:2].tolist()
    subset = load_task(f"{text}:classes={first_two[0]},{first_two[1]}:size=4", data_dir)
    assert subset.num_classes == 2 and subset.in_shape == (channels, 4, 4) and subset.id != task.id


def test_importing_the_package_registers_every_source_in_a_fixed_order():
    assert TASK_SOURCES.names()[:8] == ["digits", "mnist", "npz", "folder", *TORCHVISION_SOURCES]

"""The folder source: one sub-folder per class, optional train/ and test/."""

import pytest
import torch
from PIL import Image

from distill.tasks import load_task


def _save_png(path, value, size=(5, 5), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, color).save(path)


def test_folder_without_test_dir_carves_a_stratified_fifth(tmp_path):
    for c, name in enumerate(["ant", "bee"]):
        for i in range(10):
            _save_png(tmp_path / name / f"{i}.png", 10 * i + c)
    task = load_task(f"folder:path={tmp_path}:val_fraction=0.25")
    assert task.class_names == ["ant", "bee"] and task.in_shape == (1, 5, 5)
    assert torch.bincount(task.y_test).tolist() == [2, 2]
    assert torch.bincount(task.y_train).tolist() == [6, 6] and torch.bincount(task.y_val).tolist() == [2, 2]
    assert task.id == load_task(f"folder:path={tmp_path}:val_fraction=0.25").id


def test_folder_with_train_and_test_dirs_and_colour(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        for name in ("a", "b", "c"):
            for i in range(n):
                _save_png(tmp_path / split / name / f"{i}.png", 50 * i, mode="RGB" if name == "c" else "L")
    task = load_task(f"folder:path={tmp_path}:val_fraction=0")
    assert task.in_shape == (3, 5, 5) and task.num_classes == 3
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (12, 0, 6)


def test_folder_of_mixed_sizes_needs_a_size(tmp_path):
    for name in ("a", "b"):
        for i, side in enumerate((4, 7)):
            _save_png(tmp_path / name / f"{i}.png", 100, size=(side, side))
    with pytest.raises(ValueError, match=r"images differ in size: .* give the task a size"):
        load_task(f"folder:path={tmp_path}")
    assert load_task(f"folder:path={tmp_path}:size=6:val_fraction=0").in_shape == (1, 6, 6)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task(f"folder:path={tmp_path / 'nope'}")
    _save_png(tmp_path / "only" / "0.png", 1)
    with pytest.raises(ValueError, match="at least two"):
        load_task(f"folder:path={tmp_path}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty has no images"):
        load_task(f"folder:path={tmp_path}")


def test_a_folder_too_large_for_memory_is_refused_after_its_first_image(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from distill.tasks import limits

    for name in ("a", "b"):
        for i in range(3):
            _save_png(tmp_path / name / f"{i}.png", 100)
    monkeypatch.setattr(limits, "MAX_TASK_BYTES", 2**20)
    opened = []
    real_open = PILImage.open
    monkeypatch.setattr(PILImage, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    with pytest.raises(
        ValueError, match=r"would hold 6 images of 3x300x300 as float32, 6.2 MiB: more than the limit of 1 MiB"
    ):
        load_task(f"folder:path={tmp_path}:size=300")
    assert len(opened) == 1

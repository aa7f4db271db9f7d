"""load_task on digits (always available) and an npz: subsets, splits, sizes, transforms, normalisation."""

import numpy as np
import pytest
import torch

from distill.tasks import TaskSpec, load_task


def test_digits_shapes_splits_and_normalisation(raw_images):
    task = load_task("digits")
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (1069, 189, 539)  # 1797 = 70% / 30%, 15% val
    assert task.in_shape == (1, 8, 8) and task.num_classes == 10
    assert task.class_names == [str(i) for i in range(10)]
    for split in ("train", "val", "test"):
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        assert x.dtype == torch.float32 and x.shape == (len(y), 1, 8, 8)
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert task.x_train.mean().item() == pytest.approx(0, abs=1e-5)
    assert task.x_train.std().item() == pytest.approx(1, abs=1e-4)
    raw = raw_images(task, "test")
    assert raw.min() > -1e-5 and raw.max() < 1 + 1e-5
    assert task.name == "digits" and repr(task).startswith("Task('digits', id=")


def test_norm_none_keeps_images_in_0_1_and_constants_are_applied(raw_images):
    """A teacher trained on its own preprocessing sees exactly that: norm=none or norm=MEAN/STD."""
    standard = load_task("digits")
    raw = load_task("digits:norm=none")
    assert raw.id != standard.id  # another task: a zoo teacher trained on it is another teacher
    assert raw.x_train.min() >= 0 and raw.x_train.max() <= 1
    assert torch.allclose(raw.x_test, raw_images(standard, "test"), atol=1e-5)
    assert (raw.input_mean, raw.input_std) == ((0.0,), (1.0,))
    assert raw.pixel_mean == standard.pixel_mean  # the descriptors stay the images' statistics
    fixed = load_task("digits:norm=0.25/0.5")
    assert torch.allclose(fixed.x_val, (raw.x_val - 0.25) / 0.5)
    assert (fixed.input_mean, fixed.input_std) == ((0.25,), (0.5,))
    assert standard.input_mean == standard.pixel_mean and standard.input_std == standard.pixel_std
    with pytest.raises(ValueError, match=r"'norm' '0.5,0.5,0.5/0.2,0.2,0.2' gives 3 channel\(s\); the images have 1"):
        load_task("digits:norm=0.5,0.5,0.5/0.2,0.2,0.2")


def test_digits_is_deterministic_and_the_test_set_ignores_the_seed(raw_images):
    a, b, c = load_task("digits"), load_task(TaskSpec("digits")), load_task("digits:seed=1")
    assert len(a.id) == 16 and int(a.id, 16) >= 0
    assert a.id == b.id != c.id
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.y_train, c.y_train)  # another seed, another train/val split ...
    assert torch.equal(raw_images(a, "test"), raw_images(c, "test"))  # ... but the same test set
    assert a.id != load_task("digits:classes=0-4").id


def test_describe_reports_counts_and_pixel_statistics(raw_images):
    task = load_task("digits:classes=0,1")
    d = task.describe()
    assert d["num_classes"] == 2 and d["in_shape"] == [1, 8, 8]
    assert d["n_train"] == len(task.y_train) and d["n_val"] == len(task.y_val) and d["n_test"] == len(task.y_test)
    assert sum(d["train_class_counts"]) == d["n_train"] and sum(d["test_class_counts"]) == d["n_test"]
    assert d["class_imbalance"] >= 1
    x = raw_images(task, "train")
    assert d["pixel_mean"] == pytest.approx([x.mean().item()], abs=1e-5)
    assert d["pixel_std"] == pytest.approx([x.std().item()], abs=1e-5)


def test_class_subset_is_relabelled_in_sorted_order():
    full = load_task("digits")
    task = load_task("digits:classes=7,3,5")
    assert task.num_classes == 3 and task.class_names == ["3", "5", "7"]
    assert task.spec.classes == (3, 5, 7)
    full_test = full.y_test.tolist()
    assert torch.bincount(task.y_test).tolist() == [full_test.count(c) for c in (3, 5, 7)]
    assert set(task.y_train.tolist()) == {0, 1, 2}


def test_class_missing_from_the_data_is_an_error():
    with pytest.raises(ValueError, match=r"class\(es\) \[12\] are not in the 'digits' data; present classes: 0-9"):
        load_task("digits:classes=0,12")


def test_n_train_is_a_stratified_cap_on_train_plus_val():
    full = load_task("digits")
    task = load_task("digits:n_train=500")
    assert len(task.y_train) + len(task.y_val) == 500 and len(task.y_val) == 75
    pool = torch.bincount(full.y_train, minlength=10) + torch.bincount(full.y_val, minlength=10)
    counts = torch.bincount(task.y_train, minlength=10) + torch.bincount(task.y_val, minlength=10)
    assert ((counts - pool * 500 / pool.sum()).abs() < 1).all()  # every class keeps its share, within rounding
    with pytest.raises(ValueError, match=r"n_train=100000 is more than the 1258 training images .* 'digits'"):
        load_task("digits:n_train=100000")  # said, not silently capped (issue 22, item 4)
    assert len(load_task("digits:n_train=1258").y_train) == len(full.y_train)  # the whole pool, as without n_train
    with pytest.raises(ValueError, match=r"n_train=1000 is more than the 758 training images left beside n_val=500"):
        load_task("digits:n_train=1000:n_val=500")


def test_n_val_is_a_validation_set_beside_the_training_pool(raw_images):
    task = load_task("digits:n_train=500:n_val=400")
    assert len(task.y_train) == 500 and len(task.y_val) == 400
    assert torch.bincount(task.y_val, minlength=10).min() >= 39  # stratified: 40 per class, within rounding
    train, val = raw_images(task, "train"), raw_images(task, "val")
    assert not (train.flatten(1)[:, None] == val.flatten(1)[None]).all(-1).any()  # no image in both
    assert (
        len(load_task("digits:n_val=400").y_train)
        == len(load_task("digits").y_train) + len(load_task("digits").y_val) - 400
    )
    with pytest.raises(ValueError, match=r"n_val=5000 leaves no training images: the 'digits' data has \d+"):
        load_task("digits:n_val=5000")
    with pytest.raises(ValueError, match="gives both n_val=10 and val_fraction=0.3; give one of them"):
        TaskSpec.parse("digits:n_val=10:val_fraction=0.3")


def test_n_test_is_a_stratified_cap_independent_of_the_seed(raw_images):
    a, b = load_task("digits:n_test=100"), load_task("digits:n_test=100:seed=3")
    assert len(a.y_test) == 100 and torch.bincount(a.y_test).tolist() == [10] * 10
    assert torch.equal(raw_images(a, "test"), raw_images(b, "test"))
    with pytest.raises(
        ValueError, match=r"n_test=999999 is more than the 539 test images of these classes in 'digits'"
    ):
        load_task("digits:n_test=999999")  # said, not silently capped (issue 22, item 4)
    assert len(load_task("digits:n_test=539").y_test) == 539


def test_too_small_n_train_is_an_error():
    with pytest.raises(ValueError, match="too small for 10 classes"):
        load_task("digits:n_train=5")


def test_size_resizes_every_split():
    task = load_task("digits:size=16")
    assert task.in_shape == (1, 16, 16) and task.x_val.shape[1:] == task.x_test.shape[1:] == (1, 16, 16)


def test_transform_is_applied_to_every_split_before_normalising(raw_images):
    plain, inverted = load_task("digits"), load_task("digits:transform=invert")
    # (1 - x - (1 - m)) / s == -(x - m) / s: the normalised inverted images are the negated plain ones.
    for split in ("train", "val", "test"):
        assert torch.allclose(getattr(inverted, f"x_{split}"), -getattr(plain, f"x_{split}"), atol=1e-5)
    noisy = load_task("digits:transform=noise0.2")
    assert torch.equal(noisy.x_test, load_task("digits:transform=noise0.2").x_test)
    assert not torch.allclose(raw_images(noisy, "test"), raw_images(plain, "test"), atol=0.05)


def test_train_val_and_test_share_no_image(tmp_path, raw_images, save_npz):
    task = load_task(f"npz:path={save_npz(tmp_path / 'd.npz', n_train=80)}:val_fraction=0.25")
    # Image i is filled with i: its first pixel names it.
    ids = {
        split: set(raw_images(task, split)[:, 0, 0, 0].mul(255).round().int().tolist())
        for split in ("train", "val", "test")
    }
    assert len(ids["train"]) == len(task.y_train) == 60 and len(ids["val"]) == len(task.y_val) == 20
    assert not ids["train"] & ids["val"] and not (ids["train"] | ids["val"]) & ids["test"]
    assert ids["train"] | ids["val"] == set(range(80)) and ids["test"] == set(range(100, 120))


def test_color_rgb_repeats_a_gray_channel_and_gray_keeps_it(raw_images):
    gray, rgb = load_task("digits:classes=0-2"), load_task("digits:classes=0-2:color=rgb")
    assert rgb.in_shape == (3, 8, 8) and rgb.id != gray.id
    images = raw_images(rgb, "train")
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 1], images[:, 2])
    assert torch.allclose(images[:, 0], raw_images(gray, "train")[:, 0], atol=1e-5)
    assert torch.equal(load_task("digits:classes=0-2:color=gray").x_train, gray.x_train)


def test_color_gray_takes_the_luminance_of_rgb_images(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", x_train=x, y_train=np.arange(30) % 3, x_test=x[:6], y_test=np.arange(6) % 3)
    task = load_task(f"npz:path={tmp_path / 'c.npz'}:color=gray:norm=none:val_fraction=0:n_test=6")
    assert task.in_shape == (1, 4, 4)
    expected = (x[:6] / 255.0 * [0.299, 0.587, 0.114]).sum(axis=-1)  # all six test images, in the file's order
    assert np.allclose(task.x_test[:, 0].numpy(), expected, atol=1e-6)


def test_a_task_too_large_for_memory_is_refused_before_any_image_is_made(monkeypatch):
    """``digits:size=1000`` took 101 s and 16.5 GB before failing (issue 22, item 5): refused up front."""
    from distill.tasks import MAX_TASK_BYTES, pipeline

    def no_allocation(x):
        raise AssertionError("the images were converted before the size was checked")

    monkeypatch.setattr(pipeline, "_float_images", no_allocation)
    limit = f"{MAX_TASK_BYTES // 2**30} GiB"
    with pytest.raises(
        ValueError, match=rf"1797 images of 1x1000x1000 as float32, 6.7 GiB: more than the limit of {limit}"
    ):
        load_task("digits:size=1000")
    with pytest.raises(ValueError, match=r"give a smaller 'size', or fewer images with n_train / n_test"):
        load_task("digits:size=1000:n_train=1000")

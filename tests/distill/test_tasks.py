import gzip
import math
import sys

import numpy as np
import pytest
import torch

from distill.tasks import (
    DOMAIN_TRANSFORMS,
    MNIST_IDX_FILES,
    TASK_SOURCES,
    TORCHVISION_SOURCES,
    Task,
    TaskSpec,
    _stratified_split,
    load_task,
    resolve_data_dir,
)


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


# ---------------------------------------------------------------------------------------------- spec
@pytest.mark.parametrize(
    "text",
    [
        "digits",
        "mnist:classes=0-4:transform=noise0.3:size=16:n_train=3000:n_test=2000:seed=1",
        "mnist:classes=0,2,7",
        "mnist:classes=0-9:n_train=1000:n_val=1000:n_test=2000",
        "mnist:classes=0-2,7,9",
        "digits:transform=rotate-15.5:val_fraction=0.2",
        "digits:transform=invert:val_fraction=0",
        "npz:path=/data/x.npz:classes=1,2",
        r"folder:path=C:\data\images:size=32",
        "digits:norm=none",
        "mnist:size=16:norm=0.1307/0.3081",
        "npz:path=/data/rgb.npz:norm=0.485,0.456,0.406/0.229,0.224,0.225",
    ],
)
def test_spec_round_trip(text):
    spec = TaskSpec.parse(text)
    assert str(spec) == text
    assert TaskSpec.parse(str(spec)) == spec


def test_spec_parse_values_and_canonical_form():
    spec = TaskSpec.parse("mnist: seed=1 :classes=4,2,3:transform=rotate:size=16")
    assert spec == TaskSpec("mnist", classes=(2, 3, 4), transform="rotate30", size=16, seed=1)
    assert str(spec) == "mnist:classes=2-4:transform=rotate30:size=16:seed=1"
    assert str(TaskSpec("digits", transform="noise0.30")) == "digits:transform=noise0.3"
    assert str(TaskSpec("digits", transform="blur")) == "digits:transform=blur1"
    assert str(TaskSpec("digits", transform="downsample")) == "digits:transform=downsample2"
    assert str(TaskSpec("digits", classes=[0, 1])) == "digits:classes=0,1"
    assert TaskSpec.parse("digits:classes=0-4").classes == (0, 1, 2, 3, 4)


@pytest.mark.parametrize(
    "text, match",
    [
        ("mnist:colour=red", r"unknown key 'colour'; valid keys: path, classes, transform, size"),
        ("mnist:size=abc", r"'size' must be an integer; got 'abc'"),
        ("mnist:size=0", r"'size' must be an integer >= 1; got 0"),
        ("mnist:n_train=-5", r"'n_train' must be an integer >= 1"),
        ("mnist:seed=-1", r"'seed' must be an integer >= 0"),
        ("mnist:val_fraction=1", r"'val_fraction' must be a number in \[0, 1\); got 1.0"),
        ("mnist:val_fraction=x", r"'val_fraction' must be a number; got 'x'"),
        ("mnist:classes=a-b", r"'classes' must be labels like '0-4'"),
        ("mnist:classes=4-0", r"'classes' must be labels like '0-4'"),
        ("mnist:classes=3", r"at least two distinct labels"),
        ("mnist:classes=1,1", r"at least two distinct labels"),
        ("mnist:transform=swirl", r"unknown domain transform 'swirl'; valid: blur, downsample, invert, noise, rotate"),
        ("mnist:transform=invert2", r"'invert' transform takes no parameter; got 2"),
        ("mnist:transform=noise-1", r"'noise' transform's parameter must be a number >= 0; got -1"),
        ("mnist:transform=blur0", r"'blur' transform's parameter must be a number > 0"),
        ("mnist:transform=downsample0.5", r"must be a number >= 1"),
        ("mnist:transform=rotate 30 x", r"must be a name and an optional number"),
        ("mnist:size=8:size=16", r"'size' is given twice"),
        ("mnist:size", r"'size' is not KEY=VALUE"),
        ("imagenet", r"unknown task source 'imagenet'; valid: .*digits.*mnist"),
        ("npz", r"'npz' source needs a path"),
        ("mnist:path=/x.npz", r"'mnist' source takes no path"),
        ("mnist:norm=imagenet", r"'norm' must be 'train', 'none' or MEAN/STD per channel.*got 'imagenet'"),
        ("mnist:norm=0.5/0", r"'norm' must be .*positive stds\); got '0.5/0'"),
        ("mnist:norm=0.5,0.5/0.2", r"'norm' must be .*got '0.5,0.5/0.2'"),
    ],
)
def test_spec_errors_name_the_value_and_what_is_allowed(text, match):
    with pytest.raises(ValueError, match=match):
        TaskSpec.parse(text)


# ---------------------------------------------------------------------------------------------- digits
def test_digits_shapes_splits_and_normalisation():
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
    raw = _raw_images(task, "test")
    assert raw.min() > -1e-5 and raw.max() < 1 + 1e-5
    assert task.name == "digits" and repr(task).startswith("Task('digits', id=")


def test_norm_none_keeps_images_in_0_1_and_constants_are_applied():
    """A teacher trained on its own preprocessing sees exactly that: norm=none or norm=MEAN/STD."""
    standard = load_task("digits")
    raw = load_task("digits:norm=none")
    assert raw.id != standard.id  # another task: a zoo teacher trained on it is another teacher
    assert raw.x_train.min() >= 0 and raw.x_train.max() <= 1
    assert torch.allclose(raw.x_test, _raw_images(standard, "test"), atol=1e-5)
    assert (raw.input_mean, raw.input_std) == ((0.0,), (1.0,))
    assert raw.pixel_mean == standard.pixel_mean  # the descriptors stay the images' statistics
    fixed = load_task("digits:norm=0.25/0.5")
    assert torch.allclose(fixed.x_val, (raw.x_val - 0.25) / 0.5)
    assert (fixed.input_mean, fixed.input_std) == ((0.25,), (0.5,))
    assert standard.input_mean == standard.pixel_mean and standard.input_std == standard.pixel_std
    with pytest.raises(ValueError, match=r"'norm' '0.5,0.5,0.5/0.2,0.2,0.2' gives 3 channel\(s\); the images have 1"):
        load_task("digits:norm=0.5,0.5,0.5/0.2,0.2,0.2")


def test_digits_is_deterministic_and_the_test_set_ignores_the_seed():
    a, b, c = load_task("digits"), load_task(TaskSpec("digits")), load_task("digits:seed=1")
    assert len(a.id) == 16 and int(a.id, 16) >= 0
    assert a.id == b.id != c.id
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.y_train, c.y_train)  # another seed, another train/val split ...
    assert torch.equal(_raw_images(a, "test"), _raw_images(c, "test"))  # ... but the same test set
    assert a.id != load_task("digits:classes=0-4").id


def test_describe_reports_counts_and_pixel_statistics():
    task = load_task("digits:classes=0,1")
    d = task.describe()
    assert d["num_classes"] == 2 and d["in_shape"] == [1, 8, 8]
    assert d["n_train"] == len(task.y_train) and d["n_val"] == len(task.y_val) and d["n_test"] == len(task.y_test)
    assert sum(d["train_class_counts"]) == d["n_train"] and sum(d["test_class_counts"]) == d["n_test"]
    assert d["class_imbalance"] >= 1
    x = _raw_images(task, "train")
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
    assert len(load_task("digits:n_train=100000").y_train) == len(full.y_train)  # a cap, not a target


def test_n_val_is_a_validation_set_beside_the_training_pool():
    task = load_task("digits:n_train=500:n_val=400")
    assert len(task.y_train) == 500 and len(task.y_val) == 400
    assert torch.bincount(task.y_val, minlength=10).min() >= 39  # stratified: 40 per class, within rounding
    train, val = _raw_images(task, "train"), _raw_images(task, "val")
    assert not (train.flatten(1)[:, None] == val.flatten(1)[None]).all(-1).any()  # no image in both
    assert (
        len(load_task("digits:n_val=400").y_train)
        == len(load_task("digits").y_train) + len(load_task("digits").y_val) - 400
    )
    with pytest.raises(ValueError, match=r"n_val=5000 leaves no training images: the 'digits' data has \d+"):
        load_task("digits:n_val=5000")
    with pytest.raises(ValueError, match="gives both n_val=10 and val_fraction=0.3; give one of them"):
        TaskSpec.parse("digits:n_val=10:val_fraction=0.3")


def test_n_test_is_a_stratified_cap_independent_of_the_seed():
    a, b = load_task("digits:n_test=100"), load_task("digits:n_test=100:seed=3")
    assert len(a.y_test) == 100 and torch.bincount(a.y_test).tolist() == [10] * 10
    assert torch.equal(_raw_images(a, "test"), _raw_images(b, "test"))


def test_too_small_n_train_is_an_error():
    with pytest.raises(ValueError, match="too small for 10 classes"):
        load_task("digits:n_train=5")


def test_size_resizes_every_split():
    task = load_task("digits:size=16")
    assert task.in_shape == (1, 16, 16) and task.x_val.shape[1:] == task.x_test.shape[1:] == (1, 16, 16)


def test_transform_is_applied_to_every_split_before_normalising():
    plain, inverted = load_task("digits"), load_task("digits:transform=invert")
    # (1 - x - (1 - m)) / s == -(x - m) / s: the normalised inverted images are the negated plain ones.
    for split in ("train", "val", "test"):
        assert torch.allclose(getattr(inverted, f"x_{split}"), -getattr(plain, f"x_{split}"), atol=1e-5)
    noisy = load_task("digits:transform=noise0.2")
    assert torch.equal(noisy.x_test, load_task("digits:transform=noise0.2").x_test)
    assert not torch.allclose(_raw_images(noisy, "test"), _raw_images(plain, "test"), atol=0.05)


# ---------------------------------------------------------------------------------------------- splits
def test_stratified_split_takes_each_class_share_and_is_a_partition():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    taken, rest = _stratified_split(y, 10, np.random.default_rng(0))
    assert np.bincount(y[taken]).tolist() == [5, 3, 2]
    assert np.intersect1d(taken, rest).size == 0 and np.union1d(taken, rest).tolist() == list(range(100))
    again, _ = _stratified_split(y, 10, np.random.default_rng(0))
    other, _ = _stratified_split(y, 10, np.random.default_rng(1))
    assert np.array_equal(taken, again) and not np.array_equal(taken, other)


def test_stratified_split_keep_one_leaves_every_class_in_the_rest():
    y = np.array([0, 0, 0, 0, 1])
    _, rest = _stratified_split(y, 4, np.random.default_rng(0), keep_one=True)
    assert set(y[rest].tolist()) == {0, 1}


def test_train_val_and_test_share_no_image(tmp_path):
    task = load_task(f"npz:path={_save_npz(tmp_path / 'd.npz', n_train=80)}:val_fraction=0.25")
    # Image i is filled with i: its first pixel names it.
    ids = {
        split: set(_raw_images(task, split)[:, 0, 0, 0].mul(255).round().int().tolist())
        for split in ("train", "val", "test")
    }
    assert len(ids["train"]) == len(task.y_train) == 60 and len(ids["val"]) == len(task.y_val) == 20
    assert not ids["train"] & ids["val"] and not (ids["train"] | ids["val"]) & ids["test"]
    assert ids["train"] | ids["val"] == set(range(80)) and ids["test"] == set(range(100, 120))


# ---------------------------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("name", DOMAIN_TRANSFORMS.names())
def test_every_transform_keeps_shape_and_range_and_is_deterministic(name):
    x = torch.rand(4, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    transform = DOMAIN_TRANSFORMS.get(name)
    y = transform(x, None, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert not torch.allclose(y, x)
    assert torch.equal(y, transform(x, None, torch.Generator().manual_seed(1)))


def test_invert_twice_is_the_identity():
    x = torch.rand(2, 1, 5, 5)
    invert = DOMAIN_TRANSFORMS.get("invert")
    assert torch.allclose(invert(invert(x)), x)
    assert torch.allclose(invert(x), 1 - x)


def test_rotate_by_0_or_360_is_the_identity_and_90_is_a_quarter_turn():
    x = torch.rand(2, 1, 6, 6)
    rotate = DOMAIN_TRANSFORMS.get("rotate")
    assert torch.allclose(rotate(x, 0.0), x, atol=1e-5)
    assert torch.allclose(rotate(x, 360.0), x, atol=1e-5)
    assert torch.allclose(rotate(x, 90.0), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)  # counter-clockwise
    bar = torch.zeros(1, 1, 9, 15)
    bar[0, 0, 4, 5:10] = 1  # a horizontal bar of 5 pixels in a wide image ...
    upright = torch.zeros(1, 1, 9, 15)
    upright[0, 0, 2:7, 7] = 1  # ... stays 5 pixels long when it turns upright
    assert torch.allclose(rotate(bar, 90.0), upright, atol=1e-5)
    corner = torch.ones(1, 1, 8, 8)
    assert rotate(corner, 45.0)[0, 0, 0, 0] == 0  # corners rotate in from outside the image


def test_noise_follows_the_generator_and_has_the_asked_std():
    x = torch.full((8, 1, 32, 32), 0.5)
    noise = DOMAIN_TRANSFORMS.get("noise")
    a = noise(x, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(a, noise(x, 0.1, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, noise(x, 0.1, torch.Generator().manual_seed(1)))
    assert (a - x).std().item() == pytest.approx(0.1, rel=0.05)
    assert torch.equal(noise(x, 0.0), x)


def test_blur_keeps_constants_and_smooths_a_checkerboard():
    blur = DOMAIN_TRANSFORMS.get("blur")
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(blur(flat, 2.0), flat, atol=1e-6)
    board = (torch.arange(8).view(-1, 1) + torch.arange(8)).remainder(2).float().view(1, 1, 8, 8)
    blurred = blur(board, 1.0)
    assert blurred.mean().item() == pytest.approx(0.5, abs=0.02)
    assert blurred.std() < 0.2 * board.std()
    assert blur(board, 0.3).std() > blurred.std()  # a smaller sigma blurs less


def test_downsample_removes_detail_but_keeps_size():
    downsample = DOMAIN_TRANSFORMS.get("downsample")
    board = (torch.arange(8).view(-1, 1) + torch.arange(8)).remainder(2).float().view(1, 1, 8, 8)
    out = downsample(board, 2.0)
    assert out.shape == board.shape and out.std() < 0.1 * board.std()
    smooth = torch.linspace(0, 1, 16).repeat(16, 1).view(1, 1, 16, 16)
    assert torch.allclose(downsample(smooth, 2.0), smooth, atol=0.05)  # smooth images lose little
    assert torch.allclose(downsample(board, 1.0), board, atol=1e-6)


# ---------------------------------------------------------------------------------------------- npz
def test_npz_source_loads_uint8_and_float_rgb(tmp_path):
    task = load_task(f"npz:path={_save_npz(tmp_path / 'gray.npz')}")
    assert task.in_shape == (1, 6, 6) and task.num_classes == 4 and len(task.y_test) == 20
    rng = np.random.default_rng(0)
    path = tmp_path / "rgb.npz"
    np.savez(
        path,
        x_train=rng.random((30, 5, 5, 3), dtype=np.float32),
        y_train=np.arange(30) % 3 + 10,
        x_test=rng.random((9, 5, 5, 3), dtype=np.float32),
        y_test=np.arange(9) % 3 + 10,
    )
    task = load_task(f"npz:path={path}")
    assert task.in_shape == (3, 5, 5) and len(task.pixel_mean) == 3
    assert task.class_names == ["10", "11", "12"] and set(task.y_test.tolist()) == {0, 1, 2}
    assert load_task(f"npz:path={path}:classes=10,12").num_classes == 2


def test_npz_of_one_class_is_an_error(tmp_path):
    path = _save_npz(tmp_path / "one.npz", classes=1)
    with pytest.raises(ValueError, match=r"training data has one class \(0\); a classifier needs at least two"):
        load_task(f"npz:path={path}")


def test_npz_class_names_are_used(tmp_path):
    path = _save_npz(tmp_path / "d.npz", classes=2, class_names=np.array(["cat", "dog"]))
    assert load_task(f"npz:path={path}").class_names == ["cat", "dog"]


def test_npz_id_depends_on_content_not_on_path(tmp_path):
    a = load_task(f"npz:path={_save_npz(tmp_path / 'a.npz')}")
    b = load_task(f"npz:path={_save_npz(tmp_path / 'b.npz')}")
    assert a.id == b.id and a.name != b.name
    np.savez(tmp_path / "c.npz", **{**np.load(tmp_path / "a.npz"), "y_test": (np.arange(20) + 1) % 4})
    assert load_task(f"npz:path={tmp_path / 'c.npz'}").id != a.id


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(y_test=None), r"lacks y_test; expected keys x_train, y_train, x_test, y_test"),
        (dict(x_train=np.zeros((40, 2, 2, 2, 2), np.uint8)), r"x_train has shape \(40, 2, 2, 2, 2\); expected \(N, H"),
        (dict(x_train=np.zeros((40, 36), np.uint8)), r"x_train has shape \(40, 36\); expected"),
        (dict(x_train=np.zeros((40, 3, 6, 6), np.uint8)), r"channels last"),
        (dict(x_train=np.zeros((40, 6, 6), np.int32)), r"x_train has dtype int32; expected uint8"),
        (dict(x_train=np.full((40, 6, 6), 2.0)), r"float x_train must lie in \[0, 1\]"),
        (dict(y_train=np.zeros(39, np.int64)), r"y_train must be integer labels of shape \(40,\)"),
        (dict(y_train=np.zeros(40, np.float32)), r"y_train must be integer labels"),
        (dict(y_test=np.full(20, 9)), r"y_test has label\(s\) \[9\] that y_train lacks"),
        (dict(x_test=np.zeros((20, 5, 5), np.uint8)), r"train images are \(6, 6, 1\) .* test images are \(5, 5, 1\)"),
        (dict(y_train=np.array([object()] * 40)), r"y_train in .* is an object array.*allow_pickle=False.*numeric"),
        (dict(class_names=np.array(["a", "b"], dtype=object)), r"class_names in .* object array.*dtype=str\)"),
    ],
)
def test_npz_errors(tmp_path, arrays, match):
    path = _save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_task(f"npz:path={path}")


def test_npz_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task(f"npz:path={tmp_path / 'nope.npz'}")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a readable .npz file"):
        load_task(f"npz:path={tmp_path / 'text.npz'}")


# ---------------------------------------------------------------------------------------------- folder
def _save_png(path, value, size=(5, 5), mode="L"):
    from PIL import Image

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


# ---------------------------------------------------------------------------------------------- mnist
def test_mnist_from_the_shared_file(mnist_dir):
    task = load_task("mnist:classes=0-4:transform=noise0.3:size=16:n_train=3000:n_test=2000:seed=1", mnist_dir)
    assert task.in_shape == (1, 16, 16) and task.num_classes == 5
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (2550, 450, 2000)
    # Stratified: the official counts of digits 0-4 are 5923, 6742, 5958, 6131, 5842 (30596 in all).
    counts = torch.bincount(task.y_train, minlength=5) + torch.bincount(task.y_val, minlength=5)
    assert counts.tolist() == [round(3000 * n / 30596) for n in (5923, 6742, 5958, 6131, 5842)]
    full = load_task("mnist", mnist_dir)
    assert (len(full.y_train) + len(full.y_val), len(full.y_test)) == (60000, 10000)
    assert full.in_shape == (1, 28, 28)
    assert full.id == load_task("mnist", mnist_dir).id


def test_mnist_data_dir_comes_from_the_environment(mnist_dir, monkeypatch):
    monkeypatch.setenv("DASS_DATA", mnist_dir)
    assert load_task("mnist:n_test=10:n_train=100").id == load_task("mnist:n_test=10:n_train=100", mnist_dir).id


def test_mnist_missing_files_say_where_and_what(tmp_path, monkeypatch):
    monkeypatch.delenv("DASS_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=rf"no MNIST data in {tmp_path}: looked for mnist.npz .*--data-dir"):
        load_task("mnist", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"none is set: pass --data-dir DIR or set DASS_DATA=DIR"):
        load_task("mnist")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_task("mnist", str(tmp_path / "nope"))


def _write_idx(path, array, compress):
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_idx_files_matches_the_same_data_as_npz(tmp_path, compress):
    rng = np.random.default_rng(0)
    arrays = dict(
        x_train=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        y_train=np.arange(50) % 10,
        x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    idx_dir, npz_dir = tmp_path / "idx", tmp_path / "npz"
    idx_dir.mkdir(), npz_dir.mkdir()
    for name, key in zip(MNIST_IDX_FILES, ["x_train", "y_train", "x_test", "y_test"]):
        _write_idx(idx_dir / (name + (".gz" if compress else "")), arrays[key], compress)
    np.savez(npz_dir / "mnist.npz", **arrays)
    from_idx, from_npz = load_task("mnist", str(idx_dir)), load_task("mnist", str(npz_dir))
    assert from_idx.id == from_npz.id
    assert torch.equal(from_idx.x_train, from_npz.x_train) and torch.equal(from_idx.y_test, from_npz.y_test)
    assert from_idx.in_shape == (1, 28, 28) and len(from_idx.y_test) == 20


def test_bad_idx_file_is_an_error(tmp_path):
    for name in MNIST_IDX_FILES:
        (tmp_path / name).write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd")
    with pytest.raises(ValueError, match="is not an IDX file of unsigned bytes"):
        load_task("mnist", str(tmp_path))


# ---------------------------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize("name", sorted(TORCHVISION_SOURCES))
def test_torchvision_sources_explain_a_missing_torchvision(name, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` raise ImportError
    assert name in TASK_SOURCES
    expected = rf"the '{name}' source needs torchvision \(pip install 'dass\[vision\]'\), which does not import here"
    with pytest.raises(ValueError, match=expected) as e:
        load_task(name, str(tmp_path))
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------- data dir
def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("DASS_DATA", raising=False)
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("DASS_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == str(tmp_path / "env")
    assert resolve_data_dir(str(tmp_path / "arg")) == str(tmp_path / "arg")


def test_importing_the_module_registers_every_source_and_transform():
    assert {"digits", "mnist", "npz", "folder", *TORCHVISION_SOURCES} <= set(TASK_SOURCES.names())
    assert set(DOMAIN_TRANSFORMS.names()) == {"rotate", "invert", "noise", "blur", "downsample"}
    assert math.isclose(DOMAIN_TRANSFORMS.get("rotate").default, 30.0)

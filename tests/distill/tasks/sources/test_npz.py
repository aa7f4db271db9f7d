"""The npz source: a user's arrays, checked with errors that say what to fix."""

import numpy as np
import pytest

from distill.tasks import load_task


def test_npz_source_loads_uint8_and_float_rgb(tmp_path, save_npz):
    task = load_task(f"npz:path={save_npz(tmp_path / 'gray.npz')}")
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


def test_npz_of_one_class_is_an_error(tmp_path, save_npz):
    path = save_npz(tmp_path / "one.npz", classes=1)
    with pytest.raises(ValueError, match=r"training data has one class \(0\); a classifier needs at least two"):
        load_task(f"npz:path={path}")


def test_npz_class_names_are_used(tmp_path, save_npz):
    path = save_npz(tmp_path / "d.npz", classes=2, class_names=np.array(["cat", "dog"]))
    assert load_task(f"npz:path={path}").class_names == ["cat", "dog"]


def test_npz_id_depends_on_content_not_on_path(tmp_path, save_npz):
    a = load_task(f"npz:path={save_npz(tmp_path / 'a.npz')}")
    b = load_task(f"npz:path={save_npz(tmp_path / 'b.npz')}")
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
def test_npz_errors(tmp_path, arrays, match, save_npz):
    path = save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_task(f"npz:path={path}")


def test_npz_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task(f"npz:path={tmp_path / 'nope.npz'}")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a readable .npz file"):
        load_task(f"npz:path={tmp_path / 'text.npz'}")


def test_a_stray_label_is_an_error_naming_it_and_its_count(tmp_path, save_npz):
    """One label 15 among the classes 0-3 must not make a fifth class (issue 22, item 4)."""
    y_train = np.arange(40) % 4
    y_train[7] = 15
    path = save_npz(tmp_path / "stray.npz", y_train=y_train)
    with pytest.raises(
        ValueError, match=r"y_train has label 15 \(1 image\) outside the classes 0-3 \(labels 4-14 missing\)"
    ):
        load_task(f"npz:path={path}")
    y_train[[3, 9]] = 12  # two stray labels, named with their counts
    path = save_npz(tmp_path / "strays.npz", y_train=y_train)
    with pytest.raises(ValueError, match=r"labels 12 \(2 images\), 15 \(1 image\) outside the classes 0-3"):
        load_task(f"npz:path={path}")
    # with class_names, the file declares its classes: a label beyond them is named, with its count
    path = save_npz(tmp_path / "named.npz", y_train=y_train, class_names=np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match=r"labels 12 \(2 images\), 15 \(1 image\) beyond the 4 class_names"):
        load_task(f"npz:path={path}")

"""What every generated source shares (``sources/generated.py``): counts, per-image seeds, caches, errors."""

import numpy as np
import pytest

from distill.tasks import load_task
from distill.tasks.sources import generated

GENERATED = ("glyphs", "shapes", "textures", "fractals", "particles", "spectra", "aerial", "objects")


@pytest.mark.parametrize("name", GENERATED)
def test_more_images_only_add_images(name, draw):
    """Image j of class c is seeded by (source, data_seed, split, c, j): asking for more keeps the first ones."""
    few, many = draw(f"{name}:classes=0,3:n_train=4:n_test=2"), draw(f"{name}:classes=0,1,3:n_train=9:n_test=3")
    for c in (0, 3):
        assert np.array_equal(few.x_train[few.y_train == c], many.x_train[many.y_train == c][:2])
        assert np.array_equal(few.x_test[few.y_test == c], many.x_test[many.y_test == c][:1])
    assert not np.array_equal(few.x_train[0], few.x_test[0])  # the splits draw apart


@pytest.mark.parametrize("name", GENERATED)
def test_data_seed_draws_another_dataset(name, draw, checksum):
    base = draw(f"{name}:classes=0,1:n_train=4:n_test=2")
    assert checksum(draw(f"{name}:classes=0,1:n_train=4:n_test=2:data_seed=0")) == checksum(base)
    assert checksum(draw(f"{name}:classes=0,1:n_train=4:n_test=2:data_seed=1")) != checksum(base)
    assert load_task(f"{name}:classes=0,1:n_train=4:n_test=2:data_seed=0").spec.options == ()


def test_counts_follow_the_spec(draw):
    raw = draw("textures:classes=0-2:n_train=10:n_val=5:n_test=4")
    assert np.bincount(raw.y_train).tolist() == [5, 5, 5] and np.bincount(raw.y_test).tolist() == [2, 1, 1]
    task = load_task("textures:classes=0-2:n_train=10:n_val=5:n_test=4")
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (10, 5, 4)
    task = load_task("textures:classes=0-2:n_train=20:n_test=4:val_fraction=0.25")
    assert (len(task.y_train), len(task.y_val)) == (15, 5)


def test_default_counts_and_classes(monkeypatch, draw):
    monkeypatch.setattr(generated, "DEFAULT_N_TRAIN", 30)
    monkeypatch.setattr(generated, "DEFAULT_N_TEST", 10)
    raw = draw("fractals")
    assert (len(raw.y_train), len(raw.y_test)) == (30, 10) and np.unique(raw.y_train).tolist() == list(range(10))


@pytest.mark.parametrize(
    "text, match",
    [
        ("shapes:classes=0,12", r"the 'shapes' source has classes 0-11 \(circle..semicircle\); got 12"),
        ("glyphs:classes=3,26-27", r"the 'glyphs' source has classes 0-25 \(A..Z\); got 26,27"),
        ("textures:n_train=2:n_test=2", r"needs at least one training image per class: n_train=2 for 10 classes"),
        ("fractals:n_train=300000", r"makes at most 200000 images"),
    ],
)
def test_request_errors(text, match):
    with pytest.raises(ValueError, match=match):
        load_task(text)


def test_slow_generations_are_cached_on_disk(monkeypatch, tmp_path, draw, checksum):
    monkeypatch.setenv("DASS_CACHE", str(tmp_path))
    monkeypatch.setattr(generated, "CACHE_MIN_SECONDS", -1.0)  # every generation counts as slow
    first = draw("shapes:classes=0,1:n_train=4:n_test=2")
    files = list((tmp_path / "tasks").glob("shapes-*.npz"))
    assert len(files) == 1 and not list((tmp_path / "tasks").glob(".*"))  # no temporary file left
    with np.load(files[0], allow_pickle=False) as saved:
        assert np.array_equal(saved["x_train"], first.x_train)

    def never(*args):
        raise AssertionError("the cached images should have been read")

    monkeypatch.setattr(generated, "draw_split", never)
    assert checksum(draw("shapes:classes=0,1:n_train=4:n_test=2")) == checksum(first)
    assert not first.x_train.flags.writeable


def test_an_unreadable_cache_file_is_drawn_again(monkeypatch, tmp_path, draw, checksum, caplog):
    monkeypatch.setenv("DASS_CACHE", str(tmp_path))
    monkeypatch.setattr(generated, "CACHE_MIN_SECONDS", -1.0)
    first = draw("textures:classes=0,1:n_train=4:n_test=2")
    (path,) = (tmp_path / "tasks").glob("textures-*.npz")
    path.write_bytes(b"not an npz")
    assert checksum(draw("textures:classes=0,1:n_train=4:n_test=2")) == checksum(first)
    assert "unreadable generated-task cache" in caplog.text


def test_fast_generations_are_not_cached(monkeypatch, tmp_path, draw):
    monkeypatch.setenv("DASS_CACHE", str(tmp_path))
    monkeypatch.setattr(generated, "CACHE_MIN_SECONDS", 1e9)
    draw("textures:classes=0,1:n_train=4:n_test=2")
    assert not (tmp_path / "tasks").exists()

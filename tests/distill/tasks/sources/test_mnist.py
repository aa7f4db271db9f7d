"""The mnist source: mnist.npz or the four IDX files from the data directory."""

import gzip

import numpy as np
import pytest
import torch

from distill.tasks import MNIST_IDX_FILES, load_task


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

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")

MNIST = Path(os.environ.get("DASS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "mnist.npz"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Teachers and teacher outputs go to a per-session temporary cache, never the user's."""
    monkeypatch.setenv("DASS_CACHE", str(tmp_path_factory.getbasetemp() / "dass-cache"))


@pytest.fixture(scope="session")
def digits_task():
    from distill.tasks import load_task

    return load_task("digits:classes=0-4")


@pytest.fixture(scope="session")
def mnist_dir():
    if not MNIST.exists():
        pytest.skip(f"{MNIST} not present")
    return str(MNIST.parent)

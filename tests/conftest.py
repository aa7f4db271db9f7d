import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
# Teachers, teacher outputs and generated tasks go to a per-run temporary cache ($DASS_CACHE, which
# distill.teachers and distill.tasks read), never the user's. Set at import time so that module- and
# session-scoped fixtures see it too; removed when the run ends (pytest_unconfigure), so that no run
# leaves its tens of megabytes behind.
TEST_CACHE = tempfile.mkdtemp(prefix="dass-test-cache-")
os.environ["DASS_CACHE"] = TEST_CACHE


def pytest_unconfigure(config):
    """The end of the run (also after a failure or Ctrl-C): remove the run's cache."""
    shutil.rmtree(TEST_CACHE, ignore_errors=True)


MNIST = Path(os.environ.get("DASS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "mnist.npz"


@pytest.fixture(scope="session")
def digits_task():
    from distill.tasks import load_task

    return load_task("digits:classes=0-4")


@pytest.fixture(scope="session")
def mnist_dir():
    if not MNIST.exists():
        pytest.skip(f"{MNIST} not present")
    return str(MNIST.parent)

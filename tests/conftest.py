import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
# Teachers and teacher outputs go to a per-run temporary cache, never the user's. Set at import
# time so that module- and session-scoped fixtures see it too.
os.environ["DASS_CACHE"] = tempfile.mkdtemp(prefix="dass-test-cache-")

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

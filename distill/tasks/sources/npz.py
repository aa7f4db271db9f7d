"""``npz``: a user's dataset as one ``.npz`` file with x_train, y_train, x_test, y_test (and class_names)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from distill.tasks.sources.base import RawData, task_source
from distill.tasks.sources.files import read_npz

if TYPE_CHECKING:
    from distill.tasks.spec import TaskSpec


@task_source("npz", takes_path=True)
def npz_source(spec: TaskSpec, data_dir: str | None) -> RawData:
    """A user's ``.npz`` with x_train, y_train, x_test, y_test (and optionally class_names)."""
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz task file {path} does not exist")
    return read_npz(path, "npz")

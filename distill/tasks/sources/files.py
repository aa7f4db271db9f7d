"""Where file-backed sources find their files (``--data-dir`` / ``$DASS_DATA``), and the npz format they share."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from distill.tasks.sources.base import NPZ_KEYS, RawData

DATA_ENV = "DASS_DATA"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    """The data directory: ``data_dir`` (--data-dir) if given, else ``$DASS_DATA``, else None."""
    chosen = data_dir or os.environ.get(DATA_ENV) or None
    return str(Path(chosen).expanduser()) if chosen else None


def require_data_dir(source: str, data_dir: str | None, wanted: str) -> Path:
    """The resolved data directory of ``source``; none set or not a directory is a ``FileNotFoundError``."""
    resolved = resolve_data_dir(data_dir)
    if resolved is None:
        raise FileNotFoundError(
            f"the {source!r} source reads {wanted} from a data directory, and none is set: "
            f"pass --data-dir DIR or set {DATA_ENV}=DIR"
        )
    if not Path(resolved).is_dir():
        raise FileNotFoundError(f"data directory {resolved} (from --data-dir or {DATA_ENV}) is not a directory")
    return Path(resolved)


def read_npz(path: Path, source: str) -> RawData:
    """An ``.npz`` with x_train, y_train, x_test, y_test (and optionally class_names), read without pickle."""
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{source}: {path} is not a readable .npz file: {err}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{source}: {path} holds a single array; expected an .npz with keys {', '.join(NPZ_KEYS)}")
    with data:
        missing = [key for key in NPZ_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"{source}: {path} lacks {', '.join(missing)}; expected keys {', '.join(NPZ_KEYS)}")
        arrays = {key: _npz_array(data, key, path) for key in (*NPZ_KEYS, "class_names") if key in data.files}
    names = arrays.pop("class_names", None)
    return RawData(**arrays, class_names=None if names is None else [str(n) for n in names.tolist()])


def _npz_array(data: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return data[key]
    except ValueError:  # numpy refuses object arrays when allow_pickle=False
        fix = "save it as np.array(names, dtype=str)" if key == "class_names" else "save a numeric array"
        raise ValueError(f"{key} in {path} is an object array, not loaded (allow_pickle=False); {fix}") from None

"""The search state on disk, crash-safe: ``state.json`` and the population's ``state-GGGGG.npz``.

``state.json`` holds the generation counter, the ledger of trainings paid for, the histories and what the
strategy keeps (e.g. its RNG state); ``state-GGGGG.npz`` the strategy's arrays (the population), read
back with ``allow_pickle=False``. Both are written through a temporary file and a rename, and
``state.json`` is written last and names its ``.npz``: it is the commit point, so a crash in between
leaves the previous generation's pair intact.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from distill.io import write_atomic, write_json

__all__ = ["STATE_FILE", "STATE_VERSION", "StateFiles"]

STATE_FILE = "state.json"
STATE_VERSION = 1


class StateFiles:
    """Reads and writes the state of the run in ``out`` for ``strategy``."""

    def __init__(self, out: Path, strategy: str) -> None:
        self.out = Path(out)
        self.strategy = strategy

    def write(self, state: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> None:
        """Write ``state`` (JSON) and ``arrays`` of generation ``state["generation"]``; older arrays go."""
        state = {"version": STATE_VERSION, "strategy": self.strategy, **state}
        name = None
        if arrays is not None:
            name = f"state-{state['generation']:05d}.npz"
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            write_atomic(self.out / name, buffer.getvalue())
            state["arrays"] = name
        write_json(self.out / STATE_FILE, state)
        for old in self.out.glob("state-*.npz"):
            if old.name != name:
                old.unlink()

    def read(self) -> tuple[dict[str, Any] | None, dict[str, np.ndarray] | None]:
        """The saved state and arrays, ``(None, None)`` for a new run."""
        path = self.out / STATE_FILE
        if not path.is_file():
            return None, None
        state = json.loads(path.read_text())
        if state.get("version") != STATE_VERSION or state.get("strategy") != self.strategy:
            raise ValueError(f"{path} was written by another dass version or strategy; start a new run")
        arrays = None
        if state.get("arrays"):
            with np.load(self.out / state["arrays"], allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        return state, arrays

"""The search state on disk, crash-safe: ``state.json`` and the population's ``state-GGGGG.npz``.

``state.json`` holds the generation counter, the ledger of trainings paid for, the histories and what the
strategy keeps (e.g. its RNG state); ``state-GGGGG.npz`` the strategy's arrays (the population), read
back with ``allow_pickle=False``. Both are written through a temporary file and a rename, and
``state.json`` is written last and names its ``.npz``: it is the commit point, so a crash in between
leaves the previous generation's pair intact.

The previous checkpoint is kept too (``state-previous.json`` and the ``.npz`` it names): a damaged current
one (a disk that lost the end of a file, a file edited by hand) is then not the end of the run. Resuming from
an earlier generation is exact: the run is a function of its seed, and the trainings it asks for again are
read back from the run's record store, not retrained.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from distill.io import write_atomic, write_json
from search.run_files import DamagedFile, read_json

log = logging.getLogger(__name__)

__all__ = ["PREVIOUS_STATE_FILE", "STATE_FILE", "STATE_VERSION", "StateFiles"]

STATE_FILE = "state.json"
PREVIOUS_STATE_FILE = "state-previous.json"
STATE_VERSION = 1


class StateFiles:
    """Reads and writes the state of the run in ``out`` for ``strategy``.

    Args:
        out: the run directory.
        strategy: the strategy's name (a state of another strategy is refused).
        required: keys every state must hold (a state without one is damaged).
    """

    def __init__(self, out: Path, strategy: str, required: tuple[str, ...] = ()) -> None:
        self.out = Path(out)
        self.strategy = strategy
        self.required = ("generation", *required)
        self._current_damaged = False  # read() fell back: the damaged checkpoint must not become the previous one

    def write(self, state: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> None:
        """Write ``state`` (JSON) and ``arrays`` of generation ``state["generation"]``; the previous
        checkpoint is kept, older arrays go."""
        state = {"version": STATE_VERSION, "strategy": self.strategy, **state}
        name = None
        if arrays is not None:
            name = f"state-{state['generation']:05d}.npz"
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            write_atomic(self.out / name, buffer.getvalue())
            state["arrays"] = name
        current = self.out / STATE_FILE
        if current.is_file() and not self._current_damaged:  # the checkpoint replaced becomes the previous one
            write_atomic(self.out / PREVIOUS_STATE_FILE, current.read_bytes())
        self._current_damaged = False
        write_json(current, state)
        keep = {name, _arrays_name(self.out / PREVIOUS_STATE_FILE)}
        for old in self.out.glob("state-*.npz"):
            if old.name not in keep:
                old.unlink()

    def read(self) -> tuple[dict[str, Any] | None, dict[str, np.ndarray] | None]:
        """The saved state and arrays, ``(None, None)`` for a new run.

        A damaged current checkpoint falls back to the previous one, with a warning naming the damaged file;
        when neither can be read, a ``ValueError`` names the damaged file and what to do.
        """
        current = self.out / STATE_FILE
        if not current.is_file():
            return None, None
        try:
            return self._read(current)
        except DamagedFile as damaged:
            previous = self.out / PREVIOUS_STATE_FILE
            if previous.is_file():
                try:
                    state, arrays = self._read(previous)
                except DamagedFile:
                    pass
                else:
                    self._current_damaged = True
                    log.warning(
                        "%s; resuming from the previous checkpoint (generation %d, %s): the trainings since are "
                        "read back from the record store, not retrained",
                        damaged,
                        state["generation"],
                        previous.name,
                    )
                    return state, arrays
            raise ValueError(
                f"{damaged}, and no earlier state checkpoint can be read: delete {current} to replay the search "
                "from its seed (its finished trainings are read back from records.db, not retrained), "
                "or start a new --out"
            ) from None

    def _read(self, path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        """One checkpoint: ``path`` and the arrays it names; :class:`DamagedFile` when it cannot be read."""
        state = read_json(path)
        if not isinstance(state, dict) or any(k not in state for k in self.required):
            raise DamagedFile(path, f"is not a search state (it lacks {', '.join(self.required)})")
        if state.get("version") != STATE_VERSION or state.get("strategy") != self.strategy:
            raise ValueError(f"{path} was written by another dass version or strategy; start a new --out")
        arrays = None
        if state.get("arrays"):
            arrays = _read_arrays(self.out / str(state["arrays"]))
        return state, arrays


def _arrays_name(state_path: Path) -> str | None:
    """The ``.npz`` a state file names (``None`` when it names none or cannot be read)."""
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return None
    return state.get("arrays") if isinstance(state, dict) else None


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read in full (a truncated member fails here, not later)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise DamagedFile(path, "is missing") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise DamagedFile(path, f"cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None

"""The wall time of a search over all its sessions: ``clock.json`` in the run directory.

A resumed run reports its whole time (every session up to its last save), not only the last session's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from distill.io import write_json

__all__ = ["CLOCK_FILE", "RunClock"]

CLOCK_FILE = "clock.json"


class RunClock:
    """Counts sessions and wall seconds of the run in ``out``; a new session starts when it is built."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / CLOCK_FILE
        self.started = time.perf_counter()
        self.sessions, self.wall_before = 1, 0.0
        if self.path.is_file():  # a resumed run: add the time of its earlier sessions
            clock = json.loads(self.path.read_text())
            self.sessions, self.wall_before = int(clock.get("sessions", 1)) + 1, float(clock.get("wall_s", 0.0))

    @property
    def session_s(self) -> float:
        """Seconds of wall time since this session (the first run, or a resume) began."""
        return time.perf_counter() - self.started

    @property
    def wall_s(self) -> float:
        """Seconds of wall time of this run, every session so far included (each up to its last save)."""
        return self.wall_before + self.session_s

    def save(self) -> None:
        write_json(self.path, {"wall_s": round(self.wall_s, 3), "sessions": self.sessions})

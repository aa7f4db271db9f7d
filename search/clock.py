"""The wall time of a search over all its sessions: ``clock.json`` in the run directory.

A resumed run reports its whole time (every session up to its last save), not only the last session's. A
session is counted when it starts (:meth:`RunClock.start_session`), so one that is killed (SIGKILL, a lost
machine) before it saves anything still counts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from distill.io import write_json
from search.run_files import DamagedFile, read_json

log = logging.getLogger(__name__)

__all__ = ["CLOCK_FILE", "RunClock"]

CLOCK_FILE = "clock.json"


class RunClock:
    """Counts sessions and wall seconds of the run in ``out``; a new session starts when it is built.

    A damaged ``clock.json`` is not worth stopping a run for (nothing the search computes depends on it): the
    earlier sessions' time is then left out, with a warning.
    """

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / CLOCK_FILE
        self.started = time.perf_counter()
        self.sessions, self.wall_before = 1, 0.0
        if self.path.is_file():  # a resumed run: add the time of its earlier sessions
            try:
                clock = read_json(self.path)
                self.sessions = int(clock.get("sessions", 1)) + 1
                self.wall_before = float(clock.get("wall_s", 0.0))
            except (DamagedFile, AttributeError, TypeError, ValueError) as e:
                problem = e if isinstance(e, DamagedFile) else f"{self.path} is not a run clock"
                log.warning("%s; the wall time of the earlier sessions is left out of the report", problem)
                self.sessions, self.wall_before = 2, 0.0  # at least the one that wrote it, and this one

    @property
    def session_s(self) -> float:
        """Seconds of wall time since this session (the first run, or a resume) began."""
        return time.perf_counter() - self.started

    @property
    def wall_s(self) -> float:
        """Seconds of wall time of this run, every session so far included (each up to its last save)."""
        return self.wall_before + self.session_s

    def start_session(self) -> None:
        """Record that this session started (once the run was accepted), before any work it could lose."""
        self.save()

    def save(self) -> None:
        write_json(self.path, {"wall_s": round(self.wall_s, 3), "sessions": self.sessions})

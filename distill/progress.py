"""How a long command shows that it is working: a bar with an ETA on a terminal, a status line every so often
otherwise.

Every long command (``dass collect``, ``pretrain``, ``evaluate``, ``search``, a zoo teacher's first training)
reports through this one class, so that all of them look alike and none is silent for minutes. It lives in the
core layer because the core (the teacher zoo) is the lowest of its users. Standard library only at import:
tqdm is imported when a bar is drawn.

* On a terminal (stderr is a TTY): a tqdm bar on stderr, redrawn every second so that the elapsed time and the
  ETA move even while one long step runs.
* Otherwise (a log file, a CI job, a pipe): one line on stderr every ``interval_s`` seconds (default 30, or
  ``$DASS_PROGRESS_INTERVAL``), e.g. ``dass evaluate: scoring groups 3/12 groups (25%), 1m40s elapsed, ETA 5m00s``.
* In a worker process of a multiprocessing pool: nothing; its driver reports the progress of the whole.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["DEFAULT_INTERVAL_S", "INTERVAL_ENV", "MODES", "Progress", "default_mode", "format_duration"]

MODES = ("bar", "lines", "off")
INTERVAL_ENV = "DASS_PROGRESS_INTERVAL"
# Often enough that a log never looks stuck, rarely enough that a day-long collection writes a few thousand lines.
DEFAULT_INTERVAL_S = 30.0
_BAR_REFRESH_S = 1.0  # how often a bar is redrawn between updates, so that its clock and ETA keep moving


def default_mode(stream: TextIO) -> str:
    """``"off"`` in a pool worker (its driver reports), ``"bar"`` when ``stream`` is a terminal, else ``"lines"``."""
    if multiprocessing.parent_process() is not None:
        return "off"
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def _interval_from_env() -> float:
    text = os.environ.get(INTERVAL_ENV)
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"${INTERVAL_ENV} must be a positive number of seconds; got {text!r}")
    return value


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``: short enough for one status line."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """The progress of one long command, shown as its output allows (see the module's docstring).

    A command may go through phases (fitting, then scoring); :meth:`phase` starts the count, total and ETA
    again, shown as ``<name>: <phase>``. Use it as a context manager, or call :meth:`close`.

    Args:
        name: what is being done, e.g. ``"dass evaluate"``.
        total: how many units there are (``None``: unknown, no ETA).
        unit: the name of one unit, e.g. ``"job"``.
        initial: units already done (a resumed collection).
        mode: ``"bar"``, ``"lines"`` or ``"off"``; default: :func:`default_mode` of ``stream``.
        interval_s: seconds between two status lines (``"lines"``); default ``$DASS_PROGRESS_INTERVAL`` or 30.
        stream: where to write; default: ``sys.stderr`` when the object is made.
        clock: monotonic seconds, for the elapsed time and the ETA.
    """

    def __init__(
        self,
        name: str,
        total: int | None = None,
        unit: str = "it",
        initial: int = 0,
        *,
        mode: str | None = None,
        interval_s: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode if mode is not None else default_mode(self.stream)
        if self.mode not in MODES:
            raise ValueError(f"the progress mode must be one of {MODES}; got {self.mode!r}")
        self.interval_s = _interval_from_env() if interval_s is None else interval_s
        if not self.interval_s > 0:
            raise ValueError(f"the progress interval must be a positive number of seconds; got {self.interval_s}")
        self.clock = clock
        self.postfix: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar: Any = None
        self._ticker: threading.Thread | None = None
        self.name = name
        self._set_phase(name, total, unit, initial)
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, initial=initial, unit=unit, desc=name, file=self.stream, dynamic_ncols=True, leave=True
            )
        if self.mode != "off":
            self._ticker = threading.Thread(target=self._tick, name="dass-progress", daemon=True)
            self._ticker.start()

    @classmethod
    def off(cls) -> Progress:
        """A progress that shows nothing: the default of library functions, whose caller decides what to show."""
        return cls("", mode="off")

    # ---------------------------------------------------------------- counting
    def phase(self, step: str, total: int | None = None, unit: str = "it", initial: int = 0) -> None:
        """Start a new phase, shown as ``<name>: <step>``: the count, the total and the ETA start again."""
        with self._lock:
            self._set_phase(f"{self.name}: {step}", total, unit, initial)
            if self._bar is not None:
                self._bar.unit = unit
                self._bar.set_description_str(self.desc, refresh=False)
                self._bar.reset(total=total)
                if initial:
                    self._bar.update(initial)

    def update(self, n: int = 1) -> None:
        """``n`` more units are done."""
        with self._lock:
            self.n += n
            if self._bar is not None:
                self._bar.update(n)

    def update_to(self, n: int) -> None:
        """``n`` units are done in all (in this phase)."""
        self.update(n - self.n)

    def note(self, **postfix: Any) -> None:
        """Show ``key=value`` beside the count (a best accuracy, a rung ...)."""
        with self._lock:
            self.postfix.update(postfix)
            if self._bar is not None:
                self._bar.set_postfix(self.postfix, refresh=True)

    # ---------------------------------------------------------------- showing
    def status_line(self) -> str:
        """One line: what, how far, how long so far and how long still to go."""
        elapsed = self.clock() - self._start
        done = self.n - self._initial
        if self.total:
            count = f"{self.n}/{self.total} {self.unit}s ({100 * self.n / self.total:.0f}%)"
        else:
            count = f"{self.n} {self.unit}s"
        line = f"{self.desc}: {count}, {format_duration(elapsed)} elapsed"
        if self.total and done > 0 and self.n < self.total:
            line += f", ETA {format_duration(elapsed / done * (self.total - self.n))}"
        if self.postfix:
            line += "; " + ", ".join(f"{k}={v}" for k, v in self.postfix.items())
        return line

    def close(self) -> None:
        """Stop redrawing; a bar stays on the screen as it ended. Safe to call twice."""
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)
        self._ticker = None
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals
    def _set_phase(self, desc: str, total: int | None, unit: str, initial: int) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.n = self._initial = initial
        self._start = self.clock()

    def _tick(self) -> None:
        """A status line every ``interval_s`` (or a redraw of the bar every second) until :meth:`close`."""
        wait = _BAR_REFRESH_S if self.mode == "bar" else self.interval_s
        while not self._stop.wait(wait):
            with self._lock:
                if self._stop.is_set():
                    return
                if self._bar is not None:
                    self._bar.refresh()
                else:
                    try:
                        print(self.status_line(), file=self.stream, flush=True)
                    except (OSError, ValueError):  # the stream went away (a closed pipe): stop showing
                        return

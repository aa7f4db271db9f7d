"""The first thing a pool worker runs: exit when the driver that started it is gone.

Standard library only, on purpose. A spawned worker imports its initializer before anything else, so this
module must load in milliseconds: a driver SIGKILLed while its workers were still importing torch used to
leave them running for good (they armed their watch too late, after being adopted by PID 1, and then
watched the wrong parent).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

__all__ = ["init_numbered_worker", "init_worker", "worker_index"]

POLL_S = 1.0  # how soon a worker notices that its driver died


def init_worker(driver_pid: int) -> None:
    """Pool initializer: ignore Ctrl-C (the driver handles it) and exit as soon as ``driver_pid`` is no longer
    this process's parent (the driver was killed, even before this ran)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != driver_pid:  # the driver died while this worker was starting
        os._exit(0)

    def exit_with_the_driver() -> None:
        while os.getppid() == driver_pid:
            time.sleep(POLL_S)
        os._exit(0)

    threading.Thread(target=exit_with_the_driver, daemon=True).start()


# This worker's number in its pool (0, 1, ...), when the pool numbers its workers; ``None`` otherwise.
worker_index: int | None = None


def init_numbered_worker(driver_pid: int, counter: Any) -> None:
    """:func:`init_worker`, then take the next number from ``counter`` (a shared ``multiprocessing.Value``): a
    pool that spreads its workers over devices maps the number to a device when a job runs. Here, not in the
    executors' module, so that the watch is armed before anything imports torch."""
    global worker_index
    init_worker(driver_pid)
    with counter.get_lock():
        worker_index = counter.value
        counter.value += 1

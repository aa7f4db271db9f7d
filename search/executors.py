"""Where the search's trainings run: in this process, a local process pool, or a Ray cluster.

These are the collector's executors (:mod:`datasets_meta.collector`) with two differences a search needs:

* they outlive one :func:`~datasets_meta.collector.collect` call (``collect`` shuts its executor down when
  it returns; a search calls it once per rung), and are shut down by :meth:`close` at the end of the run;
* the jobs run :func:`~datasets_meta.collector.run_job` on the search's device, with a user's teacher
  weights (``tags["teacher_weights"]``) when there are some.
"""

from __future__ import annotations

import logging
from typing import Any

from datasets_meta.collector import InlineExecutor, LocalExecutor, RayExecutor

log = logging.getLogger(__name__)

__all__ = ["EXECUTORS", "make_executor"]

EXECUTORS = ("local", "ray")


class _InlineSearchExecutor(InlineExecutor):
    def shutdown(self) -> None:  # collect() calls it after every rung; close() ends the run
        pass

    def close(self) -> None:
        pass


class _LocalSearchExecutor(LocalExecutor):
    def shutdown(self) -> None:
        pass

    def close(self) -> None:
        LocalExecutor.shutdown(self)


class _RaySearchExecutor(RayExecutor):
    def shutdown(self) -> None:
        pass

    def close(self) -> None:
        RayExecutor.shutdown(self)


def make_executor(
    kind: str, workers: int = 1, data_dir: str | None = None, device: str = "cpu", ray_address: str | None = None
) -> Any:
    """An executor that lives until its ``close()``.

    ``local`` with one worker trains in this process (no start-up cost, and Ctrl-C stops the training at
    once); with more, in a pool of ``workers`` processes. ``ray`` needs ``ray_address``.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"the executor must be one of {', '.join(EXECUTORS)}; got {kind!r}")
    if kind == "ray":
        if not ray_address:
            raise ValueError("--executor ray needs --ray-address ADDRESS (or 'local' to start a cluster here)")
        try:  # the collector's executor checks that the address answers before ray.init
            return _RaySearchExecutor(ray_address, data_dir, device)
        except ValueError as e:
            raise ValueError(f"{e}; or run the search with --executor local") from None
    if workers <= 1:
        return _InlineSearchExecutor(data_dir, device)
    return _LocalSearchExecutor(workers, data_dir, device)

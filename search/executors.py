"""Where the search's trainings run: in this process, a local process pool, or a Ray cluster.

These are the collector's executors (:mod:`datasets_meta.collector`) with two differences a search needs:

* they outlive one :func:`~datasets_meta.collector.collect` call (``collect`` shuts its executor down when
  it returns; a search calls it once per rung), and are shut down by :meth:`close` at the end of the run;
* every job runs :func:`run_search_job`, which passes the training device on and loads a teacher from its
  weights file (``tags["teacher_weights"]``) until the collector's ``run_job`` does so itself.
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from datasets_meta import collector
from datasets_meta.collector import InlineExecutor, LocalExecutor, RayExecutor, run_job

log = logging.getLogger(__name__)

__all__ = ["EXECUTORS", "make_executor", "run_search_job"]

EXECUTORS = ("local", "ray")


def run_search_job(job: dict[str, Any], data_dir: str | None = None, device: str = "cpu") -> dict[str, Any]:
    """:func:`~datasets_meta.collector.run_job`, for a teacher given by a weights file too.

    ``run_job`` builds a zoo or ``module:callable`` teacher without weights. When the job carries
    ``tags["teacher_weights"]``, the teacher is loaded from that file first and put where ``run_job``
    looks for the teachers it already has (its per-worker cache), so ``run_job`` trains the student
    against it. Never raises for a failed run.
    """
    weights = job["tags"].get("teacher_weights")
    if weights:
        try:
            _preload_teacher(job, weights, data_dir)
        except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
            return {"status": "error", "reason": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"}
    return run_job(job, data_dir, device)


def _preload_teacher(job: dict[str, Any], weights: str, data_dir: str | None) -> None:
    from distill.probe import probe_features
    from distill.tasks import load_task
    from distill.teachers import TEACHER_CONFIG, get_teacher, teacher_outputs

    spec, name = job["task_spec"], job["teacher"]
    # the key under which run_job caches a teacher (see datasets_meta.collector.run_job)
    key = (spec, name, int(job["tags"].get("teacher_epochs", TEACHER_CONFIG.epochs)))
    cache = collector._CACHE
    if key in cache.teachers:
        return
    task = cache.tasks.get(spec) or cache.tasks.setdefault(spec, load_task(spec, data_dir))
    teacher = get_teacher(name, task, weights=weights)
    if teacher.id != job["teacher_id"]:
        raise ValueError(f"teacher weights {weights!r} have id {teacher.id}, the job expects {job['teacher_id']}")
    cache.teachers[key] = (teacher, teacher_outputs(teacher, task), probe_features(teacher, task))


class _InlineSearchExecutor(InlineExecutor):
    def submit(self, job: dict[str, Any]) -> Any:
        from concurrent.futures import Future

        future: Future = Future()
        future.set_result(run_search_job(job, self.data_dir, self.device))
        return future

    def shutdown(self) -> None:  # collect() calls it after every rung; close() ends the run
        pass

    def close(self) -> None:
        pass


class _LocalSearchExecutor(LocalExecutor):
    def __init__(self, workers: int, data_dir: str | None, device: str) -> None:
        super().__init__(workers, data_dir)
        self.device = device

    def submit(self, job: dict[str, Any]) -> Any:
        try:
            return self.pool.submit(run_search_job, job, self.data_dir, self.device)
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): start a new pool and go on
            log.warning("a worker process died; starting a new pool")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            return self.pool.submit(run_search_job, job, self.data_dir, self.device)

    def shutdown(self) -> None:
        pass

    def close(self) -> None:
        LocalExecutor.shutdown(self)


class _RaySearchExecutor(RayExecutor):
    def __init__(self, address: str, data_dir: str | None, device: str) -> None:
        super().__init__(address, data_dir)
        self.device = device
        self.remote = self.ray.remote(num_cpus=collector.THREADS_PER_WORKER, max_retries=3)(run_search_job)

    def submit(self, job: dict[str, Any]) -> Any:
        return self.remote.remote(job, self.data_dir, self.device)

    def shutdown(self) -> None:
        pass

    def close(self) -> None:
        RayExecutor.shutdown(self)


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast with a clear message when nothing listens at a Ray address (``ray.init`` would wait minutes)."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    hint = "start one with `ray start --head`, or run the search with --executor local"
    if not host or not port.isdigit():
        raise ValueError(f"the Ray address must be HOST:PORT, 'auto' or 'local'; got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ValueError(f"cannot reach a Ray cluster at {address!r} ({e.strerror or e}); {hint}") from None


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
        check_ray_address(ray_address)
        try:
            return _RaySearchExecutor(ray_address, data_dir, device)
        except ValueError as e:
            raise ValueError(f"{e}; or run the search with --executor local") from None
    if workers <= 1:
        return _InlineSearchExecutor(data_dir, device)
    return _LocalSearchExecutor(workers, data_dir, device)

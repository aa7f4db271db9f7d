"""Where trainings run: in this process, in a local process pool, or on a Ray cluster.

An executor runs *job functions* ``fn(payload, data_dir, device) -> outcome``: it hands every job the data
directory and the device of the worker that runs it. The caller owns it and decides how long it lives::

    with make_executor("local", workers=4) as executor:
        collect(store, executor)      # the collector: any number of calls ...
        collect(store, executor)      # ... on the same workers (the search runs one per rung)

With several devices (``--devices 0,1``) a pool's ``i``-th worker trains on ``devices[i % n]`` for its whole
life (its task and teacher outputs stay resident there), and a Ray task asks for ``1 / TRAININGS_PER_GPU`` of a
GPU, so that several small trainings share one GPU: one alone leaves it mostly idle. On top of that, a worker on a
GPU trains a *group* of jobs at once (:func:`train_group`: ``--group N``, ``$DASS_GROUP``, else
:data:`GPU_GROUP` on CUDA and 1 -- one job at a time, as always -- on the CPU); the collector makes the groups.

Leaving the ``with`` block (or :meth:`Executor.close`) stops the workers, also after an exception or Ctrl-C;
runs in flight are abandoned (a collector's jobs go back to pending).

The interface is the part of ``concurrent.futures`` a driver loop needs -- ``submit``, ``wait`` for the first
finished, ``result`` -- plus ``workers``, how many jobs to keep in flight. A worker that dies fails only its
job: ``result`` turns it into ``{"status": "error", "reason": ...}``.
"""

from __future__ import annotations

import abc
import logging
import multiprocessing
import os
import socket
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from distill import worker_watch
from distill.devices import worker_device
from distill.job import THREADS_PER_WORKER
from distill.trainer import resolve_device
from distill.worker_watch import init_numbered_worker, init_worker

log = logging.getLogger(__name__)

__all__ = [
    "EXECUTORS",
    "GPU_GROUP",
    "GROUP_ENV",
    "Executor",
    "InProcessExecutor",
    "JobFn",
    "PoolExecutor",
    "RayExecutor",
    "TRAININGS_PER_GPU",
    "check_group",
    "check_ray_address",
    "make_executor",
    "ray_task_resources",
    "train_group",
]

# Trainings that share one GPU on Ray (each task asks for 1/this of a GPU): a 40k-parameter student's training
# is bound by kernel launches, so a lone one leaves an H200 mostly idle (issue 23: a 12-training search took
# 84 s with 4 workers on one GPU, over 110 s in-process).
TRAININGS_PER_GPU = 4

# Trainings a GPU worker runs together in one loop (distill.multi_train): issue 23 measured 8 interleaved students
# at 2.85 s each against 6.17 s alone on an H200; on the CPU interleaving gains nothing, so there it is 1.
GPU_GROUP = 8
GROUP_ENV = "DASS_GROUP"  # the group size when no --group is given (a search's rungs read it too)

# fn(payload, data_dir, device) -> outcome; a pool or Ray pickles it by reference, so a module-level function
JobFn = Callable[[Any, "str | None", str], Any]

EXECUTORS = ("local", "ray")  # the kinds of make_executor (and of `dass search --executor`)


class Executor(abc.ABC):
    """Runs job functions somewhere; a context manager that stops its workers on exit.

    Attributes:
        workers: how many jobs it runs at once (a driver keeps this many in flight).
        data_dir: handed to every job: where the task's data files live.
        device: handed to every job: the training device.
    """

    workers: int = 1

    def __init__(self, data_dir: str | None = None, device: str = "cpu") -> None:
        self.data_dir = data_dir
        self.device = device

    @abc.abstractmethod
    def submit(self, fn: JobFn, payload: Any) -> Any:
        """Start ``fn(payload, data_dir, device)`` on a worker; returns a handle for :meth:`wait`/:meth:`result`."""

    @abc.abstractmethod
    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        """``(done, pending)`` once at least one of ``futures`` finished, or after ``timeout`` seconds."""

    @abc.abstractmethod
    def result(self, future: Any) -> Any:
        """The outcome of a finished job; a worker that died gives ``{"status": "error", "reason": ...}``."""

    def close(self) -> None:  # noqa: B027 -- nothing to stop for an executor without workers of its own
        """Stop the workers (runs in flight are abandoned); safe to call twice."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(Executor):
    """Runs each job in this process when it is submitted: no start-up cost, Ctrl-C stops a training at once
    (debugging, tests, one-off jobs, a search with one worker)."""

    def submit(self, fn: JobFn, payload: Any) -> Future:
        fut: Future = Future()
        fut.set_result(fn(payload, self.data_dir, self.device))
        return fut

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        return set(futures), set()

    def result(self, future: Future) -> Any:
        return future.result()


def _on_worker_device(fn: JobFn, payload: Any, data_dir: str | None, devices: list[str]) -> Any:
    """Run ``fn`` on the device of the worker that runs it: the pool numbered it as it started
    (:func:`~distill.worker_watch.init_numbered_worker`), worker ``i`` trains on ``devices[i % len(devices)]``."""
    return fn(payload, data_dir, worker_device(worker_watch.worker_index or 0, devices))


class PoolExecutor(Executor):
    """A pool of ``workers`` processes on this machine; a dead worker's pool is replaced on the next submit.

    Args:
        workers: how many processes.
        data_dir: handed to every job.
        device: the training device of every job, when ``devices`` is not given.
        devices: the worker ``i`` trains every job it runs on ``devices[i % len(devices)]``.
    """

    def __init__(
        self, workers: int, data_dir: str | None = None, device: str = "cpu", devices: list[str] | None = None
    ) -> None:
        super().__init__(data_dir, devices[0] if devices else device)
        self.workers = workers
        self.devices = list(devices) if devices else None
        self.pool = self._new_pool()
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        # "spawn": forked workers would inherit the store's writer lock and keep it after the
        # driver is killed, refusing every restart until they exit.
        # The watch gets this process's pid: a worker that starts after the driver died exits at once.
        context = multiprocessing.get_context("spawn")
        if self.devices is None:
            initializer, initargs = init_worker, (os.getpid(),)
        else:  # a new pool numbers its workers from 0 again: still round-robin over the devices
            initializer, initargs = init_numbered_worker, (os.getpid(), context.Value("i", 0))
        return ProcessPoolExecutor(
            max_workers=self.workers, initializer=initializer, initargs=initargs, mp_context=context
        )

    def _submit(self, fn: JobFn, payload: Any) -> Future:
        if self.devices is None:
            return self.pool.submit(fn, payload, self.data_dir, self.device)
        return self.pool.submit(_on_worker_device, fn, payload, self.data_dir, self.devices)

    def submit(self, fn: JobFn, payload: Any) -> Future:
        try:
            return self._submit(fn, payload)
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): start a new pool and go on
            log.warning("a worker process died; starting a new pool")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            return self._submit(fn, payload)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        done, pending = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return done, pending

    def result(self, future: Future) -> Any:
        try:
            return future.result()
        except Exception as e:  # a worker process that died (segfault, OOM kill) fails only its job
            return {"status": "error", "reason": f"worker died: {type(e).__name__}: {e}"}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Runs in flight are abandoned (their jobs go back to pending): stop the processes now.
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast with a clear message when nothing listens at a Ray address (``ray.init`` would wait minutes)."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    hint = "start one with `ray start --head`, or use --ray-address local"
    if not host or not port.isdigit():
        raise ValueError(f"the Ray address must be HOST:PORT, 'auto' or 'local'; got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ValueError(f"cannot reach a Ray cluster at {address!r} ({e.strerror or e}); {hint}") from None


def ray_task_resources(device: str, cluster_gpus: float, per_gpu: int = TRAININGS_PER_GPU) -> tuple[dict, str]:
    """What a Ray training task asks for, and the device it trains on.

    A CUDA training (``device`` ``cuda``/``cuda:N``, or ``auto`` on a cluster with GPUs) asks for ``1 / per_gpu``
    of a GPU and trains on ``cuda``: Ray shows the task only the GPU it was given. Anything else asks for a core.
    """
    cuda = device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)
    if not cuda:
        return {"num_cpus": THREADS_PER_WORKER}, device
    if per_gpu < 1:
        raise ValueError(f"the trainings per GPU must be at least 1; got {per_gpu}")
    return {"num_cpus": THREADS_PER_WORKER, "num_gpus": 1 / per_gpu}, "cuda"


class RayExecutor(Executor):
    """Ray tasks with retries; results come back to the driver, which alone writes.

    Args:
        address: ``HOST:PORT`` of a cluster, ``auto``, or ``local`` to start one on this machine.
        data_dir: where the task's data files live on the workers.
        device: the training device; on CUDA each task asks for ``1 / per_gpu`` of a GPU.
        max_retries: how often Ray reruns a task whose worker died.
        per_gpu: how many trainings share one GPU.
    """

    def __init__(
        self,
        address: str,
        data_dir: str | None = None,
        device: str = "cpu",
        max_retries: int = 3,
        per_gpu: int = TRAININGS_PER_GPU,
    ) -> None:
        super().__init__(data_dir, device)
        try:
            import ray  # an optional dependency: imported only when a Ray executor is asked for
        except ImportError:
            raise ValueError("--ray-address needs Ray: pip install 'dass[ray]'") from None
        self.ray = ray
        check_ray_address(address)  # ray.init would retry an unreachable address for minutes
        local = address == "local"
        try:
            ray.init(
                address=None if local else address,
                num_cpus=(os.cpu_count() or 1) if local else None,
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ValueError(
                f"cannot reach a Ray cluster at {address!r} ({' '.join(str(e).split())[:200]}); "
                "start one with `ray start --head`, or use --workers N for a local pool"
            ) from None
        resources = ray.cluster_resources()
        self.task_resources, self.device = ray_task_resources(device, resources.get("GPU", 0), per_gpu)
        self.workers = int(resources.get("CPU", 1))
        if "num_gpus" in self.task_resources:  # as many in flight as the GPUs take
            self.workers = max(1, min(self.workers, int(resources.get("GPU", 0) * per_gpu)))
        self.max_retries = max_retries
        self._remote: dict[JobFn, Any] = {}  # one Ray remote function per job function
        self._closed = False

    def submit(self, fn: JobFn, payload: Any) -> Any:
        if fn not in self._remote:
            self._remote[fn] = self.ray.remote(**self.task_resources, max_retries=self.max_retries)(fn)
        return self._remote[fn].remote(payload, self.data_dir, self.device)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        ready, rest = self.ray.wait(list(futures), num_returns=1, timeout=timeout)
        return set(ready), set(rest)

    def result(self, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except Exception as e:  # retries exhausted: the job fails with the reason, the rest go on
            return {"status": "error", "reason": f"ray: {type(e).__name__}: {' '.join(str(e).split())[:300]}"}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.ray.shutdown()


def check_group(group: int, what: str = "--group") -> int:
    """``group`` if it is a valid group size (an integer of at least 1); else a one-line ``ValueError``."""
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise ValueError(f"{what} must be a positive integer (trainings a worker runs together); got {group!r}")
    return group


def train_group(device: str, environ: dict[str, str] | None = None) -> int:
    """How many trainings a worker on ``device`` runs together when the caller does not say.

    ``$DASS_GROUP`` when set; else :data:`GPU_GROUP` on CUDA (``auto`` is CUDA when this machine has it) and 1
    elsewhere: the CPU keeps its one-job-at-a-time path, results and timings unchanged. Results never depend on
    the group (a job's record is the same whichever jobs shared its loop); only the speed does.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(GROUP_ENV, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = None
        return check_group(value if value is not None else text, f"${GROUP_ENV}")  # type: ignore[arg-type]
    kind = resolve_device(device).type if device else "cpu"
    return GPU_GROUP if kind == "cuda" else 1


def make_executor(
    kind: str = "local",
    workers: int = 1,
    data_dir: str | None = None,
    device: str = "cpu",
    ray_address: str | None = None,
    devices: list[str] | None = None,
) -> Executor:
    """The executor of ``kind`` (one of :data:`EXECUTORS`), behind ``--executor``/``--workers``/``--ray-address``.

    ``local`` with one worker trains in this process (no start-up cost, and Ctrl-C stops the training at
    once) on ``devices[0]``; with more, in a pool of ``workers`` processes, worker ``i`` on
    ``devices[i % len(devices)]`` (``None``: every job on ``device``). ``ray`` needs ``ray_address``.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"the executor must be one of {', '.join(EXECUTORS)}; got {kind!r}")
    if kind == "ray":
        if not ray_address:
            raise ValueError("--executor ray needs --ray-address ADDRESS (or 'local' to start a cluster here)")
        try:  # the Ray executor checks that the address answers before ray.init
            return RayExecutor(ray_address, data_dir, device)
        except ValueError as e:
            raise ValueError(f"{e}; or run the search with --executor local") from None
    if workers <= 1:
        return InProcessExecutor(data_dir, devices[0] if devices else device)
    return PoolExecutor(workers, data_dir, device, devices)

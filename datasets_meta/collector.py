"""The collector: expand a suite into jobs, train them for real, store every result.

One process -- the driver -- owns the record store and alone writes to it. Training happens in
an executor: a local process pool (``--workers N``) or a Ray cluster (``--ray-address``). The
driver claims jobs, hands them out, heartbeats them while they run and records each result or
failure in one transaction. Killing it at any moment loses at most the runs in flight: finished
jobs are never trained again, and a restart (``dass collect`` on the same ``--db``) goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasets_meta.store import Job, RecordStore, Result
from datasets_meta.suite import Suite, stable_seed
from distill.io import code_commit

log = logging.getLogger(__name__)

# Every worker runs single-threaded: one worker per core scales better than threads for these
# small networks, and results do not depend on how many workers there are.
THREADS_PER_WORKER = 1
PROBE_SIZE = 64  # images on which the training-free proxies are measured


# ----------------------------------------------------------------------------- jobs of a suite
def expand(suite: Suite, data_dir: str | None = None) -> list[Job]:
    """Every job of ``suite``: per (task, teacher), architectures spread across the size range,
    each with ``recipes_per_student`` distilling recipes and a no-distillation control, each
    trained with seeds ``0 .. label_seeds-1`` (the label is their mean).

    The noise ceiling needs a second, independent label of the same students. With one label
    seed, a ``replicate_fraction`` of architectures also gets seed 1. With more, every student of
    a ``replicate_fraction`` of the (task, teacher) pairs -- at least one per task family -- also
    gets seeds ``label_seeds .. 2 label_seeds-1``: the ceiling is then measured over all the
    students of a pair, spread across the size range, not over the few recipes of one architecture.
    A group marked ``replicate`` gets the further seeds for every student; a group with ``seeds = n``
    gets at least seeds ``0 .. n-1`` for every student.
    """
    from distill.cost import count_params
    from distill.genome import get_space
    from distill.nets import build_student
    from distill.tasks import load_task
    from distill.teachers import parse_zoo_name, teacher_config, teacher_id

    space = get_space(suite.space)
    zoo_config = teacher_config(suite.teacher_epochs)
    k = suite.label_seeds
    replicate_pairs = _replicate_pairs(suite) if k > 1 else set()
    jobs: list[Job] = []
    tasks: dict[str, Any] = {}
    archs: dict[str, list] = {}
    for spec, teacher, tags in suite.pairs():
        task = tasks.get(spec) or tasks.setdefault(spec, load_task(spec, data_dir or suite.data_dir or None))
        tid = teacher_id(teacher, task, config=zoo_config)
        if spec not in archs:  # architectures depend on the task only: teachers of a task share students
            rng = np.random.default_rng(stable_seed(suite.seed, spec, "archs"))
            pool = [space.sample(rng, distill=False) for _ in range(8 * suite.students_per_pair)]
            sizes = np.log([count_params(build_student(g, task.in_shape, task.num_classes)) for g in pool])
            order = np.argsort(sizes, kind="stable")
            archs[spec] = [
                pool[i] for i in order[np.linspace(0, len(order) - 1, suite.students_per_pair).round().astype(int)]
            ]
        rng = np.random.default_rng(stable_seed(suite.seed, spec, teacher, "recipes"))
        family = parse_zoo_name(teacher)[0]
        for arch in archs[spec]:
            genomes = [arch] if suite.controls else []
            genomes += [arch.with_recipe(space.sample_recipe(rng)) for _ in range(suite.recipes_per_student)]
            replicate = rng.random() < suite.replicate_fraction  # drawn whatever k is: the recipes stay the same
            if k > 1:
                replicate = (spec, teacher) in replicate_pairs
            replicate = replicate or suite.groups[tags["group"]].replicate
            n_seeds = max(2 * k if replicate else k, suite.groups[tags["group"]].seeds)
            for g in genomes:
                for seed in range(n_seeds):
                    jobs.append(
                        Job(
                            task_id=task.id,
                            teacher_id=tid,
                            genome_hash=g.hash,
                            budget=suite.budget,
                            seed=seed,
                            task_spec=spec,
                            teacher=teacher,
                            genome=g.to_json(indent=None),
                            suite=suite.name,
                            tags={
                                **tags,
                                "teacher_family": family,
                                "arch": arch.hash,
                                "control": not g.recipe.distills,
                                "replicate": replicate,
                                "teacher_epochs": suite.teacher_epochs,
                            },
                        )
                    )
    return [jobs[i] for i in _collection_order(jobs, k)]


def _replicate_pairs(suite: Suite) -> set[tuple[str, str]]:
    """The (task spec, teacher) pairs whose students all get the extra seeds: ``replicate_fraction`` of the
    pairs of every task family (source and domain), at least one, picked by a stable hash."""
    by_family: dict[tuple, list[tuple[str, str]]] = {}
    for spec, teacher, tags in suite.pairs():
        if suite.groups[tags["group"]].replicate_candidates:
            by_family.setdefault((tags["source"], tags["domain"]), []).append((spec, teacher))
    out = set()
    for pairs in by_family.values():
        n = max(1, round(suite.replicate_fraction * len(pairs))) if suite.replicate_fraction > 0 else 0
        out.update(sorted(pairs, key=lambda p: stable_seed(suite.seed, *p, "replicate"))[:n])
    return out


def _collection_order(jobs: list[Job], label_seeds: int) -> list[int]:
    """The order in which a collection runs ``jobs`` (indices), so that an interrupted one is useful.

    1. Every student's first seed, round-robin over (task, teacher) pairs: every pair partly filled,
       not some full and others empty. With one label seed, a replicate's seed 1 follows its round,
       so the noise ceiling can be measured early.
    2. The other label seeds of held-out pairs (the meta-test's labels are what evaluation rests on)
       and of replicated pairs, round-robin again;
    3. the further seeds (of replicated pairs: the noise ceiling of multi-seed labels; of groups with
       ``seeds``), one seed at a time: every such student has seed ``s`` before any has ``s + 1``;
    4. the other label seeds of the remaining pairs.
    """
    rank: dict[tuple, int] = {}
    keys = []
    for i, job in enumerate(jobs):
        pair = (job.task_id, job.teacher_id)
        if job.seed == 0:
            rank[pair] = rank.get(pair, -1) + 1
        if job.seed == 0 or (label_seeds == 1 and job.seed == 1 and job.tags["replicate"]):
            phase = 0
        elif job.seed >= label_seeds:
            phase = 2
        else:
            phase = 1 if job.tags.get("heldout") or job.tags["replicate"] else 3
        keys.append((phase, job.seed, rank[pair], i) if phase == 2 else (phase, rank[pair], job.seed, i))
    return [i for *_, i in sorted(keys)]


def expand_cached(suite: Suite, data_dir: str | None = None, cache: str | None = None) -> list[Job]:
    """:func:`expand`, remembered on disk: a restarted collector is back at work in seconds."""
    from distill.io import write_json
    from distill.teachers import cache_dir

    key = json.dumps(
        {"suite": dataclasses.asdict(suite), "data_dir": data_dir, "commit": code_commit()}, sort_keys=True
    )
    path = cache_dir(cache) / "suites" / f"{suite.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        try:
            return [Job(**d) for d in json.loads(path.read_text())]
        except (ValueError, TypeError) as e:
            log.warning("re-expanding the suite: %s is unreadable (%s)", path, e)
    jobs = expand(suite, data_dir)
    write_json(path, [dataclasses.asdict(j) for j in jobs])
    return jobs


# ----------------------------------------------------------------------------- one job (in a worker)
class _WorkerCache:
    """Tasks, teachers and teacher outputs a worker has already loaded (a worker runs many jobs)."""

    def __init__(self) -> None:
        self.tasks: dict[str, Any] = {}
        self.teachers: dict[tuple[str, str, int, str | None], tuple[Any, Any, dict]] = {}


_CACHE = _WorkerCache()


def run_job(job: dict[str, Any], data_dir: str | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train one job and return its :class:`Result` as a dict. Never raises for a failed run."""
    import torch

    from distill.cost import count_flops, count_params
    from distill.genome import Genome
    from distill.nets import build_student
    from distill.probe import probe_features
    from distill.tasks import load_task
    from distill.teachers import TEACHER_CONFIG, get_teacher, teacher_config, teacher_outputs
    from distill.trainer import TrainConfig, distil

    torch.set_num_threads(THREADS_PER_WORKER)
    start = time.perf_counter()
    if os.environ.get("DASS_TRACE_JOBS"):  # an append-only log of every run, for the reliability checks
        with open(os.environ["DASS_TRACE_JOBS"], "a") as f:
            f.write(f"{time.time():.6f} {job['task_id']} {job['teacher_id']} {job['genome_hash']} {job['seed']}\n")
    try:
        spec, teacher_name = job["task_spec"], job["teacher"]
        task = _CACHE.tasks.get(spec) or _CACHE.tasks.setdefault(spec, load_task(spec, data_dir))
        t_epochs = int(job["tags"].get("teacher_epochs", TEACHER_CONFIG.epochs))
        weights = job["tags"].get("teacher_weights")  # a user's trained teacher (zoo or module:callable)
        key = (spec, teacher_name, t_epochs, weights)
        if key not in _CACHE.teachers:
            teacher = get_teacher(teacher_name, task, weights=weights, config=teacher_config(t_epochs))
            if teacher.id != job["teacher_id"]:
                raise ValueError(f"teacher {teacher_name!r} has id {teacher.id}, the job expects {job['teacher_id']}")
            outputs = teacher_outputs(teacher, task)
            if len(_CACHE.teachers) >= 64:  # small tasks: keep many pairs, but bound the memory
                _CACHE.teachers.pop(next(iter(_CACHE.teachers)))
            _CACHE.teachers[key] = (teacher, outputs, probe_features(teacher, task))
        teacher, outputs, features = _CACHE.teachers[key]
        genome = Genome.from_json(job["genome"])
        seed = int(job["seed"])
        # proxies of the student at initialisation (the same weights training starts from)
        student = build_student(genome, task.in_shape, task.num_classes, seed=seed)
        probe = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(task.x_train), generator=probe)[:PROBE_SIZE]
        proxies = _proxies(student, teacher.model, task.x_train[idx], task.y_train[idx])
        config = TrainConfig(epochs=int(job["budget"]), device=device)
        result, student = distil(genome, task, outputs if genome.recipe.distills else None, config, seed=seed)
        return Result(
            status=result.status,
            val_acc=result.val_acc,
            test_acc=result.test_acc,
            curve=result.curve,
            train_time_s=result.train_time_s,
            params=count_params(student),
            flops=count_flops(student, task.in_shape),
            teacher_acc=outputs.test_acc,
            reason=result.reason,
            extra={
                "proxies": {k: _finite(v) for k, v in proxies.items()},
                "task_features": features,
                "teacher_val_acc": outputs.val_acc,
                "teacher_params": teacher.count_params(),
                "job_time_s": time.perf_counter() - start,
                "threads": torch.get_num_threads(),
                "device": device,
            },
            code_commit=job.get("code_commit"),
        ).__dict__
    except Exception as e:  # the worker boundary: any failure is recorded with its reason, never lost
        return {"status": "error", "reason": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"}


def _proxies(student, teacher, x, y) -> dict[str, float]:
    """Every registered proxy of the student; one that cannot score this pair (DisWOT with a teacher that
    exposes no stage features) is NaN, stored as missing: a proxy never fails the training."""
    from distill.proxies import PROXIES

    scores = {}
    for name in PROXIES.names():
        try:
            scores[name] = PROXIES.get(name)(student, teacher, x, y)
        except Exception as e:  # a user's teacher the proxy does not understand
            log.debug("proxy %s failed: %s", name, e)
            scores[name] = float("nan")
    return scores


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the pool
    parent = os.getppid()

    def exit_with_the_driver() -> None:
        # A driver killed with SIGKILL cannot stop its pool; without this its workers idle forever.
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=exit_with_the_driver, daemon=True).start()


# ----------------------------------------------------------------------------- executors
@dataclass
class Progress:
    done: int = 0
    failed: int = 0


class InlineExecutor:
    """Runs each job in this process when it is submitted (debugging, tests, one-off jobs)."""

    workers = 1

    def __init__(self, data_dir: str | None = None, device: str = "cpu") -> None:
        self.data_dir = data_dir
        self.device = device

    def submit(self, job: dict[str, Any]) -> Future:
        fut: Future = Future()
        fut.set_result(run_job(job, self.data_dir, self.device))
        return fut

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        return set(futures), set()

    @staticmethod
    def result(future: Future) -> dict[str, Any]:
        return future.result()

    def shutdown(self) -> None:
        pass


class LocalExecutor:
    """A pool of ``workers`` processes on this machine."""

    def __init__(self, workers: int, data_dir: str | None, device: str = "cpu") -> None:
        self.workers = workers
        self.data_dir = data_dir
        self.device = device
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # "spawn": forked workers would inherit the store's writer lock and keep it after the
        # driver is killed, refusing every restart until they exit.
        return ProcessPoolExecutor(
            max_workers=self.workers, initializer=_init_worker, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, job: dict[str, Any]) -> Future:
        try:
            return self.pool.submit(run_job, job, self.data_dir, self.device)
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): start a new pool and go on
            log.warning("a worker process died; starting a new pool")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            return self.pool.submit(run_job, job, self.data_dir, self.device)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        done, pending = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return done, pending

    @staticmethod
    def result(future: Future) -> dict[str, Any]:
        try:
            return future.result()
        except Exception as e:  # a worker process that died (segfault, OOM kill) fails only its job
            return {"status": "error", "reason": f"worker died: {type(e).__name__}: {e}"}

    def shutdown(self) -> None:
        # Runs in flight are abandoned (their jobs go back to pending): stop the processes now.
        for proc in list(getattr(self.pool, "_processes", {}).values()):
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


class RayExecutor:
    """Ray tasks with retries; results come back to the driver, which alone writes."""

    def __init__(self, address: str, data_dir: str | None, device: str = "cpu", max_retries: int = 3) -> None:
        try:
            import ray
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
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self.remote = ray.remote(num_cpus=THREADS_PER_WORKER, max_retries=max_retries)(run_job)
        self.data_dir = data_dir
        self.device = device

    def submit(self, job: dict[str, Any]) -> Any:
        return self.remote.remote(job, self.data_dir, self.device)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        ready, rest = self.ray.wait(list(futures), num_returns=1, timeout=timeout)
        return set(ready), set(rest)

    def result(self, ref: Any) -> dict[str, Any]:
        try:
            return self.ray.get(ref)
        except Exception as e:  # retries exhausted: the job fails with the reason, the rest go on
            return {"status": "error", "reason": f"ray: {type(e).__name__}: {' '.join(str(e).split())[:300]}"}

    def shutdown(self) -> None:
        self.ray.shutdown()


# ----------------------------------------------------------------------------- the driver
def collect(
    store: RecordStore,
    executor: LocalExecutor | RayExecutor,
    worker_name: str = "collector",
    heartbeat_s: float = 30.0,
    max_jobs: int | None = None,
    on_result: Callable[[Job, dict[str, Any]], None] | None = None,
) -> Progress:
    """Claim pending jobs, run them on ``executor``, record each outcome; returns when none are left.

    Ctrl-C stops cleanly: the jobs in flight go back to pending, finished ones stay.
    """
    progress = Progress()
    commit = code_commit()
    in_flight: dict[Any, Job] = {}
    last_beat = time.monotonic()
    submitted = 0
    # We hold the store's writer lock, so jobs still marked as ours were orphaned by a killed run.
    store.release(worker_name)
    try:
        while True:
            room = executor.workers - len(in_flight)
            if max_jobs is not None:
                room = min(room, max_jobs - submitted)
            if room > 0:
                for job in store.claim(worker_name, n=room):
                    in_flight[executor.submit({**job.__dict__, "code_commit": commit})] = job
                    submitted += 1
            if not in_flight:
                break
            done, _ = executor.wait(set(in_flight), timeout=heartbeat_s)
            for fut in done:
                job = in_flight.pop(fut)
                outcome = executor.result(fut)
                if outcome.get("status") in ("ok", "diverged"):
                    store.finish(job.key, Result(**outcome), worker=worker_name)
                    progress.done += 1
                else:
                    store.fail(job.key, outcome.get("reason") or "unknown error", worker=worker_name)
                    progress.failed += 1
                if on_result:
                    on_result(job, outcome)
            if time.monotonic() - last_beat > heartbeat_s / 2:
                store.heartbeat(worker_name, [j.key for j in in_flight.values()])
                last_beat = time.monotonic()
    finally:
        executor.shutdown()
        store.release(worker_name)
    return progress


def progress_bar(total: int, initial: int) -> Any | None:
    """A tqdm bar on a terminal, else ``None``."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="job", dynamic_ncols=True)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)

"""Executors: owned by the caller as context managers; every job gets the worker's data directory and device."""

import os
import signal
import subprocess
import sys
import time

import pytest

from distill.executors import (
    EXECUTORS,
    Executor,
    InProcessExecutor,
    PoolExecutor,
    RayExecutor,
    make_executor,
)

# A job function must be importable in a spawned worker: os.path.join(payload, data_dir, device) shows
# what the executor handed to the job.
JOB = os.path.join


def _run_all(executor: Executor, payloads: list[str]) -> list[str]:
    futures = {executor.submit(JOB, p): p for p in payloads}
    pending, out = set(futures), {}
    while pending:
        done, pending = executor.wait(pending, timeout=60)
        out.update({futures[f]: executor.result(f) for f in done})
    return [out[p] for p in payloads]


def test_make_executor_picks_the_kind():
    assert EXECUTORS == ("local", "ray")
    with make_executor("local", workers=1, data_dir="data", device="cpu") as executor:
        assert isinstance(executor, InProcessExecutor) and executor.workers == 1
        assert _run_all(executor, ["a", "b"]) == ["a/data/cpu", "b/data/cpu"]
    with pytest.raises(ValueError, match="the executor must be one of local, ray; got 'slurm'"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="--executor ray needs --ray-address ADDRESS"):
        make_executor("ray")


def test_an_unreachable_ray_cluster_is_one_clear_error():
    pytest.importorskip("ray")
    with pytest.raises(ValueError, match=r"cannot reach a Ray cluster at '127.0.0.1:1'.*or run the search with"):
        make_executor("ray", ray_address="127.0.0.1:1")


def test_a_pool_runs_jobs_and_stops_its_workers_on_exit():
    with make_executor("local", workers=2, data_dir="d", device="cpu") as executor:
        assert isinstance(executor, PoolExecutor) and executor.workers == 2
        assert _run_all(executor, ["x", "y", "z"]) == ["x/d/cpu", "y/d/cpu", "z/d/cpu"]
        processes = list(executor.pool._processes.values())
        assert processes and all(p.is_alive() for p in processes)
    assert not any(p.is_alive() for p in processes)
    executor.close()  # closing twice is harmless


def test_a_pool_is_stopped_even_when_the_block_fails():
    with pytest.raises(RuntimeError, match="the driver failed"):
        with PoolExecutor(2, "d") as executor:
            assert _run_all(executor, ["x"]) == ["x/d/cpu"]
            processes = list(executor.pool._processes.values())
            raise RuntimeError("the driver failed")
    assert processes and not any(p.is_alive() for p in processes)


def test_a_job_that_raises_in_a_worker_fails_only_itself():
    with PoolExecutor(1, "d") as executor:
        bad = executor.submit(JOB, None)  # os.path.join(None, ...) raises TypeError in the worker
        outcome = executor.result(bad)
        assert outcome["status"] == "error" and "TypeError" in outcome["reason"]
        assert _run_all(executor, ["ok"]) == ["ok/d/cpu"]  # the same workers go on


@pytest.mark.slow
def test_ray_runs_jobs_and_shuts_down_on_exit():
    ray = pytest.importorskip("ray")
    with make_executor("ray", data_dir="d", device="cpu", ray_address="local") as executor:
        assert isinstance(executor, RayExecutor) and executor.workers >= 1
        assert _run_all(executor, ["x", "y"]) == ["x/d/cpu", "y/d/cpu"]
        assert ray.is_initialized()
    assert not ray.is_initialized()


_DRIVER = """
import sys, time
from distill.executors import PoolExecutor
executor = PoolExecutor(2)
executor.submit(max, 0)  # each submit starts a worker
executor.submit(max, 1)
print(" ".join(str(pid) for pid in executor.pool._processes), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie (dead, not yet reaped by PID 1) is gone
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_driver_is_killed_while_they_start():
    # The kill lands while the spawned workers are still importing (torch takes a second or more): they used
    # to arm their parent watch after being adopted by PID 1, and then watched PID 1 for ever.
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        pids = [int(p) for p in driver.stdout.readline().split()]
        driver.kill()
        driver.wait()
        assert len(pids) == 2
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p for p in pids if _alive(p)] == []
    finally:
        driver.kill()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_pool_workers_take_their_devices_round_robin(monkeypatch):
    """Worker i of a pool trains on devices[i % n]: the initializer numbers the workers as they start, from the
    standard-library module that arms the parent watch (so a numbered worker imports nothing slow first)."""
    import multiprocessing

    from distill import executors, worker_watch

    monkeypatch.setattr(worker_watch, "init_worker", lambda parent_pid: None)
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(5):
        worker_watch.init_numbered_worker(os.getpid(), counter)
        seen.append(executors._on_worker_device(JOB, "p", "d", ["fake:0", "fake:1"]))
    monkeypatch.setattr(worker_watch, "worker_index", None)
    assert seen == [f"p/d/fake:{i % 2}" for i in range(5)]


def test_a_pool_with_devices_hands_each_job_its_workers_device():
    with make_executor("local", workers=2, data_dir="d", device="cpu", devices=["fake:1", "fake:0"]) as executor:
        assert isinstance(executor, PoolExecutor) and executor.device == "fake:1"
        results = _run_all(executor, [str(i) for i in range(6)])
        assert all(r.rsplit("/", 1)[1] in ("fake:0", "fake:1") for r in results)
        assert [r.rsplit("/", 1)[0] for r in results] == [f"{i}/d" for i in range(6)]
    with make_executor("local", workers=2, data_dir="d", devices=["fake:3"]) as executor:
        assert _run_all(executor, ["a", "b", "c"]) == ["a/d/fake:3", "b/d/fake:3", "c/d/fake:3"]
    with make_executor("local", workers=1, data_dir="d", devices=["fake:2", "fake:0"]) as executor:
        assert _run_all(executor, ["a"]) == ["a/d/fake:2"]  # in this process: the first device


def test_ray_tasks_ask_for_a_share_of_a_gpu():
    from distill.executors import TRAININGS_PER_GPU, ray_task_resources

    assert ray_task_resources("cpu", 8) == ({"num_cpus": 1}, "cpu")
    assert ray_task_resources("auto", 0) == ({"num_cpus": 1}, "auto")
    assert ray_task_resources("auto", 2) == ({"num_cpus": 1, "num_gpus": 1 / TRAININGS_PER_GPU}, "cuda")
    assert ray_task_resources("cuda:1", 1, per_gpu=8) == ({"num_cpus": 1, "num_gpus": 0.125}, "cuda")
    with pytest.raises(ValueError, match="at least 1; got 0"):
        ray_task_resources("cuda", 1, per_gpu=0)

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

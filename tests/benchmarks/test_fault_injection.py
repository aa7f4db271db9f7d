"""The fault-injection benchmark's own checks: how it finds a run's processes and counts retrained jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.fault_injection import MARKER, comparable, is_worker, marked_pids, render, retrained


def record(genome: str, budget: int, created: float, finished: float) -> dict:
    return {
        "task_id": "t",
        "teacher_id": "T",
        "genome_hash": genome,
        "seed": 3,
        "budget": budget,
        "created_at": created,
        "finished_at": finished,
    }


def test_a_later_budget_of_the_same_genome_is_no_retraining(tmp_path):
    # a search trains genome g at 1 epoch (created 10, done 20), then at 2 (created 30, done 50); the trace
    # does not name the budget
    records = [record("g", 1, 10.0, 20.0), record("g", 2, 30.0, 50.0)]
    trace = tmp_path / "trace.txt"
    trace.write_text("11.0 t T g 3\n31.0 t T g 3\n40.0 t T g 3\n")  # 40: a rerun of a run cut short by a kill
    assert retrained(records, trace) == 0
    trace.write_text("11.0 t T g 3\n25.0 t T g 3\n")  # started between the two jobs: the first one again
    assert retrained(records, trace) == 1
    trace.write_text("11.0 t T g 3\n31.0 t T g 3\n60.0 t T g 3\n")  # after both were done
    assert retrained(records, trace) == 1


def test_only_timings_and_the_commit_may_differ_between_an_interrupted_and_an_uninterrupted_run():
    a = {"val_acc": 0.5, "finished_at": 1.0, "attempts": 1, "code_commit": "x", "extra": {"job_time_s": 2, "p": 1}}
    b = {"val_acc": 0.5, "finished_at": 9.0, "attempts": 2, "code_commit": "y", "extra": {"job_time_s": 7, "p": 1}}
    assert comparable(a) == comparable(b)
    assert comparable(a) != comparable({**b, "val_acc": 0.6})
    assert comparable(a) != comparable({**b, "extra": {"job_time_s": 7, "p": 2}})


def test_the_processes_of_a_run_are_found_by_their_marker_and_no_others():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, MARKER: "test-token-1"}
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        found = {}
        while child.pid not in found and time.monotonic() < deadline:
            found = marked_pids("test-token-1")
            time.sleep(0.05)
        assert child.pid in found and "time.sleep(60)" in found[child.pid]
        assert other.pid not in found and os.getpid() not in found
        assert not marked_pids("test-token-2")  # another run's token: nothing
    finally:
        child.kill()
        other.kill()
        child.wait()
        other.wait()
    assert child.pid not in marked_pids("test-token-1")


def test_workers_are_told_from_the_driver_and_rays_agents():
    spawn = "python -B -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=14, pipe_handle=18)"
    assert is_worker(spawn, "pool") and not is_worker("python -m dass collect --workers 2", "pool")
    assert not is_worker("python -B -c from multiprocessing.resource_tracker import main;main(13)", "pool")
    assert is_worker("ray::IDLE", "ray") and is_worker("ray::run_job", "ray")
    assert not is_worker("ray::DashboardAgent", "ray") and not is_worker("ray::RuntimeEnvAgent", "ray")


def test_the_rendered_table_reads_its_figures_from_the_file():
    row = {
        "scenario": "collect-pool",
        "kills": 18,
        "kills while workers start": 9,
        "chains": 2,
        "records lost": 0,
        "duplicates": 0,
        "finished jobs retrained": 0,
        "finished rows changed": 0,
        "processes left behind": 0,
        "slowest exit after a kill (s)": 1.3,
        "resumes equal to the uninterrupted run": 2,
        "uninterrupted run (s)": 41.5,
    }
    data = {"scenarios": [row], "wall_s": 1234.0, "seed": 0, "exit_deadline_s": {"pool": 30.0, "ray": 120.0}}
    data["ray_equals_pool"] = {"collect": True, "search": False}
    row["slow_to_exit"] = ["ray::DashboardAgent"]
    text = render(data)
    assert "Ray runs equal to the pool's (collect: yes, search: no)" in text
    assert "after a kill (then gone): `collect-pool`: `ray::DashboardAgent`." in text
    assert "18 SIGKILLs in 1,234 s (seed 0)" in text
    assert "| `collect-pool` | 18 | 9 | 2 | 0 | 0 | 0 | 0 | 0 | 1.3 | 2 | 41.5 |" in text

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasets_meta.collector import collect, expand
from datasets_meta.store import InMemoryStore, SQLiteStore, StoreLockedError
from datasets_meta.suite import Suite
from distill.executors import InProcessExecutor, PoolExecutor

TINY = {
    "name": "tiny",
    "budget": 1,
    "teacher_epochs": 1,
    "students_per_pair": 3,
    "recipes_per_student": 1,
    "replicate_fraction": 0.5,
    "groups": [{"source": "digits", "classes": ["0-2"], "teachers": ["cnn-s", "resnet-s"], "teachers_per_task": 2}],
}
TINY_TOML = """
name = "tiny"
budget = 1
teacher_epochs = 1
students_per_pair = 4
recipes_per_student = 1
replicate_fraction = 0.5

[[groups]]
source = "digits"
classes = ["0-2"]
n_test = 0
teachers = ["cnn-s"]
teachers_per_task = 1
"""


def test_expand_is_deterministic_and_complete():
    suite = Suite.from_dict(TINY)
    a, b = expand(suite), expand(suite)
    assert [j.key for j in a] == [j.key for j in b]
    firsts = [j for j in a if j.seed == 0]
    assert len({(j.teacher_id, j.tags["arch"]) for j in firsts}) == 6  # 3 architectures x 2 teachers
    assert sum(j.tags["control"] for j in firsts) == 6  # one control per architecture and teacher
    assert all(j.tags["replicate"] for j in a if j.seed == 1)
    # teachers of one task share the architectures
    by_teacher = {}
    for j in firsts:
        by_teacher.setdefault(j.teacher, set()).add(j.tags["arch"])
    assert by_teacher["cnn-s"] == by_teacher["resnet-s"]


def test_label_seeds_train_every_student_again_after_every_first_run():
    one = expand(Suite.from_dict(TINY))
    suite = Suite.from_dict(
        {
            **TINY,
            "label_seeds": 2,
            "groups": [
                {
                    "source": "digits",
                    "classes": ["0-2", "3-5"],
                    "teachers": ["cnn-s", "resnet-s"],
                    "teachers_per_task": 2,
                }
            ],
        }
    )
    two = expand(suite)
    # the jobs of the one-seed suite keep their keys: a collection goes on where it was
    assert {j.key for j in one} < {j.key for j in two}
    # every student has seeds 0 and 1; every student of half the pairs (rounded, per family) also 2 and 3
    seeds: dict = {}
    for j in two:
        seeds.setdefault((j.task_id, j.teacher_id), {}).setdefault(j.genome_hash, []).append(j.seed)
    assert len(seeds) == 4
    replicated = [p for p, students in seeds.items() if all(sorted(s) == [0, 1, 2, 3] for s in students.values())]
    rest = [p for p, students in seeds.items() if all(sorted(s) == [0, 1] for s in students.values())]
    assert len(replicated) == 2 and len(rest) == 2
    # order: all first seeds, then the replicated pairs' second seeds, their seeds 2-3, the other second seeds
    phases = [0 if j.seed == 0 else 2 if j.seed >= 2 else 1 if j.tags["replicate"] else 3 for j in two]
    assert phases == sorted(phases) and set(phases) == {0, 1, 2, 3}


def test_second_seeds_of_held_out_pairs_come_first():
    suite = Suite.from_dict(
        {
            **TINY,
            "label_seeds": 2,
            "replicate_fraction": 0.0,
            "groups": [
                {"source": "digits", "classes": ["0-2"], "teachers": ["cnn-s"], "teachers_per_task": 1},
                {
                    "source": "digits",
                    "classes": ["3-5"],
                    "teachers": ["cnn-s"],
                    "teachers_per_task": 1,
                    "heldout": True,
                },
            ],
        }
    )
    jobs = expand(suite)
    assert {j.seed for j in jobs} == {0, 1}
    held = [j.tags["heldout"] for j in jobs if j.seed == 1]
    assert held == sorted(held, reverse=True) and held[0] and not held[-1]


# one plain group and one held out, one teacher each: what a group's further seeds add is easy to see
TWO_GROUPS = [
    {"source": "digits", "classes": ["0-2"], "teachers": ["cnn-s"], "teachers_per_task": 1},
    {"source": "digits", "classes": ["3-5"], "teachers": ["cnn-s"], "teachers_per_task": 1, "heldout": True},
]


def test_a_replicate_group_gets_every_further_seed_and_keeps_the_others_jobs():
    groups, base = TWO_GROUPS, {**TINY, "label_seeds": 2, "replicate_fraction": 0.0, "groups": TWO_GROUPS}
    plain = expand(Suite.from_dict(base))
    marked = expand(Suite.from_dict({**base, "groups": [groups[0], {**groups[1], "replicate": True}]}))
    # the marked suite only adds jobs: seeds 2 and 3 of every student of the marked group
    assert {j.key for j in plain} < {j.key for j in marked}
    added = [j for j in marked if j.key not in {p.key for p in plain}]
    assert {j.seed for j in added} == {2, 3} and all(j.tags["heldout"] and j.tags["replicate"] for j in added)
    assert {j.genome_hash for j in added} == {j.genome_hash for j in marked if j.tags["heldout"]}


def test_a_group_with_seeds_gets_them_for_every_student_one_seed_at_a_time():
    groups, base = TWO_GROUPS, {**TINY, "label_seeds": 2, "replicate_fraction": 0.0, "groups": TWO_GROUPS}
    plain = expand(Suite.from_dict(base))
    more = expand(Suite.from_dict({**base, "groups": [groups[0], {**groups[1], "seeds": 5}]}))
    assert {j.key for j in plain} < {j.key for j in more}
    added = [j for j in more if j.key not in {p.key for p in plain}]
    assert {j.seed for j in added} == {2, 3, 4} and all(j.tags["heldout"] for j in added)
    per_student = {}
    for j in added:
        per_student.setdefault(j.genome_hash, []).append(j.seed)
    assert len(per_student) == len({j.genome_hash for j in more if j.tags["heldout"]})
    assert all(sorted(s) == [2, 3, 4] for s in per_student.values())
    # the further seeds run one seed at a time across the students
    assert [j.seed for j in added] == sorted(j.seed for j in added)
    # with one label seed too, the further seeds come after every student's first (a replicate's seed 1 may
    # follow its round, as before)
    marked = {**groups[1], "replicate": True, "seeds": 4}
    one = expand(Suite.from_dict({**base, "label_seeds": 1, "groups": [groups[0], marked]}))
    assert {j.seed for j in one if j.tags["heldout"]} == {0, 1, 2, 3}
    last_first = max(i for i, j in enumerate(one) if j.seed == 0)
    assert all(i > last_first for i, j in enumerate(one) if j.seed >= 2)
    # fewer seeds than the suite's rule change nothing
    same = expand(Suite.from_dict({**base, "groups": [groups[0], {**groups[1], "seeds": 1}]}))
    assert [j.key for j in same] == [j.key for j in plain]
    with pytest.raises(ValueError, match=r"groups\[1\]\.seeds must be 0"):
        Suite.from_dict({**base, "groups": [groups[0], {**groups[1], "seeds": -1}]})


def test_a_group_added_without_replicate_candidates_leaves_the_earlier_picks_alone():
    first = {"source": "digits", "classes": ["0-2"], "teachers": ["cnn-s", "resnet-s"], "teachers_per_task": 2}
    later = {"source": "digits", "classes": ["3-5", "6-8"], "teachers": ["cnn-s", "resnet-s"], "teachers_per_task": 2}
    base = {**TINY, "label_seeds": 2, "replicate_fraction": 0.5, "groups": [first]}
    before = expand(Suite.from_dict(base))
    # one family (digits, none): 1 of its 2 pairs replicated; with the 4 later pairs as candidates 3 of 6 are
    # picked, so at least one later pair gets seeds 2-3; without them the earlier pick stays the only one
    counted = expand(Suite.from_dict({**base, "groups": [first, later]}))
    assert any(j.seed >= 2 and "classes=0-2" not in j.task_spec for j in counted)
    added = expand(Suite.from_dict({**base, "groups": [first, {**later, "replicate_candidates": False}]}))
    assert {j.key for j in before} < {j.key for j in added}
    assert not any(j.seed >= 2 and "classes=0-2" not in j.task_spec for j in added)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(colour=1), "unknown key 'colour' in suite"),
        (lambda d: d["groups"][0].update(teachers=["cnn-xl"]), "groups[0].teachers: unknown teacher 'cnn-xl'"),
        (lambda d: d["groups"][0].update(heldout_teachers=["vgg"]), "groups[0].heldout_teachers: unknown teacher"),
        (lambda d: d.update(groups=[]), "at least one [[groups]]"),
        (lambda d: d["groups"][0].update(teachers_per_task=3), "teachers_per_task must be in [1, 2]; got 3"),
        (lambda d: d.update(budget=0), "'budget' must be at least 1; got 0"),
    ],
)
def test_suite_errors(edit, message):
    d = {**TINY, "groups": [dict(TINY["groups"][0])]}
    edit(d)
    with pytest.raises(ValueError) as e:
        Suite.from_dict(d)
    assert message in str(e.value)


def test_collect_records_everything_once():
    store = InMemoryStore()
    jobs = expand(Suite.from_dict(TINY))
    store.add_jobs(jobs)
    progress = collect(store, InProcessExecutor())
    assert progress.done == len(jobs) and progress.failed == 0
    recs = store.records()
    assert len(recs) == len(jobs)
    for r in recs:
        assert r["status"] == "ok" and 0 <= r["test_acc"] <= 1 and len(r["curve"]) == 1
        assert set(r["extra"]["proxies"]) >= {"diswot", "nwot", "synflow"}
        assert len(r["extra"]["task_features"]["classes"]) == 3
    # a second run finds nothing to do
    assert collect(store, InProcessExecutor()).done == 0


def test_failing_and_diverging_jobs_are_recorded(monkeypatch):
    import distill.job
    import distill.trainer as trainer

    real = trainer.distil
    calls = {"n": 0}

    def flaky(genome, task, teacher, config, seed=0, precision="fp32"):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated crash in training")
        if calls["n"] == 2:
            return trainer.TrainResult("diverged", reason="non-finite loss (nan) in epoch 1"), real(
                genome, task, teacher, config, seed, precision=precision
            )[1]
        return real(genome, task, teacher, config, seed, precision=precision)

    monkeypatch.setattr(distill.job, "distil", flaky)  # what every job trains with
    store = InMemoryStore(max_attempts=1)
    jobs = expand(Suite.from_dict(TINY))
    store.add_jobs(jobs)
    progress = collect(store, InProcessExecutor())
    assert progress.failed == 1 and progress.done == len(jobs) - 1
    failed = store.records(status="failed")
    assert len(failed) == 1 and "simulated crash in training" in failed[0]["error"]
    diverged = [r for r in store.records() if r["status"] == "diverged"]
    assert len(diverged) == 1 and "non-finite" in diverged[0]["reason"]


def test_second_collector_is_refused(tmp_path):
    db = tmp_path / "m.db"
    with SQLiteStore(db):
        with pytest.raises(StoreLockedError, match="another collector"):
            SQLiteStore(db)
        suite = tmp_path / "tiny.toml"
        suite.write_text(TINY_TOML)
        link = tmp_path / "link.db"
        link.symlink_to(db)
        for path in (db, link):  # the lock is the database file's, whatever path leads to it
            proc = subprocess.run(
                [sys.executable, "-m", "dass", "collect", "--suite", str(suite), "--db", str(path)],
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 2 and "another collector" in proc.stderr and "Traceback" not in proc.stderr
        # reading the status is always allowed
        proc = subprocess.run(
            [sys.executable, "-m", "dass", "collect", "--status", "--db", str(db)], capture_output=True, text=True
        )
        assert proc.returncode == 0 and "pending" in proc.stdout


def test_process_pool_executor_runs_jobs_and_collect_leaves_it_open():
    store = InMemoryStore()
    jobs = expand(Suite.from_dict(TINY))[:4]
    store.add_jobs(jobs[:2])
    with PoolExecutor(2, None) as executor:
        assert collect(store, executor).done == 2
        processes = list(executor.pool._processes.values())
        store.add_jobs(jobs[2:])
        assert collect(store, executor).done == 2  # the caller's executor: still open, the same workers
        assert processes and all(p.is_alive() for p in processes)
    assert not any(p.is_alive() for p in processes)  # the caller's `with` stopped them


def test_collect_never_closes_the_callers_executor_even_when_interrupted():
    class Interrupting(InProcessExecutor):
        closed = 0

        def close(self):
            self.closed += 1

    def interrupt(job, outcome):
        raise KeyboardInterrupt

    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(TINY))[:2])
    executor = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        collect(store, executor, on_result=interrupt)
    assert executor.closed == 0 and store.counts()["running"] == 0  # released: the job in flight is pending again
    assert collect(store, executor).done == 1 and executor.closed == 0


@pytest.mark.slow
def test_sigkill_and_resume_loses_nothing(tmp_path):
    """Kill the collector at random moments; every job ends done exactly once, none trained after it was done."""
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_TOML)
    db, trace = tmp_path / "m.db", tmp_path / "trace.txt"
    env = {**os.environ, "DASS_TRACE_JOBS": str(trace)}
    cmd = [sys.executable, "-m", "dass", "collect", "--suite", str(suite), "--db", str(db), "--workers", "2"]
    finished_at: dict[tuple, float] = {}
    for delay in (2.0, 3.0, 2.5):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not db.exists() and time.monotonic() < deadline:  # start-up time varies with the machine's load
            time.sleep(0.1)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with SQLiteStore(db, writer=False) as store:
            for r in store.records():
                key = (r["task_id"], r["teacher_id"], r["genome_hash"], r["seed"])
                assert finished_at.setdefault(key, r["finished_at"]) == r["finished_at"]  # done rows never change
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    with SQLiteStore(db, writer=False) as store:
        counts = store.counts()
        recs = store.records()
    assert counts["pending"] == counts["running"] == counts["failed"] == 0
    assert len({(r["task_id"], r["teacher_id"], r["genome_hash"], r["seed"]) for r in recs}) == len(recs)
    runs = [line.split() for line in Path(trace).read_text().splitlines()]
    for r in recs:
        key = (r["task_id"], r["teacher_id"], r["genome_hash"], str(r["seed"]))
        starts = [float(t) for t, *k in runs if tuple(k) == key]
        assert starts and all(t < r["finished_at"] for t in starts)  # never started again once done


@pytest.mark.slow
def test_ray_worker_killed_mid_job_is_retried_and_recorded_once():
    pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    import threading

    from distill.executors import RayExecutor

    store = InMemoryStore()
    jobs = expand(Suite.from_dict(TINY))[:4]
    store.add_jobs(jobs)
    killed: list[int] = []

    def kill_one_running_worker():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if "ray::run_job" in " ".join(proc.info["cmdline"] or []):
                    proc.kill()
                    killed.append(proc.info["pid"])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_running_worker)
    killer.start()
    with RayExecutor("local", None) as executor:
        progress = collect(store, executor)
    killer.join()
    assert killed, "no Ray worker was seen running a job"
    assert progress.done == len(jobs) and progress.failed == 0
    recs = store.records()
    assert sorted(r["genome_hash"] for r in recs) == sorted(j.genome_hash for j in jobs)
    assert all(r["attempts"] == 1 for r in recs)  # the retry happened inside Ray, not as a second claim


def test_an_unreachable_ray_address_fails_at_once_with_a_hint():
    import socket

    from distill.executors import check_ray_address

    with socket.socket() as s:  # a port nothing listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match=rf"cannot reach a Ray cluster at '127.0.0.1:{port}'.*--ray-address local"):
        check_ray_address(f"127.0.0.1:{port}")
    with pytest.raises(ValueError, match="must be HOST:PORT, 'auto' or 'local'; got 'nowhere'"):
        check_ray_address("nowhere")
    check_ray_address("local")  # nothing to reach

"""A collection whose workers train groups of jobs (a GPU's way) stores exactly the records of one job at a time.

On the CPU the grouped path is forced (``group`` > 1): every record is compared field by field with the
one-at-a-time collection's, timings aside. A failure inside a group is that job's alone, and a group interrupted
before its results were recorded is trained again on resume while recorded ones are not.
"""

import dataclasses

import pytest

from datasets_meta.collector import _collection_order, collect, expand, in_groups, run_group
from datasets_meta.store import InMemoryStore
from datasets_meta.suite import Suite
from distill.executors import InProcessExecutor

# one pair, three students with a control and a recipe each, three label seeds: 18 jobs
SUITE = {
    "name": "tiny-groups",
    "budget": 1,
    "teacher_epochs": 1,
    "students_per_pair": 3,
    "recipes_per_student": 1,
    "label_seeds": 3,
    "replicate_fraction": 0.0,
    "groups": [{"source": "digits", "classes": ["0-2"], "teachers": ["cnn-s"], "teachers_per_task": 1}],
}


@pytest.fixture(autouse=True)
def _no_group_from_the_environment(monkeypatch):
    monkeypatch.delenv("DASS_GROUP", raising=False)  # the default group must be the CPU's: 1


TIMINGS = ("created_at", "started_at", "finished_at", "heartbeat_at", "train_time_s")


class Recording(InProcessExecutor):
    """Runs jobs in this process and remembers what each submit carried (one job, or a group of them)."""

    def __init__(self):
        super().__init__()
        self.submitted: list[list[dict]] = []

    def submit(self, fn, payload):
        self.submitted.append(payload if isinstance(payload, list) else [payload])
        return super().submit(fn, payload)


def _records(store) -> dict:
    out = {}
    for r in store.records(status=None):
        r = {k: v for k, v in r.items() if k not in TIMINGS}
        r["extra"] = {k: v for k, v in (r["extra"] or {}).items() if k != "job_time_s"}
        out[(r["task_id"], r["teacher_id"], r["genome_hash"], r["budget"], r["seed"])] = r
    return out


@pytest.fixture(scope="module")
def one_at_a_time():
    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(SUITE)))
    executor = Recording()
    assert collect(store, executor).done == 18
    assert all(len(s) == 1 for s in executor.submitted)  # the CPU's default: one job a submit, as always
    return _records(store)


def test_a_grouped_collection_stores_the_records_of_one_job_at_a_time(one_at_a_time):
    suite = Suite.from_dict(SUITE)
    jobs = expand(suite, group=6)
    assert sorted(j.key for j in jobs) == sorted(j.key for j in expand(suite))  # the same jobs, another order
    store = InMemoryStore()
    store.add_jobs(jobs)
    executor = Recording()
    progress = collect(store, executor, group=6)
    assert progress.done == 18 and progress.failed == 0
    assert [len(s) for s in executor.submitted] == [6, 6, 6]
    # a student's label seeds trained together: every group holds two students' seeds 0, 1 and 2
    for sent in executor.submitted:
        seeds: dict = {}
        for job in sent:
            seeds.setdefault(job["genome_hash"], []).append(job["seed"])
        assert sorted(seeds.values()) == [[0, 1, 2], [0, 1, 2]]
    assert _records(store) == one_at_a_time


def test_jobs_of_different_budgets_teachers_or_precisions_never_share_a_group():
    jobs = expand(Suite.from_dict(SUITE))[:4]
    mixed = [
        jobs[0],
        dataclasses.replace(jobs[1], budget=2),
        dataclasses.replace(jobs[2], tags={**jobs[2].tags, "precision": "bf16"}),
        dataclasses.replace(jobs[3], teacher="resnet-s", teacher_id="other"),
        jobs[1],
    ]
    assert [[j.key for j in g] for g in in_groups(mixed, 8)] == [
        [mixed[0].key, mixed[4].key],
        [mixed[1].key],
        [mixed[2].key],
        [mixed[3].key],
    ]
    assert in_groups(mixed, 1) == [[j] for j in mixed]


def test_the_one_at_a_time_order_is_unchanged_and_the_grouped_order_keeps_the_further_seeds_last():
    suite = Suite.from_dict({**SUITE, "label_seeds": 2, "replicate_fraction": 1.0})
    jobs = expand(suite)
    assert [j.key for j in expand(suite, group=1)] == [j.key for j in jobs]
    assert _collection_order(jobs, 2) == list(range(len(jobs)))  # expand's order is the collection order
    grouped = expand(suite, group=4)
    assert sorted(j.key for j in grouped) == sorted(j.key for j in jobs)
    # label seeds (0, 1) of two students a block; then the further seeds, one seed at a time
    assert [j.seed for j in grouped[:4]] == [0, 1, 0, 1]
    further = [j.seed for j in grouped if j.seed >= 2]
    assert further == sorted(further) and all(j.seed < 2 for j in grouped[: len(grouped) - len(further)])


def test_a_failure_inside_a_group_is_that_jobs_alone(one_at_a_time):
    jobs = expand(Suite.from_dict(SUITE), group=6)[:6]
    broken = dataclasses.replace(jobs[2], genome='{"stages": []}')
    store = InMemoryStore(max_attempts=1)
    store.add_jobs([*jobs[:2], broken, *jobs[3:]])
    assert collect(store, InProcessExecutor(), group=6).done == 5
    failed = store.records(status="failed")
    assert [r["genome_hash"] for r in failed] == [broken.genome_hash] and "ValueError" in failed[0]["error"]
    done = _records(store)
    assert {k: v for k, v in done.items() if v["state"] == "done"} == {
        k: one_at_a_time[k] for k in (j.key for j in jobs) if k != broken.key
    }
    # a malformed job (a field the worker does not know) fails alone too
    out = run_group([{**dataclasses.asdict(jobs[0]), "code_commit": None}, {"nonsense": 1}])
    assert out[0]["status"] == "ok" and out[1]["status"] == "error" and "TypeError" in out[1]["reason"]
    assert run_group([]) == []


def test_a_worker_that_dies_fails_every_job_of_its_group_and_they_are_retried():
    class Dying(InProcessExecutor):
        deaths = 0

        def result(self, future):
            if self.deaths == 0:  # the first group's worker dies
                self.deaths += 1
                return {"status": "error", "reason": "worker died: BrokenProcessPool"}
            return super().result(future)

    store = InMemoryStore(max_attempts=2)
    store.add_jobs(expand(Suite.from_dict(SUITE), group=3)[:6])
    progress = collect(store, Dying(), group=3)
    assert progress.failed == 3 and progress.done == 6  # failed attempts, then every job done on its retry
    assert store.counts()["done"] == 6
    assert sorted(r["attempts"] for r in store.records()) == [1, 1, 1, 2, 2, 2]


def test_an_interrupted_grouped_collection_resumes_with_the_unrecorded_jobs_only(one_at_a_time):
    """Ctrl-C as the first group's first result is reported: that group is recorded (every member, before anyone
    is told), nothing else ran; the resume trains the other groups, never a recorded job again."""
    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(SUITE), group=6))
    trained: list = []

    class Counting(Recording):
        def submit(self, fn, payload):
            trained.extend((j["genome_hash"], j["seed"]) for j in payload)
            return super().submit(fn, payload)

    def interrupt(job, outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(store, Counting(), group=6, on_result=interrupt)
    assert store.counts()["done"] == 6 and store.counts()["running"] == 0 and len(trained) == 6
    assert collect(store, Counting(), group=6).done == 12
    assert len(trained) == len(set(trained)) == 18  # each job trained once
    assert _records(store) == one_at_a_time


def test_max_jobs_counts_jobs_not_groups():
    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(SUITE), group=4))
    executor = Recording()
    assert collect(store, executor, group=4, max_jobs=6).done == 6
    assert [len(s) for s in executor.submitted] == [4, 2]

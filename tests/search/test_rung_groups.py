"""A successive-halving rung whose candidates train together (a GPU's way) gives exactly the records and the
promotions of one candidate at a time: the grouped path forced on the CPU, compared field by field."""

import numpy as np
import pytest

from datasets_meta.store import InMemoryStore
from distill.executors import InProcessExecutor
from distill.genome import get_space
from distill.tasks import load_task
from distill.teachers import teacher_config, teacher_id
from search.rungs import Trainer, successive_halving

TASK = "digits:classes=0-4"


@pytest.fixture(autouse=True)
def _no_group_from_the_environment(monkeypatch):
    monkeypatch.delenv("DASS_GROUP", raising=False)  # the default group must be the CPU's: 1


TIMINGS = ("created_at", "started_at", "finished_at", "heartbeat_at", "train_time_s")


def _fields() -> dict:
    task = load_task(TASK)
    return {
        "task_id": task.id,
        "teacher_id": teacher_id("cnn-s", task, config=teacher_config(1)),
        "task_spec": TASK,
        "teacher": "cnn-s",
        "seed": 0,
        "suite": "search-test",
        "tags": {"teacher_epochs": 1, "search": "test"},
    }


def _bracket(group: int | None, submitted: list[int]):
    class Recording(InProcessExecutor):
        def submit(self, fn, payload):
            submitted.append(len(payload) if isinstance(payload, list) else 1)
            return super().submit(fn, payload)

    rng = np.random.default_rng(11)
    candidates = [get_space("default").sample(rng) for _ in range(5)]
    store = InMemoryStore()
    trainer = Trainer(store, Recording(), _fields(), full_budget=2, group=group)
    levels = successive_halving(
        candidates,
        trainer.train,
        budgets=(1, 2),
        eta=2,
        cost=lambda gs: np.array([g.count_params((1, 8, 8), 5) for g in gs], dtype=float),
    )
    records = []
    for r in store.records(status=None):
        r = {k: v for k, v in r.items() if k not in TIMINGS}
        r["extra"] = {k: v for k, v in (r["extra"] or {}).items() if k != "job_time_s"}
        records.append(r)
    promoted = [[(m.genome.hash, m.budget, m.status, m.val_acc, m.test_acc) for m in level] for level in levels]
    return records, promoted, trainer.spent


@pytest.mark.parametrize("group", [2, 8])
def test_a_rung_trained_in_groups_gives_the_records_and_promotions_of_one_at_a_time(group):
    alone_sent, together_sent = [], []
    alone = _bracket(None, alone_sent)  # the CPU's default: one candidate at a time
    together = _bracket(group, together_sent)
    assert set(alone_sent) == {1} and len(alone_sent) == 5 + 3
    assert together_sent == ([2, 2, 1, 2, 1] if group == 2 else [5, 3])
    assert together == alone
    assert {r["status"] for r in alone[0]} <= {"ok", "diverged"} and len(alone[0]) == 8

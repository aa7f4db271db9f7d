"""Fixtures shared by the record-store tests (test folders are not packages: --import-mode=importlib)."""

from __future__ import annotations

import json

import pytest

from datasets_meta.store import InMemoryStore, Job, Result, SQLiteStore

T0 = 1_000_000.0
GRACE_S = 60.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t0: float = T0) -> None:
        self.t0 = t0  # where it started
        self.t = t0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def _make_job(i: int, task_id: str = "digits", **overrides) -> Job:
    fields = dict(
        task_id=task_id,
        teacher_id="cnn-3f2a",
        genome_hash=f"g{i:03d}",
        budget=2,
        seed=0,
        task_spec=task_id,
        teacher="plain_cnn",
        genome=json.dumps({"depth": i}),
        suite="smoke",
        tags={"heldout": i % 2 == 1, "domain": "none"},
    )
    fields.update(overrides)
    return Job(**fields)


def _ok_result(val_acc: float = 0.9, **overrides) -> Result:
    fields = dict(
        status="ok",
        val_acc=val_acc,
        test_acc=val_acc - 0.01,
        curve=[0.5, 0.75, val_acc],
        train_time_s=1.5,
        params=1234,
        flops=56789,
        teacher_acc=0.97,
        extra={"device": "cpu", "lr": 0.1},
        code_commit="abc1234",
    )
    fields.update(overrides)
    return Result(**fields)


@pytest.fixture
def make_job():
    """``make_job(i, task_id="digits", **overrides)``: job ``i`` of a small suite (genome hash ``g00i``)."""
    return _make_job


@pytest.fixture
def ok_result():
    """``ok_result(val_acc=0.9, **overrides)``: an "ok" result with every field set."""
    return _ok_result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path, clock):
    """Builds stores of the parametrised backend (several per test, each in its own file)."""
    opened = []

    def make(name: str = "records.db", max_attempts: int = 3):
        if request.param == "memory":
            store = InMemoryStore(grace_s=GRACE_S, max_attempts=max_attempts, clock=clock)
        else:
            store = SQLiteStore(tmp_path / name, grace_s=GRACE_S, max_attempts=max_attempts, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()

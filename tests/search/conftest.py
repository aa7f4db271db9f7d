"""Fixtures of the search tests: a predictor fitted on a real tiny meta-dataset, shared by the modules."""

import pytest

from datasets_meta.collector import collect, expand
from datasets_meta.store import InMemoryStore
from datasets_meta.suite import Suite
from distill.executors import InProcessExecutor
from predictor.data import to_example
from predictor.estimator import AccuracyPredictor


@pytest.fixture(scope="session")
def tiny_records():
    """A real tiny meta-dataset (6 distillations of 1 epoch on digits), as predictor records."""
    suite = {
        "name": "tiny-search",
        "budget": 1,
        "teacher_epochs": 2,
        "students_per_pair": 3,
        "recipes_per_student": 1,
        "replicate_fraction": 0.0,
        "groups": [{"source": "digits", "classes": ["0-4"], "teachers": ["cnn-s"], "teachers_per_task": 1}],
    }
    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(suite)))
    collect(store, InProcessExecutor())
    return [to_example(r, label="test_acc") for r in store.records() if r["status"] == "ok"]


@pytest.fixture(scope="session")
def checkpoint(tiny_records, tmp_path_factory):
    """A predictor fitted on the tiny meta-dataset."""
    path = tmp_path_factory.mktemp("predictor") / "p.pt"
    AccuracyPredictor(n_models=2, epochs=2).fit(tiny_records).save(path)
    return str(path)


@pytest.fixture(scope="session")
def landmark_checkpoint(tiny_records, tmp_path_factory):
    """A predictor fitted on the tiny meta-dataset that also reads the task's landmarks."""
    from distill.landmarks import task_landmarks
    from distill.tasks import load_task

    features = task_landmarks(load_task("digits:classes=0-4"))
    records = [{**r, "task_features": {**r["task_features"], "landmarks": features}} for r in tiny_records]
    path = tmp_path_factory.mktemp("predictor") / "lm.pt"
    AccuracyPredictor(n_models=2, epochs=2, landmarks=True).fit(records).save(path)
    return str(path)

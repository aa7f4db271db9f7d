"""Records of the store as predictor examples: the label is a required, recorded choice of measured accuracy."""

from __future__ import annotations

import dataclasses
import json

import pytest

from datasets_meta.store import InMemoryStore
from distill.records import Job, Record, Result
from predictor.data import load_records, to_example

JOB = Job(
    task_id="digits:classes=0-4",
    teacher_id="cnn-3f2a",
    genome_hash="g000",
    budget=4,
    seed=1,
    task_spec="digits:classes=0-4",
    teacher="plain_cnn",
    genome=json.dumps({"depth": 1}),
    tags={"heldout": True, "domain": "none"},
)
RESULT = Result(
    status="ok",
    val_acc=0.75,
    test_acc=0.5,
    curve=[0.25, 0.5, 0.625, 0.75],
    params=1234,
    flops=56789,
    teacher_acc=0.97,
    extra={"task_features": {"global": [0.5, 1.0]}, "proxies": {"synflow": 2.0}},
)
RECORD = Record(job=JOB, state="done", created_at=1.0, result=RESULT)


@pytest.mark.parametrize(("label", "target"), [("test_acc", 0.5), ("val_acc", 0.75)])
def test_the_label_names_the_accuracy_that_becomes_the_target(label, target):
    example = to_example(RECORD, label=label)
    assert example["target"] == target and example["label"] == label
    assert example["group"] == "digits:classes=0-4/cnn-3f2a"
    assert example["curve"] == [0.25, 0.5, 0.625, 0.75]  # always the validation curve
    assert example["task_features"] == {"global": [0.5, 1.0]} and example["proxies"] == {"synflow": 2.0}
    assert (example["budget"], example["seed"], example["genome_hash"]) == (4, 1, "g000")
    assert example["tags"] == {"heldout": True, "domain": "none"}
    assert to_example(RECORD.to_dict(), label=label) == example  # the flat form gives the same example


def test_the_label_is_required_and_checked():
    with pytest.raises(TypeError, match="label"):
        to_example(RECORD)
    with pytest.raises(ValueError, match=r"'label' parameter must be one of \('test_acc', 'val_acc'\); got 'acc'"):
        to_example(RECORD, label="acc")
    no_test = {**RECORD.to_dict(), "test_acc": None}
    with pytest.raises(ValueError, match="record g000 of task 'digits:classes=0-4' has no test_acc"):
        to_example(no_test, label="test_acc")
    assert to_example(no_test, label="val_acc")["target"] == 0.75
    with pytest.raises(ValueError, match="has no task_features"):
        to_example({**RECORD.to_dict(), "extra": {}}, label="val_acc")


def test_load_records_labels_the_successful_runs_with_test_accuracy(tmp_path):
    store = InMemoryStore(clock=lambda: 1.0)
    jobs = [JOB, *(dataclasses.replace(JOB, genome_hash=f"g00{i}") for i in (1, 2))]
    store.add_jobs(jobs)
    store.claim("w1", n=3)
    store.finish(jobs[0].key, RESULT)
    store.finish(jobs[1].key, Result(status="diverged", val_acc=0.1, curve=[0.1], extra=RESULT.extra))
    store.export(tmp_path / "records.csv.gz")
    (example,) = load_records(tmp_path / "records.csv.gz")
    assert example == to_example(store.read()[0], label="test_acc")
    assert example["target"] == 0.5 and example["label"] == "test_acc"
    with pytest.raises(FileNotFoundError, match="dass collect --export"):
        load_records(tmp_path / "missing.csv.gz")

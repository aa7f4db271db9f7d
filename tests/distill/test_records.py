"""The typed records: job keys, jobs, results, what the store holds for a job (``Record``) and its flat form."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from distill.records import (
    KEY_FIELDS,
    RECORD_FIELDS,
    Job,
    JobKey,
    Record,
    Result,
    group_key,
)


def make_job(**overrides) -> Job:
    fields = dict(
        task_id="digits",
        teacher_id="cnn-3f2a",
        genome_hash="g000",
        budget=2,
        seed=0,
        task_spec="digits",
        teacher="plain_cnn",
        genome=json.dumps({"depth": 1}),
        suite="smoke",
        tags={"heldout": False, "domain": "none"},
    )
    fields.update(overrides)
    return Job(**fields)


RESULT = Result(
    status="ok",
    val_acc=0.9,
    test_acc=0.89,
    curve=[0.5, 0.9],
    train_time_s=1.5,
    params=1234,
    flops=56789,
    teacher_acc=0.97,
    extra={"task_features": {"global": [0.5, 1.0]}, "device": "cpu"},
    code_commit="abc1234",
)


def test_jobs_and_results_validate_their_fields():
    with pytest.raises(ValueError, match="'genome' must be JSON"):
        make_job(genome="{not json")
    with pytest.raises(ValueError, match="'budget' must be an int"):
        make_job(budget="2")
    with pytest.raises(ValueError, match="'status' must be one of"):
        Result(status="great")
    with pytest.raises(ValueError, match="needs a val_acc"):
        Result(status="ok")
    assert make_job().key == ("digits", "cnn-3f2a", "g000", 2, 0)


def test_a_job_key_is_a_named_tuple_usable_as_sql_parameters_and_json():
    key = make_job().key
    assert isinstance(key, JobKey) and key._fields == KEY_FIELDS
    assert (key.task_id, key.teacher_id, key.genome_hash, key.budget, key.seed) == ("digits", "cnn-3f2a", "g000", 2, 0)
    plain = ("digits", "cnn-3f2a", "g000", 2, 0)
    assert key == plain and hash(key) == hash(plain) and plain in {key}  # a key read back from JSON finds its job
    assert json.dumps(key) == '["digits", "cnn-3f2a", "g000", 2, 0]'
    assert JobKey(*json.loads(json.dumps(key))) == key
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ?, ?, ?, ?, ?", key).fetchone() == plain


def test_group_key_is_task_slash_teacher():
    assert group_key("digits:classes=0-4", "cnn-3f2a") == "digits:classes=0-4/cnn-3f2a"
    assert Record(job=make_job(), created_at=1.0).group == "digits/cnn-3f2a"


@pytest.mark.parametrize(
    "record",
    [
        Record(job=make_job(), created_at=10.0),
        Record(job=make_job(), state="running", attempts=1, worker="w1", heartbeat_at=11.0, created_at=10.0,
               started_at=11.0),
        Record(job=make_job(), state="failed", attempts=3, error="gave up after 3 attempts: boom", created_at=10.0,
               started_at=11.0, finished_at=12.0),
        Record(job=make_job(), state="done", attempts=1, worker="w1", heartbeat_at=11.0, created_at=10.0,
               started_at=11.0, finished_at=12.5, result=RESULT),
    ],
    ids=["pending", "running", "failed", "done"],
)  # fmt: skip
def test_a_record_round_trips_through_its_flat_form(record):
    flat = record.to_dict()
    assert tuple(flat) == RECORD_FIELDS
    assert Record.from_dict(flat) == record
    assert json.loads(json.dumps(flat)) == flat  # JSON-ready
    if record.result is None:
        assert all(flat[name] is None for name in ("status", "val_acc", "curve", "extra"))
    else:
        assert (flat["status"], flat["val_acc"], flat["curve"]) == ("ok", 0.9, [0.5, 0.9])
        assert flat["extra"]["task_features"] == {"global": [0.5, 1.0]}


def test_the_flat_form_is_a_copy_unless_asked_otherwise():
    record = Record(job=make_job(), state="done", created_at=1.0, result=RESULT)
    flat = record.to_dict()
    flat["tags"]["heldout"] = True
    flat["curve"].append(1.0)
    flat["extra"]["task_features"]["global"].append(9.0)
    assert record.job.tags["heldout"] is False and record.result == RESULT
    again = Record.from_dict(flat)
    flat["extra"]["device"] = "cuda"
    assert again.result.extra["device"] == "cpu"
    shared = record.to_dict(copy=False)
    assert shared["extra"] is record.result.extra and shared["tags"] is record.job.tags


def test_a_not_done_record_keeps_no_result_fields():
    flat = Record(job=make_job(), state="done", created_at=1.0, result=RESULT).to_dict()
    flat.update(state="pending")
    assert Record.from_dict(flat).result is None


def test_a_record_validates_its_lifecycle():
    job = make_job()
    with pytest.raises(ValueError, match="'state' column must be one of"):
        Record(job=job, state="paused", created_at=1.0)
    with pytest.raises(ValueError, match="a 'done' record needs a result"):
        Record(job=job, state="done", created_at=1.0)
    with pytest.raises(ValueError, match="a 'pending' record cannot have a result"):
        Record(job=job, created_at=1.0, result=RESULT)
    with pytest.raises(ValueError, match="must be one of \\('ok', 'diverged'\\); got 'oom'"):
        Record(job=job, state="done", created_at=1.0, result=Result(status="oom"))
    with pytest.raises(ValueError, match="'attempts' must be an int >= 0"):
        Record(job=job, attempts=-1, created_at=1.0)
    flat = Record(job=job, state="done", created_at=1.0, result=RESULT).to_dict()
    with pytest.raises(ValueError, match="has no result status"):
        Record.from_dict({**flat, "status": None})
    with pytest.raises(ValueError, match="the Result 'curve' must be a list"):
        Record.from_dict({**flat, "curve": None})
    with pytest.raises(dataclasses.FrozenInstanceError):
        Record(job=job, created_at=1.0).state = "done"

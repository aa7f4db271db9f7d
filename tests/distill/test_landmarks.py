"""Landmarks: the reference students' accuracies on a task, cached by task id, kept in a table by spec."""

import json

import pytest

import distill.landmarks as landmarks
from distill.landmarks import (
    LANDMARK_FEATURES,
    REFERENCE_STUDENTS,
    LandmarkTable,
    attach_landmarks,
    landmark_accuracies,
    task_landmarks,
)
from distill.tasks import load_task


def test_reference_students_are_a_shallow_and_a_deep_plain_cnn():
    shallow, deep = REFERENCE_STUDENTS["shallow"], REFERENCE_STUDENTS["deep"]
    assert [s.depth for s in shallow.stages] == [1, 1] and [s.depth for s in deep.stages] == [2, 2, 2, 2]
    assert not shallow.recipe.distills and not deep.recipe.distills  # trained without a teacher
    assert len(LANDMARK_FEATURES) == 3


def test_landmarks_are_real_trainings_cached_by_task(digits_task, monkeypatch):
    accuracies = landmark_accuracies(digits_task)
    assert set(accuracies) == {"shallow", "deep"} and all(0.2 < a <= 1 for a in accuracies.values())
    assert landmark_accuracies(digits_task) == accuracies  # seed 0, one thread: the same numbers again

    features = task_landmarks(digits_task)
    assert features == [accuracies["shallow"], accuracies["deep"], accuracies["deep"] - accuracies["shallow"]]
    monkeypatch.setattr(landmarks, "landmark_accuracies", lambda *a, **k: pytest.fail("measured twice"))
    assert task_landmarks(digits_task) == features  # the second time from the cache
    other = load_task("digits:classes=5-9")  # another task is another entry
    with pytest.raises(pytest.fail.Exception, match="measured twice"):
        task_landmarks(other)


def test_an_unreadable_cache_entry_is_measured_again(digits_task):
    features = task_landmarks(digits_task)
    landmarks._cache_file(digits_task).write_text("{not json")
    assert task_landmarks(digits_task) == features
    assert json.loads(landmarks._cache_file(digits_task).read_text())["task"] == str(digits_task.spec)


def test_a_table_is_filled_saved_and_read_back(digits_task, tmp_path):
    path = tmp_path / "landmarks.json"
    table = LandmarkTable(path)
    seen = []
    table.fill(["digits:classes=0-4", "digits:classes=0-4"], on_task=seen.append)  # once per task
    assert seen == ["digits:classes=0-4"]
    again = LandmarkTable(path)
    assert again.features("digits:classes=0-4") == task_landmarks(digits_task)
    assert again.features("digits:classes=5-9") is None

    examples = [{"task_spec": "digits:classes=0-4", "task_features": {"classes": [[0.0]], "global": [1.0]}}]
    out = attach_landmarks(examples, again)
    assert out[0]["task_features"]["landmarks"] == task_landmarks(digits_task)
    assert "landmarks" not in examples[0]["task_features"]  # the examples given are left as they were
    with pytest.raises(ValueError, match="no entry for task 'digits:classes=5-9'"):
        attach_landmarks([{**examples[0], "task_spec": "digits:classes=5-9"}], again)


def test_a_table_of_other_reference_students_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"version": "000000000000", "landmarks": {}}))
    with pytest.raises(ValueError, match="has version '000000000000', but this dass's reference students are"):
        LandmarkTable(path)
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="cannot read the landmark table"):
        LandmarkTable(path)

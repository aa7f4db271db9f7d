"""The meta-training tasks' feature range a predictor keeps, and the notice for a task outside it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from distill.genome import get_space
from distill.probe import GLOBAL_FEATURES
from predictor.estimator import AccuracyPredictor, task_range
from predictor.novelty import NOTICE_DISTANCE, TaskRange

NAMES = ("a", "b", "c")


def test_distances_are_zero_inside_and_in_standard_deviations_outside():
    glob = np.array([[0.0, 1.0, 5.0], [2.0, 3.0, 5.0], [4.0, 2.0, 5.0]])
    rng = TaskRange.of(NAMES, glob)
    assert rng.low == (0.0, 1.0, 5.0) and rng.high == (4.0, 3.0, 5.0) and rng.tasks == 3
    assert rng.distances([1.0, 2.5, 5.0]).tolist() == [0.0, 0.0, 0.0]
    std_a = float(np.std([0.0, 2.0, 4.0]))
    d = rng.distances([6.0, 0.0, 5.0])
    assert d[0] == pytest.approx(2.0 / std_a) and d[1] == pytest.approx(1.0 / np.std([1.0, 3.0, 2.0])) and d[2] == 0
    # a feature every training task shares is measured in its own units
    assert rng.distances([1.0, 2.0, 7.5]).tolist() == [0.0, 0.0, 2.5]
    assert rng.distance([6.0, 2.0, 5.0]) == pytest.approx(2.0 / std_a)


def test_describe_names_the_features_outside_furthest_first():
    rng = TaskRange.of(NAMES, np.array([[0.0, 1.0, 5.0], [2.0, 3.0, 5.0], [4.0, 2.0, 5.0]]))
    assert rng.describe([1.0, 2.0, 5.0]) == ""
    text = rng.describe([4.5, 2.0, 9.0])
    assert text.startswith("c 9 (training tasks 5 to 5), a 4.5 (training tasks 0 to 4)"), text
    assert "b " not in text
    assert rng.describe([9.0, 9.0, 9.0], most=1).count("training tasks") == 1


def test_round_trip_and_bad_input():
    rng = TaskRange.of(NAMES, np.arange(9.0).reshape(3, 3))
    assert TaskRange.from_dict(rng.to_dict()) == rng
    with pytest.raises(ValueError, match=r"expected a \(tasks, 3\) array"):
        TaskRange.of(NAMES, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="3 numbers"):
        rng.distances([1.0, 2.0])
    with pytest.raises(ValueError, match="different lengths"):
        TaskRange.from_dict({**rng.to_dict(), "low": [0.0]})


def _task(rng: np.random.Generator) -> dict:
    return {"classes": rng.random((4, 8)).tolist(), "global": rng.random(len(GLOBAL_FEATURES)).tolist()}


@pytest.fixture(scope="module")
def two_tasks():
    rng = np.random.default_rng(0)
    space = get_space("default")
    tasks = [_task(rng), _task(rng)]
    records = [
        {"genome": space.sample(rng).to_json(), "task_features": t, "budget": 6, "group": f"t{k}", "target": 0.5}
        for k, t in enumerate(tasks)
        for _ in range(12)
    ]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        est = AccuracyPredictor(n_models=1, epochs=1, hidden=8).fit(records)
    finally:
        torch.set_num_threads(before)
    return tasks, records, est


def test_fit_keeps_the_range_of_its_tasks_and_notes_a_task_outside_it(two_tasks, tmp_path):
    tasks, records, est = two_tasks
    assert est.task_range_ == task_range(records)
    assert est.task_range_.tasks == 2 and est.task_range_.names == tuple(GLOBAL_FEATURES)
    for t in tasks:  # a training task is inside, and so is any mix of the two
        assert est.task_distance(t) == 0.0 and est.task_note(t) is None
    middle = {"classes": tasks[0]["classes"], "global": [(a + b) / 2 for a, b in zip(*(t["global"] for t in tasks))]}
    assert est.task_distance(middle) == 0.0
    g0, g1 = np.array(tasks[0]["global"]), np.array(tasks[1]["global"])
    i = GLOBAL_FEATURES.index("pixel_std")
    spread = abs(g0[i] - g1[i]) / 2  # the standard deviation of two values
    near, far = g0.copy(), g0.copy()
    near[i] = max(g0[i], g1[i]) + 0.5 * NOTICE_DISTANCE * spread
    far[i] = max(g0[i], g1[i]) + 4 * spread
    near_task, far_task = ({**tasks[0], "global": v.tolist()} for v in (near, far))
    assert est.task_distance(near_task) == pytest.approx(0.5 * NOTICE_DISTANCE)
    assert est.task_note(near_task) is None  # just outside: below the notice
    assert est.task_distance(far_task) == pytest.approx(4.0)
    note = est.task_note(far_task)
    assert note.startswith("this task lies outside the predictor's 2 meta-training (task, teacher) pairs on pixel_std ")
    assert "extrapolation" in note and "\n" not in note
    with pytest.raises(ValueError, match="task_features"):
        est.task_note({"classes": tasks[0]["classes"]})

    est.save(tmp_path / "p.pt")
    back = AccuracyPredictor.load(tmp_path / "p.pt")
    assert back.task_range_ == est.task_range_ and back.task_note(far_task) == note
    state = torch.load(tmp_path / "p.pt", weights_only=True)
    del state["info"]["task_range"]  # as the files written before it was recorded
    torch.save(state, tmp_path / "old.pt")
    old = AccuracyPredictor.load(tmp_path / "old.pt")
    assert old.task_range_ is None and old.task_distance(far_task) is None and old.task_note(far_task) is None
    state["info"]["task_range"] = {**est.task_range_.to_dict(), "names": ["x"] * len(GLOBAL_FEATURES)}
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="is damaged: .*its task range names other features"):
        AccuracyPredictor.load(tmp_path / "bad.pt")


def test_the_shipped_checkpoints_know_their_training_range():
    root = Path(__file__).resolve().parents[2]
    for name in ("predictor_v1.pt", "predictor_v2.pt"):
        est = AccuracyPredictor.load(root / "checkpoints" / name)
        assert est.task_range_ is not None, name
        assert list(est.task_range_.names)[: len(GLOBAL_FEATURES)] == list(GLOBAL_FEATURES)
        low, high = np.array(est.task_range_.low), np.array(est.task_range_.high)
        assert (low <= high).all() and est.task_range_.tasks > 100


def test_task_embeddings_are_the_members_mean_and_tell_tasks_apart(two_tasks):
    tasks, _, est = two_tasks
    emb = est.task_embeddings([tasks[0], tasks[1], tasks[0]])
    assert emb.shape == (3, est.hidden) and np.allclose(emb[0], emb[2], atol=1e-6) and not np.allclose(emb[0], emb[1])
    assert est.task_embeddings([]).shape == (0, est.hidden)
    with pytest.raises(ValueError, match="task 1"):
        est.task_embeddings([tasks[0], {"classes": [[0.0] * 8]}])

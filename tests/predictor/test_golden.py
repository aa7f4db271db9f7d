"""The shipped checkpoint's predictions are pinned bit for bit (see tests/data/make_golden_predictions.py)."""

import json
from pathlib import Path

import numpy as np

from predictor.estimator import AccuracyPredictor

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_checkpoint_predictions_are_bit_identical_to_the_pinned_ones():
    golden = np.load(ROOT / "tests" / "data" / "golden_predictions.npz", allow_pickle=False)
    rows = [
        {"genome": str(g), "task_features": json.loads(str(f)), "budget": int(b), "group": "g", "target": 0.0}
        for g, f, b in zip(golden["genome"], golden["task_features"], golden["budget"])
    ]
    assert len(rows) >= 2000
    mean, std = AccuracyPredictor.load(ROOT / "checkpoints" / "predictor_v1.pt").predict_records(rows)
    np.testing.assert_array_equal(mean, golden["mean"])
    np.testing.assert_array_equal(std, golden["std"])

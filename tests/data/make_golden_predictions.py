"""Writes ``golden_predictions.npz``: the shipped checkpoint's predictions on a fixed set of genomes.

Run once, at the commit before a refactoring, to pin what the predictor computes; the test
``tests/predictor/test_golden.py`` then requires the same predictions (to float32 rounding) from the code of any later
commit. The inputs are stored beside the outputs (genome JSON, task features, budgets), so the test
does not depend on sampling or on a teacher being trained::

    python tests/data/make_golden_predictions.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distill.genome import SPACES, get_space
from predictor.data import load_records
from predictor.estimator import AccuracyPredictor

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    predictor = AccuracyPredictor.load(ROOT / "checkpoints" / "predictor_v1.pt")
    records = load_records(ROOT / "datasets_meta" / "meta_v1.csv.gz")
    picked = [records[i] for i in np.linspace(0, len(records) - 1, 2000).round().astype(int)]
    features = picked[0]["task_features"]
    rng = np.random.default_rng(0)
    sampled = [get_space(name).sample(rng) for name in SPACES.names() for _ in range(400)]
    genomes = [r["genome"] if isinstance(r["genome"], str) else r["genome"].to_json() for r in picked]
    genomes += [g.to_json() for g in sampled]
    rows = [
        {"genome": g, "task_features": r["task_features"], "budget": r["budget"], "group": r["group"], "target": 0.0}
        for g, r in zip(genomes[: len(picked)], picked)
    ]
    rows += [
        {"genome": g.to_json(), "task_features": features, "budget": int(1 + i % 6), "group": "g", "target": 0.0}
        for i, g in enumerate(sampled)
    ]
    mean, std = predictor.predict_records(rows)
    np.savez_compressed(
        Path(__file__).with_name("golden_predictions.npz"),
        genome=np.array([r["genome"] for r in rows]),
        task_features=np.array([json.dumps(r["task_features"]) for r in rows]),
        budget=np.array([r["budget"] for r in rows], dtype=np.int64),
        mean=mean,
        std=std,
    )
    print(f"{len(rows)} predictions written")


if __name__ == "__main__":
    main()

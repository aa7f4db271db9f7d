"""Does the predictor's +-1 sigma cover what it says? Raw ensemble spread against the calibrated uncertainty.

The checkpoint's predictions of every meta-validation and meta-test student (labels: the mean over the label
seeds) are compared with the measured accuracies: the share inside +-1 and +-2 of the raw ensemble spread,
then of the uncertainty calibrated on meta-validation (`AccuracyPredictor.calibrate`); meta-test is never used
to calibrate.

    .venv/bin/python -m benchmarks.predictor_calibration [--data datasets_meta/meta_v1.csv.gz] \\
        [--checkpoint checkpoints/predictor_v1.pt] [--val-seeds 2] [--test-seeds 8]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import ROOT, file_sha256, provenance, result_path, write_json
from predictor.data import load_records, mean_labels, split_by_task
from predictor.estimator import AccuracyPredictor


def coverage(model: AccuracyPredictor, labels: list[dict]) -> dict[str, float]:
    mean, std = model.predict_records(labels)
    err = np.abs(np.array([e["target"] for e in labels]) - mean)
    return {
        "students": len(labels),
        "within_1sigma": float(np.mean(err <= std)),
        "within_2sigma": float(np.mean(err <= 2 * std)),
        "median_sigma": float(np.median(std)),
        "mae": float(err.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "datasets_meta" / "meta_v1.csv.gz"))
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "predictor_v1.pt"))
    ap.add_argument("--val-seeds", type=int, default=2, help="label seeds of a meta-validation student")
    ap.add_argument("--test-seeds", type=int, default=8, help="label seeds of a meta-test student")
    ap.add_argument("--out", default=str(result_path("predictor_calibration")))
    args = ap.parse_args()

    model = AccuracyPredictor.load(args.checkpoint)
    split = split_by_task(load_records(args.data))
    val, test = mean_labels(split["val"], args.val_seeds), mean_labels(split["test"], args.test_seeds)
    raw = {"val": coverage(model, val), "test": coverage(model, test), "calibration": list(model.calibration_)}
    model.calibrate(val)
    calibrated = {"val": coverage(model, val), "test": coverage(model, test), "calibration": list(model.calibration_)}
    for name, r in (("raw spread", raw), ("calibrated on meta-validation", calibrated)):
        print(
            f"{name}: +-1 sigma covers {r['val']['within_1sigma']:.1%} of meta-validation, "
            f"{r['test']['within_1sigma']:.1%} of meta-test (+-2: {r['test']['within_2sigma']:.1%})"
        )
    write_json(
        Path(args.out),
        {
            "data": {"file": Path(args.data).name, "sha256": file_sha256(args.data)},
            "checkpoint": Path(args.checkpoint).name,
            "raw": raw,
            "calibrated": calibrated,
            "provenance": provenance(),
        },
    )


if __name__ == "__main__":
    main()

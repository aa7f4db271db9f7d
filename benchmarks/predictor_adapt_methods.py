"""Fine-tuning or a residual Gaussian process: which adaptation of the predictor to a few records ranks better?

Each group of the chosen split is scored as `dass evaluate --adapt 10` scores it: adapt on 10 records of the
group (5 random draws, the same draws for every method), rank the group's other records, average Spearman and
MAE over draws and groups, beside zero-shot on the same remaining records; with the time each method took.
The default split is meta-validation: the choice of the default method is made there, never on meta-test
(the leave-one-family-out benchmark is the verdict on unseen kinds of data).

    .venv/bin/python -m benchmarks.predictor_adapt_methods [--data datasets_meta/meta_v1.csv.gz] \\
        [--checkpoint checkpoints/predictor_v1.pt] [--split val] [--methods finetune residual]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, file_sha256, provenance, result_path, write_json
from predictor.data import load_records, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate

ROWS = ("ours (zero-shot, same records)", "ours (adapted 10)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "datasets_meta" / "meta_v1.csv.gz"))
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "predictor_v1.pt"))
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--methods", nargs="+", default=["finetune", "residual"], choices=("finetune", "residual"))
    ap.add_argument("--label-seeds", type=int, default=2)
    ap.add_argument("--out", default=str(result_path("predictor_adapt_methods")))
    args = ap.parse_args()

    model = AccuracyPredictor.load(args.checkpoint)
    examples = split_by_task(load_records(args.data))[args.split]
    results = {
        "data": {"file": Path(args.data).name, "sha256": file_sha256(args.data)},
        "checkpoint": Path(args.checkpoint).name,
        "split": args.split,
        "label_seeds": args.label_seeds,
        "methods": {},
    }
    for method in args.methods:
        start = time.perf_counter()
        report = evaluate(
            model,
            examples,
            adapt_records=10,
            adapt_options={"method": method},
            baselines=False,
            label_seeds=args.label_seeds,
        )
        seconds = time.perf_counter() - start
        rows = {row: report["mean"][row] for row in ROWS}
        results["methods"][method] = {**rows, "groups": len(report["groups"]), "seconds": round(seconds, 1)}
        print(
            f"{method}: adapted {rows['ours (adapted 10)']['spearman']:.4f} against zero-shot "
            f"{rows['ours (zero-shot, same records)']['spearman']:.4f} on the same records; MAE "
            f"{rows['ours (zero-shot, same records)']['mae']:.4f} -> {rows['ours (adapted 10)']['mae']:.4f}; "
            f"{seconds:.0f} s over {len(report['groups'])} groups",
            flush=True,
        )
    results["provenance"] = provenance()
    write_json(Path(args.out), results)


if __name__ == "__main__":
    main()

"""Settings of `AccuracyPredictor.adapt`, chosen on meta-validation (never on meta-test).

For every setting, each meta-validation group is scored as `dass evaluate --adapt 10` scores it:
adapt on 10 records of the group (5 random draws), rank the group's other records, average the
Spearman over draws and groups; beside it, zero-shot on the same remaining records. Meta-test is
not read.

    python benchmarks/predictor_adapt_tuning.py --data datasets_meta/meta_v1.csv.gz \
        --checkpoint checkpoints/predictor_v1.pt --out benchmarks/predictor_adapt_tuning.json
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from distill.io import file_sha256, write_json
from predictor.data import load_records, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate


def settings() -> list[dict]:
    grid = [
        {"steps": s, "lr": lr, "anchor": a, "params": "head"}
        for s, lr, a in itertools.product((20, 60), (3e-3, 1e-2), (0.01, 0.1, 1.0))
    ]
    return grid + [{"steps": 20, "lr": 3e-3, "anchor": 0.1, "params": "all"}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="datasets_meta/meta_v1.csv.gz")
    ap.add_argument("--checkpoint", default="checkpoints/predictor_v1.pt")
    ap.add_argument("--records", type=int, default=10, help="records of a group to adapt on")
    ap.add_argument("--label-seeds", type=int, default=4)
    ap.add_argument("--out", default="benchmarks/predictor_adapt_tuning.json")
    args = ap.parse_args()

    val = split_by_task(load_records(args.data))["val"]
    model = AccuracyPredictor.load(args.checkpoint)
    rows = []
    for s in settings():
        start = time.perf_counter()
        report = evaluate(
            model, val, adapt_records=args.records, adapt_options=s, baselines=False, label_seeds=args.label_seeds
        )
        mean = report["mean"]
        row = {
            **s,
            "adapted": mean[f"ours (adapted {args.records})"]["spearman"],
            "zero_shot_same_records": mean["ours (zero-shot, same records)"]["spearman"],
            "seconds": round(time.perf_counter() - start, 1),
        }
        rows.append(row)
        print(
            f"steps {s['steps']:>3} lr {s['lr']:<6g} anchor {s['anchor']:<5g} {s['params']:<4}  "
            f"adapted {row['adapted']:.3f}  zero-shot same records {row['zero_shot_same_records']:.3f}",
            flush=True,
        )
    best = max(rows, key=lambda r: r["adapted"])
    write_json(
        Path(args.out),
        {
            "data": args.data,
            "data_sha256": file_sha256(args.data),
            "checkpoint": args.checkpoint,
            "checkpoint_sha256": file_sha256(args.checkpoint),
            "split": "val",
            "records": args.records,
            "label_seeds": args.label_seeds,
            "settings": rows,
            "best": best,
        },
    )
    print(f"best: {best}")


if __name__ == "__main__":
    main()

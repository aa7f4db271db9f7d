"""What moved the meta-test figures: more precise labels, or the new adaptation? Meta-test, one checkpoint.

Scores one checkpoint on the meta-test split of two exports (the same students; labels of different
numbers of seeds) with two adaptation settings each, zero-shot and after adapting to 10 records of a
group (5 draws), without the baselines. Nothing is chosen here: the adaptation was chosen on
meta-validation (``predictor_adapt_tuning.py``); this only says which change made which difference.

    git show 5bf131e:datasets_meta/meta_v1.csv.gz > runs/meta_16982.csv.gz
    .venv/bin/python -m benchmarks.predictor_labels_adaptation \\
        --labels "earlier=runs/meta_16982.csv.gz:4" --labels "now=datasets_meta/meta_v1.csv.gz:8"
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, file_sha256, result_path, write_json
from predictor.data import load_records, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate

ADAPTATIONS = {
    "head only, anchor 0.1 (the earlier default)": {"params": "head", "anchor": 0.1},
    "every weight, anchor 1 (the default)": {},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "predictor_v1.pt"))
    ap.add_argument("--labels", action="append", required=True, help="NAME=EXPORT:SEEDS, labels of up to SEEDS seeds")
    ap.add_argument("--out", default=str(result_path("predictor_labels_adaptation")))
    args = ap.parse_args()

    model = AccuracyPredictor.load(args.checkpoint)
    rows = []
    for spec in args.labels:
        name, rest = spec.split("=", 1)
        data, seeds = rest.rsplit(":", 1)
        test, data_sha256 = split_by_task(load_records(data))["test"], file_sha256(data)
        for adaptation, options in ADAPTATIONS.items():
            report = evaluate(model, test, adapt_options=options, baselines=False, label_seeds=int(seeds))
            row = {
                "labels": name,
                "data": data,
                "data_sha256": data_sha256,
                "label_seeds": int(seeds),
                "adaptation": adaptation,
                "zero_shot": report["mean"]["ours (zero-shot)"]["spearman"],
                "adapted": report["mean"]["ours (adapted 10)"]["spearman"],
                "by_source": {
                    source: {k: v["spearman"] for k, v in methods.items()}
                    for source, methods in report["mean_by_source"].items()
                },
                "recipe_awareness": report["recipe_awareness"]["mean"],
                "recipe_noise_ceiling": report["recipe_awareness"]["noise_ceiling"],
                "noise_ceiling": report["noise_ceiling"]["mean"],
            }
            rows.append(row)
            print(
                f"{name:<10} {adaptation:<45} zero-shot {row['zero_shot']:.3f}  adapted {row['adapted']:.3f}  "
                f"digits adapted {row['by_source']['digits']['ours (adapted 10)']:.3f}  "
                f"recipe {row['recipe_awareness']:.3f}  ceiling {row['noise_ceiling']:.3f}",
                flush=True,
            )
    write_json(
        Path(args.out),
        {"checkpoint": args.checkpoint, "checkpoint_sha256": file_sha256(args.checkpoint), "rows": rows},
    )


if __name__ == "__main__":
    main()

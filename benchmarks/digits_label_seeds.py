"""Digits against four-seed labels: the predictor's zero-shot Spearman and the measured noise ceiling.

Digits' test splits are small (270-539 images), so its one-seed labels are the noisiest of meta-v1.
The suite marks the digits group ``replicate``: every student is trained with seeds 0-3. This
script reads those records and the zero-shot predictions a ``dass evaluate`` run saved, and prints
per digits group the predictor's Spearman against two-seed labels (seeds 0-1) and four-seed labels
(seeds 0-3), beside the noise ceiling: one seed (0 vs 1), two seeds measured (0-1 vs 2-3), and four
seeds by Spearman-Brown from the measured two-seed figure. The rows and their means also go to
``benchmarks/results/digits_label_seeds.json`` (``--out``).

    dass evaluate --checkpoint checkpoints/predictor_v1.pt --data datasets_meta/meta_v1.csv.gz --out runs/eval
    .venv/bin/python -m benchmarks.digits_label_seeds --records EXPORT --evaluation runs/eval/evaluation.json
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import provenance, result_path, write_json
from predictor.data import load_records
from predictor.evaluate import noise_ceiling, spearman_brown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", required=True, help="an export holding the digits records with seeds 0-3")
    ap.add_argument("--evaluation", required=True, help="evaluation.json of a dass evaluate run")
    ap.add_argument("--out", default=str(result_path("digits_label_seeds")), help="the result JSON")
    args = ap.parse_args()

    examples = [e for e in load_records(args.records) if e["task_spec"].startswith("digits")]
    evaluation = json.loads(Path(args.evaluation).read_text())
    predictions = [p for p in evaluation["predictions"] if p["task"].startswith("digits")]
    one, two = noise_ceiling(examples, 1), noise_ceiling(examples, 2)
    labels: dict[tuple, dict[int, float]] = {}
    for e in examples:
        labels.setdefault((e["group"], e["genome_hash"]), {})[e["seed"]] = e["target"]
    rows = []
    for group in sorted({p["group"] for p in predictions}):
        ps = [p for p in predictions if p["group"] == group]
        seeds = [labels[(group, p["genome_hash"])] for p in ps]
        if not all(all(i in s for i in range(4)) for s in seeds):
            print(f"{group}: not every student has seeds 0-3 yet; left out")
            continue
        predicted = np.array([p["predicted"] for p in ps])
        two_seed = np.array([np.mean([s[i] for i in range(2)]) for s in seeds])
        four_seed = np.array([np.mean([s[i] for i in range(4)]) for s in seeds])
        row = {
            "group": group,
            "task": ps[0]["task"],
            "teacher": ps[0]["teacher"],
            "students": len(ps),
            "zero_shot_2seed": float(spearmanr(predicted, two_seed)[0]),
            "zero_shot_4seed": float(spearmanr(predicted, four_seed)[0]),
            "ceiling_1seed": one[group],
            "ceiling_2seed_measured": two[group],
            "ceiling_4seed_predicted": spearman_brown(two[group], 2),
        }
        rows.append(row)
        print(
            f"{row['task']:<40} {row['teacher']:<12} zero-shot {row['zero_shot_2seed']:.3f} (2-seed labels) "
            f"{row['zero_shot_4seed']:.3f} (4-seed) | ceiling {row['ceiling_1seed']:.3f} / "
            f"{row['ceiling_2seed_measured']:.3f} / {row['ceiling_4seed_predicted']:.3f}"
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k.startswith(("zero", "ceiling"))}
    print(f"\n{len(rows)} digits groups, means: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    write_json(
        args.out,
        {
            "measured": provenance(),
            "records": args.records,
            "evaluation": args.evaluation,
            "groups": rows,
            "mean": mean,
        },
    )


if __name__ == "__main__":
    main()

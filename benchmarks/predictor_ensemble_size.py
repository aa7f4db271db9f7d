"""Does a larger deep ensemble rank unseen tasks better, or only more slowly?

Fits one predictor with ``--members`` ensemble members (the card's other hyper-parameters) on meta-train,
then scores sub-ensembles of it zero-shot on meta-validation and meta-test: every single member, disjoint
halves, and the whole ensemble. A member's seed depends only on ``random_state`` and its index, so the
first five members are exactly the five-member predictor ``dass pretrain`` fits with that
``random_state``. Labels are the mean of ``--label-seeds`` seeds, for training and scoring alike. Run:

    .venv/bin/python -m benchmarks.predictor_ensemble_size [--data datasets_meta/meta_v1.csv.gz] [--members 10]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import (
    ROOT,
    card_hyper_parameters,
    file_sha256,
    result_path,
    write_json,
    zero_shot_spearman,
)
from predictor.data import load_records, mean_labels, split_by_task
from predictor.estimator import AccuracyPredictor


def sub_ensemble(predictor: AccuracyPredictor, members: range) -> AccuracyPredictor:
    sub = copy.copy(predictor)
    sub.models_ = [predictor.models_[i] for i in members]
    sub.meta_states_ = [predictor.meta_states_[i] for i in members]
    sub.n_models = len(members)
    return sub


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "datasets_meta" / "meta_v1.csv.gz"))
    ap.add_argument("--card", default=str(ROOT / "checkpoints" / "predictor_v1.json"))
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--label-seeds", type=int, default=2)
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--out", default=str(result_path("predictor_ensemble_size")))
    args = ap.parse_args()

    params = card_hyper_parameters(args.card)
    params.update(n_models=args.members, random_state=args.random_state)
    split = split_by_task(load_records(args.data))
    train = mean_labels(split["train"], args.label_seeds)
    start = time.perf_counter()
    predictor = AccuracyPredictor(**params).fit(train)
    fit_s = time.perf_counter() - start
    print(f"fitted {args.members} members on {len(train)} students in {fit_s:.0f} s", flush=True)

    n = args.members
    half = n // 2
    subsets = {f"member {i}": range(i, i + 1) for i in range(n)}
    subsets.update({f"members 0-{half - 1}": range(half), f"members {half}-{n - 1}": range(half, n)})
    subsets[f"members 0-{n - 1}"] = range(n)
    rows = {}
    for name, members in subsets.items():
        sub = sub_ensemble(predictor, members)
        rows[name] = {
            "members": len(members),
            "val": zero_shot_spearman(sub, split["val"], args.label_seeds),
            "test": zero_shot_spearman(sub, split["test"], args.label_seeds),
        }
        print(f"{name:<14} meta-val {rows[name]['val']:.4f}  meta-test {rows[name]['test']:.4f}", flush=True)
    singles = [r for k, r in rows.items() if k.startswith("member ")]
    summary = {
        "single member, mean": {k: float(np.mean([r[k] for r in singles])) for k in ("val", "test")},
        "single member, min-max": {
            k: [min(r[k] for r in singles), max(r[k] for r in singles)] for k in ("val", "test")
        },
    }
    print(
        f"single members: meta-val {summary['single member, mean']['val']:.4f} "
        f"({summary['single member, min-max']['val'][0]:.3f}-{summary['single member, min-max']['val'][1]:.3f}), "
        f"meta-test {summary['single member, mean']['test']:.4f} "
        f"({summary['single member, min-max']['test'][0]:.3f}-{summary['single member, min-max']['test'][1]:.3f})"
    )
    write_json(
        Path(args.out),
        {
            "data": args.data,
            "data_sha256": file_sha256(args.data),
            "hyper_parameters": params,
            "label_seeds": args.label_seeds,
            "train_students": len(train),
            "fit_s": fit_s,
            "subsets": rows,
            "summary": summary,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""How good is a k-member ensemble of one shape on average, not in one lucky or unlucky draw? Meta-validation only.

One fit gives one draw of its members, and draws of five members of one shape differ by up to
0.02 on meta-validation: comparing one fit of one shape against one fit of another says little. This script
pools the members of several fits that share a shape and a training set (``--pool NAME=A.pt+B.pt``;
members present twice, e.g. the first five of a ten-member fit with the same seed, count once), predicts
the meta-validation split of ``--val-data`` once per member, then scores many random k-member subsets
of each pool: each subset's ensemble (the mean of its members' predicted accuracies, as
``AccuracyPredictor.predict`` does) is ranked against the labels group by group, exactly as
``predictor.evaluate`` does zero-shot. The mean over subsets estimates what a fresh fit of k members
scores in expectation; the spread, how far one fit may land from it. Meta-test is never read. Run:

    .venv/bin/python -m benchmarks.predictor_ensemble_draws --val-data runs/meta_16982.csv.gz \\
        --pool w64=runs/variants/tn03_m10.pt+runs/variants/all_tn03_s1.pt --sizes 1 5 10 --out F.json
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch

from benchmarks.common import result_path, resume_results, write_json
from distill.genome import Genome
from predictor.data import groups, load_records, mean_labels, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import rank_metrics


def member_key(state: dict) -> str:
    """A hash of a member's weights: the same member loaded from two checkpoints counts once."""
    h = hashlib.sha256()
    for name, tensor in state.items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def pool_predictions(paths: list[str], val_groups: dict[str, list[dict]]) -> tuple[np.ndarray, list[str], dict]:
    """Each distinct member's predicted accuracy of every val example: ``(members, examples)``."""
    rows, keys, config = [], [], None
    for path in paths:
        predictor = AccuracyPredictor.load(path)
        if config is None:
            config = predictor.config_.to_dict()
        elif predictor.config_.to_dict() != config:
            raise SystemExit(f"{path}: its members have another shape ({predictor.config_.to_dict()}) than {config}")
        for model in predictor.models_:
            state = model.state_dict()  # the weights that predict (a checkpoint loads unadapted)
            key = member_key(state)
            if key in keys:
                continue
            single = copy.copy(predictor)
            single.models_, single.meta_states_ = [model], [state]
            row = []
            for exs in val_groups.values():
                genomes = [Genome.from_json(e["genome"]) for e in exs]
                mean, _ = single.predict(genomes, exs[0]["task_features"], [e["budget"] for e in exs])
                row.append(mean)
            rows.append(np.concatenate(row))
            keys.append(key)
    return np.stack(rows), keys, config


def ensemble_spearman(preds: np.ndarray, members: np.ndarray, bounds: list[tuple[int, int]], true: np.ndarray) -> float:
    """Mean over groups of the Spearman of the ensemble ``members`` (rows of ``preds``) against the labels."""
    mean = preds[members].mean(0)
    return float(np.mean([rank_metrics(mean[a:b], true[a:b], accuracy=True)["spearman"] for a, b in bounds]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", action="append", required=True, help="NAME=A.pt[+B.pt...]: fits of one shape")
    ap.add_argument("--val-data", required=True, help="export whose meta-validation split scores the subsets")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10], help="ensemble sizes k")
    ap.add_argument("--draws", type=int, default=200, help="random k-member subsets per size")
    ap.add_argument("--label-seeds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(result_path("predictor_ensemble_draws")))
    args = ap.parse_args()

    torch.set_num_threads(2)
    val = mean_labels(split_by_task(load_records(args.val_data))["val"], args.label_seeds)
    val_groups = {g: exs for g, exs in sorted(groups(val, seed=None).items()) if len(exs) >= 5}
    true = np.concatenate([[e["target"] for e in exs] for exs in val_groups.values()])
    offsets = np.cumsum([0] + [len(exs) for exs in val_groups.values()])
    bounds = list(zip(offsets[:-1], offsets[1:]))
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    results = resume_results(out, args.val_data, "pools", {})
    results.update(
        {
            "val_data": Path(args.val_data).name,
            "val_groups": len(val_groups),
            "label_seeds": args.label_seeds,
            "draws": args.draws,
        }
    )
    results.setdefault("pools", {})
    for text in args.pool:
        name, _, files = text.partition("=")
        if not name or not files:
            raise SystemExit(f"--pool {text!r}: expected NAME=A.pt[+B.pt...]")
        start = time.perf_counter()
        preds, keys, config = pool_predictions(files.split("+"), val_groups)
        n = len(keys)
        row = {
            "files": [Path(f).name for f in files.split("+")],
            "hidden": config["hidden"],
            "members": n,
            # the first k members in file order; up to the first file's size, its seed's `dass pretrain --models k`
            "first_k": {},
            "sizes": {},
        }
        for k in args.sizes:
            if k > n:
                continue
            row["first_k"][str(k)] = round(ensemble_spearman(preds, np.arange(k), bounds, true), 4)
            scores = [
                ensemble_spearman(preds, rng.choice(n, size=k, replace=False), bounds, true)
                for _ in range(1 if k == n else args.draws)
            ]
            row["sizes"][str(k)] = {
                "mean": round(float(np.mean(scores)), 4),
                "std": round(float(np.std(scores)), 4),
                "min": round(float(np.min(scores)), 4),
                "max": round(float(np.max(scores)), 4),
            }
            s = row["sizes"][str(k)]
            print(
                f"{name} (hidden {config['hidden']}, {n} members) k={k:>2}: mean {s['mean']:.4f} "
                f"sd {s['std']:.4f} range {s['min']:.4f}-{s['max']:.4f}; first {k}: {row['first_k'][str(k)]:.4f}",
                flush=True,
            )
        row["seconds"] = round(time.perf_counter() - start, 1)
        results["pools"][name] = row
        write_json(out, results)


if __name__ == "__main__":
    main()

"""Which training data and regularisers help the predictor on unseen tasks? Meta-validation only.

Each variant is a name, a meta-dataset export and hyper-parameters that override those of ``--card``
(the shipped card by default: give every setting that must differ from it, e.g. ``"task_noise": 0``).
The script fits it on that export's meta-train split and scores it zero-shot on the meta-validation split
of ``--val-data`` (one fixed set of tasks and labels for every variant, so the figures compare), then
appends the result to ``--out``; a variant already in ``--out`` is skipped, so a killed run resumes where
it stopped. Meta-test is never read: it stays for the one checkpoint that ships. Each fitted predictor
is kept under ``--keep`` (optional) to be scored further or shipped; a DATA ending in ``.pt`` is a
predictor fitted before, only scored (``A.pt+B.pt``: one ensemble of both's members). Run:

    .venv/bin/python -m benchmarks.predictor_variants --val-data runs/all.csv.gz --out F.json \\
        --variant 'all_s1=runs/all.csv.gz:{"random_state": 1}' --variant 'noise=runs/all.csv.gz:{"task_noise": 0.3}'
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, card_hyper_parameters, result_path, resume_results, write_json
from predictor.data import load_records, mean_labels, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``NAME=DATA:JSON`` -> (name, data file, hyper-parameter overrides)."""
    name, _, rest = text.partition("=")
    data, _, params = rest.partition(":")
    if not name or not data:
        raise SystemExit(f"--variant {text!r}: expected NAME=DATA[:JSON]")
    return name, data, json.loads(params) if params else {}


@functools.cache
def splits_of(path: str) -> dict[str, list[dict]]:
    """The task split of an export, read once however many variants use it."""
    return split_by_task(load_records(path))


def combine(predictors: list[AccuracyPredictor]) -> AccuracyPredictor:
    """One ensemble of the members of all ``predictors`` (fitted on the same data)."""
    first = predictors[0]
    first.models_ = [m for p in predictors for m in p.models_]
    first.meta_states_ = [s for p in predictors for s in p.meta_states_]
    first.n_models = len(first.models_)
    return first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True, help="NAME=DATA[:JSON overrides]")
    ap.add_argument("--val-data", required=True, help="export whose meta-validation split scores every variant")
    ap.add_argument("--card", default=str(ROOT / "checkpoints" / "predictor_v1.json"))
    ap.add_argument("--label-seeds", type=int, default=4)
    ap.add_argument("--out", default=str(result_path("predictor_variants")))
    ap.add_argument("--keep", help="directory for the fitted predictors (NAME.pt)")
    args = ap.parse_args()

    out = Path(args.out)
    results = resume_results(out, args.val_data, "variants", {"val_data": Path(args.val_data).name, "variants": {}})
    val = splits_of(args.val_data)["val"]
    base = card_hyper_parameters(args.card)
    for name, data, overrides in map(parse_variant, args.variant):
        if name in results["variants"]:
            print(f"{name}: done before, {results['variants'][name]['val_spearman']:.4f}")
            continue
        start = time.perf_counter()
        if data.endswith(".pt"):  # predictors fitted before (e.g. by `dass pretrain`): score them only
            predictor, train = combine([AccuracyPredictor.load(f) for f in data.split("+")]), []
        else:
            train = mean_labels(splits_of(data)["train"], args.label_seeds)
            predictor = AccuracyPredictor(**{**base, **overrides}).fit(train)
        fit_s = time.perf_counter() - start
        if args.keep and train:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            predictor.save(Path(args.keep) / f"{name}.pt")
        report = evaluate(predictor, val, adapt_records=0, baselines=False, label_seeds=args.label_seeds)
        ours = report["mean"]["ours (zero-shot)"]
        results["variants"][name] = {
            "data": "+".join(Path(f).name for f in data.split("+")),
            "overrides": overrides,
            "train_labels": len(train) or predictor.n_records_,  # students (seed-averaged labels)
            "fit_seconds": round(fit_s, 1),
            "val_spearman": round(ours["spearman"], 4),
            "val_kendall": round(ours["kendall"], 4),
            "val_recipe_awareness": round(report["recipe_awareness"]["mean"], 4),
            "val_groups": len(report["groups"]),
        }
        write_json(out, results)
        print(f"{name}: meta-validation Spearman {ours['spearman']:.4f} ({fit_s:.0f} s fit)", flush=True)


if __name__ == "__main__":
    main()

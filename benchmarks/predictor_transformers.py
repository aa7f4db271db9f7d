"""Does the predictor rank transformer students of tasks it never saw?

Meta-dataset v2's transformer group (``part4_vit*.csv.gz``: vision-transformer students of the ``vit`` spaces,
distilled from transformer and CNN teachers) is split by task: a seeded quarter of the tasks that have
transformer students is held out *whole* -- every record of those tasks, CNN students included, leaves
meta-training -- and a predictor is meta-trained (the checkpoint card's hyper-parameters) on everything else:
meta-dataset v1, the CNN parts of v2 and the other transformer tasks. On the held-out tasks' transformer groups
it is scored zero-shot and adapted to 10 records, beside the parameter-count and FLOPs baselines, the random
forest and the groups' noise ceiling; their CNN groups are scored the same way for comparison.

    .venv/bin/python -m benchmarks.predictor_transformers --data datasets_meta/meta_v1.csv.gz \\
        datasets_meta/meta_v2/part[1-4]_*.csv.gz [--test-fraction 0.25] [--set n_models=4]

The fitted predictor is kept (``--checkpoint``, default ``$DASS_CACHE/predictor_transformers.pt``), so a rerun
with the same data and settings scores it again without refitting.
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, card_hyper_parameters, file_sha256, provenance, result_path, write_json
from distill.genome import Genome, get_space
from distill.teachers import cache_dir
from predictor.data import load_records, mean_labels
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate

METHODS = (
    "ours (zero-shot)",
    "ours (zero-shot, same records)",
    "ours (adapted 10)",
    "params",
    "FLOPs",
    "random forest",
)


def student_family(example: dict[str, Any]) -> str:
    """The student family of a record's genome (``staged_cnn``, ``vit``)."""
    return get_space(Genome.from_json(example["genome"]).space).arch.family


def held_out(task_id: str, fraction: float) -> bool:
    """A seeded, order-free draw of tasks (another salt than meta-validation's ``split_of``)."""
    h = int(hashlib.sha256(f"transformers/{task_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < fraction


def score(model: AccuracyPredictor, runs: list[dict], train: list[dict], label_seeds: int) -> dict[str, Any]:
    report = evaluate(model, runs, train, adapt_records=10, label_seeds=label_seeds)
    return {
        "groups": len(report["groups"]),
        "students": report["labels"]["students"],
        "mean": {m: report["mean"][m] for m in METHODS if m in report["mean"]},
        "noise_ceiling": report["noise_ceiling"]["mean"],
        "noise_ceiling_groups": report["noise_ceiling"]["n"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True, help="meta-dataset exports (.csv.gz), read together")
    ap.add_argument("--test-fraction", type=float, default=0.25, help="share of the transformer tasks held out")
    ap.add_argument("--card", default=str(ROOT / "checkpoints" / "predictor_v1.json"))
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override a hyper-parameter (JSON)")
    ap.add_argument("--label-seeds", type=int, default=2)
    ap.add_argument("--checkpoint", default=str(cache_dir() / "predictor_transformers.pt"))
    ap.add_argument("--out", default=str(result_path("predictor_transformers")))
    args = ap.parse_args()

    params = card_hyper_parameters(args.card)
    params.update({k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)})
    examples = [e for path in args.data for e in load_records(path)]
    family = {e["genome"]: student_family(e) for e in examples}
    transformer_tasks = {e["task_id"] for e in examples if family[e["genome"]] != "staged_cnn"}
    if not transformer_tasks:
        raise SystemExit("no record of --data has a transformer student: pass meta-dataset v2's part4_vit exports")
    test_tasks = {t for t in transformer_tasks if held_out(t, args.test_fraction)}
    if not test_tasks:
        raise SystemExit(f"--test-fraction {args.test_fraction} holds out none of {len(transformer_tasks)} tasks")
    train_runs = [e for e in examples if e["task_id"] not in test_tasks]
    test_runs = [e for e in examples if e["task_id"] in test_tasks]
    settings = {
        "data": {Path(p).name: file_sha256(p) for p in args.data},
        "hyper_parameters": params,
        "label_seeds": args.label_seeds,
        "test_fraction": args.test_fraction,
    }
    train = mean_labels(train_runs, args.label_seeds)
    checkpoint, settings_file = Path(args.checkpoint), Path(args.checkpoint).with_suffix(".settings.json")
    start = time.perf_counter()
    if checkpoint.is_file() and settings_file.is_file() and json.loads(settings_file.read_text()) == settings:
        model = AccuracyPredictor.load(checkpoint)
    else:
        model = AccuracyPredictor(**params).fit(train)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        model.save(checkpoint)
        write_json(settings_file, settings)
    fit_s = time.perf_counter() - start
    result = {
        "measured": provenance(),
        "settings": settings,
        "train": {
            "records": len(train_runs),
            "transformer_records": sum(family[e["genome"]] != "staged_cnn" for e in train_runs),
            "tasks": len({e["task_id"] for e in train_runs}),
        },
        "test_tasks": sorted({e["task_spec"] for e in test_runs}),
        "fit_seconds": round(fit_s, 1),
    }
    for name, keep in (("transformer students", lambda e: family[e["genome"]] != "staged_cnn"),
                       ("CNN students", lambda e: family[e["genome"]] == "staged_cnn")):  # fmt: skip
        runs = [e for e in test_runs if keep(e)]
        if runs:
            result[name] = score(model, runs, train, args.label_seeds)
            m = result[name]["mean"]
            print(
                f"{name}: {result[name]['groups']} groups, zero-shot {m['ours (zero-shot)']['spearman']:.3f}, "
                f"adapted {m.get('ours (adapted 10)', {}).get('spearman', float('nan')):.3f}, params "
                f"{m['params']['spearman']:.3f}, ceiling {result[name]['noise_ceiling']:.3f}",
                flush=True,
            )
    write_json(Path(args.out), result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

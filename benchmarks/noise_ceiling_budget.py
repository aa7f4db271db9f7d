"""What makes meta-dataset labels rankable: the seed-to-seed noise ceiling against the training budget.

Meta-dataset v1 trains every student for 6 epochs; its seed-to-seed Spearman (the noise ceiling) is
about 0.8, short of 0.85. This script trains the same students of a few v1 tasks with two seeds at
several budgets (and, optionally, with a larger test set) and prints the ceiling of each setting, so
the next collection can pick a budget that makes the labels rankable.

Every (budget, test size) setting is a suite collected into one SQLite store under ``--out`` (real
training with the collector's own jobs), so an interrupted run goes on where it stopped:

    .venv/bin/python benchmarks/noise_ceiling_budget.py [--budgets 6 18] [--students 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from datasets_meta.collector import InlineExecutor, LocalExecutor, collect, expand
from datasets_meta.store import SQLiteStore
from datasets_meta.suite import Suite
from predictor.data import to_example
from predictor.evaluate import noise_ceiling

ROOT = Path(__file__).resolve().parents[1]
DATA = os.environ.get("DASS_DATA", str(ROOT.parent / "shared" / "data"))
# v1 tasks whose measured ceiling was among the lowest, and one of the highest, with the v1 teachers
GROUPS = [
    {"classes": ["1,3,5,7,9"], "transforms": ["none"], "n_train": [500], "teachers": ["cnn-s"]},
    {"classes": ["5-9"], "transforms": ["invert"], "n_train": [1000], "teachers": ["resnet-l"]},
    {"classes": ["0-4"], "transforms": ["noise0.4"], "n_train": [500], "teachers": ["resnet-s"]},
]


def suite_for(budget: int, n_test: int, students: int) -> Suite:
    groups = [{"source": "mnist", "size": 12, "n_test": n_test, "teachers_per_task": 1, **g} for g in GROUPS]
    return Suite.from_dict(
        {
            "name": f"noise-ceiling-b{budget}-t{n_test}",
            "seed": 0,  # the v1 seed: with --students 12, the architectures of meta-v1 for these tasks
            "budget": budget,
            "teacher_epochs": 12,
            "students_per_pair": students,
            "recipes_per_student": 1,
            "replicate_fraction": 1.0,
            "groups": groups,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[6, 18])
    parser.add_argument("--n-test", type=int, nargs="+", default=[2000])
    parser.add_argument("--students", type=int, default=8, help="architectures per task (each with KD and a control)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "runs" / "noise_ceiling_budget"))
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_test in args.n_test:
        for budget in args.budgets:
            store = SQLiteStore(out / f"b{budget}_t{n_test}.db")
            try:
                store.add_jobs(expand(suite_for(budget, n_test, args.students), DATA))
                executor = LocalExecutor(args.workers, DATA) if args.workers > 1 else InlineExecutor(DATA)
                collect(store, executor)
                records = [to_example(r) for r in store.records() if r["status"] == "ok"]
            finally:
                store.close()
            ceiling = noise_ceiling(records)
            if not ceiling:
                print(f"budget {budget} epochs, {n_test} test images: no task has 4 students with both seeds yet")
                continue
            by_seed = {}
            for e in records:
                by_seed.setdefault((e["group"], e["genome_hash"]), {})[e["seed"]] = e["target"]
            diffs = [abs(v[0] - v[1]) for v in by_seed.values() if 0 in v and 1 in v]  # the suite's replicate seed
            for group, rho in sorted(ceiling.items()):
                spec = next(e["task_spec"] for e in records if e["group"] == group)
                rows.append((budget, n_test, spec, rho))
            rows.append((budget, n_test, "mean", float(np.mean(list(ceiling.values())))))
            print(
                f"budget {budget:>2} epochs, {n_test} test images: noise ceiling {np.mean(list(ceiling.values())):.3f} "
                f"over {len(ceiling)} tasks, mean |seed 0 - seed 1| {np.mean(diffs):.4f} over {len(diffs)} students",
                flush=True,
            )
    print("\n| budget (epochs) | test images | task | seed-to-seed Spearman |\n|---:|---:|---|---:|")
    for budget, n_test, spec, rho in rows:
        print(f"| {budget} | {n_test} | {spec} | {rho:.3f} |")


if __name__ == "__main__":
    main()

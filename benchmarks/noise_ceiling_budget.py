"""What makes meta-dataset labels rankable: the seed-to-seed noise ceiling against the training
budget and the number of seeds a label averages.

A single 6-epoch run per student gives a seed-to-seed Spearman (the noise ceiling) of about 0.8,
short of 0.85. This script trains the same students of a few v1 tasks with ``2 k`` seeds at
several budgets (and, optionally, with a larger test set) and prints, per setting, the ceiling of
one-seed labels (seed 0 against seed 1) and of ``k``-seed labels (the mean of seeds 0..k-1 against
the mean of seeds k..2k-1), so a collection can pick what makes its labels rankable.

Every (budget, test size) setting is a suite collected into one SQLite store under ``--out`` (real
training with the collector's own jobs), so an interrupted run goes on where it stopped, and a run
with a larger ``--label-seeds`` only trains the seeds it lacks. The table also goes to
``benchmarks/results/noise_ceiling_budget.json`` (``--result``):

    .venv/bin/python -m benchmarks.noise_ceiling_budget [--budgets 6 18] [--label-seeds 2] [--workers 2]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import DATA_DIR, ROOT, provenance, result_path, write_json
from datasets_meta.collector import collect, expand
from datasets_meta.store import SQLiteStore
from datasets_meta.suite import Suite
from distill.executors import InProcessExecutor, PoolExecutor
from predictor.data import to_example
from predictor.evaluate import noise_ceiling, spearman_brown

DATA = str(DATA_DIR)
# v1 tasks whose measured ceiling was among the lowest, and two of the highest, with v1 teachers;
# and a digits task (its test split has 270 images)
MNIST = [
    {"classes": ["1,3,5,7,9"], "transforms": ["none"], "n_train": [500], "teachers": ["cnn-s"]},
    {"classes": ["5-9"], "transforms": ["invert"], "n_train": [1000], "teachers": ["resnet-l"]},
    {"classes": ["0-4"], "transforms": ["noise0.4"], "n_train": [500], "teachers": ["resnet-s"]},
    {"classes": ["0,2,4,6,8"], "transforms": ["rotate30"], "n_train": [1000], "teachers": ["cnn-l"]},
]
DIGITS = [{"source": "digits", "classes": ["0-4"], "transforms": ["none"], "teachers": ["mobilenet-s"]}]


def suite_for(budget: int, n_test: int, students: int, label_seeds: int) -> Suite:
    groups = [{"source": "mnist", "size": 12, "n_test": n_test, **g} for g in MNIST] + DIGITS
    return Suite.from_dict(
        {
            "name": f"noise-ceiling-b{budget}-t{n_test}",
            "seed": 0,  # the v1 seed: with --students 12, the architectures of meta-v1 for these tasks
            "budget": budget,
            "teacher_epochs": 12,
            "students_per_pair": students,
            "recipes_per_student": 1,
            "label_seeds": label_seeds,
            "replicate_fraction": 1.0,
            "groups": [{"teachers_per_task": 1, **g} for g in groups],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[6, 18])
    parser.add_argument("--n-test", type=int, nargs="+", default=[2000])
    parser.add_argument("--students", type=int, default=8, help="architectures per task (each with KD and a control)")
    parser.add_argument("--label-seeds", type=int, default=2, help="seeds a label averages (2x as many are trained)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "runs" / "noise_ceiling_budget"), help="folder of the stores")
    parser.add_argument("--result", default=str(result_path("noise_ceiling_budget")), help="the result JSON")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_test in args.n_test:
        for budget in args.budgets:
            store = SQLiteStore(out / f"b{budget}_t{n_test}.db")
            try:
                store.add_jobs(expand(suite_for(budget, n_test, args.students, args.label_seeds), DATA))
                executor = PoolExecutor(args.workers, DATA) if args.workers > 1 else InProcessExecutor(DATA)
                with executor:
                    collect(store, executor)
                records = [to_example(r, label="test_acc") for r in store.records() if r["status"] == "ok"]
            finally:
                store.close()
            k = args.label_seeds
            one, many = noise_ceiling(records, 1), noise_ceiling(records, k)
            if not one:
                print(f"budget {budget} epochs, {n_test} test images: no task has 4 students with two seeds yet")
                continue
            by_seed: dict[tuple, dict[int, float]] = {}
            for e in records:
                by_seed.setdefault((e["group"], e["genome_hash"]), {})[e["seed"]] = e["target"]
            diffs = [abs(v[0] - v[1]) for v in by_seed.values() if 0 in v and 1 in v]
            for group, rho in sorted(one.items()):
                spec = next(e["task_spec"] for e in records if e["group"] == group)
                rows.append((budget, n_test, spec, rho, many.get(group, float("nan"))))
            m1, mk = float(np.mean(list(one.values()))), float(np.mean(list(many.values()))) if many else float("nan")
            rows.append((budget, n_test, "mean", m1, mk))
            print(
                f"budget {budget:>2} epochs, {n_test} test images: noise ceiling of one-seed labels {m1:.3f} over "
                f"{len(one)} tasks (mean |seed 0 - seed 1| {np.mean(diffs):.4f} over {len(diffs)} students); "
                f"of {k}-seed labels {mk:.3f} over {len(many)} tasks "
                f"(Spearman-Brown predicts {spearman_brown(m1, k):.3f})",
                flush=True,
            )
    k = args.label_seeds
    print(f"\n| budget (epochs) | test images | task | one seed | mean of {k} seeds |\n|---:|---:|---|---:|---:|")
    for budget, n_test, spec, rho, rho_k in rows:
        print(f"| {budget} | {n_test} | {spec} | {rho:.3f} | {rho_k:.3f} |")
    columns = ("budget", "n_test", "task", "one_seed", "label_seeds_mean")
    write_json(
        args.result,
        {
            "measured": provenance(),
            "students": args.students,
            "label_seeds": k,
            # NaN (no task with both labels yet) is written as null: JSON has no NaN
            "rows": [
                {c: (None if isinstance(v, float) and v != v else v) for c, v in zip(columns, row)} for row in rows
            ],
        },
    )


if __name__ == "__main__":
    main()

"""Collector throughput: records per hour with 1 and with 2 local workers on the same jobs.

The jobs are those of meta-dataset v1 (12x12 MNIST, 850 training images, 6 epochs, students
across the size range); the teacher is trained before timing. The table also goes to
``benchmarks/results/collector_throughput.json`` (``--out``). Run on an otherwise idle machine:

    .venv/bin/python -m benchmarks.collector_throughput [--jobs 24] [--data-dir DIR]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import DATA_DIR, provenance, result_path, write_json
from datasets_meta.collector import collect, expand
from datasets_meta.store import SQLiteStore
from datasets_meta.suite import Suite
from distill.executors import PoolExecutor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--out", default=str(result_path("collector_throughput")), help="the result JSON")
    args = parser.parse_args()
    suite = Suite.from_dict(
        {
            "name": "throughput",
            "budget": 6,
            "teacher_epochs": 12,
            "students_per_pair": args.jobs // 3 + 1,
            "recipes_per_student": 2,
            "replicate_fraction": 0.0,
            "groups": [
                {
                    "source": "mnist",
                    "classes": ["0-4"],
                    "transforms": ["rotate30"],
                    "n_train": [1000],
                    "size": 12,
                    "n_test": 2000,
                    "teachers": ["resnet-s"],
                    "teachers_per_task": 1,
                }
            ],
        }
    )
    jobs = expand(suite, args.data_dir)[: args.jobs]
    work = Path(tempfile.mkdtemp(prefix="dass-throughput-"))
    with SQLiteStore(work / "warm.db") as store:  # train the teacher and fill the caches first
        store.add_jobs(jobs[:1])
        with PoolExecutor(1, args.data_dir) as executor:
            collect(store, executor)
    print(f"{len(jobs)} jobs: {suite.groups[0].specs()[0][0]}, teacher resnet-s, budget {suite.budget} epochs\n")
    print("| workers | wall time (s) | records/hour | speed-up |\n|---:|---:|---:|---:|")
    base = None
    rows = []
    for w in args.workers:
        with SQLiteStore(work / f"w{w}.db") as store:
            store.add_jobs(jobs)
            start = time.perf_counter()
            with PoolExecutor(w, args.data_dir) as executor:
                progress = collect(store, executor)
            wall = time.perf_counter() - start
        assert progress.done == len(jobs), progress
        rate = 3600 * len(jobs) / wall
        base = base or rate
        print(f"| {w} | {wall:.1f} | {rate:,.0f} | {rate / base:.2f}x |", flush=True)
        rows.append({"workers": w, "wall_s": wall, "records_per_hour": rate, "speed_up": rate / base})
    write_json(
        args.out,
        {
            "measured": provenance(),
            "jobs": len(jobs),
            "task": suite.groups[0].specs()[0][0],
            "teacher": "resnet-s",
            "budget": suite.budget,
            "workers": rows,
        },
    )


if __name__ == "__main__":
    main()

"""How good is the student each search picked, apart from the luck of its own training seed?

A search reports its best student by validation accuracy, and that accuracy comes from one training
run. Among many trainings, the one picked is also the one whose seed happened to go well (on the
validation *and* the test split, since both are measured on the same weights), so a strategy that
trains more students gains from the pick alone. This benchmark takes the best student of every
finished ``search_efficiency.py`` run at a given number of trainings, trains it again at the full
budget with fresh seeds (100, 101, ...), and reports the mean test accuracy of those retrainings:
the quality of the architecture and recipe the search found, without the winner's luck.

    .venv/bin/python -m benchmarks.search_reseed [--runs runs/search_efficiency/full] [--seeds 4]
        [--reference benchmarks/results/search_reseed.json]   # keep the picks of strategies not rerun

Retrainings go through the collector's ``run_job`` (the same code as every other training) and are
cached in the output JSON, so an interrupted run goes on where it stopped.
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import ROOT, best_at, provenance, result_path, write_json
from distill.job import run_job
from distill.records import Job
from search.loop import HISTORY_FILE

# the training budgets at which each strategy's pick is retrained (random search's 200 is its reference)
POINTS = {"random": (20.0, 200.0)}
DEFAULT_POINTS = (20.0,)


def job_of(run_dir: Path, genome_hash: str) -> tuple[Job, int, str | None]:
    """The stored full-budget job of ``genome_hash`` in a run's record store, its student's parameter count,
    and the data directory the run used."""
    config = json.loads((run_dir / "config.json").read_text())
    full = int(config["rungs"][-1])
    conn = sqlite3.connect(f"file:{run_dir / 'records.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "SELECT * FROM jobs WHERE genome_hash = ? AND budget = ? AND state = 'done'", (genome_hash, full)
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise SystemExit(f"{run_dir}: no finished full-budget job of {genome_hash}")
    job = dict(row)
    job["tags"] = json.loads(job["tags"])
    return Job.from_record(job), job["params"], config["data_dir"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "runs" / "search_efficiency" / "full"))
    ap.add_argument("--seeds", type=int, default=4, help="fresh training seeds per picked student")
    ap.add_argument("--out", default=str(result_path("search_reseed")))
    ap.add_argument(
        "--reference",
        help="an earlier search_reseed.json: its picks of (task, strategy) pairs that have no run under --runs join "
        "the result (marked with the file), so that rerunning some strategies keeps the others",
    )
    args = ap.parse_args()

    out_path = Path(args.out)
    cache = json.loads(out_path.read_text())["trainings"] if out_path.is_file() else {}
    # read now: --reference may be --out itself, which is rewritten after every training
    reference = json.loads(Path(args.reference).read_text()) if args.reference else None
    picks = []
    for history_file in sorted(Path(args.runs).glob(f"*/*/seed*/{HISTORY_FILE}")):
        run_dir = history_file.parent
        strategy, task_dir = run_dir.parent.name, run_dir.parent.parent.name
        history = json.loads(history_file.read_text())
        for point in POINTS.get(strategy, DEFAULT_POINTS):
            genome_hash = best_at(history, point, "best_hash")
            if not isinstance(genome_hash, str):  # no full-budget student yet (NaN)
                continue
            job, params, data_dir = job_of(run_dir, genome_hash)
            tests = []
            for seed in range(100, 100 + args.seeds):
                key = f"{job.task_id}/{job.teacher_id}/{genome_hash}/{job.budget}/{seed}"
                if key not in cache:
                    result = run_job(dataclasses.replace(job, seed=seed), data_dir=data_dir)
                    cache[key] = {"status": result.status, "test_acc": result.test_acc}
                    write_json(out_path, {"trainings": cache, "picks": picks})  # resumable after every training
                if cache[key]["status"] == "ok":
                    tests.append(cache[key]["test_acc"])
            found = [h["best_test_acc"] for h in history if h["best_hash"] == genome_hash][-1]
            picks.append(
                {
                    "task": task_dir,
                    "strategy": strategy,
                    "run": run_dir.name,
                    "at_trainings": point,
                    "genome_hash": genome_hash,
                    "params": params,
                    "test_acc_found": found,
                    "test_acc_reseeded": tests,
                }
            )
            print(
                f"{task_dir[:28]:<28} {strategy:<7} {run_dir.name} @{point:g}: found {found:.4f}, "
                f"retrained {np.mean(tests):.4f} ± {np.std(tests):.4f} ({len(tests)} seeds)",
                flush=True,
            )
    if reference is not None:
        ran = {(p["task"], p["strategy"]) for p in picks}
        for p in reference["picks"]:
            if (p["task"], p["strategy"]) not in ran:
                picks.append({**p, "from_reference": p.get("from_reference", str(args.reference))})
    write_json(out_path, {"trainings": cache, "picks": picks, "measured": provenance()})

    print(f"\nmean over a strategy's runs: test accuracy as found, and retrained with {args.seeds} fresh seeds")
    groups: dict[tuple, list[dict]] = {}
    for p in picks:
        groups.setdefault((p["task"], p["strategy"], p["at_trainings"]), []).append(p)
    for (task, strategy, point), ps in sorted(groups.items()):
        found = np.array([p["test_acc_found"] for p in ps])
        again = np.array([np.mean(p["test_acc_reseeded"]) for p in ps])
        print(
            f"{task[:28]:<28} {strategy:<7} @{point:<4g} found {found.mean():.4f} ± {found.std():.4f}   "
            f"retrained {again.mean():.4f} ± {again.std():.4f}   ({len(ps)} runs)"
        )


if __name__ == "__main__":
    main()

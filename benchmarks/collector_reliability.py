"""Kill the collector with SIGKILL at random moments, resume each time, and check the store.

Prints how many kills were made and, at the end: records lost, duplicates, finished jobs trained
again, and rows of finished jobs that changed. Every figure should be 0; the counts also go to
``benchmarks/results/collector_reliability.json`` (``--out``). Run:

    .venv/bin/python -m benchmarks.collector_reliability [--kills 25] [--workers 2] [--seed 0]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import provenance, result_path, write_json
from datasets_meta.store import SQLiteStore

SUITE = """
name = "reliability"
budget = 2
teacher_epochs = 2
students_per_pair = 14
recipes_per_student = 2
replicate_fraction = 0.2

[[groups]]
source = "digits"
classes = ["0-4", "5-9"]
teachers = ["cnn-s", "resnet-s"]
teachers_per_task = 1
"""


def key(r: dict) -> tuple:
    return (r["task_id"], r["teacher_id"], r["genome_hash"], str(r["budget"]), str(r["seed"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=30.0, help="longest run before a kill, in seconds")
    parser.add_argument("--out", default=str(result_path("collector_reliability")), help="the result JSON")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="dass-reliability-"))
    (work / "suite.toml").write_text(SUITE)
    db, trace = work / "m.db", work / "trace.txt"
    env = {**os.environ, "DASS_TRACE_JOBS": str(trace), "DASS_CACHE": str(work / "cache")}
    cmd = [sys.executable, "-m", "dass", "collect", "--suite", str(work / "suite.toml"), "--db", str(db)]
    cmd += ["--workers", str(args.workers)]
    # Train the teachers first, so that kills fall on student runs rather than on teacher training.
    subprocess.run(cmd[:-2] + ["--workers", "1", "--max-jobs", "2"], env=env, check=True, capture_output=True)
    snapshots: dict[tuple, dict] = {}
    changed = kills = 0
    for _ in range(args.kills):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.5, args.max_delay))
        if proc.poll() is not None:
            break  # finished before we could kill it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        with SQLiteStore(db, writer=False) as store:
            done = store.records()
            counts = store.counts()
        for r in done:
            before = snapshots.setdefault(key(r), r)
            changed += before != r
        print(f"kill {kills}: done {counts['done']}, pending {counts['pending']}, running {counts['running']}")
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    with SQLiteStore(db, writer=False) as store:
        recs, counts = store.records(), store.counts()
        total = sum(counts.values())
    runs: dict[tuple, list[float]] = {}
    for line in trace.read_text().splitlines():
        t, task, teacher, genome, seed = line.split()
        runs.setdefault((task, teacher, genome, seed), []).append(float(t))
    retrained = sum(
        any(
            t > r["finished_at"]
            for t in runs.get((r["task_id"], r["teacher_id"], r["genome_hash"], str(r["seed"])), [])
        )
        for r in recs
    )
    lost = sum(1 for k in snapshots if k not in {key(r) for r in recs})
    extra_runs = sum(len(v) for v in runs.values()) - len(recs)
    checks = {
        "finished records lost": lost,
        "duplicate records": len(recs) - len({key(r) for r in recs}),
        "finished jobs trained again": retrained,
        "finished rows that changed": changed,
        "runs cut short by a kill (re-run, not recorded twice)": extra_runs,
    }
    print(f"\njobs {total}, kills {kills}, done {counts['done']}, failed {counts['failed']}")
    print("| check | count |\n|---|---:|")
    for check, count in checks.items():
        print(f"| {check} | {count} |")
    write_json(
        args.out,
        {
            "measured": provenance(),
            "seed": args.seed,
            "workers": args.workers,
            "jobs": total,
            "kills": kills,
            "done": counts["done"],
            "failed": counts["failed"],
            "checks": checks,
        },
    )


if __name__ == "__main__":
    main()

"""What limits the predictor's zero-shot ranking: the number of meta-train tasks, or the noise of their labels?

Fits the predictor (the shipped checkpoint's hyper-parameters) on nested subsets of the meta-train
tasks (a stable hash of the task id picks them, so the 25 % subset is inside the 50 % one), with
one-seed labels (seed 0) and with two-seed labels (the mean of seeds 0 and 1 where both exist),
and scores each fit zero-shot on meta-validation and meta-test, every time against two-seed labels.
If Spearman still climbs from half the tasks to all of them, more tasks is what the next
collection should buy; if two-seed training labels beat one-seed ones, more seeds is.

    .venv/bin/python -m benchmarks.predictor_data_scaling [--data datasets_meta/meta_v1.csv.gz]
        [--fractions 0.25 0.5 1] [--labels 1 2] [--random-states 0] [--set NAME=VALUE ...]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

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


def task_rank(task_id: str) -> float:
    """A stable number in [0, 1) per task; the first ``f`` of tasks by it form the ``f`` subset."""
    return int(hashlib.sha256(f"scaling/{task_id}".encode()).hexdigest()[:8], 16) / 2**32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "datasets_meta" / "meta_v1.csv.gz"))
    ap.add_argument(
        "--card",
        default=str(ROOT / "checkpoints" / "predictor_v1.json"),
        help="take the hyper-parameters from this checkpoint card",
    )
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--labels", type=int, nargs="+", default=[1, 2], help="training label seeds to compare")
    ap.add_argument(
        "--random-states",
        type=int,
        nargs="+",
        default=[0],
        help="fit once per seed of the predictor, to see how much a figure moves between fits",
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="override a hyper-parameter of the card (VALUE is JSON), e.g. n_models=10",
    )
    ap.add_argument("--out", default=str(result_path("predictor_data_scaling")))
    args = ap.parse_args()

    params = card_hyper_parameters(args.card)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    params.update(overrides)
    suffix = "".join(f" {k}={v}" for k, v in overrides.items())
    split = split_by_task(load_records(args.data))
    tasks = sorted({e["task_id"] for e in split["train"]}, key=task_rank)
    out_path = Path(args.out)
    data_sha = file_sha256(args.data)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}  # resumable: one fit per key
    stale = [key for key, row in results.items() if row.get("data_sha256") != data_sha]
    if stale:  # fitted on another export: refit rather than mix data in one table
        print(f"{len(stale)} earlier fits used another data file; they are fitted again on {args.data}")
        results = {key: row for key, row in results.items() if key not in stale}
    for seeds, fraction, rs in itertools.product(args.labels, args.fractions, args.random_states):
        key = f"labels={seeds} tasks={fraction:g}" + (f" random_state={rs}" if rs else "") + suffix
        if key in results:
            continue
        keep = set(tasks[: max(1, round(fraction * len(tasks)))])
        train = mean_labels([e for e in split["train"] if e["task_id"] in keep], seeds)
        start = time.perf_counter()
        model = AccuracyPredictor(**{**params, "random_state": rs}).fit(train)
        fit_s = time.perf_counter() - start
        row = {"tasks": len(keep), "students": len(train), "fit_s": round(fit_s, 1), "data_sha256": data_sha}
        for name in ("val", "test"):
            row[name] = round(zero_shot_spearman(model, split[name], label_seeds=2), 4)
        results[key] = row
        write_json(out_path, results)
        print(f"{key}: {row}", flush=True)

    columns = ("training labels", "meta-train tasks", "students", "predictor seed", "hyper-parameters")
    print("\n| " + " | ".join(columns) + " | meta-val Spearman | meta-test Spearman |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for key, row in results.items():
        fields = dict(part.split("=") for part in key.split())
        print(
            f"| {fields.pop('labels')}-seed | {row['tasks']} | {row['students']} | {fields.pop('random_state', 0)} "
            f"| {' '.join(f'{k}={v}' for k, v in fields.items() if k != 'tasks') or '(card)'} "
            f"| {row['val']:.3f} | {row['test']:.3f} |"
        )


if __name__ == "__main__":
    main()

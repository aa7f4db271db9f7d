"""Accuracy-predictor throughput: genome predictions per second, graph building included.

Fits a throw-away predictor (the weights do not change the cost), then times
``AccuracyPredictor.predict`` on batches of fresh random genomes of each search space: every call encodes
its genomes into graphs and runs every member of the deep ensemble. The rates also go to
``benchmarks/results/predictor_throughput.json`` (``--out``). Run:

    .venv/bin/python -m benchmarks.predictor_throughput [--sizes 1000 10000] [--n-models 8] [--hidden 48] [--jobs 1 2]
    .venv/bin/python -m benchmarks.predictor_throughput --sizes 10000 --jobs 2 \
        --checkpoint checkpoints/predictor_v1.pt checkpoints/predictor_v2.pt \
        --out benchmarks/results/predictor_throughput_checkpoints.json

``--unfolded`` also times every call with the first layer unfolded (``AccuracyNet.folded_stem`` off: the input
projection and the first layer run as separate products, as before the fold), alternating with the folded
calls on the same genomes, so the two rates share the machine's state.

The defaults are the shipped checkpoint's shape (eight members of 48 channels); the checkpoint shipped
before had five of 64. ``--checkpoint`` times real checkpoints instead, one after the other on the same genomes
(their graph layouts, grown as they met new kinds of node, may differ).
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import provenance, result_path, write_json
from distill.genome import SPACES, get_space
from predictor.estimator import AccuracyPredictor
from predictor.graph import encode_batch
from predictor.model import AccuracyNet


def _task(rng: np.random.Generator, n_classes: int = 10) -> dict:
    """Random task features, with landmarks for a checkpoint that reads them (drawn apart: the other draws stay)."""
    landmarks = np.random.default_rng(1).random(3).tolist()
    return {"classes": rng.random((n_classes, 8)).tolist(), "global": rng.random(13).tolist(), "landmarks": landmarks}


@contextlib.contextmanager
def _unfolded():
    """Predict with the first layer unfolded: every member runs it as separate products (the path without a fold)."""
    folded_stem = AccuracyNet.folded_stem
    AccuracyNet.folded_stem = lambda self: None
    try:
        yield
    finally:
        AccuracyNet.folded_stem = folded_stem


def _timed(est: AccuracyPredictor, genomes, task: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one ``predict`` call."""
    t0, c0 = time.perf_counter(), time.process_time()
    est.predict(genomes, task, 10)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="genomes per predict call")
    parser.add_argument("--n-models", type=int, default=8, help="ensemble members (the shipped checkpoint: 8)")
    parser.add_argument("--hidden", type=int, default=48, help="width of each member (the shipped checkpoint: 48)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="predictor threads (n_jobs)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per setting (median reported)")
    parser.add_argument("--checkpoint", nargs="+", help="time these checkpoints instead of a throw-away predictor")
    parser.add_argument(
        "--unfolded", action="store_true", help="also time each call with the first layer unfolded (alternating)"
    )
    parser.add_argument("--out", default=str(result_path("predictor_throughput")), help="the result JSON")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    task = _task(rng)
    train = [get_space("default").sample(rng) for _ in range(64)]
    records = [
        {"genome": g.to_json(), "task_features": task, "budget": 10, "group": "bench", "target": float(rng.random())}
        for g in train
    ]
    # "per CPU s" divides by the process's CPU time instead of the wall time: on a machine shared with other
    # jobs the wall-clock rate drops with the share of the cores this process gets, the CPU rate much less.
    print(
        f"{'predictor':<22} {'space':<10} {'genomes':>8} {'n_jobs':>7} {'encode only /s':>15} {'predict /s':>11} "
        f"{'per CPU s':>10} {'ms / call':>10}" + (f" {'unfolded /s':>13} {'speedup':>9}" if args.unfolded else "")
    )
    # the same genomes for every predictor and thread count
    calls_of = {
        (space, size): [[get_space(space).sample(rng) for _ in range(size)] for _ in range(args.repeats + 1)]
        for space in SPACES.names()
        for size in args.sizes
    }
    rows = []
    for name in args.checkpoint or [None]:
        for jobs in args.jobs:
            if name is None:
                label = f"throw-away {args.n_models}x{args.hidden}"
                est = AccuracyPredictor(n_models=args.n_models, hidden=args.hidden, epochs=1, n_jobs=jobs).fit(records)
            else:
                label = Path(name).name
                est = AccuracyPredictor.load(name)
                est.n_jobs = jobs
            for space in SPACES.names():
                for size in args.sizes:
                    calls = calls_of[space, size]
                    try:
                        est.predict(calls[0], task, 10)  # warm-up
                    except ValueError as e:  # a checkpoint meta-trained without the space's student family
                        print(f"{label:<22} {space:<10} skipped: {e}")
                        break
                    encode_times, predict_times, cpu_times, unfolded_times, unfolded_cpu = [], [], [], [], []
                    for genomes in calls[1:]:
                        t0 = time.perf_counter()
                        encode_batch(genomes)
                        encode_times.append(time.perf_counter() - t0)
                        wall, cpu = _timed(est, genomes, task)
                        predict_times.append(wall)
                        cpu_times.append(cpu)
                        if args.unfolded:
                            with _unfolded():
                                wall, cpu = _timed(est, genomes, task)
                            unfolded_times.append(wall)
                            unfolded_cpu.append(cpu)
                    enc, pred, cpu = (statistics.median(t) for t in (encode_times, predict_times, cpu_times))
                    rates = f"{size / enc:>15,.0f} {size / pred:>11,.0f} {size / cpu:>10,.0f} {pred * 1e3:>10.1f}"
                    row = {
                        "predictor": label,
                        "space": space,
                        "genomes": size,
                        "n_jobs": jobs,
                        "encode_per_s": size / enc,
                        "predict_per_s": size / pred,
                        "predict_per_cpu_s": size / cpu,
                        "ms_per_call": pred * 1e3,
                    }
                    if args.unfolded:
                        row["unfolded_per_s"] = size / statistics.median(unfolded_times)
                        row["unfolded_per_cpu_s"] = size / statistics.median(unfolded_cpu)
                        # each pair of calls ran on the same genomes one after the other: the median of their
                        # ratios is less exposed to the machine's drift than the ratio of the two medians
                        row["speedup_median_pair"] = statistics.median(
                            u / f for f, u in zip(predict_times, unfolded_times)
                        )
                        rates += f"{row['unfolded_per_s']:>13,.0f} {row['speedup_median_pair']:>8.3f}x"
                    print(f"{label:<22} {space:<10} {size:>8} {jobs:>7} {rates}")
                    rows.append(row)
    write_json(
        args.out,
        {
            "measured": provenance(),
            "n_models": None if args.checkpoint else args.n_models,
            "hidden": None if args.checkpoint else args.hidden,
            "checkpoints": args.checkpoint,
            "repeats": args.repeats,
            "unfolded": args.unfolded,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()

"""Settings of `AccuracyPredictor.adapt`, chosen on meta-validation (never on meta-test).

For every setting, each meta-validation group is scored as `dass evaluate --adapt 10` scores it:
adapt on 10 records of the group (5 random draws), rank the group's other records, average the
Spearman over draws and groups; beside it, zero-shot on the same remaining records. Meta-test is
not read.

    python -m benchmarks.predictor_adapt_tuning --data datasets_meta/meta_v1.csv.gz \
        --checkpoint checkpoints/predictor_v1.pt --out benchmarks/results/predictor_adapt_tuning.json
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import file_sha256, result_path, write_json
from predictor.data import load_records, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate


def settings() -> list[dict]:
    grid = [
        {"steps": s, "lr": lr, "anchor": a, "params": "head"}
        for s, lr, a in itertools.product((20, 60), (3e-3, 1e-2), (0.01, 0.1, 1.0))
    ]
    grid += [{"steps": 20, "lr": 3e-3, "anchor": 0.1, "params": "all"}]
    # the task-side settings: an offset of the task embedding, or the whole task encoder
    grid += [
        {"steps": s, "lr": lr, "anchor": a, "params": p}
        for p, (s, lr, a) in itertools.product(
            ("context", "task"), ((20, 1e-2, 0.1), (60, 3e-2, 0.1), (60, 3e-2, 0.01))
        )
    ]
    # more of "all", the best of the settings above on the checkpoint shipped then (five members of 64)
    grid += [
        {"steps": s, "lr": lr, "anchor": a, "params": "all"}
        for s, lr, a in ((20, 1e-3, 0.1), (60, 3e-3, 0.1), (20, 3e-3, 1.0))
    ]
    return grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="datasets_meta/meta_v1.csv.gz")
    ap.add_argument("--checkpoint", default="checkpoints/predictor_v1.pt")
    ap.add_argument("--records", type=int, default=10, help="records of a group to adapt on")
    ap.add_argument("--label-seeds", type=int, default=4)
    ap.add_argument("--out", default=str(result_path("predictor_adapt_tuning")))
    ap.add_argument(
        "--params", nargs="+", choices=("head", "context", "task", "all"), help="score only these kinds of setting"
    )
    args = ap.parse_args()

    val = split_by_task(load_records(args.data))["val"]
    model = AccuracyPredictor.load(args.checkpoint)
    rows = []
    out = Path(args.out)
    hashes = {"data_sha256": file_sha256(args.data), "checkpoint_sha256": file_sha256(args.checkpoint)}
    if out.exists():  # resume: keep the settings already scored with this checkpoint, data and protocol
        old = json.loads(out.read_text())
        same = (old["checkpoint_sha256"], old["data_sha256"], old["records"], old["label_seeds"])
        if same == (hashes["checkpoint_sha256"], hashes["data_sha256"], args.records, args.label_seeds):
            rows = old["settings"]
            print(f"resuming: {len(rows)} settings already in {out}")
    done = [{k: r[k] for k in ("steps", "lr", "anchor", "params")} for r in rows]
    for s in settings():
        if s in done or (args.params and s["params"] not in args.params):
            continue
        start = time.perf_counter()
        report = evaluate(
            model, val, adapt_records=args.records, adapt_options=s, baselines=False, label_seeds=args.label_seeds
        )
        mean = report["mean"]
        row = {
            **s,
            "adapted": mean[f"ours (adapted {args.records})"]["spearman"],
            "zero_shot_same_records": mean["ours (zero-shot, same records)"]["spearman"],
            "seconds": round(time.perf_counter() - start, 1),
        }
        rows.append(row)
        _write(out, args, hashes, rows)
        print(
            f"steps {s['steps']:>3} lr {s['lr']:<6g} anchor {s['anchor']:<5g} {s['params']:<7}  "
            f"adapted {row['adapted']:.3f}  zero-shot same records {row['zero_shot_same_records']:.3f}",
            flush=True,
        )
    print(f"best: {max(rows, key=lambda r: r['adapted'])}")


def _write(out: Path, args: argparse.Namespace, hashes: dict[str, str], rows: list[dict]) -> None:
    write_json(
        out,
        {
            "data": args.data,
            "data_sha256": hashes["data_sha256"],
            "checkpoint": args.checkpoint,
            "checkpoint_sha256": hashes["checkpoint_sha256"],
            "split": "val",
            "records": args.records,
            "label_seeds": args.label_seeds,
            "settings": rows,
            "best": max(rows, key=lambda r: r["adapted"]),
        },
    )


if __name__ == "__main__":
    main()

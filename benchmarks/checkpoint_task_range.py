"""Record the meta-training tasks' feature range in a checkpoint saved before ``fit`` recorded it.

``AccuracyPredictor.fit`` keeps the range of every global task feature over its training tasks
(``task_range_``, :mod:`predictor.novelty`), from which ``dass predict`` and ``dass search`` say when a task lies
outside them. The shipped checkpoints were fitted before that: this script computes the same range from the data
their card names (checked by hash), the card's meta-train tasks and, for a predictor that reads them, the card's
landmark table, and writes it into the checkpoint. Nothing else changes: the predictions before and after are
compared on the training tasks' records and must be identical. What was written, and that check, go to
``benchmarks/results/checkpoint_task_range.json``.

    .venv/bin/python -m benchmarks.checkpoint_task_range checkpoints/predictor_v1.json checkpoints/predictor_v2.json
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import ROOT, card_data_files, file_sha256, provenance, result_path, write_json
from predictor.data import load_records
from predictor.estimator import AccuracyPredictor, task_range
from predictor.pretrain import with_landmarks


def annotate(card_path: Path) -> dict:
    card = json.loads(card_path.read_text())
    checkpoint = card_path.with_name(card["checkpoint"])
    examples = []
    for path, sha256 in card_data_files(card):
        if file_sha256(path) != sha256:
            raise SystemExit(f"{path}: not the data {card_path} was fitted on (its hash differs)")
        examples += load_records(path)
    model = AccuracyPredictor.load(checkpoint)
    if model.landmarks:
        table = ROOT / card["landmarks"]["file"]
        if file_sha256(table) != card["landmarks"]["sha256"]:
            raise SystemExit(f"{table}: not the landmark table {card_path} was fitted with (its hash differs)")
        examples = with_landmarks(examples, table)
    train_tasks = set(card["split_tasks"]["train"])
    train = [e for e in examples if e["task_spec"] in train_tasks]
    found = {e["task_spec"] for e in train}
    if found != train_tasks:
        raise SystemExit(f"{card_path}: {len(train_tasks - found)} meta-train tasks are not in its data")
    compared = train[:2000]
    before = model.predict_records(compared)
    model.task_range_ = task_range(train, model.landmarks)
    model.save(checkpoint)
    after = AccuracyPredictor.load(checkpoint).predict_records(compared)
    if not all(np.array_equal(a, b) for a, b in zip(before, after)):
        raise SystemExit(f"{checkpoint}: the predictions changed on saving (restore it with git checkout)")
    rng = model.task_range_
    print(
        f"{checkpoint}: the feature range of its {len(train_tasks)} meta-train tasks ({rng.tasks} with their teachers)"
    )
    for name, low, high in zip(rng.names, rng.low, rng.high):
        print(f"  {name:>16s}  {low:10.4g} .. {high:.4g}")
    return {
        "checkpoint": str(checkpoint.relative_to(ROOT)),
        "meta_train_tasks": len(train_tasks),
        "range": rng.to_dict(),
        "predictions_compared": len(compared),
        "predictions_identical": True,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cards", nargs="+", type=Path, help="checkpoint cards (checkpoints/predictor_v*.json)")
    ap.add_argument("--out", default=str(result_path("checkpoint_task_range")))
    args = ap.parse_args()
    written = [annotate(card.resolve()) for card in args.cards]
    write_json(Path(args.out), {"checkpoints": written, "measured": provenance()})


def render(data: dict) -> str:
    """RESULTS.md's table: each checkpoint's recorded range, feature by feature."""
    from benchmarks.render import table

    out = []
    for c in data["checkpoints"]:
        r = c["range"]
        out.append(
            f"`{c['checkpoint']}`: {c['meta_train_tasks']} meta-train tasks, {r['tasks']} (task, teacher) pairs; "
            f"predictions on {c['predictions_compared']} records identical before and after: "
            f"{c['predictions_identical']}.\n\n"
            + table(
                ["feature", "low", "high", "std"],
                [
                    [n, f"{lo:.4g}", f"{hi:.4g}", f"{sd:.3g}"]
                    for n, lo, hi, sd in zip(r["names"], r["low"], r["high"], r["std"])
                ],
                [False, True, True, True],
            )
        )
    return "\n\n".join(out)


if __name__ == "__main__":
    main()

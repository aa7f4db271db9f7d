"""Predictor v2's data, several recipes: which one keeps v1's meta-test where v1's own checkpoint has it?

Every fit is a ``dass pretrain`` run on v1 and every part of meta-dataset v2 (its card, the JSON written beside the
checkpoint, holds what it measured). This script reads the cards and puts side by side, for each fit: its
hyper-parameters that differ from the first card's, the zero-shot Spearman on meta-validation (v1 and v2 tasks:
the figure a choice between recipes is made on), and on v1's meta-test (the 22 held-out groups of v1: digits,
MNIST variants, the VGG teacher family) zero-shot and adapted to 10 records, with the digits and MNIST groups
apart. A card fitted on other data than the first card is refused, except v1's own (``--reference``), shown for the
meta-test only (its meta-validation tasks are v1's, not the same set), and except with ``--other-data``, which asks
what more data does to the same recipe: each card then names the files it has beyond the first card's (and those
it lacks), and its meta-validation figure is of another task set when its data differs (marked so). With
``--val-on-first`` every card's checkpoint (the ``.pt`` beside the card) is also scored zero-shot on the first card's
meta-validation tasks (the task specs its card lists, labelled with its label seeds, its landmark table): one task
set for every fit, so that fits of other data can be chosen between on meta-validation. Run:

    .venv/bin/python -m benchmarks.predictor_v2_fits --reference checkpoints/predictor_v1.json \\
        --card shipped=checkpoints/predictor_v2.json --card NAME=CARD.json ...
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, file_sha256, provenance, result_path, write_json
from benchmarks.render import f3, table
from predictor.data import load_records
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate
from predictor.pretrain import with_landmarks

ZERO, ADAPTED = "ours (zero-shot)", "ours (adapted 10)"


def summary(card: dict[str, Any]) -> dict[str, Any]:
    """What a pretrain card measured, in the figures this benchmark compares."""
    test = card["meta_test"]
    out = {
        # a setting a card lacks was added after its fit, which had the setting's default
        "hyper_parameters": {**AccuracyPredictor().get_params(), **card["hyper_parameters"]},
        "code_commit": card.get("code_commit"),
        "fit_seconds": card["fit_seconds"],
        "data": {Path(f["file"]).name: f["sha256"] for f in card["data"].get("files", [card["data"]])},
        "test_zero_shot": test["mean"][ZERO]["spearman"],
        "test_adapted": test["mean"][ADAPTED]["spearman"],
        "test_by_source": {s: m[ZERO]["spearman"] for s, m in test["mean_by_source"].items()},
        "test_groups": test["groups"],
    }
    if "meta_validation" in card:
        out["val_zero_shot"] = card["meta_validation"]["mean"][ZERO]["spearman"]
    if "left_out_unreliable" in card:  # `dass pretrain --min-reliability`: groups left out of meta-training
        out["min_reliability"] = card["left_out_unreliable"]["min_reliability"]
        out["left_out_groups"] = len(card["left_out_unreliable"]["groups"])
    return out


def first_card_validation(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of ``card``'s meta-validation tasks, read from the files it names (each checked against its
    SHA-256), with the landmarks of its table when it read landmarks."""
    files = card["data"].get("files", [card["data"]])
    for f in files:
        if file_sha256(ROOT / f["file"]) != f["sha256"]:
            raise SystemExit(f"--val-on-first: {f['file']} is not the file the first card was fitted on (by hash)")
    val = set(card["split_tasks"]["val"])
    records = [e for f in files for e in load_records(ROOT / f["file"]) if e["task_spec"] in val]
    if "landmarks" in card:
        records = with_landmarks(records, ROOT / card["landmarks"]["file"])
    return records


def validation_spearman(checkpoint: Path, records: list[dict[str, Any]], label_seeds: int) -> float:
    """``checkpoint``'s zero-shot Spearman on ``records``, as ``dass pretrain`` scores meta-validation."""
    report = evaluate(
        AccuracyPredictor.load(checkpoint), records, adapt_records=0, baselines=False, label_seeds=label_seeds
    )
    return report["mean"][ZERO]["spearman"]


def render(data: dict) -> str:
    """The RESULTS.md section: one row per fit, v1's own checkpoint last."""
    rows = []

    def other_data(fit: dict) -> bool:  # set with --other-data: the fit's files are not the first card's
        return bool(fit.get("more_data") or fit.get("less_data"))

    def differs(fit: dict) -> bool:  # from the first card: its settings or its data
        return bool(fit["overrides"]) or other_data(fit) or "min_reliability" in fit

    fits = sorted(data["fits"].items(), key=lambda kv: (differs(kv[1]), kv[0]))
    for name, fit in [*fits, ("v1's own checkpoint", data["reference"])]:
        ours = "overrides" in fit  # else v1's: its meta-validation tasks are v1's only, another set
        settings = [f"{k}={v}" for k, v in sorted(fit.get("overrides", {}).items())]
        settings += [f"+{f}" for f in fit.get("more_data", [])] + [f"−{f}" for f in fit.get("less_data", [])]
        if "min_reliability" in fit:
            left = fit["left_out_groups"]
            settings += [f"min_reliability={fit['min_reliability']:g} ({left} group{'s' * (left != 1)} left out)"]
        val = f3(fit.get("val_zero_shot")) + (" (another set)" if other_data(fit) else "") if ours else ""
        common = [f3(fit.get("val_on_first"))] if "val_on_first" in data else []
        by_source = fit["test_by_source"]
        rows.append(
            [f"`{name}`" if ours else name, ", ".join(settings) or ("(first card)" if ours else "v1's data"),
             val, *common, f"**{f3(fit['test_zero_shot'])}**", f3(fit["test_adapted"]),
             f3(by_source.get("digits")), f3(by_source.get("mnist")), f"{fit['fit_seconds']:.0f}"]
        )  # fmt: skip
    first_tasks = ["meta-val, the first card's tasks"] if "val_on_first" in data else []
    header = ["fit", "settings", "meta-val zero-shot", *first_tasks, "v1's meta-test zero-shot", "adapted 10",
              "digits groups", "MNIST groups", "fit (s)"]  # fmt: skip
    return table(header, rows, [False, False] + [True] * (len(header) - 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--card", action="append", required=True, metavar="NAME=CARD", help="a fit's card (repeat)")
    ap.add_argument("--reference", default=str(ROOT / "checkpoints" / "predictor_v1.json"), help="v1's card")
    ap.add_argument(
        "--other-data",
        action="store_true",
        help="compare cards fitted on other data than the first card's (e.g. more parts of v2, same recipe)",
    )
    ap.add_argument(
        "--val-on-first",
        action="store_true",
        help="also score every card's checkpoint (the .pt beside it) on the first card's meta-validation tasks",
    )
    ap.add_argument("--out", default=str(result_path("predictor_v2_fits")))
    args = ap.parse_args()

    fits, cards = {}, {}
    for item in args.card:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--card {item!r}: expected NAME=CARD")
        cards[name] = (Path(path), json.loads(Path(path).read_text()))
        fits[name] = summary(cards[name][1])
    first = next(iter(fits.values()))
    for name, fit in fits.items():
        if fit["data"] != first["data"] and not args.other_data:
            raise SystemExit(
                f"--card {name}: fitted on other data than the first card; compare fits of one data set "
                "(or give --other-data)"
            )
        if args.other_data:
            fit["more_data"] = sorted(f for f in fit["data"] if fit["data"][f] != first["data"].get(f))
            fit["less_data"] = sorted(f for f in first["data"] if f not in fit["data"])
        fit["overrides"] = {k: v for k, v in fit["hyper_parameters"].items() if first["hyper_parameters"][k] != v}
    reference = summary(json.loads(Path(args.reference).read_text()))
    out: dict[str, Any] = {"fits": fits, "reference": reference}
    if args.val_on_first:
        first_card = next(iter(cards.values()))[1]
        records = first_card_validation(first_card)
        out["val_on_first"] = {
            "tasks": len(first_card["split_tasks"]["val"]),
            "label_seeds": first_card["label_seeds"],
        }
        for name, fit in fits.items():
            fit["val_on_first"] = validation_spearman(
                cards[name][0].with_suffix(".pt"), records, first_card["label_seeds"]
            )
    for name, fit in fits.items():
        common = f", on the first card's meta-validation tasks {fit['val_on_first']:.3f}" if args.val_on_first else ""
        print(
            f"{name}: meta-val {fit.get('val_zero_shot', float('nan')):.3f}{common}, v1's meta-test "
            f"{fit['test_zero_shot']:.3f} zero-shot, {fit['test_adapted']:.3f} adapted "
            f"(v1: {reference['test_zero_shot']:.3f}, {reference['test_adapted']:.3f})"
        )
    write_json(Path(args.out), {**out, "measured": provenance()})


if __name__ == "__main__":
    main()

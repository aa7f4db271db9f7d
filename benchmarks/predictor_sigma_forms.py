"""Would another form of the zero-shot uncertainty cover every held-out family, where the spread and a floor do not?

The predictor's +-1 sigma is ``sqrt((scale * spread)^2 + floor^2)``: the ensemble's spread, scaled, and a floor
(``predictor.estimator.fit_calibration``). Fitted across families (``leave_one_family_out``'s cross-fitted
calibration: each family's (scale, floor) fitted on the other families' held-out errors) it covers 45-89 % of a
held-out family's students zero-shot, inside 60-75 % on half the families, and a family's distance from the
training tasks does not tell which (``predictor_novelty``). This benchmark asks the same of floors that follow the
student's predicted accuracy instead of being constant: ``floor * g`` with ``g`` one of

- ``constant``: 1, the predictor's own form; fitted over the predictor's floors (``constant, floors to 0.02``) it
  is the result file's cross-fitted calibration;
- ``binomial``: ``2 sqrt(p (1 - p))`` of the predicted accuracy ``p`` (largest at 0.5, as the spread of an
  accuracy measured on a finite test set is);
- ``teacher gap``: the teacher's accuracy minus ``p``, clipped to [0.05, 1] (a student far below its teacher has
  more room to be mispredicted).

Each form is fitted by ``fit_calibration``, as the constant one is (for each floor, the scale that covers 68 % of
the other families' errors; the pair of best Gaussian likelihood), over floors up to 0.3 in steps of 10 %
(``FLOORS``; the predictor's own stop at 0.02, where a floor cannot carry errors of 0.05-0.1), and scored, per
held-out family, by the share of its students inside +-1 sigma. No predictor is fitted: each fold's predictor
(saved by the leave-one-family-out run, ``without-FAMILY.pt``) predicts its held-out family again.

    .venv/bin/python -m benchmarks.predictor_sigma_forms \\
        --lofo benchmarks/results/leave_one_family_out_v2lm_objects.json \\
        --data datasets_meta/meta_v1.csv.gz datasets_meta/meta_v2/part[1-9]_*.csv.gz \\
        datasets_meta/meta_v2/part10_objects.csv.gz --landmarks datasets_meta/landmarks_with_objects.json \\
        --folds $DASS_CACHE/lofo_folds/8c4ca9b7368a
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import file_sha256, provenance, result_path, write_json
from benchmarks.leave_one_family_out import held_out_runs, raw_spread
from benchmarks.predictor_novelty import lofo_examples
from distill.probe import GLOBAL_FEATURES
from predictor.estimator import CALIBRATION_FLOORS, AccuracyPredictor, fit_calibration
from predictor.evaluate import evaluate

COVERAGE = 0.68
TARGET = (0.60, 0.75)  # the band for the +-1 sigma coverage of a held-out family
TEACHER = GLOBAL_FEATURES.index("teacher_val_acc")
FLOORS = (*CALIBRATION_FLOORS, *np.round(np.geomspace(0.025, 0.3, 27), 4).tolist())  # steps of 10 %


def _constant(p: np.ndarray, teacher: np.ndarray) -> np.ndarray:
    return np.ones_like(p)


# name: (g of the predicted accuracy and the teacher's accuracy, the floors it is fitted over)
FORMS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], tuple[float, ...]]] = {
    "constant, floors to 0.02": (_constant, CALIBRATION_FLOORS),
    "constant": (_constant, FLOORS),
    "binomial": (lambda p, teacher: 2 * np.sqrt(np.clip(p, 0.01, 0.99) * (1 - np.clip(p, 0.01, 0.99))), FLOORS),
    "teacher gap": (lambda p, teacher: np.clip(teacher - p, 0.05, 1.0), FLOORS),
}


def sigma(spread: np.ndarray, g: np.ndarray, scale: float, floor: float) -> np.ndarray:
    return np.sqrt((scale * spread) ** 2 + (floor * g) ** 2)


def cross_fitted(families: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """For each form and held-out family: the (scale, floor) fitted on the other families' students, and the
    share of this family's students inside +-1 sigma; per form, how many families fall inside ``TARGET`` and the
    coverage over every student. ``families``: per family, arrays ``err``, ``spread``, ``predicted``,
    ``teacher``."""
    out: dict[str, Any] = {}
    for name, (form, floors) in FORMS.items():
        g = {f: form(d["predicted"], d["teacher"]) for f, d in families.items()}
        per_family, inside_all = {}, 0
        for family, d in families.items():
            others = [f for f in families if f != family]
            scale, floor = fit_calibration(
                np.concatenate([families[f]["err"] for f in others]),
                np.concatenate([families[f]["spread"] for f in others]),
                COVERAGE,
                floors,
                np.concatenate([g[f] for f in others]),
            )
            inside = d["err"] <= sigma(d["spread"], g[family], scale, floor)
            per_family[family] = {"scale": scale, "floor": floor, "within_1sigma": float(inside.mean())}
            inside_all += int(inside.sum())
        shares = [v["within_1sigma"] for v in per_family.values()]
        out[name] = {
            "families": per_family,
            "families_inside_target": sum(TARGET[0] <= s <= TARGET[1] for s in shares),
            "within_1sigma_all": inside_all / sum(len(d["err"]) for d in families.values()),
        }
    return out


def fold_students(model: AccuracyPredictor, runs: list[dict[str, Any]], label_seeds: int) -> dict[str, np.ndarray]:
    """The zero-shot absolute error, raw ensemble spread (the model's calibration undone), predicted accuracy and
    teacher accuracy of every scored student of ``runs``."""
    report = evaluate(model, runs, adapt_records=0, baselines=False, label_seeds=label_seeds)
    teacher = {}
    for e in runs:
        teacher.setdefault(e["group"], float(e["task_features"]["global"][TEACHER]))
    preds = report["predictions"]
    return {
        "err": np.abs(np.array([p["measured"] - p["predicted"] for p in preds])),
        "spread": raw_spread(model, np.array([p["std"] for p in preds])),
        "predicted": np.array([p["predicted"] for p in preds]),
        "teacher": np.array([teacher[p["group"]] for p in preds]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lofo", required=True, type=Path, help="a leave_one_family_out result file")
    ap.add_argument("--data", nargs="+", required=True, help="the meta-dataset exports the result file names")
    ap.add_argument("--landmarks", help="the landmark table the result file names (when its folds read landmarks)")
    ap.add_argument("--folds", required=True, type=Path, help="the result file's fold predictors (without-FAMILY.pt)")
    ap.add_argument("--out", default=str(result_path("predictor_sigma_forms")))
    args = ap.parse_args()

    lofo = json.loads(args.lofo.read_text())
    settings = lofo["settings"]
    examples = lofo_examples(args.lofo, args.data, args.landmarks)
    splits = tuple(tuple(split) for split in settings.get("splits", ()))
    families = {}
    for family in lofo["folds"]:
        model = AccuracyPredictor.load(args.folds / f"without-{family}.pt")
        runs, _ = held_out_runs(family, examples, settings["max_groups"], splits)
        families[family] = fold_students(model, runs, settings["label_seeds"])
        print(f"{family}: {len(families[family]['err'])} students", flush=True)
    forms = cross_fitted(families)
    result = {
        "lofo": {"file": args.lofo.name, "sha256": file_sha256(args.lofo)},
        "coverage": COVERAGE,
        "target": list(TARGET),
        "students": {f: len(d["err"]) for f, d in families.items()},
        "forms": forms,
        "measured": provenance(),
    }
    write_json(Path(args.out), result)
    for name, form in forms.items():
        print(
            f"{name}: inside {TARGET[0]:.0%}-{TARGET[1]:.0%} on {form['families_inside_target']} of "
            f"{len(families)} families, {form['within_1sigma_all']:.3f} of every student; "
            + ", ".join(f"{f} {v['within_1sigma']:.2f}" for f, v in form["families"].items())
        )


def render(data: dict) -> str:
    """RESULTS.md's table: one row per held-out family, one column per form, and the summary rows."""
    from benchmarks.render import table

    forms = sorted(data["forms"], key=lambda n: list(FORMS).index(n) if n in FORMS else len(FORMS))  # FORMS' order
    low, high = data["target"]
    rows = [
        [family, str(n), *(f"{data['forms'][name]['families'][family]['within_1sigma']:.2f}" for name in forms)]
        for family, n in data["students"].items()
    ]
    rows.append(
        [
            f"**families inside {low:.0%}-{high:.0%}**",
            "",
            *(str(data["forms"][n]["families_inside_target"]) for n in forms),
        ]
    )
    rows.append(
        ["**every student**", str(sum(data["students"].values())),
         *(f"{data['forms'][n]['within_1sigma_all']:.3f}" for n in forms)]
    )  # fmt: skip
    return table(["held-out family", "students", *forms], rows, [False] + [True] * (len(forms) + 1))


if __name__ == "__main__":
    main()

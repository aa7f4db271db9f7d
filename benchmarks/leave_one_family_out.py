"""Leave one task family out: how well the predictor ranks students of a kind of data it never saw.

A task family is a task source (``glyphs``, ``shapes``, ``textures``, ``fractals``, ``particles``, ``mnist``,
``digits``). For each family F, a predictor is meta-trained (the checkpoint card's hyper-parameters) on every record of
the other families -- meta-datasets v1 and v2 together -- and scored on every (task, teacher) group of F:

- zero-shot, and adapted to 10 records of the group by fine-tuning, by a residual Gaussian process and by the
  guarded choice between them (``predictor/guard.py``; the mean over draws, beside zero-shot on the same
  remaining records);
- the baselines (parameters, FLOPs, the training-free proxies, a random forest) and the label noise ceiling of F;
- the MAE and the top-10 % precision, beside their noise limits: what a predictor that knew every student's
  expected accuracy exactly would score against these labels, from the seed-to-seed spread of F's replicated
  students (an MAE below the floor, or a precision above the ceiling, cannot be met on these labels by any
  predictor);
- the coverage of the predicted +-1 sigma interval (the share of measured accuracies inside it), with the
  interval calibrated on 15 % of the other families' tasks, and cross-fitted: calibrated on the other folds'
  held-out families; and after fine-tuning on 10 records, which re-scales the interval for the task by the records'
  out-of-fold errors (``AccuracyPredictor.adapt``'s ``calibrate``), on the group's other students;
- whether it predicts when distillation hurts: the predicted gain of each architecture's distilled students
  over its no-distillation control against the measured one.

This is the honest measure of "an unseen dataset": nothing of F shaped the predictor.

Resumable: each fold's result is written to the result file as soon as it is scored, and a rerun skips the
folds already there for the same data files and settings; each fold's checkpoint is kept under
``--fold-dir`` (default ``$DASS_CACHE/lofo_folds``) for the search benchmarks on held-out families.

    .venv/bin/python -m benchmarks.leave_one_family_out --data datasets_meta/meta_v1.csv.gz \\
        datasets_meta/meta_v2/*.csv.gz [--families glyphs shapes] [--set n_models=4] [--exclude-teachers vgg] \\
        [--max-groups 24]    # a seeded sample of a large family's groups (MNIST has over a hundred)
        [--rescore finetune guarded]  # after a change to an adaptation: the folds done before, adapted again
        [--also-adapt]                # fine-tuning only (the residual and guarded adaptations: --rescore later)
        [--landmarks datasets_meta/landmarks.json]  # the folds' predictors also read the tasks' landmarks
        [--split textures=:size=32 --families 'textures[:size=32]']  # part of a family out, the rest in training
        [--merge other.json ...]  # copy in the folds that other processes of this same command scored

Two processes of one command (each with its own ``--families`` and ``--out``) share a machine's cores; ``--merge``
then copies their folds into ``--out``, refusing a file of other data or settings, and recomputes the cross-fitted
calibration over all of them.
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, card_hyper_parameters, file_sha256, provenance, result_path, write_json
from dass.cli.common import spearman_threshold
from distill.teachers import cache_dir
from predictor.data import load_records, mean_labels, split_of
from predictor.estimator import AccuracyPredictor, fit_calibration
from predictor.evaluate import MIN_GROUP_STUDENTS, evaluate, kd_gain, kd_gain_prediction, unreliable_groups
from predictor.pretrain import MIN_CALIBRATION_RECORDS, with_landmarks

ALSO_ADAPT = ("residual", "guarded")  # the adaptations scored beside fine-tuning, unless --also-adapt says otherwise
METHODS = (
    "ours (zero-shot)",
    "ours (adapted 10)",
    "ours (adapted 10, residual)",
    "ours (adapted 10, guarded)",
    "ours (zero-shot, same records)",
    "random forest",
    "params",
    "FLOPs",
    "nwot",
)


Split = tuple[str, str]  # (family, text of a task spec): those tasks of the family are a family of their own


def family_of(example: dict[str, Any], splits: tuple[Split, ...] = ()) -> str:
    """The task family of a record: its source (``mnist``, ``glyphs``, ...); with ``splits``, a task of ``family``
    whose spec contains ``text`` is of the family ``family[text]`` (e.g. ``textures[:size=32]``)."""
    family = example["tags"].get("source") or example["task_spec"].split(":", 1)[0]
    for name, text in splits:
        if family == name and text in example["task_spec"]:
            return f"{family}[{text}]"
    return family


def coverage(predictions: list[dict[str, Any]]) -> dict[str, float]:
    """Share of measured accuracies inside the predicted +-1 sigma (and +-2 sigma) interval; mean |error| and sigma."""
    measured = np.array([p["measured"] for p in predictions])
    predicted = np.array([p["predicted"] for p in predictions])
    std = np.array([p["std"] for p in predictions])
    err = np.abs(measured - predicted)
    return {
        "within_1sigma": float(np.mean(err <= std)),
        "within_2sigma": float(np.mean(err <= 2 * std)),
        "mean_abs_error": float(err.mean()),
        "mean_sigma": float(std.mean()),
        "bias": float(np.mean(predicted - measured)),  # > 0: over-predicts
        "n": len(predictions),
    }


def held_out_runs(
    family: str, examples: list[dict[str, Any]], max_groups: int | None, splits: tuple[Split, ...] = ()
) -> tuple[list[dict[str, Any]], int]:
    """The records of ``family`` that a fold scores (a seeded sample of ``max_groups`` of its groups when it has
    more), and how many groups the family has."""
    runs = [e for e in examples if family_of(e, splits) == family]
    groups = sorted({e["group"] for e in runs})
    if max_groups is not None and len(groups) > max_groups:
        keep = set(np.random.default_rng(0).choice(groups, max_groups, replace=False).tolist())
        runs = [e for e in runs if e["group"] in keep]
    return runs, len(groups)


def seed_pairs(test_runs: list[dict[str, Any]]) -> dict[tuple, tuple[float, float]]:
    """The accuracies of each student's first two seeds, ``{(group, genome_hash, budget): (first, second)}``, for
    the students trained with two seeds or more."""
    seeds: dict[tuple, dict[int, float]] = {}
    for e in test_runs:
        seeds.setdefault((e["group"], e["genome_hash"], e["budget"]), {})[e["seed"]] = e["target"]
    return {key: (s[a], s[b]) for key, s in seeds.items() if len(s) >= 2 for a, b in [sorted(s)[:2]]}


def mae_noise_floor(test_runs: list[dict[str, Any]], label_seeds: int) -> dict[str, float]:
    """The mean absolute error of a perfect predictor (one that knew each student's expected accuracy) against the
    labels ``evaluate`` scores: a label is the mean of ``n`` seeds' accuracies, each off by a seed noise of spread
    ``sigma``, so its expected |error| is ``sqrt(2 / pi) * sigma / sqrt(n)`` (normal noise). ``sigma`` is pooled
    over the family's students trained with two seeds or more (their first two: ``E[(a - b)^2] = 2 sigma^2``),
    assumed the same for every student. Empty when no student has two seeds."""
    diffs = np.array([a - b for a, b in seed_pairs(test_runs).values()])
    if not len(diffs):
        return {}
    sigma = float(np.sqrt(np.mean(diffs**2) / 2))
    counts = np.array([label["seeds"] for label in mean_labels(test_runs, label_seeds)], float)
    floor = float(np.mean(np.sqrt(2 / np.pi) * sigma / np.sqrt(counts)))
    return {"seed_sigma": round(sigma, 6), "mae_floor": round(floor, 6), "pairs": len(diffs)}


def top_precision_ceiling(
    test_runs: list[dict[str, Any]], label_seeds: int, frac: float = 0.10, draws: int = 200, seed: int = 0
) -> dict[str, Any]:
    """What top-``frac`` precision a predictor that knew every student's expected accuracy would score against
    these labels: the top-10 % counterpart of :func:`mae_noise_floor`.

    Seed noise is not the same at every accuracy (near 100 % students hardly move from seed to seed), so its
    spread is pooled over the family's students with two seeds or more in five bins of their accuracy. In each
    scored group, expected accuracies are estimated from the labels, shrunk toward the group's mean so that their
    variance is the labels' less the noise's; labels are drawn again from them with each student's noise (its
    bin's spread over the square root of its label's seed count), and the precision of the expected top ``frac``
    against the drawn labels' top ``frac`` is averaged over ``draws`` draws and the groups. Beside it, measured
    without a model: the precision of one seed's top ``frac`` against another's (each student's first two seeds),
    on the groups with at least ``MIN_GROUP_STUDENTS`` students with two (a lower bound: both sides single-seed).
    A level bin without a student takes the spread pooled over all of them. Empty when no student has two seeds;
    ``ceiling`` is ``None`` when no group is scored."""
    pairs = seed_pairs(test_runs)
    if not pairs:
        return {}
    level = np.array([np.mean(p) for p in pairs.values()])
    diff = np.array([a - b for a, b in pairs.values()])
    edges = np.quantile(level, np.linspace(0, 1, 6)[1:-1])  # the four inner edges of five bins
    bin_of = np.searchsorted(edges, level, side="right")
    sigma = np.array(
        [np.sqrt(np.mean(diff[bin_of == b] ** 2) / 2) if (bin_of == b).any() else np.nan for b in range(5)]
    )
    sigma = np.where(np.isfinite(sigma), sigma, np.sqrt(np.mean(diff**2) / 2))

    def top(values: np.ndarray, k: int) -> set:
        return set(np.argsort(-values, kind="stable")[:k].tolist())

    rng = np.random.default_rng(seed)
    by_group: dict[str, list[dict[str, Any]]] = {}
    for label in mean_labels(test_runs, label_seeds):
        by_group.setdefault(label["group"], []).append(label)
    pairs_of: dict[str, list[tuple[float, float]]] = {}
    for key, pair in pairs.items():
        pairs_of.setdefault(key[0], []).append(pair)
    simulated, measured = [], []
    for group, labels in by_group.items():
        if len(labels) < MIN_GROUP_STUDENTS:
            continue
        y = np.array([label["target"] for label in labels], float)
        noise = sigma[np.searchsorted(edges, y, side="right")] ** 2 / np.array([label["seeds"] for label in labels])
        k = max(1, int(round(frac * len(y))))
        if np.var(y) > 0:
            expected = y.mean() + np.sqrt(max(1 - noise.mean() / np.var(y), 0.0)) * (y - y.mean())
            best = top(expected, k)
            simulated += [len(best & top(expected + rng.normal(0, np.sqrt(noise)), k)) / k for _ in range(draws)]
        both = np.array(pairs_of.get(group, []))
        if len(both) >= MIN_GROUP_STUDENTS:
            k = max(1, int(round(frac * len(both))))
            measured.append(len(top(both[:, 0], k) & top(both[:, 1], k)) / k)
    return {
        "ceiling": round(float(np.mean(simulated)), 4) if simulated else None,
        "seed_vs_seed": round(float(np.mean(measured)), 4) if measured else None,
        "seed_vs_seed_groups": len(measured),
        "seed_sigma_by_level": [round(float(v), 4) for v in sigma],
    }


def raw_spread(model: AccuracyPredictor, std: np.ndarray) -> np.ndarray:
    """The ensemble's spread behind the standard deviations ``std`` the ``model`` reported: its calibration
    ``sqrt((scale * spread)^2 + floor^2)`` undone."""
    scale, floor = model.calibration_
    return np.sqrt(np.maximum(np.asarray(std, dtype=float) ** 2 - floor**2, 0.0)) / scale


def held_out_errors(model: AccuracyPredictor, test_runs: list[dict[str, Any]], label_seeds: int) -> dict[str, list]:
    """The zero-shot absolute errors on the held-out family and the ensemble's raw spread (before calibration) of
    each scored student: what a calibration across families is fitted on (:func:`cross_fitted_calibration`)."""
    report = evaluate(model, test_runs, adapt_records=0, baselines=False, label_seeds=label_seeds)
    spread = raw_spread(model, np.array([p["std"] for p in report["predictions"]]))
    err = np.abs(np.array([p["measured"] - p["predicted"] for p in report["predictions"]]))
    return {"err": [round(float(v), 6) for v in err], "spread": [round(float(v), 6) for v in spread]}


def cross_fitted_calibration(folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Calibration across families: for each fold, the uncertainty's (scale, floor) fitted on the held-out errors
    of the *other* folds (predictors that never saw those families), and the share of this family's measured
    accuracies its +-1 (+-2) sigma interval then covers; and the (scale, floor) of all folds together, the one a
    predictor trained on every family would carry to a new family."""
    have = {f: d["held_out_errors"] for f, d in folds.items() if d.get("held_out_errors", {}).get("err")}
    out: dict[str, Any] = {"folds": {}}
    for family, errors in have.items():
        others = [e for f, e in have.items() if f != family]
        if not others:
            continue
        scale, floor = fit_calibration(
            np.concatenate([e["err"] for e in others]), np.concatenate([e["spread"] for e in others])
        )
        err, spread = np.array(errors["err"]), np.array(errors["spread"])
        std = np.sqrt((scale * spread) ** 2 + floor**2)
        out["folds"][family] = {
            "scale": scale,
            "floor": floor,
            "within_1sigma": float(np.mean(err <= std)),
            "within_2sigma": float(np.mean(err <= 2 * std)),
        }
    if len(have) >= 2:
        scale, floor = fit_calibration(
            np.concatenate([e["err"] for e in have.values()]), np.concatenate([e["spread"] for e in have.values()])
        )
        out["all_folds"] = {"scale": scale, "floor": floor}
    return out


def merge_folds(results: dict[str, Any], others: dict[str, dict[str, Any]]) -> list[str]:
    """Copy into ``results`` the folds of other result files (name -> content) of the same data and settings, and
    recompute the cross-fitted calibration over every fold; the families copied. A file of other settings, or a
    family scored differently in two files, is a ValueError: folds of two settings are never mixed."""
    copied = []
    for name, other in others.items():
        if other.get("settings") != results["settings"]:
            differ = sorted(
                k
                for k in set(results["settings"]) | set(other.get("settings", {}))
                if results["settings"].get(k) != other.get("settings", {}).get(k)
            )
            raise ValueError(f"{name} was measured with other settings than this command ({', '.join(differ)})")
        for family, fold in other.get("folds", {}).items():
            if family in results["folds"]:
                if _unstamped(results["folds"][family]) != _unstamped(fold):
                    raise ValueError(f"{name}: its {family!r} fold differs from the one already there")
                continue
            results.setdefault("measured", other.get("measured"))  # a new --out: the first file's
            if other.get("measured") != results["measured"]:
                fold = {**fold, "measured": other.get("measured")}  # the commit and machine it ran on
            results["folds"][family] = fold
            copied.append(family)
    results["cross_fitted_calibration"] = cross_fitted_calibration(results["folds"])
    return copied


def stamp(results: dict[str, Any], now: dict[str, Any], scored: str) -> None:
    """Record that the fold ``scored`` was measured ``now`` (``provenance()``): the file's stamp becomes ``now``,
    and the other folds that carry no stamp of their own keep the one the file had, the run they were scored in."""
    before = results.get("measured")
    if before is not None and before != now:
        for family, fold in results["folds"].items():
            if family != scored and "measured" not in fold:
                fold["measured"] = before
    results["folds"][scored].pop("measured", None)  # measured now, as the file's stamp says
    results["measured"] = now


def _unstamped(fold: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fold.items() if k != "measured"}


def adapted_by(
    model: AccuracyPredictor, test_runs: list[dict[str, Any]], methods: list[str], label_seeds: int
) -> dict[str, dict[str, float]]:
    """``{"ours (adapted 10, METHOD)": metrics}``: the held-out groups adapted to 10 records by each of ``methods``
    (the same draws as the fine-tuning's: ``evaluate``'s seed)."""
    out = {}
    for method in methods:
        options = {"adapt_records": 10, "adapt_options": {"method": method}, "label_seeds": label_seeds}
        report = evaluate(model, test_runs, baselines=False, **options)
        if "ours (adapted 10)" not in report["mean"]:  # groups with too few students are not adapted
            continue
        if method == "finetune":  # the default adaptation: the plain names, and zero-shot on the same records
            out.update({m: report["mean"][m] for m in ("ours (adapted 10)", "ours (zero-shot, same records)")})
        else:
            out[f"ours (adapted 10, {method})"] = report["mean"]["ours (adapted 10)"]
    return out


def fold_runs(
    family: str,
    examples: list[dict[str, Any]],
    exclude_teachers: set[str] = frozenset(),
    splits: tuple[Split, ...] = (),
    min_reliability: float | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, float]]:
    """The runs a fold without ``family`` trains on, those it calibrates on, and the groups it leaves out of
    training as unreliable (``{group: seed-0/seed-1 agreement}``; none when ``min_reliability`` is ``None``).

    15 % of the other families' tasks calibrate the uncertainty, as meta-validation does in ``dass pretrain``,
    which keeps them whole, unreliable groups included."""
    others = [
        e
        for e in examples
        if family_of(e, splits) != family and e["tags"].get("teacher_family") not in exclude_teachers
    ]
    train_runs = [e for e in others if split_of(e) != "val"]
    left_out = unreliable_groups(train_runs, min_reliability) if min_reliability is not None else {}
    train_runs = [e for e in train_runs if e["group"] not in left_out]
    return train_runs, [e for e in others if split_of(e) == "val"], left_out


def score_fold(
    family: str,
    examples: list[dict[str, Any]],
    params: dict[str, Any],
    label_seeds: int,
    exclude_teachers: set[str],
    fold_dir: Path,
    max_groups: int | None = None,
    also_adapt: tuple[str, ...] = ALSO_ADAPT,
    splits: tuple[Split, ...] = (),
    zero_shot: bool = False,
    min_reliability: float | None = None,
) -> dict[str, Any]:
    train_runs, val_runs, left_out = fold_runs(family, examples, exclude_teachers, splits, min_reliability)
    val = mean_labels(val_runs, label_seeds)
    test_runs, groups_of_family = held_out_runs(family, examples, max_groups, splits)
    train = mean_labels(train_runs, label_seeds)
    checkpoint = fold_dir / f"without-{family}.pt"
    start = time.perf_counter()
    if checkpoint.is_file():
        model = AccuracyPredictor.load(checkpoint)
    else:
        model = AccuracyPredictor(**params).fit(train)
        if len(val) >= MIN_CALIBRATION_RECORDS:
            model.calibrate(val)
        fold_dir.mkdir(parents=True, exist_ok=True)
        model.save(checkpoint)
    fit_s = time.perf_counter() - start
    report = evaluate(model, test_runs, train, adapt_records=0 if zero_shot else 10, label_seeds=label_seeds)
    # the other adaptations (predictor/residual.py, predictor/guard.py), on the same draws of 10 records (same seed)
    report["mean"].update(adapted_by(model, test_runs, list(also_adapt), label_seeds))
    labels = mean_labels(test_runs, label_seeds)
    return {
        "family": family,
        "train": {
            "records": len(train_runs),
            "students": len(train),
            "tasks": len({e["task_id"] for e in train}),
            **({"left_out_unreliable": left_out} if min_reliability is not None else {}),
        },
        "calibration": {"students": len(val), "scale": model.calibration_[0], "floor": model.calibration_[1]},
        "test": {
            "groups_of_family": groups_of_family,
            "records": len(test_runs),
            "tasks": len({e["task_id"] for e in test_runs}),
            "groups": len(report["groups"]),
        },
        "fit_seconds": round(fit_s, 1),
        "mean": {m: report["mean"][m] for m in METHODS if m in report["mean"]},
        "noise_ceiling": report["noise_ceiling"]["mean"],
        "noise_ceiling_groups": report["noise_ceiling"].get("n"),
        "mae_noise_floor": mae_noise_floor(test_runs, label_seeds),
        "top10_ceiling": top_precision_ceiling(test_runs, label_seeds),
        "coverage": coverage(report["predictions"]),
        "held_out_errors": held_out_errors(model, test_runs, label_seeds),
        "kd_gain": kd_gain(labels),
        "kd_gain_prediction": kd_gain_prediction(report["predictions"]),
        "per_group": {
            g: {m: round(r[m]["spearman"], 4) for m in ("ours (zero-shot)", "ours (adapted 10)") if m in r}
            for g, r in report["groups"].items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True, help="meta-dataset exports (.csv.gz), read together")
    ap.add_argument("--families", nargs="*", help="families to hold out in turn (default: every family in --data)")
    ap.add_argument("--card", default=str(ROOT / "checkpoints" / "predictor_v1.json"))
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override a hyper-parameter (JSON)")
    ap.add_argument("--label-seeds", type=int, default=2)
    ap.add_argument(
        "--exclude-teachers", nargs="*", default=[], help="teacher families left out of every fold's training"
    )
    ap.add_argument(
        "--max-groups",
        type=int,
        help="score a seeded sample of at most this many (task, teacher) groups of a family (default: all)",
    )
    ap.add_argument(
        "--rescore",
        nargs="*",
        default=[],
        choices=["finetune", "residual", "guarded"],
        help="adapt the folds done before again by these methods with today's code (their predictors are kept)",
    )
    ap.add_argument(
        "--also-adapt",
        nargs="*",
        default=list(ALSO_ADAPT),
        choices=ALSO_ADAPT,
        help="adaptations scored beside fine-tuning (default: both; none: a quicker first look, which a "
        "rerun with --rescore completes from the kept folds); not a setting: a fold's methods say what ran",
    )
    ap.add_argument(
        "--zero-shot",
        action="store_true",
        help="score the new folds zero-shot only, no adaptation (a quicker first look at a recipe; a rerun with "
        "--rescore finetune adds the adapted means from the kept folds, not the per-group figures); not a setting "
        "either",
    )
    ap.add_argument(
        "--landmarks",
        metavar="TABLE",
        help="the folds' predictors also read the tasks' landmarks (distill/landmarks.py) from this table, e.g. "
        "datasets_meta/landmarks.json (the tasks it lacks are measured and added)",
    )
    ap.add_argument(
        "--split",
        nargs="*",
        default=[],
        metavar="FAMILY=TEXT",
        help="the tasks of FAMILY whose spec contains TEXT are a family of their own, FAMILY[TEXT]: hold out "
        "part of a family with the rest in training, e.g. --split textures=:size=32 --families 'textures[:size=32]'",
    )
    ap.add_argument(
        "--min-reliability",
        type=spearman_threshold,
        metavar="RHO",
        help="leave out of each fold's training the groups whose seed-0 and seed-1 accuracies agree with a Spearman "
        "below RHO, as `dass pretrain --min-reliability` does (the scored groups stay)",
    )
    ap.add_argument("--fold-dir", default=str(cache_dir() / "lofo_folds"), help="where each fold's checkpoint is kept")
    ap.add_argument("--out", default=str(result_path("leave_one_family_out")))
    ap.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULT",
        help="run nothing: copy into --out the folds of these result files, written by processes of this same "
        "command with their own --families and --out",
    )
    args = ap.parse_args()
    bad = [item for item in args.split if "=" not in item or not all(item.split("=", 1))]
    if bad:
        raise SystemExit(f"--split: {bad[0]!r} is not FAMILY=TEXT (e.g. textures=:size=32)")
    splits = tuple(tuple(item.split("=", 1)) for item in args.split)

    params = card_hyper_parameters(args.card)
    params.update({k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)})
    examples = [e for path in args.data for e in load_records(path)]
    if args.landmarks:
        examples = with_landmarks(examples, args.landmarks)
        params["landmarks"] = True
    elif params.get("landmarks"):
        raise SystemExit(f"--card {args.card} reads the tasks' landmarks: give --landmarks TABLE (e.g. the card's)")
    known = sorted({family_of(e, splits) for e in examples})
    families = args.families or known
    unknown = [f for f in families if f not in known]
    if unknown:  # before a fold is meta-trained (minutes) with nothing to score
        raise SystemExit(f"--families: {unknown[0]!r} has no record in --data; the families there: {known}")
    settings = {
        "data": {Path(p).name: file_sha256(p) for p in args.data},
        "hyper_parameters": params,
        "label_seeds": args.label_seeds,
        "exclude_teachers": sorted(args.exclude_teachers),
        "max_groups": args.max_groups,
        **({"landmarks": {Path(args.landmarks).name: file_sha256(args.landmarks)}} if args.landmarks else {}),
        **({"splits": [list(split) for split in splits]} if splits else {}),
        **({"min_reliability": args.min_reliability} if args.min_reliability is not None else {}),
    }
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    if args.merge and results.get("folds") and results.get("settings") != settings:  # keep what is stored there
        ap.error(f"--merge: {out} holds folds of other data or settings than this command; give another --out")
    if results.get("settings") != settings:  # another data set or setting: start over rather than mix
        results = {"settings": settings, "folds": {}}
    if args.merge:
        try:
            others = {path: json.loads(Path(path).read_text()) for path in args.merge}
            copied = merge_folds(results, others)
        except (OSError, ValueError) as exc:
            ap.error(f"--merge: {exc}")
        write_json(out, results)
        print(f"{out}: copied {', '.join(copied) or 'no fold'}; its folds now {', '.join(results['folds'])}")
        return
    # the folds' checkpoints depend on what they were trained on, not on how many groups are scored
    fold_dir = Path(args.fold_dir) / settings_hash({k: v for k, v in settings.items() if k != "max_groups"})
    for family in families:
        if family in results["folds"]:
            print(f"{family}: done before")
            fold = results["folds"][family]
            if "mae_noise_floor" not in fold:  # scored before it was measured: it needs the data only
                fold["mae_noise_floor"] = mae_noise_floor(
                    held_out_runs(family, examples, args.max_groups, splits)[0], args.label_seeds
                )
                write_json(out, results)
            if "top10_ceiling" not in fold:  # scored before it was measured: it needs the data only
                fold["top10_ceiling"] = top_precision_ceiling(
                    held_out_runs(family, examples, args.max_groups, splits)[0], args.label_seeds
                )
                write_json(out, results)
            missing = "held_out_errors" not in fold  # scored before the errors were kept
            kept = fold_dir / f"without-{family}.pt"
            if (missing or args.rescore) and not kept.is_file():
                print(f"{family}: its predictor {kept} is gone (another --fold-dir or $DASS_CACHE?): not scored again")
            elif missing or args.rescore:  # the fold's predictor is kept: score again what is asked
                model = AccuracyPredictor.load(kept)
                test_runs, _ = held_out_runs(family, examples, args.max_groups, splits)
                if missing:
                    fold["held_out_errors"] = held_out_errors(model, test_runs, args.label_seeds)
                for method in args.rescore:
                    print(f"{family}: adapting by {method} again ...", flush=True)
                    fold["mean"].update(adapted_by(model, test_runs, [method], args.label_seeds))
                results["cross_fitted_calibration"] = cross_fitted_calibration(results["folds"])
                stamp(results, provenance(), family)
                write_json(out, results)
            continue
        print(f"{family}: meta-training without it ...", flush=True)
        fold = score_fold(
            family,
            examples,
            params,
            args.label_seeds,
            set(args.exclude_teachers),
            fold_dir,
            args.max_groups,
            () if args.zero_shot else tuple(args.also_adapt),
            splits,
            args.zero_shot,
            args.min_reliability,
        )
        results["folds"][family] = fold
        results["cross_fitted_calibration"] = cross_fitted_calibration(results["folds"])
        stamp(results, provenance(), family)
        results.pop("provenance", None)  # the name an earlier version wrote it under
        write_json(out, results)
        m = fold["mean"]
        if "ours (zero-shot)" not in m:
            print(f"{family}: no (task, teacher) group has enough students to score", flush=True)
            continue
        guarded = m.get("ours (adapted 10, guarded)")  # not scored with --also-adapt leaving it out
        print(
            f"{family}: zero-shot {m['ours (zero-shot)']['spearman']:.3f}, "
            f"adapted {m.get('ours (adapted 10)', {}).get('spearman', float('nan')):.3f}"
            + ("" if guarded is None else f" (guarded {guarded['spearman']:.3f})")
            + f", ceiling {fold['noise_ceiling']:.3f}, within 1 sigma {fold['coverage']['within_1sigma']:.2f}",
            flush=True,
        )


def settings_hash(settings: dict[str, Any]) -> str:
    """A short name for the folds' checkpoints of one setting."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


if __name__ == "__main__":
    main()

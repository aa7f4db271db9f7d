"""Does the distance of a task outside the meta-training tasks tell when the predictor's zero-shot ranking is weak?

A predictor keeps the range of every global task feature over its meta-training tasks (``predictor.novelty``), and
``dass predict`` / ``dass search`` give a notice when a task lies more than ``NOTICE_DISTANCE`` standard deviations
outside it. This benchmark checks that the notice means something, on the leave-one-family-out folds: for each
fold of a result file of ``benchmarks/leave_one_family_out.py`` it computes the range of the fold's training
records exactly as the fold's ``fit`` did (the mean-labelled records of every other family, minus the calibration
tasks, any excluded teacher family and the groups left out as unreliable), the distance of each scored (task,
teacher) group of the held-out family, and sets it beside that group's zero-shot Spearman (and after fine-tuning
on 10 records) from the result file. No predictor is fitted.

    .venv/bin/python -m benchmarks.predictor_novelty --lofo benchmarks/results/leave_one_family_out_v2_landmarks.json \\
        --data datasets_meta/meta_v1.csv.gz datasets_meta/meta_v2/part[1-4]_*.csv.gz \\
        --landmarks datasets_meta/landmarks.json

With ``--folds DIR`` (the folder of the fold predictors the leave-one-family-out run saved, ``without-FAMILY.pt``)
it also asks whether the distance tells when the zero-shot uncertainty is too narrow: each group's students are
predicted again by their fold's predictor, their spread calibrated as the result file's cross-fitted calibration
does (the ``(scale, floor)`` fitted on the other folds' held-out errors), and the share of measured accuracies
inside +-1 sigma is set beside the group's distance, and beside a second distance, measured as the network sees
tasks: the mean distance of the group's task embedding (``AccuracyPredictor.task_embeddings``) to its 5 nearest
training tasks', over the median distance between two training tasks.

    .venv/bin/python -m benchmarks.predictor_novelty --lofo benchmarks/results/leave_one_family_out_v2lm_objects.json \\
        --data datasets_meta/meta_v1.csv.gz datasets_meta/meta_v2/part[1-9]_*.csv.gz \\
        datasets_meta/meta_v2/part10_objects.csv.gz --landmarks datasets_meta/landmarks_with_objects.json \\
        --folds $DASS_CACHE/lofo_folds/8c4ca9b7368a --out benchmarks/results/predictor_novelty_objects.json
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

import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import file_sha256, provenance, result_path, write_json
from benchmarks.leave_one_family_out import fold_runs, held_out_runs, raw_spread
from predictor.data import load_records, mean_labels
from predictor.estimator import AccuracyPredictor, global_vector, task_range
from predictor.evaluate import evaluate
from predictor.novelty import NOTICE_DISTANCE
from predictor.pretrain import with_landmarks

THRESHOLDS = (0.0, NOTICE_DISTANCE, 0.5, 1.0)  # standard deviations outside the range
ZERO_SHOT, ADAPTED = "ours (zero-shot)", "ours (adapted 10)"


def lofo_examples(lofo: Path, data: list[str], landmarks: str | None) -> list[dict[str, Any]]:
    """The records a leave-one-family-out result file (``lofo``) was scored on, read from ``data`` (checked by hash
    against the file's settings), with the landmarks of the table ``landmarks`` when its folds read them."""
    settings = json.loads(lofo.read_text())["settings"]
    given = {Path(p).name: file_sha256(p) for p in data}
    if given != settings["data"]:
        raise SystemExit(f"--data: not the files {lofo} was scored on: {sorted(settings['data'])} (by hash)")
    reads = bool(settings["hyper_parameters"].get("landmarks"))
    if reads and (not landmarks or {Path(landmarks).name: file_sha256(landmarks)} != settings.get("landmarks")):
        raise SystemExit(f"--landmarks: {lofo} was scored with the table {settings.get('landmarks')} (by hash)")
    examples = [e for p in data for e in load_records(p)]
    return with_landmarks(examples, landmarks) if reads else examples


def fold_distances(
    train_runs: list[dict[str, Any]],
    examples: list[dict[str, Any]],
    landmarks: bool,
    groups: list[str],
    label_seeds: int = 2,
) -> tuple[dict[str, float], dict[str, str]]:
    """Each group's distance outside the range of the fold's training tasks (``train_runs``, the fold's
    :func:`~benchmarks.leave_one_family_out.fold_runs`), and the features outside it."""
    rng = task_range(mean_labels(train_runs, label_seeds), landmarks)  # the records the fold's fit was given
    first = {}
    for e in examples:
        first.setdefault(e["group"], e)
    vectors = {g: global_vector(first[g]["task_features"], landmarks) for g in groups}
    return {g: rng.distance(v) for g, v in vectors.items()}, {g: rng.describe(v) for g, v in vectors.items()}


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    """Spearman's rho and its p-value; ``None`` for both where either side is constant (a fold whose groups all
    lie inside the range), where it is undefined."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"rho": None, "p": None}
    rho = spearmanr(a, b)
    return {"rho": float(rho.statistic), "p": float(rho.pvalue)}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean zero-shot (and adapted) Spearman of the groups beyond and within each threshold; the rank correlation
    of the distance with the zero-shot Spearman."""
    d = np.array([r["distance"] for r in rows])
    zs = np.array([r[ZERO_SHOT] for r in rows])
    ad = np.array([r.get(ADAPTED, np.nan) for r in rows])
    out: dict[str, Any] = {"groups": len(rows), "thresholds": {}}
    for t in THRESHOLDS:
        beyond = d > t
        out["thresholds"][f"{t:g}"] = {
            side: {
                "groups": int(mask.sum()),
                "zero_shot": float(zs[mask].mean()) if mask.any() else None,
                "adapted_10": float(np.nanmean(ad[mask])) if mask.any() and not np.isnan(ad[mask]).all() else None,
            }
            for side, mask in (("beyond", beyond), ("within", ~beyond))
        }
    out["spearman_distance_vs_zero_shot"] = _rank_correlation(d, zs)
    return out


def group_coverage(
    model: AccuracyPredictor, runs: list[dict[str, Any]], label_seeds: int, scale: float, floor: float
) -> dict[str, dict[str, float]]:
    """Per group of ``runs``: the share of measured accuracies inside the zero-shot +-1 sigma, the spread
    calibrated by ``(scale, floor)`` in place of the model's own calibration, and the median |error| / sigma."""
    report = evaluate(model, runs, adapt_records=0, baselines=False, label_seeds=label_seeds)
    spreads = raw_spread(model, np.array([p["std"] for p in report["predictions"]]))
    by_group: dict[str, list[tuple[float, float]]] = {}
    for p, spread in zip(report["predictions"], spreads):
        sigma = float(np.sqrt((scale * spread) ** 2 + floor**2))
        by_group.setdefault(p["group"], []).append((abs(p["measured"] - p["predicted"]), sigma))
    out = {}
    for group, pairs in by_group.items():
        err, sigma = np.array(pairs).T
        out[group] = {"within_1sigma": float(np.mean(err <= sigma)), "err_over_sigma": float(np.median(err / sigma))}
    return out


EMBEDDING_NEIGHBOURS = 5  # training tasks the embedding distance averages over


def embedding_distances(
    model: AccuracyPredictor, train_runs: list[dict[str, Any]], held_out: dict[str, dict[str, Any]]
) -> dict[str, float]:
    """Each held-out group's mean distance, in the fold predictor's task embedding, to its
    ``EMBEDDING_NEIGHBOURS`` nearest training (task, teacher) pairs, over the median distance between two of
    those pairs. ``held_out``: a group's task features by group."""
    first: dict[str, dict[str, Any]] = {}
    for e in train_runs:
        first.setdefault(e["group"], e["task_features"])
    train = model.task_embeddings(list(first.values()))
    unit = float(np.median(np.linalg.norm(train[:, None] - train[None], axis=2)))
    out = {}
    for group, emb in zip(held_out, model.task_embeddings(list(held_out.values()))):
        nearest = np.sort(np.linalg.norm(train - emb, axis=1))[:EMBEDDING_NEIGHBOURS]
        out[group] = float(nearest.mean() / unit)
    return out


def coverage_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean +-1 sigma coverage of the groups beyond and within each threshold; its rank correlation with the
    distance."""
    rows = [r for r in rows if "within_1sigma" in r]
    d = np.array([r["distance"] for r in rows])
    cov = np.array([r["within_1sigma"] for r in rows])
    out: dict[str, Any] = {"groups": len(rows), "within_1sigma": float(cov.mean()), "thresholds": {}}
    for t in THRESHOLDS:
        beyond = d > t
        out["thresholds"][f"{t:g}"] = {
            side: {"groups": int(mask.sum()), "within_1sigma": float(cov[mask].mean()) if mask.any() else None}
            for side, mask in (("beyond", beyond), ("within", ~beyond))
        }
    out["spearman_distance_vs_coverage"] = _rank_correlation(d, cov)
    e = np.array([r.get("embedding_distance", np.nan) for r in rows])
    if len(e) and not np.isnan(e).any():
        out["median_embedding_distance"] = float(np.median(e))
        out["spearman_embedding_distance_vs_coverage"] = _rank_correlation(e, cov)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lofo", required=True, type=Path, help="a leave_one_family_out result file")
    ap.add_argument("--data", nargs="+", required=True, help="the meta-dataset exports the result file names")
    ap.add_argument("--landmarks", help="the landmark table the result file names (when its folds read landmarks)")
    ap.add_argument(
        "--folds",
        type=Path,
        help="the fold predictors of the result file (without-FAMILY.pt): also set each group's zero-shot +-1 sigma "
        "coverage (cross-fitted calibration) beside its distance, and its distance in the task embedding",
    )
    ap.add_argument("--out", default=str(result_path("predictor_novelty")))
    args = ap.parse_args()

    lofo = json.loads(args.lofo.read_text())
    settings = lofo["settings"]
    examples = lofo_examples(args.lofo, args.data, args.landmarks)
    landmarks = bool(settings["hyper_parameters"].get("landmarks"))

    rows, folds = [], {}
    for family, fold in lofo["folds"].items():
        groups = sorted(fold["per_group"])
        splits = tuple(tuple(split) for split in settings.get("splits", ()))
        train_runs, _, _ = fold_runs(  # without the groups the fold left out of training as unreliable
            family, examples, set(settings["exclude_teachers"]), splits, settings.get("min_reliability")
        )
        dist, outside = fold_distances(train_runs, examples, landmarks, groups, settings["label_seeds"])
        fold_rows = [
            {"family": family, "group": g, "distance": dist[g], "outside": outside[g], **fold["per_group"][g]}
            for g in groups
        ]
        if args.folds is not None:
            model = AccuracyPredictor.load(args.folds / f"without-{family}.pt")
            runs, _ = held_out_runs(family, examples, settings["max_groups"], splits)
            calibration = lofo["cross_fitted_calibration"]["folds"][family]
            per_group = group_coverage(model, runs, settings["label_seeds"], calibration["scale"], calibration["floor"])
            task_of: dict[str, dict[str, Any]] = {}
            for e in runs:  # each group's task as its first run records it (as for the distance above)
                task_of.setdefault(e["group"], e["task_features"])
            embedded = embedding_distances(model, train_runs, {g: task_of[g] for g in per_group})
            for row in fold_rows:
                row.update(per_group.get(row["group"], {}))
                if row["group"] in embedded:
                    row["embedding_distance"] = embedded[row["group"]]
        rows += fold_rows
        folds[family] = {**summary(fold_rows), "max_distance": max(dist.values())}
        if args.folds is not None:
            folds[family]["coverage"] = coverage_summary(fold_rows)
        print(f"{family}: {len(groups)} groups, distance 0 to {max(dist.values()):.2f}", flush=True)
    result = {
        "lofo": {"file": args.lofo.name, "sha256": file_sha256(args.lofo)},
        "notice_distance": NOTICE_DISTANCE,
        "all": summary(rows),
        **({"coverage": coverage_summary(rows)} if args.folds is not None else {}),
        "folds": folds,
        "groups": rows,
        "measured": provenance(),
    }
    write_json(Path(args.out), result)
    a = result["all"]["thresholds"][f"{NOTICE_DISTANCE:g}"]
    print(
        f"beyond {NOTICE_DISTANCE:g} sd: {a['beyond']['groups']} groups, zero-shot {a['beyond']['zero_shot']:.3f}; "
        f"within: {a['within']['groups']}, {a['within']['zero_shot']:.3f}; rank correlation of the distance with "
        f"the zero-shot Spearman {result['all']['spearman_distance_vs_zero_shot']['rho']:.3f}"
    )
    if args.folds is not None:
        c = result["coverage"]
        t = c["thresholds"][f"{NOTICE_DISTANCE:g}"]
        print(
            f"zero-shot +-1 sigma coverage beyond {NOTICE_DISTANCE:g} sd: {t['beyond']['within_1sigma']:.2f} "
            f"({t['beyond']['groups']} groups), within: {t['within']['within_1sigma']:.2f}; rank correlation of the "
            f"distance with the coverage {c['spearman_distance_vs_coverage']['rho']:.3f}, of the embedding distance "
            f"{c['spearman_embedding_distance_vs_coverage']['rho']:.3f}"
        )


def _correlation_text(rho: dict[str, float | None]) -> str:
    """``0.123 (p = 0.045)``, or ``undefined`` where every group lies at one distance."""
    return "undefined" if rho["rho"] is None else f"{rho['rho']:.3f} (p = {rho['p']:.2g})"


def render(data: dict) -> str:
    """RESULTS.md's tables: per threshold over every fold, then per fold at the notice's threshold."""
    from benchmarks.render import table

    def f3(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    a = data["all"]
    rows = [
        [
            f"{t}" + (" (the notice)" if float(t) == data["notice_distance"] else ""),
            s["beyond"]["groups"],
            f3(s["beyond"]["zero_shot"]),
            f3(s["beyond"]["adapted_10"]),
            s["within"]["groups"],
            f3(s["within"]["zero_shot"]),
            f3(s["within"]["adapted_10"]),
        ]
        for t, s in a["thresholds"].items()
    ]
    header = ["sd outside", "groups beyond", "zero-shot", "adapted 10", "groups within", "zero-shot", "adapted 10"]
    out = table(header, rows, [False] + [True] * 6)
    key = f"{data['notice_distance']:g}"
    per_fold = [
        [
            fam,
            f["groups"],
            f"{f['max_distance']:.2f}",
            f["thresholds"][key]["beyond"]["groups"],
            f3(f["thresholds"][key]["beyond"]["zero_shot"]),
            f3(f["thresholds"][key]["within"]["zero_shot"]),
        ]
        for fam, f in data["folds"].items()
    ]
    out += "\n\n" + table(
        ["held out", "groups", "largest distance", f"beyond {key} sd", "zero-shot beyond", "zero-shot within"],
        per_fold,
        [False] + [True] * 5,
    )
    out += (
        f"\n\nOver all {a['groups']} groups of `{data['lofo']['file']}`, the rank correlation of the distance with "
        f"the zero-shot Spearman is {_correlation_text(a['spearman_distance_vs_zero_shot'])}."
    )
    if "coverage" in data:
        c = data["coverage"]
        rows = [
            [
                f"{t}",
                s["beyond"]["groups"],
                "–" if s["beyond"]["within_1sigma"] is None else f"{s['beyond']['within_1sigma']:.2f}",
                s["within"]["groups"],
                "–" if s["within"]["within_1sigma"] is None else f"{s['within']['within_1sigma']:.2f}",
            ]
            for t, s in c["thresholds"].items()
        ]
        out += "\n\nZero-shot +-1 sigma coverage (cross-fitted calibration) of the groups beyond and within:\n\n"
        out += table(
            ["sd outside", "groups beyond", "coverage", "groups within", "coverage"], rows, [False] + [True] * 4
        )
        per_fold = [
            [
                fam,
                f["coverage"]["groups"],
                f"{f['max_distance']:.2f}",
                f"{f['coverage'].get('median_embedding_distance', float('nan')):.3f}",
                f"{f['coverage']['within_1sigma']:.2f}",
            ]
            for fam, f in data["folds"].items()
            if "coverage" in f
        ]
        out += "\n\n" + table(
            ["held out", "groups", "largest distance", "median embedding distance", "coverage"],
            per_fold,
            [False, True, True, True, True],
        )
        out += (
            f"\n\nOver all {c['groups']} groups, the rank correlation of the distance with the coverage is "
            f"{_correlation_text(c['spearman_distance_vs_coverage'])}."
        )
        if "spearman_embedding_distance_vs_coverage" in c:
            out += (
                f" Of the embedding distance (to the {EMBEDDING_NEIGHBOURS} nearest training tasks, in the fold "
                f"predictor's task embedding): {_correlation_text(c['spearman_embedding_distance_vs_coverage'])}."
            )
    return out


if __name__ == "__main__":
    main()

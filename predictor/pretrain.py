"""Meta-training: fit the predictor on the meta-train tasks, select on meta-validation, report meta-test.

The checkpoint is one file (:meth:`AccuracyPredictor.save`); beside it a card (JSON) says how it was
made: the data file's hash, the tasks of each split, the hyper-parameters, the code commit and the
evaluation figures.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.io import code_commit, file_sha256, write_json
from distill.landmarks import LandmarkTable, attach_landmarks
from distill.progress import Progress
from predictor.data import describe_split, load_records, mean_labels, split_by_task
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate, unreliable_groups, unscorable, within_one_sigma

log = logging.getLogger(__name__)


MIN_CALIBRATION_RECORDS = 20  # meta-validation students needed to calibrate the uncertainty


def card_path(checkpoint: str | Path) -> Path:
    return Path(checkpoint).with_suffix(".json")


def _check_out(data: Sequence[str | Path], out: str | Path) -> None:
    """The checkpoint and its card must be two new names, none of them a meta-dataset file."""
    out, card = Path(out), card_path(out)
    if out == card:
        raise ValueError(f"the checkpoint path {out} would be overwritten by its card ({card.name}): give a .pt path")
    for path in (out, card):
        for d in data:
            if path.exists() and Path(d).exists() and os.path.samefile(path, d):
                raise ValueError(f"the checkpoint {out} or its card would overwrite the meta-dataset {d}: pick another")


def data_files(data: str | Path | Sequence[str | Path]) -> list[Path]:
    """One meta-dataset export or several, as a list of paths."""
    return [Path(data)] if isinstance(data, (str, os.PathLike)) else [Path(d) for d in data]


def _data_card(files: list[Path], examples_per_file: list[int]) -> dict[str, Any]:
    """One file: its name (as v1's card has it); several: each path as given, so a refit can find them again."""
    if len(files) == 1:
        return {"file": files[0].name, "sha256": file_sha256(files[0]), "records": examples_per_file[0]}
    cards = [{"file": str(f), "sha256": file_sha256(f), "records": n} for f, n in zip(files, examples_per_file)]
    return {"files": cards, "records": sum(examples_per_file)}


def pretrain(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    params: dict[str, Any] | None = None,
    grid: list[dict[str, Any]] | None = None,
    val_fraction: float = 0.15,
    evaluate_test: bool = True,
    logger: Any | None = None,
    label_seeds: int = 2,
    progress: Progress | None = None,
    landmarks: str | Path | None = None,
    data_dir: str | None = None,
    min_reliability: float | None = None,
) -> dict[str, Any]:
    """Fit on meta-train, score meta-validation (and meta-test), save the checkpoint and its card.

    Args:
        data: a meta-dataset export (``dass collect --export``), or several, read together (e.g. meta-dataset v1
            and the parts of v2).
        out: checkpoint path; the card is written beside it with the suffix ``.json``.
        params: :class:`AccuracyPredictor` hyper-parameters.
        grid: several hyper-parameter sets; the one with the best meta-validation Spearman is kept.
        val_fraction: share of the non-held-out tasks used for meta-validation.
        evaluate_test: also run the meta-test evaluation (baselines included) and put it on the card.
        logger: an object with ``log(dict)`` (e.g. a W&B run), or ``None``.
        label_seeds: a student's label is its mean final accuracy over training seeds 0 .. label_seeds-1
            (:func:`predictor.data.mean_labels`), in training and in evaluation.
        progress: where to show how far meta-training is (fits, then scored groups); nothing shown when ``None``.
        landmarks: a landmark table (:class:`distill.landmarks.LandmarkTable`, e.g. ``datasets_meta/landmarks.json``):
            the predictor also reads each task's landmarks; the tasks the table lacks are measured (two short
            trainings each, cached) and added to it.
        data_dir: where file-backed task sources live (MNIST), for the tasks whose landmarks are measured.
        min_reliability: leave out of meta-training the groups whose labels agree across training seeds less
            than this (Spearman of seed 0 against seed 1, :func:`predictor.evaluate.unreliable_groups`): groups
            whose students' ranking is mostly noise. Meta-validation and meta-test keep every group. ``None``:
            every group is learnt from.

    Returns:
        The card.
    """
    files = data_files(data)
    _check_out(files, out)
    per_file = [load_records(f) for f in files]
    examples = [e for exs in per_file for e in exs]
    data = " + ".join(str(f) for f in files)  # for messages
    params = dict(params or {})
    if landmarks is not None:
        examples = with_landmarks(examples, landmarks, data_dir, progress)
        grid = [{**g, "landmarks": True} for g in grid] if grid else None
        params["landmarks"] = True
    split = split_by_task(examples, val_fraction)
    left_out = unreliable_groups(split["train"], min_reliability) if min_reliability is not None else {}
    split["train"] = [e for e in split["train"] if e["group"] not in left_out]
    if not split["train"]:
        raise ValueError(
            f"{data}: no meta-train records (every task is held out, in meta-validation or left out as unreliable)"
        )
    settings = grid or [params]
    why_not = {
        "meta_validation": unscorable(split["val"], "meta-validation", label_seeds),
        "meta_test": unscorable(split["test"], "meta-test", label_seeds) if evaluate_test else None,
    }
    if len(settings) > 1 and why_not["meta_validation"]:
        raise ValueError(
            f"{data}: {len(settings)} hyper-parameter settings need scored meta-validation tasks to choose "
            f"between, but {why_not['meta_validation']}: give one setting"
        )
    train = mean_labels(split["train"], label_seeds)
    start = time.perf_counter()
    model, selection = select_model({**split, "train": train}, settings, label_seeds, progress)
    fit_s = time.perf_counter() - start
    val_labels = mean_labels(split["val"], label_seeds)
    if len(val_labels) >= MIN_CALIBRATION_RECORDS:  # the reported uncertainty, made honest on meta-validation
        model.calibrate(val_labels)
    card: dict[str, Any] = {
        "format_version": 1,
        "checkpoint": Path(out).name,
        "data": _data_card(files, [len(exs) for exs in per_file]),
        "label_seeds": label_seeds,
        "splits": describe_split(split),
        "split_tasks": {name: sorted({e["task_spec"] for e in exs}) for name, exs in split.items()},
        "hyper_parameters": model.get_params(),
        "code_commit": code_commit(),
        "fit_seconds": round(fit_s, 1),
        "model_selection": selection,
        "calibration": {"scale": model.calibration_[0], "floor": model.calibration_[1]},
    }
    if landmarks is not None:
        card["landmarks"] = {"file": str(landmarks), "sha256": file_sha256(landmarks)}
    if min_reliability is not None:
        spec = {e["group"]: f"{e['task_spec']} / {e['teacher']}" for e in examples if e["group"] in left_out}
        card["left_out_unreliable"] = {
            "min_reliability": min_reliability,
            "groups": {f"{spec[g]} ({g})": round(rho, 4) for g, rho in left_out.items()},
        }
    unscored = {name: why for name, why in why_not.items() if why}
    if unscored:
        card["unscored"] = unscored
    if not why_not["meta_validation"]:
        val = evaluate(model, split["val"], adapt_records=0, baselines=True, label_seeds=label_seeds, progress=progress)
        card["meta_validation"] = {"mean": val["mean"], "noise_ceiling": _ceiling_card(val)}
        card["calibration"]["val_within_1sigma"] = within_one_sigma(val["predictions"])
        if logger:
            logger.log({f"val/{k}": v for k, v in val["mean"].get("ours (zero-shot)", {}).items()})
    if evaluate_test and not why_not["meta_test"]:
        test = evaluate(
            model,
            split["test"],
            train,
            adapt_records=10,
            control_predictor=control_baseline(model, train, progress),
            label_seeds=label_seeds,
            progress=progress,
        )
        names = {e["group"]: f"{e['task_spec']} / {e['teacher']}" for e in split["test"]}
        if len(set(names.values())) < len(names):  # e.g. one teacher name trained for different epochs
            names = {g: f"{name} ({g})" for g, name in names.items()}
        card["calibration"]["test_within_1sigma"] = within_one_sigma(test["predictions"])
        card["meta_test"] = {
            "mean": test["mean"],
            "mean_by_source": test["mean_by_source"],
            "noise_ceiling": _ceiling_card(test),
            "noise_ceiling_by_source": test["noise_ceiling_by_source"],
            "labels": test["labels"],
            "recipe_awareness": test["recipe_awareness"],
            "groups": len(test["groups"]),
            "per_group": {
                names[g]: {m: round(r[m]["spearman"], 4) for m in ("ours (zero-shot)", "ours (adapted 10)") if m in r}
                for g, r in test["groups"].items()
            },
        }
        if logger:
            logger.log({f"test/{k}": v for k, v in test["mean"].get("ours (zero-shot)", {}).items()})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    write_json(card_path(out), card)
    log.info("saved %s and its card (%d meta-train records, %.0f s)", out, len(split["train"]), fit_s)
    return card


def with_landmarks(
    examples: list[dict[str, Any]],
    table: str | Path | None,
    data_dir: str | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """``examples`` with their tasks' landmarks, from the table at ``table`` (the tasks it lacks are measured, or read
    from the landmark cache, and added to it); ``None``: from the cache alone."""
    lm = LandmarkTable(table)
    missing = sorted({e["task_spec"] for e in examples} - set(lm.accuracies))
    if missing:
        progress = progress or Progress.off()
        progress.phase("measuring landmarks", total=len(missing), unit="task")
        log.info("measuring the landmarks of %d tasks into %s", len(missing), table)
        lm.fill(missing, data_dir, on_task=lambda spec: progress.update())
    return attach_landmarks(examples, lm)


def control_baseline(
    model: AccuracyPredictor, train: list[dict[str, Any]], progress: Progress | None = None
) -> AccuracyPredictor | None:
    """The distillation-unaware baseline: the same GNN and settings as ``model``, fitted on the
    no-distillation records of ``train`` only (``None`` when there are none)."""
    controls = [e for e in train if e["tags"].get("control")]
    if not controls:
        return None
    progress = progress or Progress.off()
    progress.phase("fitting the no-KD baseline", total=1, unit="fit")
    baseline = AccuracyPredictor(**model.get_params()).fit(controls)
    progress.update()
    return baseline


def _ceiling_card(report: dict[str, Any]) -> dict[str, Any]:
    nc = report["noise_ceiling"]
    return {
        "mean": nc["mean"],
        "groups": nc["n"],
        "label_seeds": nc["label_seeds"],
        "measured": nc["measured"],
        "parts": nc["parts"],
        "single_seed": nc["single_seed"]["mean"],
        "single_seed_groups": len(nc["single_seed"]["groups"]),
    }


def select_model(
    split: dict[str, list], grid: list[dict[str, Any]], label_seeds: int = 2, progress: Progress | None = None
) -> tuple[AccuracyPredictor, list[dict]]:
    """Fit every hyper-parameter set on meta-train; keep the best by mean Spearman on meta-validation."""
    progress = progress or Progress.off()
    progress.phase("fitting the predictor", total=len(grid), unit="setting")
    best, best_score, tried = None, -math.inf, []
    for params in grid:
        model = AccuracyPredictor(**params).fit(split["train"])
        score = math.nan
        if split["val"] and len(grid) > 1:
            val = evaluate(model, split["val"], adapt_records=0, baselines=False, label_seeds=label_seeds)
            score = val["mean"]["ours (zero-shot)"]["spearman"]
        tried.append({"params": params, "val_spearman": score})
        log.info("hyper-parameters %s: meta-validation Spearman %.3f", params, score)
        if best is None or score > best_score:  # NaN never wins over a real score
            best, best_score = model, score
        progress.update()
    return best, tried


def wandb_logger(project: str = "dass", config: dict | None = None) -> Any:
    """A W&B run, offline when no API key is configured."""
    try:
        import wandb
    except ImportError:
        raise ValueError("--wandb needs W&B: pip install 'dass[wandb]'") from None
    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    return wandb.init(project=project, config=config or {}, mode=mode)

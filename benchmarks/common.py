"""Helpers every benchmark script shares: where things are, where results go, and how a result is written.

The scripts are run from the repository root, as ``python -m benchmarks.NAME`` or ``python benchmarks/NAME.py``;
each writes its one current result file to ``benchmarks/results/NAME.json`` unless told otherwise, so the file
that backs a figure in ``benchmarks/RESULTS.md`` is always the one named after its script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.io import file_sha256, write_json
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate

__all__ = [
    "DATA_DIR",
    "RESULTS_DIR",
    "ROOT",
    "best_at",
    "card_hyper_parameters",
    "file_sha256",
    "provenance",
    "result_path",
    "resume_results",
    "write_json",
    "zero_shot_spearman",
]

ROOT = Path(__file__).resolve().parents[1]
# MNIST and other data files: $DASS_DATA, else the shared folder beside the repository (this project's machines)
DATA_DIR = Path(os.environ.get("DASS_DATA", ROOT.parent / "shared" / "data"))
RESULTS_DIR = ROOT / "benchmarks" / "results"
# the predictor the search benchmarks' committed results used (dass's own default is v2)
V1_CHECKPOINT = ROOT / "checkpoints" / "predictor_v1.pt"


def add_checkpoint_argument(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, by default :data:`V1_CHECKPOINT`, so that a script's committed results reproduce."""
    parser.add_argument(
        "--checkpoint",
        default=str(V1_CHECKPOINT),
        help="predictor checkpoint (default: v1, the one of the committed results; dass's own default is v2)",
    )


def result_path(name: str, suffix: str = ".json") -> Path:
    """The current result file of benchmark ``name`` (its script's name without ``.py``)."""
    return RESULTS_DIR / f"{name}{suffix}"


def provenance() -> dict[str, Any]:
    """When and where a result was measured, stored in the result file so that RESULTS.md can say it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the commit is simply unknown
        commit = None
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "commit": commit,
    }


def card_hyper_parameters(card: str | Path) -> dict[str, Any]:
    """The hyper-parameters a checkpoint card (``checkpoints/*.json``) records, to fit a predictor the same way."""
    return json.loads(Path(card).read_text())["hyper_parameters"]


def card_data_files(card: dict[str, Any]) -> list[tuple[Path, str]]:
    """The meta-dataset files a checkpoint card names, as ``(path, sha256)``: one file is named under
    ``datasets_meta/`` (v1's card), several by their paths from the repository root."""
    if "files" in card["data"]:
        return [(ROOT / f["file"], f["sha256"]) for f in card["data"]["files"]]
    return [(ROOT / "datasets_meta" / card["data"]["file"], card["data"]["sha256"])]


def zero_shot_spearman(predictor: AccuracyPredictor, examples: list[dict], label_seeds: int) -> float:
    """Mean over groups of the zero-shot Spearman, scored exactly as ``dass evaluate --adapt 0`` scores it."""
    report = evaluate(predictor, examples, adapt_records=0, baselines=False, label_seeds=label_seeds)
    return report["mean"]["ours (zero-shot)"]["spearman"]


def resume_results(out: Path, val_data: str, what: str, fresh: dict[str, Any]) -> dict[str, Any]:
    """The results an interrupted run already wrote to ``out`` (``fresh`` when there are none).

    A result file scores everything on one ``val_data`` file; resuming it with another would mix two sets of
    labels in one table, so that is refused with a message naming ``what`` the file holds.
    """
    results = json.loads(out.read_text()) if out.exists() else fresh
    val_sha = file_sha256(val_data)
    if results.setdefault("val_sha256", val_sha) != val_sha:
        raise SystemExit(f"{out} scored its {what} on another --val-data file; use another --out")
    return results


def best_at(history: list[dict], trainings: float, field: str = "best_test_acc") -> Any:
    """``field`` (the test accuracy, or e.g. ``"best_hash"``) of the best-by-validation student after
    ``trainings`` (NaN before the first one)."""
    value = np.nan
    for h in history:
        if h["trainings"] <= trainings + 1e-9 and h[field] is not None:
            value = h[field]
    return value

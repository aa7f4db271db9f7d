"""What the search benchmarks share: their settings, one run (resumed or read back), and reading a run's curve.

``search_efficiency.py`` runs the searches; ``search_tuning.py`` runs more of them with other settings;
``search_reseed.py`` and ``predictor_search_students.py`` read the finished run directories back. They must
agree on how a run directory is named, when a stored run may be reused, and which student is "the best after
n trainings" (``benchmarks.common.best_at``), so those live here and there, once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from distill.landmarks import task_landmarks
from distill.probe import probe_features
from distill.teachers import get_teacher, teacher_config
from search import STRATEGIES, SearchConfig, resume_search, run_search
from search.loop import HISTORY_FILE

# the benchmark's search settings (meta-v1's teacher training; NSGA-II a bracket every GENERATIONS // 4); the
# population is each strategy's default (SearchConfig: 100 for ours, 32 for the others) unless --population
TEACHER_EPOCHS, GENERATIONS = 12, 20

# the strategies that spend trainings on rungs below the full budget (the others train every student in full)
RUNG_STRATEGIES = {"ours", "uniads"}


def slug(spec: str) -> str:
    """A task spec (or variant name) as a folder name."""
    return spec.replace(":", "_").replace("=", "-").replace(",", "+")


def one_run(config: SearchConfig) -> dict:
    """Run one search, or read back / resume the run already in ``config.out`` (refused if its settings differ)."""
    out = Path(config.out)
    start = time.perf_counter()
    finished = (out / "front.json").is_file()  # finished before: read back (no training is redone)
    if (out / "config.json").is_file():
        stored = SearchConfig.load(out)
        keys = ["max_trainings", "max_params", "generations", "population", "full_budget"]
        if config.strategy in RUNG_STRATEGIES:
            keys += ["rungs", "rung_size", "eta", "verify", "accuracy_share"]
        if STRATEGIES.get(config.strategy).needs_predictor:  # only the predictor-guided search adapts
            keys += ["checkpoint", "adapt_steps", "adapt_method", "scouts"]
        changed = [k for k in keys if getattr(stored, k) != getattr(config, k)]
        if changed:
            raise SystemExit(
                f"{out} holds a run with other settings ({', '.join(changed)}); remove it or pass another --out"
            )
        if finished and (out / HISTORY_FILE).is_file():  # a finished run's curve, without replaying it
            history = json.loads((out / HISTORY_FILE).read_text())
            trainings = json.loads((out / "front.json").read_text())["trainings"]
            return {
                "history": history,
                "trainings": trainings,
                "wall_s": time.perf_counter() - start,
                "read_back": True,
            }
        result = resume_search(out, progress=False)  # a finished run is read back, an interrupted one goes on
    else:
        result = run_search(config, progress=False)
    # wall_s is this call's time: a read-back run's is not its search time
    return {
        "history": result.history,
        "trainings": result.trainings,
        "wall_s": time.perf_counter() - start,
        "read_back": finished,
    }


def teacher_features(
    task: Any, teacher: str, teacher_epochs: int, weights: str | None = None, landmarks: bool = False
) -> dict:
    """The predictor's task input: the probe features of ``teacher`` on ``task``, the teacher built (or read
    from the cache) as the search and the collector build it; with ``landmarks``, the task's landmarks too
    (for a predictor that reads them), as the search measures them."""
    features = probe_features(get_teacher(teacher, task, weights=weights, config=teacher_config(teacher_epochs)), task)
    if landmarks:
        features["landmarks"] = task_landmarks(task)
    return features

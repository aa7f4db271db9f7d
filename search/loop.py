"""``dass search``: run a strategy, verify its final candidates, and write the run directory.

::

    config = SearchConfig(task="digits", teacher="resnet-s", out="runs/s1", checkpoint="checkpoints/predictor_v2.pt",
                          max_params=20_000)
    result = run_search(config)            # or resume_search("runs/s1") after an interruption
    print(format_front(result.front, config.objective, config.strategy))

The run directory::

    config.json           the settings (the run can be resumed / reproduced from it)
    records.db            every training of the run (SQLite record store): idempotent, resumable
    state.json            generation, ledger of trainings paid for, RNG state, histories (commit point)
    state-GGGGG.npz       the population's arrays (no pickles)
    state-previous.json   the checkpoint before (and its npz): a damaged state.json or npz falls back to it
    costs.json            parameters / FLOPs / measured latency per architecture
    clock.json            wall time and sessions so far (a resumed run reports its whole time)
    front.csv, front.json the verified Pareto front (hash, genome, recipe, costs, predicted, measured)
    history.json          the best verified student after every batch of trainings (a finished run's curve)
    best/                 student.pt, genome.json, recipe.json, metrics.json of the most accurate student
    pareto.png, predicted_vs_measured.png, best_vs_trainings.png, report.md
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.genome import Genome
from distill.io import write_json
from search.budget import TOLERANCE
from search.config import CONFIG_FILE, RESUMABLE, SearchConfig
from search.context import SearchRun
from search.progress import Progress
from search.report import (
    empty_front_reason,
    front_rows,
    plot_best_vs_trainings,
    plot_pareto,
    plot_predicted_vs_measured,
    save_best,
    write_front,
    write_report,
)
from search.strategies import STRATEGIES, SearchStrategy, run_strategy

log = logging.getLogger(__name__)
HISTORY_FILE = "history.json"

__all__ = ["SearchResult", "resume_search", "run_search", "verify"]


@dataclass
class SearchResult:
    """What a search returns; everything is also in ``out``."""

    out: Path
    front: list[dict[str, Any]]  # the verified Pareto front, cheapest first (see report.FRONT_COLUMNS)
    best: dict[str, Any] | None  # metrics of the saved best student
    trainings: float  # full-budget-equivalent trainings paid for
    history: list[dict[str, Any]] = field(default_factory=list)  # best accuracy after each training batch
    empty_reason: str | None = None  # why the front is empty, on one line (None when it is not)


def verify(run: SearchRun, candidates: list[Genome]) -> None:
    """Train the final candidates at the full budget (those already trained there are read back), in
    order, as far as the training budget allows."""
    full = run.config.full_budget
    seen: set[str] = set()
    candidates = [g for g in candidates if not (g.hash in seen or seen.add(g.hash))]
    n = run.budget.affordable(candidates, full)
    if n < len(candidates):
        log.warning("the training budget verifies %d of %d final candidates", n, len(candidates))
    if n:
        run.train(candidates[:n], full)


def check_training_budget(config: SearchConfig, strategy: type[SearchStrategy]) -> None:
    """Refuse a ``--max-trainings`` that cannot pay for what the strategy needs to verify one student."""
    if config.max_trainings is None:
        return
    need, what = strategy.min_trainings(config)
    if config.max_trainings + TOLERANCE < need:
        least = math.ceil(need * 100 - TOLERANCE) / 100  # shown with two decimals, never below the need
        raise ValueError(
            f"--max-trainings {config.max_trainings:g} cannot pay for {what}, the least the {config.strategy!r} "
            f"strategy needs to verify a student: give at least {least:g} full-budget-equivalent trainings"
        )


def run_search(config: SearchConfig, resume: bool = False, progress: bool | None = None) -> SearchResult:
    """Run (or, with ``resume``, continue) the search ``config`` describes; see the module docstring.

    Ctrl-C stops it cleanly: finished trainings are in the store, the state of the last finished
    generation is on disk, and :func:`resume_search` goes on from there.

    Args:
        config: the settings; ``config.out`` is the run directory.
        resume: continue the run in ``config.out`` instead of starting a new one.
        progress: show a progress bar (default: when stderr is a terminal).
    """
    strategy = STRATEGIES.get(config.strategy)  # an unknown name is a ValueError listing the valid ones
    strategy.factory.check_config(config)  # before the task, the teacher and the first training
    check_training_budget(config, strategy.factory)
    out = Path(config.out)
    if not resume and (out / CONFIG_FILE).exists():
        raise ValueError(f"{out} already holds a search run: resume it with --resume {out}, or pick another --out")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    bar = Progress(progress)
    try:
        run = SearchRun(config, strategy.needs_predictor, bar)  # bad input fails here, before any training
    except BaseException:
        bar.close()
        if created and not any(out.iterdir()):  # a refused search leaves no empty run directory behind
            out.rmdir()
        raise
    if not resume:
        config.save(out)
    try:
        run.clock.start_session()  # counted now: a session killed before its first save still counts
        searcher = strategy.factory()
        candidates = run_strategy(searcher, run)
        verify(run, candidates)
        rows = front_rows(run)
        best = None
        if rows and config.save_best:
            best = save_best(run, max(rows, key=lambda r: (r["val_acc"], -r["cost"])), out / "best")
        meta = {
            "task": run.task.name,
            "task_id": run.task.id,
            "teacher": config.teacher,
            "teacher_id": run.teacher.id,
            "strategy": config.strategy,
            "objective": config.objective,
            "limits": run.limits,
            "full_budget": config.full_budget,
            "trainings": run.trainer.spent,
            "seed": config.seed,
            "best": best["genome_hash"] if best else None,
        }
        write_front(out, rows, meta)
        write_json(out / HISTORY_FILE, run.history)
        plot_pareto(out / "pareto.png", run, rows)
        quality = plot_predicted_vs_measured(out / "predicted_vs_measured.png", run)
        plot_best_vs_trainings(
            out / "best_vs_trainings.png", run.history, config.strategy, chance=1 / run.task.num_classes
        )
        session_s = run.clock.session_s
        notes = {
            "wall_s": run.clock.wall_before + session_s,
            "session_s": session_s,
            "sessions": run.clock.sessions,
            "predicted_vs_measured": quality,
            "strategy_description": strategy.description,  # what `ours` (or any other name) is
        }
        write_report(out / "report.md", run, rows, best, notes)
        if run.logger is not None:
            _log_front(run.logger, rows)
        reason = None if rows else empty_front_reason(run, searcher.training_cap())
        return SearchResult(out, rows, best, run.trainer.spent, list(run.history), reason)
    finally:
        bar.close()
        run.close()
        if run.logger is not None:
            run.logger.finish()


def resume_search(directory: str | os.PathLike, progress: bool | None = None, **overrides: Any) -> SearchResult:
    """Continue the run in ``directory`` from its ``config.json``, store and state.

    Only where the trainings run may change (``executor``, ``workers``, ``ray_address``); the result does
    not depend on them.
    """
    config = SearchConfig.load(directory)
    allowed = set(RESUMABLE)
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ValueError(f"--resume takes the run's own settings; only {', '.join(sorted(allowed))} may change")
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    config.__post_init__()
    return run_search(config, resume=True, progress=progress)


def _log_front(logger: Any, rows: list[dict[str, Any]]) -> None:
    import wandb

    columns = ["genome_hash", "cost", "val_acc", "test_acc", "predicted_acc"]
    logger.log({"front": wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows])})

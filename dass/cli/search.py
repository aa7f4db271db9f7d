"""``dass search``: search a student and a distillation recipe for a teacher and a task.

Every setting of the run is a field of :class:`search.config.SearchConfig`, which declares its flag, help and
default (``--group`` among them: how the rungs' trainings run, not what they compute, so a resumed run may change
it); this module adds only ``--cache-dir`` and ``--resume``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dass.cli.common import Command, UsageError, checkpoint
from search import format_front, resume_search, run_search
from search.config import RESUMABLE, SearchConfig
from search.flags import add_flags, flag_name, given_settings
from search.strategies import STRATEGIES


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_flags(p, SearchConfig, choices={"strategy": STRATEGIES.names()})
    p.add_argument("--cache-dir", help="teacher and teacher-output cache (default: $DASS_CACHE or ~/.cache/dass)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted search from its run directory")


def run(args: argparse.Namespace) -> int:
    if args.cache_dir:  # the training workers find the teacher cache through the environment
        os.environ["DASS_CACHE"] = os.path.abspath(args.cache_dir)
    settings = given_settings(args, SearchConfig)  # None where a flag was not given: the config's default
    where = {name: settings.pop(name) for name in RESUMABLE}  # where the trainings run: a resume may change it
    where["executor"] = where["executor"] or ("ray" if where["ray_address"] else None)
    try:
        if args.resume:
            given = sorted(k for k, v in settings.items() if v is not None)
            if given:
                raise UsageError(
                    f"--resume takes the run's settings from {args.resume}/config.json; "
                    f"leave out {flag_name(SearchConfig, given[0])}"
                )
            result = resume_search(args.resume, **where)
        else:
            missing = [f"--{k}" for k in ("task", "teacher", "out") if settings[k] is None]
            if missing:
                raise UsageError(f"dass search needs {', '.join(missing)} (or --resume DIR)")
            if STRATEGIES.get(args.strategy or "ours").needs_predictor:
                settings["checkpoint"] = str(checkpoint(args.checkpoint))
            config = SearchConfig(**{k: v for k, v in {**settings, **where}.items() if v is not None})
            result = run_search(config)
    except KeyboardInterrupt:
        run_dir = args.resume or args.out
        print(
            f"dass search: interrupted; finished trainings are kept: continue with dass search --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    config = SearchConfig.load(result.out)
    print(
        f"verified Pareto front of {config.strategy} on {config.task} / {config.teacher}: {len(result.front)} "
        f"student(s), {result.trainings:.2f} full-budget-equivalent trainings ({config.full_budget} epoch(s) each)"
    )
    print(format_front(result.front, config.objective, config.strategy))
    if result.best:
        best_dir = os.path.relpath(result.out / "best") if Path.cwd() in result.out.parents else result.out / "best"
        print(f"best student {result.best['genome_hash']} saved to {best_dir}/ (report: report.md)")
    if result.empty_reason:
        print(f"dass search: {result.empty_reason}", file=sys.stderr)
    return 0 if result.front else 1


COMMANDS = [
    Command(
        "search",
        "search a student and a distillation recipe for a teacher and a task",
        add_arguments,
        run,
        dir_options=("out", "cache_dir"),
    ),
]

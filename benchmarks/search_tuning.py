"""How ``ours`` should spend its trainings: successive-halving rungs against full-budget verification.

Tuned on a task that neither the predictor nor ``search_efficiency.py`` uses, so that the benchmark's
figures are not fitted to its own tasks: 10-class MNIST under a blur the 10-class meta-v1 tasks never had,
distilled from ``vgg-l`` (the VGG family is unseen by the meta-v1 predictor). Every variant runs ``dass
search --strategy ours`` with the benchmark's settings (at most 20,000 parameters, 20 full-budget-equivalent
trainings, 20 generations, a bracket every 5; population 32, the default before ``ours`` took 100) and
changes only how a bracket spends its trainings (or, last, the population):

- ``1,3,6 x9``: 9 candidates at 1 epoch, the best 3 at 3, the best one at 6 (the default bracket);
- ``2,6 x6``: 6 candidates at 2 epochs, the best 2 at 6;
- ``6 x3``: the predictor's 3 picks straight at the full 6 epochs;
- ``1,3,6 x9 pop100``: the default bracket, with an NSGA-II population of 100 instead of 32 (the
  predictor makes the larger population nearly free; the rungs choose from more students).

Each bracket's results adapt the predictor before the search goes on; what is left of the 20 trainings
verifies the final front. The table reports the test accuracy of the best-by-validation student after 10 and
20 trainings, mean ± std over seeds, and how many students each variant trained at the full budget.
Runs are ``dass search`` directories under ``--out``; finished ones are read back. Run:

    DASS_DATA=../shared/data .venv/bin/python -m benchmarks.search_tuning [--seeds 4] [--task SPEC TEACHER]

``--task`` tunes on another task and teacher instead (e.g. a task family the ``--checkpoint``'s predictor
never saw: where low-budget trainings rank students differently from full ones, the rungs may mislead).

The table goes to ``benchmarks/results/search_tuning.json`` (``--result``).
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import DATA_DIR, ROOT, add_checkpoint_argument, best_at, provenance, result_path, write_json
from benchmarks.search_runs import GENERATIONS, TEACHER_EPOCHS, one_run, slug
from search import SearchConfig
from search.config import POPULATION

MNIST_DIR = DATA_DIR

TASK = ("mnist:classes=0-9:transform=blur1.2:size=12:n_train=1000:n_val=1000:n_test=2000", "vgg-l")
VARIANTS = {
    "1,3,6 x9": {"rungs": (1, 3, 6), "rung_size": 9},
    "2,6 x6": {"rungs": (2, 6), "rung_size": 6},
    "6 x3": {"rungs": (6,), "rung_size": 3},
    "1,3,6 x9 pop100": {"rungs": (1, 3, 6), "rung_size": 9, "population": 100},
}


def full_budget_trainings(out: Path, full: int) -> int:
    with sqlite3.connect(out / "records.db") as con:
        return con.execute("SELECT COUNT(*) FROM jobs WHERE budget = ? AND status = 'ok'", (full,)).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    add_checkpoint_argument(parser)
    parser.add_argument(
        "--population",
        type=int,
        default=POPULATION,
        help=f"NSGA-II population of every variant without its own (default {POPULATION}, the committed runs'; "
        "`ours` now defaults to 100)",
    )
    parser.add_argument(
        "--task", nargs=2, metavar=("SPEC", "TEACHER"), default=list(TASK), help="task spec and zoo teacher"
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "search_tuning"), help="folder of the run directories")
    parser.add_argument("--result", default=str(result_path("search_tuning")), help="the result JSON")
    args = parser.parse_args()
    if not (MNIST_DIR / "mnist.npz").is_file():
        raise SystemExit(f"{MNIST_DIR / 'mnist.npz'} is missing; set DASS_DATA to the folder that holds it")

    spec, teacher = args.task
    rows = []
    for name, overrides in VARIANTS.items():
        if name not in args.variants:
            continue
        settings = {"population": args.population, **overrides}
        for seed in range(args.seeds):
            config = SearchConfig(
                task=spec,
                teacher=teacher,
                teacher_epochs=TEACHER_EPOCHS,
                data_dir=str(MNIST_DIR),
                out=str(Path(args.out) / slug(spec) / slug(name.replace(" ", "_")) / f"seed{seed}"),
                checkpoint=args.checkpoint,
                strategy="ours",
                max_params=20000.0,
                generations=GENERATIONS,
                rung_every=GENERATIONS // 4,
                max_trainings=20.0,
                seed=seed,
                save_best=False,
                **settings,
            )
            run = one_run(config)
            full = full_budget_trainings(Path(config.out), config.rungs[-1])
            rows.append(
                {
                    "variant": name,
                    "seed": seed,
                    "at_10": best_at(run["history"], 10.0),
                    "at_20": best_at(run["history"], 20.0),
                    "full_budget_trainings": full,
                    "trainings": run["trainings"],
                }
            )
            print(
                f"{name:<9} seed {seed}: @10 {rows[-1]['at_10']:.4f} @20 {rows[-1]['at_20']:.4f} ({full} full)",
                flush=True,
            )

    print(f"\n{spec} / {teacher}: test accuracy of the best-by-validation student, mean ± std over {args.seeds} seeds")
    print(f"{'variant':<10} {'@10 trainings':>16} {'@20 trainings':>16} {'full-budget trainings':>22}")
    summary = {}
    for name in args.variants:
        mine = [r for r in rows if r["variant"] == name]
        a10, a20 = np.array([r["at_10"] for r in mine]), np.array([r["at_20"] for r in mine])
        full = np.mean([r["full_budget_trainings"] for r in mine])
        summary[name] = {"at_10": float(np.nanmean(a10)), "at_20": float(a20.mean()), "at_20_std": float(a20.std())}
        print(
            f"{name:<10} {np.nanmean(a10):>9.4f} ± {np.nanstd(a10):.4f} "
            f"{a20.mean():>9.4f} ± {a20.std():.4f} {full:>22.1f}"
        )
    path = Path(args.result)
    write_json(
        path,
        {
            "task": spec,
            "teacher": teacher,
            "runs": rows,
            "summary": summary,
            "args": vars(args),
            "measured": provenance(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

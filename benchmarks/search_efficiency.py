"""Search efficiency: best distilled accuracy under a parameter budget against the trainings spent.

Every strategy (``ours``, ``random``, ``diswot``, ``uniads``, ``autokd``, ``autodistil``) searches every task with
every seed under the same parameter budget and the same training budget, counted in full-budget-equivalent trainings
(``sum(epochs) / full budget``; ``autodistil``'s supernet trainings are charged in the same unit, from their
``cost.json``, before its first student). After every batch of trainings a run records its best student so far (chosen
by validation accuracy, among full-budget trainings under the budget); the table reports that student's
*test* accuracy after a quarter, half and all of the training budget, mean ± std over seeds, and the plot
shows the whole curves. The tasks are unseen by the predictor of meta-dataset v1: digits (an unseen dataset)
and an MNIST domain task distilled from the VGG family (an unseen teacher family).

It also times NSGA-II without rungs: population 100, 100 generations, predictor fitness, split into
predictor, cost and pymoo time.

Every run is a ``dass search`` run directory under ``--out`` (finished runs are read back, not redone, so an
interrupted benchmark goes on where it stopped). Run:

    .venv/bin/python -m benchmarks.search_efficiency [--seeds 3] [--max-trainings 20] [--out runs/search_efficiency]
    .venv/bin/python -m benchmarks.search_efficiency --quick    # a smoke test in a few minutes
    .venv/bin/python -m benchmarks.search_efficiency --task SPEC TEACHER --checkpoint FOLD.pt --result FILE
        # other tasks, e.g. a family a leave-one-family-out fold's predictor never saw
    .venv/bin/python -m benchmarks.search_efficiency --strategies ours --scouts 24 --reference FILE ...
        # ours that first trains 24 random students at the first rung's budget (``dass search --scouts``)

The table, the curves and the NSGA-II timing go to ``benchmarks/results/search_efficiency.json`` and its plot
``search_efficiency.png`` (``--result``); a ``--quick`` or ``--only-seed`` run writes them into its run folder
instead, so that it cannot replace the current result.

After a new predictor checkpoint only ``ours`` needs running again: the other strategies never call the
predictor, so ``--strategies ours --reference benchmarks/results/search_efficiency.json`` takes their runs (same
tasks, seeds and settings) from an earlier result file and compares against them.
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from pymoo.core.termination import NoTermination

from benchmarks.common import DATA_DIR, ROOT, add_checkpoint_argument, best_at, provenance, result_path, write_json
from benchmarks.search_runs import GENERATIONS, TEACHER_EPOCHS, one_run, slug, teacher_features
from datasets_meta.collector import collect, expand
from datasets_meta.store import InMemoryStore
from datasets_meta.suite import Suite
from distill.executors import InProcessExecutor
from distill.genome import get_space
from distill.tasks import load_task
from predictor.data import to_example
from predictor.estimator import AccuracyPredictor
from search import STRATEGIES, SearchConfig
from search.problem import CostModel, StudentProblem
from search.strategies import make_nsga2

NAME = "search_efficiency"
MNIST_DIR = DATA_DIR
# (task spec, teacher): both unseen by the meta-v1 predictor (see datasets_meta/suites/meta_v1.toml).
# The MNIST task validates on 1,000 further images: with the default 15 % of 1,000 (150 images) the
# standard error of a validation accuracy near 0.55 is 4 points, and which student is "best" is chance.
TASKS = [
    ("digits", "vgg-s"),
    ("mnist:classes=0-9:transform=noise0.4:size=12:n_train=1000:n_val=1000:n_test=2000", "vgg-s"),
]
QUICK_TASKS = [
    ("digits:classes=0-4", "vgg-s"),
    ("mnist:classes=0-4:transform=noise0.4:size=8:n_train=300:n_test=300", "vgg-s"),
]

# line style and marker per strategy, so curves that coincide stay visible
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ("-", "x")]


def tiny_checkpoint(path: Path) -> Path:
    """A throw-away predictor from 6 one-epoch distillations on digits, for --quick without a checkpoint."""
    suite = {
        "name": "bench-tiny",
        "budget": 1,
        "teacher_epochs": 1,
        "students_per_pair": 3,
        "recipes_per_student": 1,
        "replicate_fraction": 0.0,
        "groups": [{"source": "digits", "classes": ["5-9"], "teachers": ["cnn-s"], "teachers_per_task": 1}],
    }
    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(suite)))
    collect(store, InProcessExecutor())
    records = [to_example(r, label="test_acc") for r in store.records() if r["status"] == "ok"]
    path.parent.mkdir(parents=True, exist_ok=True)
    AccuracyPredictor(n_models=2, epochs=2).fit(records).save(path)
    return path


def trainings_to_match(curves: dict, reference: float) -> dict:
    """Per (strategy, task): the trainings each seed's run needed to reach the mean test accuracy of random
    search after ``reference`` trainings (``None`` where it never did within its budget)."""
    out = {}
    for (strategy, spec), runs in curves.items():
        if strategy == "random" or ("random", spec) not in curves:
            continue
        reached = [best_at(h, reference) for h in curves[("random", spec)]]
        if not np.isfinite(reached).any():  # random search has no full-budget student yet: nothing to match
            continue
        target = np.nanmean(reached)
        out[(strategy, spec)] = [
            next((h["trainings"] for h in run if h["best_test_acc"] is not None and h["best_test_acc"] >= target), None)
            for run in runs
        ]
    return out


def nsga2_overhead(checkpoint: str, task_spec: str, teacher: str, teacher_epochs: int, generations: int) -> dict:
    """Seconds of NSGA-II (population 100) with the predictor as fitness and no rungs."""
    task = load_task(task_spec)
    predictor = AccuracyPredictor.load(checkpoint)
    features = teacher_features(task, teacher, teacher_epochs, landmarks=predictor.landmarks)
    space = get_space("default")
    costs = CostModel(task.in_shape, task.num_classes)
    timer = {"predictor_s": 0.0, "evaluations": 0}

    def accuracy(genomes):
        t = time.perf_counter()
        out = predictor.predict(genomes, features, 6)
        timer["predictor_s"] += time.perf_counter() - t
        timer["evaluations"] += len(genomes)
        return out

    problem = StudentProblem(space, accuracy, costs, "params", {"params": 20000})
    algorithm = make_nsga2(100, problem)
    algorithm.setup(problem, seed=0, termination=NoTermination())
    start = time.perf_counter()
    cost_s = 0.0
    for _ in range(generations):
        infills = algorithm.ask()
        t = time.perf_counter()
        problem.feasible(problem.decode(infills.get("X")))  # measure the new architectures' costs up front
        cost_s += time.perf_counter() - t
        algorithm.evaluator.eval(problem, infills)
        algorithm.tell(infills=infills)
    total = time.perf_counter() - start
    return {
        "generations": generations,
        "population": 100,
        "total_s": total,
        "predictor_s": timer["predictor_s"],
        "cost_s": cost_s,
        "pymoo_and_decoding_s": total - timer["predictor_s"] - cost_s,
        "evaluations": timer["evaluations"],
        "architectures_costed": len(costs.cache),
    }


def plot(curves: dict, grid: np.ndarray, path: Path, budget: float, spent: dict[str, float]) -> None:
    """Best-so-far curves on a log axis of trainings; each strategy is drawn up to its own budget (``spent``)."""
    from matplotlib.figure import Figure

    tasks = sorted({k[1] for k in curves})
    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    for col, task in enumerate(tasks):
        ax = fig.add_subplot(1, len(tasks), col + 1)
        for (strategy, t), runs in sorted(curves.items()):
            if t != task:
                continue
            x = grid[grid <= spent.get(strategy, grid[-1]) + 1e-9]
            values = np.array([[best_at(h, v) for v in x] for h in runs])  # (seeds, grid)
            with warnings.catch_warnings():  # NaN before a run's first full-budget student
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
            style = STYLES[sorted(STRATEGIES.names()).index(strategy) % len(STYLES)]
            ax.step(x, mean, where="post", label=strategy, ls=style[0], marker=style[1], markevery=8, ms=4)
            ax.fill_between(x, mean - std, mean + std, step="post", alpha=0.15)
        ax.set_xscale("log")
        ax.set_title(task, fontsize=8)
        ax.set_xlabel("trainings (full-budget equivalents)")
        ax.set_ylabel(f"test acc of the best student (<= {budget:,.0f} params)")
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (a smoke test, numbers mean little)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only-seed", type=int, help="run just this seed (to spread the runs over processes)")
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES.names())
    parser.add_argument("--max-trainings", type=float, default=20.0, help="full-budget-equivalent trainings per run")
    parser.add_argument(
        "--random-trainings", type=float, default=200.0, help="trainings of the random-search reference runs"
    )
    parser.add_argument("--max-params", type=float, default=20000.0)
    parser.add_argument(
        "--rungs",
        type=lambda text: tuple(int(v) for v in text.split(",")),
        default=(1, 3, 6),
        help="successive-halving epochs of ours and uniads; the last is the full budget of every strategy",
    )
    parser.add_argument("--rung-size", type=int, default=9, help="candidates at the first rung of a bracket")
    parser.add_argument(
        "--population", type=int, help="NSGA-II population of every strategy (default: each strategy's own)"
    )
    parser.add_argument(
        "--scouts",
        type=int,
        default=0,
        help="random students ours trains at the first rung's budget before its first generation (default 0)",
    )
    add_checkpoint_argument(parser)
    parser.add_argument(
        "--task",
        nargs=2,
        action="append",
        metavar=("SPEC", "TEACHER"),
        help="search this task with this zoo teacher instead of the default tasks (repeat for more); e.g. a family "
        "held out of --checkpoint's meta-training (benchmarks/leave_one_family_out.py keeps each fold's checkpoint)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "runs" / "search_efficiency"), help="folder of the run directories")
    parser.add_argument(
        "--result",
        help="the result JSON (its plot beside it, .png); default benchmarks/results/search_efficiency.json, "
        "or OUT/quick|full/search_efficiency.json with --quick or --only-seed (a smoke test or a partial run "
        "must not replace the current result)",
    )
    parser.add_argument("--overhead-generations", type=int, default=100)
    parser.add_argument(
        "--reference",
        help="an earlier search_efficiency.json: its runs of the strategies not in --strategies (which must not "
        "use the predictor) join the comparison instead of being run again",
    )
    args = parser.parse_args()

    out = Path(args.out) / ("quick" if args.quick else "full")
    partial = args.quick or args.only_seed is not None
    result = Path(args.result) if args.result else out / "search_efficiency.json" if partial else result_path(NAME)
    tasks, rungs, teacher_epochs = [tuple(t) for t in args.task] if args.task else TASKS, args.rungs, TEACHER_EPOCHS
    generations, population, rung_size = GENERATIONS, args.population, args.rung_size  # None: per strategy
    if args.quick:
        tasks, rungs, teacher_epochs = QUICK_TASKS, (1, 2), 1
        generations, population, rung_size = 3, 6, 3
        args.seeds, args.max_trainings = min(args.seeds, 1), min(args.max_trainings, 4.0)  # uniads needs 4
        args.random_trainings = min(args.random_trainings, 6.0)
        args.overhead_generations = min(args.overhead_generations, 3)
    if not (MNIST_DIR / "mnist.npz").is_file():
        print(f"note: {MNIST_DIR / 'mnist.npz'} is missing: the MNIST task is left out")
        tasks = [t for t in tasks if not t[0].startswith("mnist")]
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        if not args.quick:
            raise SystemExit(
                f"predictor checkpoint {checkpoint} does not exist; pass --checkpoint or run dass pretrain"
            )
        checkpoint = tiny_checkpoint(out / "tiny_predictor.pt")
        print(f"note: no predictor checkpoint; --quick uses a throw-away one fitted on 6 records ({checkpoint})")

    curves: dict[tuple[str, str], list[list[dict]]] = {}
    summary = []
    for spec, teacher in tasks:
        for strategy in args.strategies:
            for seed in range(args.seeds) if args.only_seed is None else [args.only_seed]:
                config = SearchConfig(
                    task=spec,
                    teacher=teacher,
                    teacher_epochs=teacher_epochs,
                    data_dir=str(MNIST_DIR) if spec.startswith("mnist") else None,
                    out=str(out / slug(spec) / strategy / f"seed{seed}"),
                    checkpoint=str(checkpoint),
                    strategy=strategy,
                    max_params=args.max_params,
                    generations=generations,
                    population=population,
                    rungs=rungs,
                    rung_size=rung_size,
                    rung_every=max(1, generations // 4),
                    scouts=args.scouts if STRATEGIES.get(strategy).factory.trains_scouts else 0,
                    max_trainings=args.random_trainings if strategy == "random" else args.max_trainings,
                    workers=args.workers,
                    seed=seed,
                    save_best=False,
                )
                run = one_run(config)
                curves.setdefault((strategy, spec), []).append(run["history"])
                summary.append({"task": spec, "teacher": teacher, "strategy": strategy, "seed": seed, **run})
                print(
                    f"{strategy:<7} {spec} seed {seed}: {run['trainings']:.2f} trainings, {run['wall_s']:.0f} s",
                    flush=True,
                )

    if args.reference:
        reference = json.loads(Path(args.reference).read_text())
        # the seeds may differ: each strategy is summarised over its own runs
        for k in ("max_trainings", "random_trainings", "max_params", "rungs", "rung_size", "population"):
            theirs, ours = reference["args"][k], getattr(args, k)
            if (list(theirs) if isinstance(theirs, list) else theirs) != (
                list(ours) if isinstance(ours, tuple) else ours
            ):
                raise SystemExit(
                    f"--reference {args.reference} was run with {k}={theirs!r}, this run with {ours!r}: "
                    "the runs are not comparable"
                )
        task_specs = {spec for spec, _ in tasks}
        for run in reference["runs"]:
            if run["strategy"] in args.strategies or run["task"] not in task_specs:
                continue
            if STRATEGIES.get(run["strategy"]).needs_predictor:
                raise SystemExit(f"--reference: {run['strategy']} uses the predictor; run it again instead")
            curves.setdefault((run["strategy"], run["task"]), []).append(run["history"])
            summary.append({**run, "from_reference": str(args.reference)})
        args.strategies = list(dict.fromkeys([*args.strategies, *(s for s, _ in curves)]))

    points = [args.max_trainings / 4, args.max_trainings / 2, args.max_trainings]
    if "random" in args.strategies:
        points.append(args.random_trainings)
    head = f"{'task':<40} {'strategy':<8}" + "".join(f"{'@' + format(p, 'g') + ' trainings':>20}" for p in points)
    print(
        "\nbest test accuracy (student chosen by validation accuracy) under "
        f"{args.max_params:,.0f} parameters, mean ± std over each strategy's seeds ({args.seeds} of this run's)"
    )
    print(head)
    print("-" * len(head))
    for (strategy, spec), runs in sorted(curves.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for p in points:
            values = np.array([best_at(h, p) for h in runs])
            finite = values[np.isfinite(values)]
            budget = args.random_trainings if strategy == "random" else args.max_trainings
            cells.append(f"{finite.mean():.4f} ± {finite.std():.4f}" if len(finite) and p <= budget else "-")
        print(f"{spec[:40]:<40} {strategy:<8}" + "".join(f"{c:>20}" for c in cells))

    matches = trainings_to_match(curves, args.random_trainings) if "random" in args.strategies else {}
    if matches:
        print(f"\ntrainings each run needs to reach random search's mean accuracy after {args.random_trainings:g}")
        for (strategy, spec), needed in sorted(matches.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            cells = ", ".join("never" if n is None else format(n, ".1f") for n in needed)
            print(f"{spec[:40]:<40} {strategy:<8} {cells}")

    top = max(args.max_trainings, args.random_trainings if "random" in args.strategies else 0)
    grid = np.geomspace(0.25, top, 81)
    spent = {s: args.random_trainings if s == "random" else args.max_trainings for s in args.strategies}
    result.parent.mkdir(parents=True, exist_ok=True)
    plot(curves, grid, result.with_suffix(".png"), args.max_params, spent)

    spec, teacher = tasks[0]
    overhead = nsga2_overhead(str(checkpoint), spec, teacher, teacher_epochs, args.overhead_generations)
    print(
        f"\nNSGA-II without rungs, population 100, {overhead['generations']} generations, predictor fitness: "
        f"{overhead['total_s']:.1f} s (predictor {overhead['predictor_s']:.1f} s, costs {overhead['cost_s']:.1f} s "
        f"for {overhead['architectures_costed']} architectures, "
        f"pymoo + decoding {overhead['pymoo_and_decoding_s']:.1f} s)"
    )
    matches_json = [{"strategy": k[0], "task": k[1], "trainings": v} for k, v in matches.items()]
    write_json(
        result,
        {
            "runs": summary,
            "trainings_to_match_random": matches_json,
            "nsga2_overhead": overhead,
            "args": vars(args),
            "measured": provenance(),
        },
    )
    print(f"wrote {result} and {result.with_suffix('.png')}")


if __name__ == "__main__":
    main()

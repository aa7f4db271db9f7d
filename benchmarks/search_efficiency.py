"""Search efficiency: best distilled accuracy under a parameter budget against the trainings spent.

Every strategy (``ours``, ``random``, ``diswot``, ``uniads``, ``autokd``) searches every task with every seed
under the same parameter budget and the same training budget, counted in full-budget-equivalent trainings
(``sum(epochs) / full budget``). After every batch of trainings a run records its best student so far (chosen
by validation accuracy, among full-budget trainings under the budget); the table reports that student's
*test* accuracy after a quarter, half and all of the training budget, mean ± std over seeds, and the plot
shows the whole curves. The tasks are unseen by the predictor of meta-dataset v1: digits (an unseen dataset)
and an MNIST domain task distilled from the VGG family (an unseen teacher family).

It also times NSGA-II without rungs: population 100, 100 generations, predictor fitness, split into
predictor, cost and pymoo time.

Every run is a ``dass search`` run directory under ``--out`` (finished runs are read back, not redone, so an
interrupted benchmark goes on where it stopped). Run:

    .venv/bin/python benchmarks/search_efficiency.py [--seeds 3] [--max-trainings 20] [--out runs/search_efficiency]
    .venv/bin/python benchmarks/search_efficiency.py --quick    # a smoke test in a few minutes

After a new predictor checkpoint only ``ours`` needs running again: the other strategies never call the
predictor, so ``--strategies ours --reference benchmarks/search_efficiency.json`` takes their runs (same tasks,
seeds and settings) from an earlier result file and compares against them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dass.cli import DEFAULT_CHECKPOINT
from search import STRATEGIES, SearchConfig, resume_search, run_search
from search.loop import HISTORY_FILE

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("DASS_DATA", ROOT.parent / "shared" / "data"))
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

# the benchmark's search settings (meta-v1's teacher training; NSGA-II a bracket every GENERATIONS // 4); the
# population is each strategy's default (SearchConfig: 100 for ours, 32 for the others) unless --population
TEACHER_EPOCHS, GENERATIONS = 12, 20

# the strategies that spend trainings on rungs below the full budget (the others train every student in full)
RUNG_STRATEGIES = {"ours", "uniads"}

# line style and marker per strategy, so curves that coincide stay visible
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ("-", "x")]


def tiny_checkpoint(path: Path) -> Path:
    """A throw-away predictor from 6 one-epoch distillations on digits, for --quick without a checkpoint."""
    from datasets_meta.collector import InlineExecutor, collect, expand
    from datasets_meta.store import InMemoryStore
    from datasets_meta.suite import Suite
    from predictor.data import to_example
    from predictor.estimator import AccuracyPredictor

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
    collect(store, InlineExecutor())
    records = [to_example(r) for r in store.records() if r["status"] == "ok"]
    path.parent.mkdir(parents=True, exist_ok=True)
    AccuracyPredictor(n_models=2, epochs=2).fit(records).save(path)
    return path


def slug(spec: str) -> str:
    return spec.replace(":", "_").replace("=", "-").replace(",", "+")


def one_run(config: SearchConfig) -> dict:
    out = Path(config.out)
    start = time.perf_counter()
    finished = (out / "front.json").is_file()  # finished before: read back (no training is redone)
    if (out / "config.json").is_file():
        stored = SearchConfig.load(out)
        keys = ["max_trainings", "max_params", "generations", "population", "full_budget"]
        if config.strategy in RUNG_STRATEGIES:
            keys += ["rungs", "rung_size", "eta", "verify", "accuracy_share"]
        if STRATEGIES.get(config.strategy).needs_predictor:  # only the predictor-guided search adapts
            keys += ["checkpoint", "adapt_steps"]
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


def best_at(history: list[dict], trainings: float, field: str = "best_test_acc") -> Any:
    """``field`` (the test accuracy, or e.g. ``"best_hash"``) of the best-by-validation student after
    ``trainings`` (NaN before the first one)."""
    value = np.nan
    for h in history:
        if h["trainings"] <= trainings + 1e-9 and h[field] is not None:
            value = h[field]
    return value


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


def teacher_features(task: Any, teacher: str, teacher_epochs: int, weights: str | None = None) -> dict:
    """The predictor's task input: the probe features of ``teacher`` on ``task``, the teacher built (or read
    from the cache) as the search and the collector build it."""
    from distill.probe import probe_features
    from distill.teachers import get_teacher, teacher_config

    return probe_features(get_teacher(teacher, task, weights=weights, config=teacher_config(teacher_epochs)), task)


def nsga2_overhead(checkpoint: str, task_spec: str, teacher: str, teacher_epochs: int, generations: int) -> dict:
    """Seconds of NSGA-II (population 100) with the predictor as fitness and no rungs."""
    from pymoo.core.termination import NoTermination

    from distill.genome import get_space
    from distill.tasks import load_task
    from predictor.estimator import AccuracyPredictor
    from search.problem import CostModel, StudentProblem
    from search.strategies import make_nsga2

    task = load_task(task_spec)
    features = teacher_features(task, teacher, teacher_epochs)
    predictor = AccuracyPredictor.load(checkpoint)
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
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "runs" / "search_efficiency"))
    parser.add_argument("--overhead-generations", type=int, default=100)
    parser.add_argument(
        "--reference",
        help="an earlier search_efficiency.json: its runs of the strategies not in --strategies (which must not "
        "use the predictor) join the comparison instead of being run again",
    )
    args = parser.parse_args()

    out = Path(args.out) / ("quick" if args.quick else "full")
    tasks, rungs, teacher_epochs = TASKS, args.rungs, TEACHER_EPOCHS
    generations, population, rung_size = GENERATIONS, args.population, args.rung_size  # None: per strategy
    if args.quick:
        tasks, rungs, teacher_epochs = QUICK_TASKS, (1, 2), 1
        generations, population, rung_size = 3, 6, 3
        args.seeds, args.max_trainings = min(args.seeds, 1), min(args.max_trainings, 3.0)
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
        for k in ("max_trainings", "random_trainings", "max_params", "rungs", "rung_size", "seeds", "population"):
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
        f"{args.max_params:,.0f} parameters, mean ± std over {args.seeds} seed(s)"
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
    plot(curves, grid, out / "search_efficiency.png", args.max_params, spent)

    spec, teacher = tasks[0]
    overhead = nsga2_overhead(str(checkpoint), spec, teacher, teacher_epochs, args.overhead_generations)
    print(
        f"\nNSGA-II without rungs, population 100, {overhead['generations']} generations, predictor fitness: "
        f"{overhead['total_s']:.1f} s (predictor {overhead['predictor_s']:.1f} s, costs {overhead['cost_s']:.1f} s "
        f"for {overhead['architectures_costed']} architectures, "
        f"pymoo + decoding {overhead['pymoo_and_decoding_s']:.1f} s)"
    )
    from distill.io import write_json

    matches_json = [{"strategy": k[0], "task": k[1], "trainings": v} for k, v in matches.items()]
    write_json(
        out / "search_efficiency.json",
        {"runs": summary, "trainings_to_match_random": matches_json, "nsga2_overhead": overhead, "args": vars(args)},
    )
    print(f"wrote {out / 'search_efficiency.json'} and {out / 'search_efficiency.png'}")


if __name__ == "__main__":
    main()

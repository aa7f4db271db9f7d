"""How well the predictor ranks the students a search meets: the random-search students of ``search_efficiency.py``.

``search_efficiency.py`` leaves, per task, three random-search runs of 200 full-budget trainings each: about
600 students drawn uniformly from the search space under the parameter budget, each distilled once with its
recipe. They are an unbiased sample of what ``dass search`` chooses from, on tasks and a teacher family the
predictor never saw, so they answer two questions the meta-test split does not:

- how the predictor ranks the students of a search space (Spearman of its zero-shot prediction with the
  measured test accuracy, over all students and over the large ones, where the best students are), against
  the parameter count;
- whether its top picks are the good students: the best-by-validation student among its top ``k``, for
  several ``k``, against the best of all of them;
- and whether adapting it to a search's own low-budget trainings (the records ``ours`` adapted to in its
  runs, rungs below the full budget only) improves that ranking: by fine-tuning, and by the guarded choice of
  ``predictor/guard.py`` (which correction it chose is recorded);
  ``--ours-runs`` reads those runs from another run folder of the same tasks (e.g. ``ours`` run again with
  ``--scouts``, whose records are its scouts' and its rungs');
- and what the same number of records could do at best (``--oracle-draws``): the predictor adapted to as many
  random-search students, drawn at random with their full-budget trainings, and scored on the other students
  against its zero-shot ranking of those same students. Unlike a search's rung records, these are unbiased
  and at the budget that is ranked, so the gap between the two says how much is lost to what the rungs train.

- and how far any predictor could rank these labels (``--ceiling-students``): each student's label is one
  training, so a perfect predictor of what a student is worth would not order them perfectly either. A seeded
  sample of the students is trained once more with a fresh seed (the same job otherwise, through the
  collector's ``run_job``), and the Spearman between the two trainings' test accuracies is the task's noise
  ceiling -- the seed-to-seed agreement the meta-dataset's ceilings measure, on the labels ranked here.

Reads the run directories; with ``--ceiling-students`` it also trains, caching every training (in
``RUNS/ceiling_trainings.json`` while it runs, and in the output JSON) so that an interrupted run goes on where it
stopped. Run after ``search_efficiency.py``:

    DASS_DATA=../shared/data .venv/bin/python -m benchmarks.predictor_search_students [--runs DIR]
        [--oracle-draws 3] [--ceiling-students 100]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch
from scipy.stats import spearmanr

from benchmarks.common import DATA_DIR, ROOT, add_checkpoint_argument, provenance, result_path, write_json
from benchmarks.search_reseed import job_of
from benchmarks.search_runs import teacher_features
from dass.cli.common import non_negative_int
from datasets_meta.store import SQLiteStore
from distill.genome import Genome
from distill.job import WorkerCache, run_job
from distill.tasks import load_task
from predictor.estimator import AccuracyPredictor
from search import SearchConfig
from search.context import adapt_example

LARGE = 12_000  # "large" students: above this many parameters (the budget is 20,000)
TOP_K = (5, 10, 20, 50)
CEILING_SEED = 100  # the fresh seed of the ceiling's second trainings (a random search trains with its run's seed)


class BadSetting(ValueError):
    """A command-line setting the runs cannot take (a one-line usage error)."""


def read_jobs(db: Path) -> list[dict[str, Any]]:
    """The finished, successful records of a run's record store (opened read-only)."""
    store = SQLiteStore(db, writer=False)
    try:
        return [r for r in store.records("done") if r["status"] == "ok" and r["val_acc"] is not None]
    finally:
        store.close()


def rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b)[0]) if len(a) > 2 else float("nan")


def score(mean: np.ndarray, test: np.ndarray, val: np.ndarray, params: np.ndarray) -> dict[str, Any]:
    large = params > LARGE
    order = np.argsort(-mean, kind="stable")
    top = {}
    for k in TOP_K:
        picked = order[:k]
        best = picked[np.argmax(val[picked])]
        top[str(k)] = {"best_by_val_test": float(test[best]), "mean_test": float(test[picked].mean())}
    return {"spearman": rho(mean, test), "spearman_large": rho(mean[large], test[large]), "top": top}


def oracle(
    predictor: AccuracyPredictor,
    rows: list[dict[str, Any]],
    genomes: list[Genome],
    features: dict,
    full: int,
    zero_shot: np.ndarray,
    test: np.ndarray,
    n_records: int,
    draws: int,
    budget: int | None = None,
    data_dir: str | None = None,
    cache: dict[str, dict[str, Any]] | None = None,
    save: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """Adapt to ``n_records`` random students' full-budget records, ``draws`` times; Spearman on the others,
    beside the ``zero_shot`` prediction's on the same students (``test``: their measured accuracies). With
    ``budget`` (below ``full``), the drawn students are trained again at that budget (same seed; ``cache`` holds
    those trainings by job key, ``save`` is called after each) and the predictor adapts to those records instead:
    what unbiased records of a rung's budget would teach it."""
    rng = np.random.default_rng(0)
    out = []
    worker = WorkerCache()
    for draw in range(draws):
        order = rng.permutation(len(rows))
        seen, rest = order[:n_records], order[n_records:]
        row: dict[str, Any] = {"draw": draw, "records": n_records, "zero_shot": rho(zero_shot[rest], test[rest])}
        records = [rows[i] for i in seen]
        if budget is not None and budget != full:
            records = [at_budget(r, budget, data_dir, {} if cache is None else cache, save, worker) for r in records]
            records = [r for r in records if r is not None]
            row["budget"], row["records"] = budget, len(records)
        for method in ("finetune", "guarded"):
            predictor.adapt(
                [adapt_example(r, features.get("landmarks")) for r in records],
                steps=SearchConfig.adapt_steps,
                method=method,
                calibrate=False,
            )
            adapted, _ = predictor.predict(genomes, features, full)
            row[method] = rho(adapted[rest], test[rest])
        out.append(row)
    predictor.reset_adaptation()
    return out


def at_budget(
    row: dict[str, Any],
    budget: int,
    data_dir: str | None,
    cache: dict[str, dict[str, Any]],
    save: Callable[[], None],
    worker: WorkerCache,
) -> dict[str, Any] | None:
    """``row`` (a full-budget record) as the record of the same student trained at ``budget`` epochs with the
    same seed (trained here unless ``cache`` has it); ``None`` when that training failed."""
    job, _, _ = job_of(row["run_dir"], row["genome_hash"])
    key = f"{job.task_id}/{job.teacher_id}/{row['genome_hash']}/{budget}/{job.seed}"
    if key not in cache:
        result = run_job(dataclasses.replace(job, budget=budget), data_dir=data_dir, cache=worker)
        cache[key] = {"status": result.status, "val_acc": result.val_acc, "test_acc": result.test_acc}
        save()
    done = cache[key]
    if done["status"] != "ok" or done.get("val_acc") is None:
        return None
    return {**row, "budget": budget, "val_acc": done["val_acc"], "test_acc": done["test_acc"], "curve": []}


def ceiling(
    rows: list[dict[str, Any]],
    n_students: int,
    data_dir: str,
    cache: dict[str, dict[str, Any]],
    save: Callable[[], None],
) -> dict[str, Any]:
    """Train a seeded sample of ``n_students`` of ``rows`` once more with :data:`CEILING_SEED`: the Spearman of the
    two trainings' test accuracies. ``cache`` holds the trainings by job key; ``save`` is called after each."""
    pick = np.random.default_rng(0).permutation(len(rows))[:n_students]
    first, second = [], []
    worker = WorkerCache()
    for n, i in enumerate(pick, 1):
        row = rows[i]
        job, _, _ = job_of(row["run_dir"], row["genome_hash"])
        if job.seed == CEILING_SEED:
            raise SystemExit(f"{row['run_dir']}: {row['genome_hash']} was trained with seed {CEILING_SEED} already")
        key = f"{job.task_id}/{job.teacher_id}/{row['genome_hash']}/{job.budget}/{CEILING_SEED}"
        if key not in cache:
            result = run_job(dataclasses.replace(job, seed=CEILING_SEED), data_dir=data_dir, cache=worker)
            cache[key] = {"status": result.status, "test_acc": result.test_acc}
            save()
            again = "failed" if result.test_acc is None else f"{result.test_acc:.4f}"
            print(f"ceiling training {n}/{len(pick)}: test accuracy {row['test_acc']:.4f}, again {again}", flush=True)
        if cache[key]["status"] == "ok" and cache[key]["test_acc"] is not None:
            first.append(row["test_acc"])
            second.append(cache[key]["test_acc"])
    a, b = np.array(first), np.array(second)
    return {
        "students": len(a),
        "seed": CEILING_SEED,
        "spearman": rho(a, b),
        "mean_abs_difference": float(np.abs(a - b).mean()) if len(a) else float("nan"),
    }


def one_task(
    task_dir: Path,
    checkpoint: str,
    data_dir: str,
    oracle_draws: int = 0,
    oracle_records: int = 48,
    ceiling_students: int = 0,
    oracle_budget: int | None = None,
    cache: dict[str, dict[str, Any]] | None = None,
    save: Callable[[], None] = lambda: None,
    ours_dir: Path | None = None,
) -> dict[str, Any] | None:
    """The rankings of ``task_dir``'s random-search students; the rung records are those of the ``ours`` runs in
    ``ours_dir`` (default: ``task_dir / "ours"``). ``None`` when the task has no random-search run."""
    random_runs = sorted((task_dir / "random").glob("seed*/records.db"))
    if not random_runs:
        return None
    config = SearchConfig.load(random_runs[0].parent)
    config.data_dir = data_dir
    full = config.full_budget
    if oracle_budget is not None and not 1 <= oracle_budget < full:
        raise BadSetting(
            f"--oracle-budget {oracle_budget}: expected 1 to {full - 1} epochs (the full budget is {full})"
        )
    rows = [{**r, "run_dir": db.parent} for db in random_runs for r in read_jobs(db) if r["budget"] == full]
    unique: dict[str, dict[str, Any]] = {}
    for r in rows:  # a genome two seeds drew counts once (its first record)
        unique.setdefault(r["genome_hash"], r)
    rows = list(unique.values())
    genomes = [Genome.from_json(r["genome"]) for r in rows]
    test = np.array([r["test_acc"] for r in rows])
    val = np.array([r["val_acc"] for r in rows])
    params = np.array([r["params"] for r in rows], dtype=np.float64)

    task = load_task(config.task, config.data_dir)
    predictor = AccuracyPredictor.load(checkpoint)
    features = teacher_features(
        task, config.teacher, config.teacher_epochs, config.teacher_weights, landmarks=predictor.landmarks
    )
    mean, _ = predictor.predict(genomes, features, full)
    out: dict[str, Any] = {
        "task": config.task,
        "teacher": config.teacher,
        "students": len(rows),
        "large_students": int((params > LARGE).sum()),
        "best_test": float(test.max()),
        "best_by_val_test": float(test[np.argmax(val)]),
        "params": {"spearman": rho(params, test), "spearman_large": rho(params[params > LARGE], test[params > LARGE])},
        "zero_shot": score(mean, test, val, params),
        "adapted": [],
    }
    for db in sorted((task_dir / "ours" if ours_dir is None else ours_dir).glob("seed*/records.db")):
        records = [r for r in read_jobs(db) if r["budget"] < full]
        if not records:
            continue
        records.sort(key=lambda r: (r["genome_hash"], r["budget"], r["seed"]))
        for method in ("finetune", "guarded"):
            predictor.adapt(  # as the search adapts; only the ranking is read
                [adapt_example(r, features.get("landmarks")) for r in records],
                steps=SearchConfig.adapt_steps,
                method=method,
                calibrate=False,
            )
            adapted, _ = predictor.predict(genomes, features, full)
            out["adapted"].append(
                {
                    "run": db.parent.name,
                    "method": method,
                    **({"chosen": predictor.adaptation_["method"]} if method == "guarded" else {}),
                    "records": len(records),
                    **score(adapted, test, val, params),
                }
            )
    predictor.reset_adaptation()
    if oracle_draws:
        out["oracle"] = oracle(
            predictor, rows, genomes, features, full, mean, test, oracle_records, oracle_draws,
            oracle_budget, data_dir, cache, save,
        )  # fmt: skip
    if ceiling_students:
        out["ceiling"] = ceiling(rows, ceiling_students, data_dir, {} if cache is None else cache, save)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", default=str(ROOT / "runs" / "search_efficiency" / "full"), help="search_efficiency.py's run folder"
    )
    add_checkpoint_argument(parser)
    parser.add_argument(
        "--oracle-draws",
        type=int,
        default=0,
        help="also adapt to random students' full-budget records this many times (default 0: not done)",
    )
    parser.add_argument("--oracle-records", type=int, default=48, help="records per oracle draw (default 48)")
    parser.add_argument(
        "--oracle-budget",
        type=int,
        help="train the oracle draws' students again at this budget (epochs, below the full budget) and adapt to "
        "those records: what unbiased records of a rung's budget teach (default: their full-budget records)",
    )
    parser.add_argument(
        "--ceiling-students",
        type=non_negative_int,
        default=0,
        help="train this many of a task's students again with a fresh seed for its noise ceiling (default 0: not done)",
    )
    parser.add_argument(
        "--ours-runs",
        help="the run folder (search_efficiency.py's --out/full) whose `ours` runs of the same tasks give the rung "
        "records (default: --runs)",
    )
    parser.add_argument("--out", default=str(result_path("predictor_search_students")))
    args = parser.parse_args()
    torch.manual_seed(0)

    out_path = Path(args.out)
    # the ceiling's trainings: those of the last complete result, and those an interrupted run kept beside the runs
    # (not in --out, which would then hold a result without its tasks)
    progress = Path(args.runs) / "ceiling_trainings.json"
    trainings: dict[str, dict[str, Any]] = {}
    for path in (out_path, progress):
        if path.is_file():
            trainings.update(json.loads(path.read_text()).get("ceiling_trainings", {}))
    results: list[dict[str, Any]] = []

    def save() -> None:  # after every ceiling training: an interrupted run keeps what it trained
        write_json(progress, {"ceiling_trainings": trainings})

    for task_dir in sorted(p for p in Path(args.runs).iterdir() if p.is_dir()):
        try:
            result = one_task(
                task_dir,
                args.checkpoint,
                str(DATA_DIR),
                oracle_draws=args.oracle_draws,
                oracle_records=args.oracle_records,
                ceiling_students=args.ceiling_students,
                oracle_budget=args.oracle_budget,
                cache=trainings,
                save=save,
                ours_dir=None if args.ours_runs is None else Path(args.ours_runs) / task_dir.name / "ours",
            )
        except BadSetting as e:  # a setting this task's runs cannot take
            parser.error(str(e))
        if result is None:
            continue
        results.append(result)
        z = result["zero_shot"]
        print(
            f"\n{result['task']} / {result['teacher']}: {result['students']} random-search students "
            f"({result['large_students']} above {LARGE:,} parameters); best test {result['best_test']:.4f}, "
            f"best by validation {result['best_by_val_test']:.4f}"
        )
        print(f"{'ranking':<28} {'Spearman':>9} {'large':>7}  " + "  ".join(f"top-{k:<3}" for k in TOP_K))
        p = result["params"]
        print(f"{'parameters':<28} {p['spearman']:>9.3f} {p['spearman_large']:>7.3f}")
        for name, s in [("predictor, zero-shot", z)] + [
            (f"{a.get('method', 'finetune')} ({a['run']}, {a['records']} rec.)", a) for a in result["adapted"]
        ]:
            tops = "  ".join(f"{s['top'][str(k)]['best_by_val_test']:.4f}" for k in TOP_K)
            print(f"{name:<28} {s['spearman']:>9.3f} {s['spearman_large']:>7.3f}  {tops}")
        for o in result.get("oracle", []):
            trained = f"{o['budget']}-epoch" if "budget" in o else "full"
            print(
                f"{o['records']} random students' {trained} trainings (draw {o['draw']}): on the others, zero-shot "
                f"{o['zero_shot']:.3f}, fine-tuned {o['finetune']:.3f}, guarded {o['guarded']:.3f}"
            )
        if "ceiling" in result:
            c = result["ceiling"]
            print(
                f"noise ceiling: {c['students']} students trained again with seed {c['seed']}: seed-to-seed Spearman "
                f"{c['spearman']:.3f} (zero-shot / ceiling {z['spearman'] / c['spearman']:.2f}x)"
            )
    if not results:
        raise SystemExit(f"no random-search runs under {args.runs}: run python -m benchmarks.search_efficiency first")
    write_json(
        out_path,
        {
            "checkpoint": args.checkpoint,
            "runs": args.runs,
            **({"ours_runs": args.ours_runs} if args.ours_runs else {}),
            "large": LARGE,
            "tasks": results,
            **({"ceiling_trainings": trainings} if trainings else {}),
            "measured": provenance(),
        },
    )
    print(f"\ntop-k: test accuracy of the best-by-validation student among the predictor's k highest; wrote {args.out}")


if __name__ == "__main__":
    main()

"""Does a sub-network's accuracy with inherited supernet weights rank sub-networks as stand-alone distillation does?

For each student family (the staged CNN, the vision transformer) and each task, it trains one weight-sharing
supernet of one sub-space (``small``) with the sandwich rule from the family's zoo teacher (logit KD for the CNN
from ``resnet-s``; AutoDistil's last-layer attention relations plus logit KD for the ViT from ``vit-s``), samples
``--subnets`` distinct sub-networks, scores each with inherited weights (validation accuracy, BatchNorm
recalibrated), then distils each one stand-alone from the same teacher at the search's full budget with two
seeds (the default recipe: KL at T=4 plus half cross-entropy). It reports Kendall and Spearman of inherited
accuracy against the stand-alone test accuracy (mean of the seeds), beside the parameter count as a baseline and
the noise ceiling of the stand-alone labels (seed 0 against seed 1, raised to the two-seed mean by Spearman-Brown,
:func:`predictor.evaluate.spearman_brown`); and the cost: supernet training in full-budget-equivalent trainings
(counted in image passes, :func:`distill.supernet.training.supernet_cost`, and in wall time against the mean
stand-alone training) and the time to score 1,000 sub-networks.

Resumable: the supernets checkpoint as they train (:mod:`distill.supernet.store`) and every finished
stand-alone training is added to ``WORK_DIR/state.json`` (written atomically), so a killed run started again
with the same command goes on where it stopped. The result file is written once every case is complete;
``--report`` prints the figures of the finished trainings so far. Run:

    .venv/bin/python -m benchmarks.supernet_inherited [--work-dir DIR] [--threads 1] [--report]
    .venv/bin/python -m benchmarks.supernet_inherited --quick --out /tmp/q.json --work-dir /tmp/q   # seconds
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch
from scipy.stats import spearmanr

from benchmarks.common import DATA_DIR, provenance, result_path, write_json
from benchmarks.render import f3, table
from distill.genome import Genome, Recipe
from distill.supernet import build_supernet, get_subspaces
from distill.supernet.evaluate import inherited_accuracy
from distill.supernet.store import SupernetDir
from distill.supernet.training import SupernetConfig, load_checkpoint, supernet_cost, train_supernet
from distill.tasks import Task, load_task
from distill.teachers import cache_dir, get_teacher, teacher_config, teacher_outputs
from distill.trainer import TrainConfig, distil
from predictor.evaluate import rank_metrics, spearman_brown

NAME = "supernet_inherited"
STATE_FILE = "state.json"
# family -> (search space, zoo teacher, supernet objective): AutoDistil's attention relations where both are
# transformers, logit KD for the CNN (its teacher has no attention).
FAMILIES = {"staged_cnn": ("default", "resnet-s", "kd"), "vit": ("vit", "vit-s", "relation")}


@dataclass(frozen=True)
class Settings:
    """Everything the figures depend on; a resumed run must use the same (``state.json`` records them)."""

    tasks: tuple[str, ...] = ("digits", "mnist:size=12:n_train=1000")
    families: tuple[str, ...] = tuple(FAMILIES)
    subspace: str = "small"
    subnets: int = 60
    seeds: int = 2
    # The search's full budget (its last rung), the epochs of every stand-alone training and the cost unit.
    full_budget: int = 6
    # 10 full-budget equivalents of image passes (4 sub-networks a step): a fraction of the 120 trainings it ranks.
    supernet_epochs: int = 15
    teacher_epochs: int = 12  # as the meta-dataset's teachers (cached once trained)
    scored: int = 1000  # sub-networks timed with inherited weights
    seed: int = 0


QUICK = Settings(tasks=("digits:n_train=200",), subnets=4, full_budget=1, supernet_epochs=1, teacher_epochs=1, scored=8)


# ---------------------------------------------------------------- one case: a family on a task


def case_key(family: str, task: str) -> str:
    return f"{family}/{task}"


def sample_distinct(subspace, n: int, seed: int) -> list[Genome]:
    """``n`` distinct sub-networks drawn uniformly (all of them when the sub-space is smaller)."""
    rng, seen, out = np.random.default_rng(seed), set(), []
    while len(out) < min(n, subspace.size):
        g = subspace.sample(rng)
        if g.hash not in seen:
            seen.add(g.hash)
            out.append(g)
    return out


def prepare_case(family: str, task: Task, spec: str, settings: Settings, work: Path, state: dict) -> dict:
    """Train (or resume) the case's supernet and score its sub-networks with inherited weights; cached in state."""
    key = case_key(family, spec)
    case = state["cases"].setdefault(key, {})
    space, teacher_name, objective = FAMILIES[family]
    teacher = get_teacher(teacher_name, task, config=teacher_config(settings.teacher_epochs))
    outputs = teacher_outputs(teacher, task)
    if "inherited" in case:
        return case
    sub = get_subspaces(space, [settings.subspace])[settings.subspace]
    steps = settings.supernet_epochs * math.ceil(len(task.x_train) / SupernetConfig.batch_size)
    config = SupernetConfig(steps=steps, objective=objective)
    store = SupernetDir(work / key.replace("/", "__").replace(":", "_"))
    store.claim(
        {"task": spec, "task_id": task.id, "in_shape": list(task.in_shape), "num_classes": task.num_classes,
         "teacher": teacher_name, "teacher_id": teacher.id, "space": space, "seed": settings.seed,
         "config": config.identity()},
        {sub.name: sub},
    )  # fmt: skip
    net = build_supernet(sub, task.in_shape, task.num_classes, seed=settings.seed)
    print(f"{key}: training the {sub.name!r} supernet ({sub.size:,} sub-networks, {steps} steps)", flush=True)
    run = train_supernet(net, task, outputs, config, settings.seed, store.checkpoint(sub.name))
    if run.status != "ok":
        raise SystemExit(f"{key}: the supernet training ended as {run.status}: {run.reason}")
    genomes = sample_distinct(sub, settings.subnets, settings.seed)
    inherited = inherited_accuracy(net, genomes, task, split="val")
    timed = [sub.sample(np.random.default_rng([settings.seed, 1])) for _ in range(settings.scored)]
    start = time.perf_counter()
    inherited_accuracy(net, timed, task, split="val")
    scoring_s = time.perf_counter() - start
    case.update(
        family=family, space=space, subspace=sub.name, subspace_size=sub.size, task=spec, task_id=task.id,
        teacher=teacher_name, teacher_test_acc=outputs.test_acc, objective=objective,
        supernet={**supernet_cost(config, run.steps, len(task.x_train), settings.full_budget),
                  "train_time_s": float(load_checkpoint(store.checkpoint(sub.name))["train_time_s"])},
        score_1000_s=scoring_s * 1000 / len(timed), scored=len(timed),
        genomes=[g.to_dict() for g in genomes],
        params=[g.count_params(task.in_shape, task.num_classes) for g in genomes],
        inherited=[float(a) for a in inherited], standalone={},
    )  # fmt: skip
    return case


def train_standalone(case: dict, task: Task, settings: Settings, save) -> None:
    """Distil every sampled sub-network stand-alone (seed by seed), saving after each; finished ones skipped."""
    teacher = get_teacher(case["teacher"], task, config=teacher_config(settings.teacher_epochs))
    outputs = teacher_outputs(teacher, task)
    config = TrainConfig(epochs=settings.full_budget)
    genomes = [Genome.from_dict(d) for d in case["genomes"]]
    for seed in range(settings.seeds):
        for i, g in enumerate(genomes):
            done = case["standalone"].setdefault(g.hash, {})
            if str(seed) in done:
                continue
            result, _ = distil(replace(g, recipe=Recipe()), task, outputs, config, seed=seed)
            done[str(seed)] = {"status": result.status, "test_acc": result.test_acc, "val_acc": result.val_acc,
                               "train_time_s": result.train_time_s}  # fmt: skip
            save()
            print(f"{case_key(case['family'], case['task'])}: seed {seed} sub-network {i + 1}/{len(genomes)} "
                  f"test acc {result.test_acc if result.test_acc is not None else float('nan'):.4f} "
                  f"({result.train_time_s:.1f} s)", flush=True)  # fmt: skip


# ---------------------------------------------------------------- figures


def case_metrics(case: dict, seeds: int) -> dict[str, Any]:
    """Rank agreement of inherited accuracy (and of the parameter count) with the stand-alone labels."""
    labels, inherited, params, pairs, times = [], [], [], [], []
    for g, a, p in zip(case["genomes"], case["inherited"], case["params"]):
        runs = case["standalone"].get(Genome.from_dict(g).hash, {})
        accs = [runs[str(s)]["test_acc"] for s in range(seeds) if str(s) in runs]
        times += [runs[str(s)]["train_time_s"] for s in range(seeds) if str(s) in runs]
        if len(accs) == seeds and all(x is not None for x in accs):
            labels.append(float(np.mean(accs)))
            inherited.append(a)
            params.append(p)
            pairs.append(accs[:2])
    out: dict[str, Any] = {"n": len(labels)}
    ours = rank_metrics(np.array(inherited), np.array(labels))
    base = rank_metrics(np.array(params, float), np.array(labels))
    out.update(spearman=ours["spearman"], kendall=ours["kendall"],
               params_spearman=base["spearman"], params_kendall=base["kendall"])  # fmt: skip
    ceiling = math.nan
    if seeds >= 2 and len(pairs) >= 4:
        a, b = np.array(pairs).T
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            ceiling = spearman_brown(float(spearmanr(a, b)[0]), seeds)
    out["noise_ceiling"] = ceiling
    mean_time = float(np.mean(times)) if times else math.nan
    out["standalone_mean_train_s"] = mean_time
    out["supernet_fbe_by_time"] = case["supernet"]["train_time_s"] / mean_time if times else math.nan
    out["standalone_acc_range"] = [min(labels), max(labels)] if labels else None
    return out


def summary_rows(state: dict) -> list[dict[str, Any]]:
    rows = []
    for key, case in state["cases"].items():
        if "inherited" not in case:
            continue
        m = case_metrics(case, state["settings"]["seeds"])
        rows.append({
            "case": key, "teacher": case["teacher"], "objective": case["objective"], "sub_networks": m["n"],
            "kendall": m["kendall"], "spearman": m["spearman"], "noise_ceiling": m["noise_ceiling"],
            "params_spearman": m["params_spearman"],
            "supernet_fbe": case["supernet"]["full_budget_equivalent_trainings"],
            "supernet_fbe_by_time": m["supernet_fbe_by_time"], "supernet_train_s": case["supernet"]["train_time_s"],
            "score_1000_s": case["score_1000_s"],
        })  # fmt: skip
    return rows


def render(data: dict) -> str:
    """The RESULTS.md section: one row per (family, task)."""
    header = ["case", "teacher", "n", "Kendall", "Spearman", "noise ceiling", "params Spearman",
              "supernet FBE (passes)", "supernet FBE (time)", "score 1,000 (s)"]  # fmt: skip
    rows = [[r["case"], r["teacher"], r["sub_networks"], f3(r["kendall"]), f3(r["spearman"]), f3(r["noise_ceiling"]),
             f3(r["params_spearman"]), f"{r['supernet_fbe']:.1f}", f"{r['supernet_fbe_by_time']:.1f}",
             f"{r['score_1000_s']:.1f}"] for r in data["summary"]]  # fmt: skip
    return table(header, rows, [False, False] + [True] * 8)


# ---------------------------------------------------------------- the run


def load_state(work: Path, settings: Settings) -> dict:
    path = work / STATE_FILE
    if not path.exists():
        return {"settings": asdict(settings), "cases": {}}
    state = json.loads(path.read_text())
    if state["settings"] != json.loads(json.dumps(asdict(settings))):
        raise SystemExit(f"{path} holds a run with other settings ({state['settings']}); use another --work-dir")
    return state


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tiny run that checks the script (seconds)")
    ap.add_argument("--out", type=Path, default=result_path(NAME), help="the result file")
    ap.add_argument("--work-dir", type=Path, help="supernets and finished trainings (CACHE/supernet_inherited)")
    ap.add_argument("--data-dir", default=str(DATA_DIR))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: leaves the other cores to others)")
    ap.add_argument("--report", action="store_true", help="print the figures of the finished trainings; train none")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else Settings()
    work = args.work_dir or cache_dir() / (NAME + ("_quick" if args.quick else ""))
    work.mkdir(parents=True, exist_ok=True)
    state = load_state(work, settings)
    if args.report:
        print(json.dumps(summary_rows(state), indent=1))
        return
    wall = time.perf_counter()

    def save() -> None:
        write_json(work / STATE_FILE, state)

    tasks = {spec: load_task(spec, args.data_dir).require_validation() for spec in settings.tasks}
    for spec, task in tasks.items():  # every supernet first: the cheap half of every figure
        for family in settings.families:
            prepare_case(family, task, spec, settings, work, state)
            save()
    for spec, task in tasks.items():
        for family in settings.families:
            train_standalone(state["cases"][case_key(family, spec)], task, settings, save)
    summary = summary_rows(state)
    print(table(list(summary[0]), [[f3(v) if isinstance(v, float) else v for v in r.values()] for r in summary]))
    result = {
        "benchmark": NAME,
        "settings": state["settings"],
        "summary": summary,
        "cases": {k: {**{f: v for f, v in c.items() if f != "standalone"}, "metrics": case_metrics(c, settings.seeds),
                      "standalone": c["standalone"]} for k, c in state["cases"].items()},
        "wall_s_this_run": time.perf_counter() - wall,
        "measured": provenance(),
    }  # fmt: skip
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

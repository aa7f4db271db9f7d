"""``dass supernet``: train the weight-sharing supernets of a task and teacher, or score sub-networks with them."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from dass.cli.common import Command, UsageError, positive_int, seed
from dass.cli.teacher import load_teacher
from distill.devices import check_device
from distill.genome import Genome, load_genome
from distill.io import write_json
from distill.progress import Progress
from distill.supernet import SUBSPACES, SubSpace, build_supernet, get_subspaces
from distill.supernet.evaluate import inherited_accuracy
from distill.supernet.objectives import OBJECTIVES
from distill.supernet.store import SupernetDir
from distill.supernet.training import SupernetConfig, load_checkpoint, train_supernet, write_cost
from distill.tasks import Task, load_task
from distill.teachers import teacher_outputs
from search.config import SearchConfig

EVAL_FILE = "eval.json"
# The search's full budget (its last rung), the unit its costs are counted in.
FULL_BUDGET = next(f.default for f in fields(SearchConfig) if f.name == "rungs")[-1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="directory of the supernets (one task and teacher per directory)")
    p.add_argument("--task", help="task spec (training; for --eval, the directory's task is used)")
    p.add_argument("--data-dir", help="where mnist.npz / IDX / torchvision files live (default: $DASS_DATA)")
    p.add_argument("--teacher", help="zoo name (see `dass teachers`), TorchScript file, or module:callable")
    p.add_argument("--teacher-weights", help="state_dict file for a zoo teacher or a module:callable teacher")
    p.add_argument("--teacher-epochs", type=positive_int, help="epochs of a zoo teacher trained on demand (15)")
    p.add_argument("--cache-dir", help="teacher and teacher-output cache (default: $DASS_CACHE or ~/.cache/dass)")
    p.add_argument(
        "--space", default="default", help=f"search space of the sub-networks: {', '.join(SUBSPACES)} (default)"
    )
    p.add_argument("--subspaces", help="comma-separated sub-spaces (default: all of the space, e.g. base,small,tiny)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=positive_int, help="sandwich steps as epochs of the training set (6)")
    budget.add_argument("--steps", type=positive_int, help="sandwich steps per sub-space")
    p.add_argument("--loss", choices=tuple(OBJECTIVES.names()), default="kd", help="distillation objective (kd)")
    p.add_argument("--checkpoint-every", type=positive_int, default=50, help="steps between checkpoints (50)")
    p.add_argument(
        "--full-budget",
        type=positive_int,
        default=FULL_BUDGET,
        help=f"epochs of one stand-alone training, the unit of the cost (default {FULL_BUDGET}: the search's)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N, or mps")
    p.add_argument("--eval", action="store_true", help="score sub-networks of the trained supernets in --out")
    p.add_argument("--genome", help="with --eval: a genome JSON file of one of the sub-spaces")
    p.add_argument("--sample", type=positive_int, help="with --eval: this many random sub-networks per sub-space")
    p.add_argument("--split", choices=("val", "test"), default="val", help="with --eval: the split scored (val)")


DEFAULT_EPOCHS = 6


def run(args: argparse.Namespace) -> int:
    check_device(args.device)
    names = args.subspaces.split(",") if args.subspaces else None
    if args.eval:
        return evaluate(args, names)
    for flag in ("genome", "sample"):
        if getattr(args, flag) is not None:
            raise UsageError(f"--{flag} goes with --eval")
    if not args.task or not args.teacher:
        raise UsageError("training supernets needs --task and --teacher (or pass --eval to score sub-networks)")
    subspaces = get_subspaces(args.space, names)
    task = load_task(args.task, args.data_dir).require_validation()
    epochs = args.epochs or (None if args.steps else DEFAULT_EPOCHS)
    steps = args.steps or epochs * math.ceil(len(task.x_train) / SupernetConfig.batch_size)
    config = SupernetConfig(
        steps=steps, objective=args.loss, checkpoint_every=args.checkpoint_every, device=args.device
    )
    store = SupernetDir(args.out)
    _refuse_other_task(store, task)  # before a teacher is trained for nothing
    teacher = load_teacher(args, task)
    outputs = teacher_outputs(teacher, task, cache=args.cache_dir)
    meta = {
        "task": task.name,
        "task_id": task.id,
        "in_shape": list(task.in_shape),
        "num_classes": task.num_classes,
        "teacher": args.teacher,
        "teacher_id": teacher.id,
        "teacher_test_acc": outputs.test_acc,
        "space": args.space,
        "seed": args.seed,
        "config": config.identity(),
    }
    store.claim(meta, subspaces)
    full_budget = args.full_budget
    print(f"task {task.name} ({task.num_classes} classes, {len(task.x_train)} train images); "
          f"teacher {args.teacher} test acc {outputs.test_acc:.4f}")  # fmt: skip
    failed = 0
    for name, sub in subspaces.items():
        checkpoint = store.checkpoint(name)
        done = int(load_checkpoint(checkpoint)["step"]) if checkpoint.exists() else 0
        net = build_supernet(sub, task.in_shape, task.num_classes, seed=args.seed)
        if done >= steps:
            print(f"{name}: already trained ({steps} steps) in {store.root / name}")
        else:
            if done:
                print(f"{name}: resuming at step {done} of {steps}")
            try:
                with Progress(f"dass supernet: {name}", total=steps, unit="step", initial=done) as progress:
                    result = train_supernet(net, task, outputs, config, args.seed, checkpoint, progress)
            except KeyboardInterrupt:
                kept = int(load_checkpoint(checkpoint)["step"]) if checkpoint.exists() else 0
                print(f"dass supernet: interrupted; {name} keeps its checkpoint at step {kept} of {steps}: "
                      "run the same command to resume", file=sys.stderr, flush=True)  # fmt: skip
                return 130
            write_cost(store.cost_path(name), result, config, len(task.x_train), full_budget)
            if result.status != "ok":
                print(f"{name}: training ended as {result.status}: {result.reason}; last checkpoint kept")
                failed += 1
                continue
        net, _ = store.load(sub)
        acc = inherited_accuracy(net, [sub.largest(), sub.smallest()], task)
        cost = store.cost_path(name)
        fbe = _read_fbe(cost)
        sizes = f"{_params(sub.smallest(), task):,} to {_params(sub.largest(), task):,} params"
        print(
            f"{name}: {sub.size:,} sub-networks of {sizes}; inherited val acc largest {acc[0]:.4f}, "
            f"smallest {acc[1]:.4f}; cost {fbe} full-budget-equivalent trainings ({full_budget} epochs each)"
        )
    print(f"saved to {store.root}/ ({', '.join(subspaces)}: supernet.pt, cost.json; supernet.json)")
    return 1 if failed else 0


def _refuse_other_task(store: SupernetDir, task: Task) -> None:
    meta = store.read_meta()
    if meta is not None and meta.get("task_id") != task.id:
        raise UsageError(
            f"--out {store.root} holds the supernets of task {meta.get('task')!r}, not {task.name!r}; "
            "give another --out"
        )


def _read_fbe(path: Path) -> str:
    try:
        return f"{json.loads(path.read_text())['full_budget_equivalent_trainings']:.2f}"
    except (OSError, ValueError, KeyError):
        return "?"


def _params(genome: Genome, task: Task) -> int:
    return genome.count_params(task.in_shape, task.num_classes)


def evaluate(args: argparse.Namespace, names: list[str] | None) -> int:
    if (args.genome is None) == (args.sample is None):
        raise UsageError("--eval needs one of --genome FILE or --sample N")
    store = SupernetDir(args.out)
    meta = store.require_meta()
    subspaces = store.subspaces(names)
    task = load_task(args.task or meta["task"], args.data_dir)
    if task.id != meta["task_id"]:
        raise UsageError(
            f"--out {store.root} holds the supernets of task {meta['task']!r} (id {meta['task_id']}); "
            f"task {task.name!r} has id {task.id}"
        )
    plan: dict[str, list[Genome]] = {}
    if args.genome:
        genome = load_genome(args.genome)
        name = _home(genome, subspaces)
        plan[name] = [genome]
    else:
        rng = np.random.default_rng(args.seed)
        plan = {name: [sub.sample(rng) for _ in range(args.sample)] for name, sub in subspaces.items()}
    rows = []
    start = time.perf_counter()
    for name, genomes in plan.items():
        net, done = store.load(subspaces[name])
        acc = inherited_accuracy(net, genomes, task, split=args.split)
        for genome, a in zip(genomes, acc):
            rows.append({
                "subspace": name,
                "hash": genome.hash,
                "params": _params(genome, task),
                "macs": genome.count_macs(task.in_shape, task.num_classes),
                f"{args.split}_acc": float(a),
                "supernet_steps": done,
                "genome": genome.to_dict(),
            })  # fmt: skip
    elapsed = time.perf_counter() - start
    print(f"{'sub-space':<10} {'genome':<16} {'params':>9} {'MMACs':>7} {args.split + ' acc':>8}")
    for r in rows:
        print(f"{r['subspace']:<10} {r['hash']:<16} {r['params']:>9,} {r['macs'] / 1e6:>7.2f} "
              f"{r[f'{args.split}_acc']:>8.4f}")  # fmt: skip
    write_json(store.root / EVAL_FILE, {"task": meta["task"], "split": args.split, "results": rows})
    print(f"scored {len(rows)} sub-network(s) with inherited weights in {elapsed:.1f} s; "
          f"saved to {store.root / EVAL_FILE}")  # fmt: skip
    return 0


def _home(genome: Genome, subspaces: dict[str, SubSpace]) -> str:
    """The first sub-space holding ``genome``; else a one-line error with each sub-space's reason."""
    reasons = []
    for name, sub in subspaces.items():
        try:
            sub.validate(genome)
            return name
        except ValueError as e:
            reasons.append(str(e))
    raise UsageError("the genome is in none of the trained sub-spaces: " + "; ".join(reasons))


COMMANDS = [
    Command(
        "supernet",
        "train weight-sharing supernets, or score sub-networks with inherited weights",
        add_arguments,
        run,
        dir_options=("out", "cache_dir"),
    ),
]

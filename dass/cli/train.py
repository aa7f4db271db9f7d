"""``dass train``: fully distil one student from a teacher on a task, and save it."""

from __future__ import annotations

import argparse
import sys

from dass.cli.common import Command, add_task_args, add_teacher_args, positive_int, seed
from dass.cli.teacher import load_teacher
from distill.devices import PRECISIONS, check_device, check_precision
from distill.genome import Recipe, load_genome
from distill.job import train_student
from distill.tasks import load_task
from distill.teachers import teacher_outputs
from distill.trainer import TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_task_args(p)
    add_teacher_args(p)
    p.add_argument("--genome", required=True, help="genome JSON file (see `dass genome`)")
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N, or mps")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default), or bf16 autocast on CUDA: faster there, recorded in metrics.json",
    )
    p.add_argument("--out", help="directory for student.pt, genome.json, recipe.json, metrics.json")


def run(args: argparse.Namespace) -> int:
    check_device(args.device)  # one this machine has, before any work (a parse alone lets 'mps' through)
    check_precision(args.precision, args.device)
    genome = load_genome(args.genome)
    task = load_task(args.task, args.data_dir).require_validation()
    config = TrainConfig(epochs=args.epochs, device=args.device)
    outputs = None
    teacher = None
    if genome.recipe.distills:
        teacher = load_teacher(args, task)
        outputs = teacher_outputs(teacher, task, cache=args.cache_dir)
    trained = train_student(genome, task, outputs, config, seed=args.seed, precision=args.precision)
    result = trained.result
    if args.out and result.status == "ok":  # a failed student is not saved: it would replace a good one
        trained.save(args.out, trained.metrics(args.teacher, teacher.id if teacher else None))
    teacher_note = f"; teacher {args.teacher} test acc {outputs.test_acc:.4f}" if outputs else "; no teacher (plain CE)"
    print(f"task {task.name} ({task.num_classes} classes, {len(task.x_train)} train images){teacher_note}")
    print(
        f"student {genome.hash}: {trained.params:,} params, {trained.flops / 1e6:.2f} MFLOPs, "
        f"recipe {recipe_str(genome.recipe)}"
    )
    if result.status != "ok":
        reason = " ".join(str(result.reason).split())
        print(f"dass train: training ended as {result.status}: {reason}; nothing saved", file=sys.stderr)
        return 1
    curve = " ".join(f"{a:.3f}" for a in result.curve)
    print(f"val acc per epoch: {curve}")
    print(f"distilled: val acc {result.val_acc:.4f}, test acc {result.test_acc:.4f} in {result.train_time_s:.1f} s")
    if args.out:
        print(f"saved to {args.out}/ (student.pt, genome.json, recipe.json, metrics.json)")
    return 0


def recipe_str(r: Recipe) -> str:
    """A distillation recipe on one line, e.g. ``ce 1 + kl T=4 x0.5 + hint late/conv/mse x10``."""
    parts = [f"ce {r.ce_weight:g}"]
    if r.logit_loss != "none":
        t = f" T={r.temperature:g}" if r.logit_loss in ("kl", "dist") else ""
        parts.append(f"{r.logit_loss}{t} x{r.kd_weight:g}")
    if r.has_hint:
        parts.append(f"hint {r.hint_position}/{r.hint_transform}/{r.hint_distance} x{r.hint_weight:g}")
    return " + ".join(parts)


COMMANDS = [
    Command(
        "train",
        "distil one student from a teacher on a task and save it",
        add_arguments,
        run,
        dir_options=("out", "cache_dir"),
    ),
]

"""KD trainer throughput: distillation with cached teacher outputs vs. plain cross-entropy.

Trains the same mid-size student on the same 5-class MNIST task (3,000 training images,
28x28) for 5 epochs with several recipes and prints a table: wall time, training throughput
and the overhead of each recipe over plain cross-entropy; the table also goes to
``benchmarks/results/kd_overhead.json`` (``--out``). Run:

    .venv/bin/python -m benchmarks.kd_overhead [--data-dir DIR] [--repeats 3] [--device cpu]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch

from benchmarks.common import DATA_DIR, provenance, result_path, write_json
from distill.cost import count_flops, count_params
from distill.genome import Genome, Recipe, StageGene
from distill.nets import build_student
from distill.tasks import load_task
from distill.teachers import get_teacher, teacher_outputs
from distill.trainer import TrainConfig, distil

# A mid-size student of the default space (about 100k parameters): three stages, mixed block types.
STUDENT = Genome(
    stem_width=16,
    stages=(
        StageGene("basic", 1, 16),
        StageGene("mbconv", 2, 32, 3, 4, False),
        StageGene("mbconv", 2, 64, 3, 4, True),
    ),
)
RECIPES = {
    "plain CE": Recipe.plain(),
    "KL T=4": Recipe("kl", 4.0, 0.5, 1.0),
    "DIST": Recipe("dist", 4.0, 1.0, 1.0),
    "KL + attention hint": Recipe("kl", 4.0, 0.5, 1.0, "mid", "attention", "mse", 1.0),
    "KL + connector hint": Recipe("kl", 4.0, 0.5, 1.0, "late", "connector", "mse", 1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--teacher", default="resnet-l")
    parser.add_argument("--out", default=str(result_path("kd_overhead")), help="the result JSON")
    args = parser.parse_args()

    task = load_task("mnist:classes=0-4:n_train=3000:n_test=2000", args.data_dir)
    teacher = get_teacher(args.teacher, task)
    outputs = teacher_outputs(teacher, task)
    student = build_student(STUDENT, task.in_shape, task.num_classes)
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, task {task.name} "
        f"({len(task.x_train)} train images {tuple(task.in_shape)}), teacher {args.teacher} "
        f"(test acc {outputs.test_acc:.4f})"
    )
    print(
        f"student: {count_params(student):,} params, {count_flops(student, task.in_shape) / 1e6:.2f} MFLOPs, "
        f"{args.epochs} epochs, median of {args.repeats} interleaved runs after a warm-up\n"
    )
    config = TrainConfig(epochs=args.epochs, device=args.device)
    images = len(task.x_train) * args.epochs
    print("| recipe | wall time (s) | images/s | overhead vs plain CE | test acc |")
    print("|---|---:|---:|---:|---:|")
    distil(STUDENT.with_recipe(Recipe.plain()), task, outputs, config, seed=0)  # warm-up, not timed
    # recipes interleaved within every repeat, so that drifts of the machine hit all of them alike
    times: dict[str, list[float]] = {name: [] for name in RECIPES}
    accs: dict[str, list[float]] = {name: [] for name in RECIPES}
    for rep in range(args.repeats):
        for name, recipe in RECIPES.items():
            result, _ = distil(STUDENT.with_recipe(recipe), task, outputs, config, seed=rep)
            assert result.status == "ok", result.reason
            times[name].append(result.train_time_s)
            accs[name].append(result.test_acc)
    base = statistics.median(times["plain CE"])
    rows = []
    for name in RECIPES:
        t = statistics.median(times[name])
        acc = statistics.mean(accs[name])
        print(f"| {name} | {t:.2f} | {images / t:,.0f} | {100 * (t / base - 1):+.1f}% | {acc:.4f} |")
        rows.append(
            {"recipe": name, "wall_s": t, "images_per_s": images / t, "overhead": t / base - 1, "test_acc": acc}
        )
    sys.stdout.flush()
    write_json(
        args.out,
        {
            "measured": provenance(),
            "device": args.device,
            "task": task.name,
            "train_images": len(task.x_train),
            "teacher": args.teacher,
            "teacher_test_acc": outputs.test_acc,
            "student_params": count_params(student),
            "student_mflops": count_flops(student, task.in_shape) / 1e6,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "recipes": rows,
        },
    )


if __name__ == "__main__":
    main()

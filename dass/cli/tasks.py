"""``dass tasks``, ``dass teachers``, ``dass genome``: what the tool can be pointed at, and one random genome."""

from __future__ import annotations

import argparse
import json

import numpy as np

from dass.cli.common import Command, seed
from distill.cost import count_flops, count_params
from distill.genome import SPACES, get_space
from distill.io import write_atomic
from distill.tasks import DOMAIN_TRANSFORMS, TASK_SOURCES, load_task
from distill.teachers import TEACHER_FAMILIES


def add_tasks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show", metavar="SPEC", help="load this task and print its descriptors")
    p.add_argument("--data-dir", help="data directory (default: $DASS_DATA)")


def run_tasks(args: argparse.Namespace) -> int:
    if args.show is not None:
        task = load_task(args.show, args.data_dir)
        print(json.dumps({"id": task.id, "name": task.name, **task.describe()}, indent=2, default=str))
        return 0
    print("sources:    " + ", ".join(TASK_SOURCES.names()))
    print("transforms: " + ", ".join(DOMAIN_TRANSFORMS.names()))
    print("spec:       SOURCE[:classes=0-4|0,2,7][:transform=NAME[VALUE]][:size=N]")
    print("            [:n_train=N][:n_val=N|:val_fraction=F][:n_test=N][:seed=N]")
    print("            [:norm=train|none|MEAN/STD]  (what the networks see; default: standardised)")
    print("            [:path=FILE] for npz and folder sources")
    print("examples:   digits")
    print("            mnist:classes=0-4:transform=rotate30:size=16:n_train=3000")
    print("            npz:path=my_data.npz")
    return 0


def add_teachers_arguments(p: argparse.ArgumentParser) -> None:
    """``dass teachers`` takes no flags of its own."""


def run_teachers(args: argparse.Namespace) -> int:
    shape = (1, 28, 28)
    print(f"{'name':<14}{'params':>10}{'MFLOPs':>9}  description   (params/FLOPs for 28x28 inputs, 10 classes)")
    for fam in TEACHER_FAMILIES:
        family = TEACHER_FAMILIES.get(fam)
        for size in family.sizes:
            net = family.net(size, shape, 10)
            mflops = count_flops(net, shape) / 1e6
            print(f"{fam + '-' + size:<14}{count_params(net):>10,}{mflops:>9.2f}  {family.description}")
    print("\nor your own: a TorchScript file, or module:callable with --teacher-weights FILE")
    return 0


def add_genome_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="default", help=f"search space: {', '.join(SPACES.names())}")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-distill", action="store_true", help="a no-distillation control (plain cross-entropy)")
    p.add_argument("--out", help="write to this file instead of stdout")


def run_genome(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    genome = space.sample(rng, distill=False if args.no_distill else True)
    text = genome.to_json()
    if args.out:
        write_atomic(args.out, text + "\n")
        print(f"wrote {args.out} (hash {genome.hash})")
    else:
        print(text)
    return 0


COMMANDS = [
    Command("tasks", "list task sources and transforms, or describe one task", add_tasks_arguments, run_tasks),
    Command("teachers", "list the teacher zoo", add_teachers_arguments, run_teachers),
    Command(
        "genome",
        "sample a random genome (student + recipe) as JSON",
        add_genome_arguments,
        run_genome,
        file_options=("out",),
    ),
]

"""Is the CPU training path as fast as it was? The trainer of this tree against an older commit's, alternately.

Both trees train the same student (`examples/student.json` without distillation) on `digits:size=16` for 8
epochs on one thread, each in its own process, A B A B ...; the accuracies must be equal (the CPU path is
bit-identical) and the ratio of CPU and wall seconds is taken pair by pair, so a drift of the machine's speed
hits both alike. The older tree is a `git worktree` of ``--base``.

    .venv/bin/python -m benchmarks.trainer_cpu_ab [--base 159ef71] [--pairs 6]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from benchmarks.common import ROOT, provenance, result_path, write_json

TRAIN = """
import sys, torch
from distill.genome import Recipe, load_genome
from distill.tasks import load_task
from distill.trainer import TrainConfig, distil
torch.set_num_threads(1)
genome = load_genome(sys.argv[1] + "/examples/student.json").with_recipe(Recipe.plain())
result, _ = distil(genome, load_task("digits:size=16"), None, TrainConfig(epochs=8, device="cpu"), seed=0)
print(repr(result.test_acc))
"""


def run(tree: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one training in ``tree``, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the tree's own packages, not the installed ones
    out = subprocess.run(
        [sys.executable, "-c", TRAIN, str(tree)], capture_output=True, text=True, check=True, cwd="/", env=env
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="159ef71", help="the older commit")
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--out", default=str(result_path("trainer_cpu_ab")))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base], check=True)
        try:
            run(ROOT), run(base)  # warm-up: the page cache, the digits file
            rows = []
            for _ in range(args.pairs):
                new, old = run(ROOT), run(base)
                if new[2] != old[2]:
                    raise SystemExit(f"the two trees trained to other accuracies: {new[2]} against {old[2]}")
                rows.append({"wall_new": new[0], "wall_base": old[0], "cpu_new": new[1], "cpu_base": old[1]})
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    wall = np.array([r["wall_new"] / r["wall_base"] for r in rows])
    cpu = np.array([r["cpu_new"] / r["cpu_base"] for r in rows])
    print(
        f"this tree / {args.base}: CPU seconds x{np.median(cpu):.3f} (min {cpu.min():.3f}, max {cpu.max():.3f}), "
        f"wall x{np.median(wall):.3f}; test accuracy {new[2]} in both"
    )
    write_json(
        Path(args.out),
        {
            "base": args.base,
            "test_acc": float(new[2]),
            "cpu_ratio": {"median": float(np.median(cpu)), "min": float(cpu.min()), "max": float(cpu.max())},
            "wall_ratio": {"median": float(np.median(wall)), "min": float(wall.min()), "max": float(wall.max())},
            "pairs": rows,
            "load_average": os.getloadavg(),
            "provenance": provenance(),
        },
    )


if __name__ == "__main__":
    main()

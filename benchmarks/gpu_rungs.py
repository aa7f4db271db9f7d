"""GPU rungs: a rung's candidates trained one at a time (today's path) vs. together in one loop (issue 23).

On the issue's workload (``mnist:n_train=20000:n_test=5000``, teacher ``resnet-s``, 5 epochs) it trains, each way:
the student of ``examples/student.json`` eight times (seeds 0-7: the ≤ 0.6 s-per-candidate target of the issue is
amortised over a rung of ≥ 8), and rungs of 8 and of 32 mixed-size candidates sampled from the default space.
For every rung: seconds per candidate-training, trainings per GPU-hour, the mean GPU utilisation while the rung
ran (``nvidia-smi`` sampled in a thread, when present) and the mean test accuracy (a sanity check: the two paths
train the same candidates the same way). The one-at-a-time path is :func:`distill.trainer.distil` per candidate;
the multi-candidate path is :func:`distill.multi_train.distil_many` (one CUDA stream per candidate, the task and
the teacher's outputs on the GPU once). Run on a GPU machine:

    .venv/bin/python -m benchmarks.gpu_rungs --device cuda [--precision bf16] [--rungs 8,32]

It writes ``benchmarks/results/gpu_rungs.json`` (``--out``) only with ``--device cuda``: GPU figures come from a
GPU. ``--smoke`` runs the whole script on the CPU with a tiny task, to check that it works, and writes nothing.
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch

from benchmarks.common import DATA_DIR, ROOT, provenance, result_path, write_json
from distill.cost import count_params
from distill.devices import check_device, check_precision
from distill.genome import Genome, get_space, load_genome
from distill.multi_train import Candidate, distil_many
from distill.nets import build_student
from distill.tasks import Task, load_task
from distill.teachers import get_teacher, teacher_outputs
from distill.trainer import TeacherOutputs, TrainConfig, distil

TASK = "mnist:n_train=20000:n_test=5000"
SMOKE_TASK = "digits:classes=0-4"
STUDENT = ROOT / "examples" / "student.json"
SPACE_SEED = 0  # the mixed rungs' candidates: sampled from the default space with this seed


class UtilisationSampler:
    """Mean GPU utilisation (percent) over a block of code, from ``nvidia-smi`` polled in a thread.

    ``None`` when ``nvidia-smi`` is absent or never answered: a figure that was not measured is not made up.
    """

    def __init__(self, gpu_index: int, interval_s: float = 0.1) -> None:
        self.gpu_index, self.interval_s = gpu_index, interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> UtilisationSampler:
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        cmd = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", str(self.gpu_index)]
        while not self._stop.is_set():
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True).stdout
                self.samples.append(float(out.strip().splitlines()[0]))
            except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                pass  # a missed sample: the mean is over the samples that came back
            self._stop.wait(self.interval_s)

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def time_rung(
    name: str,
    candidates: list[Candidate],
    task: Task,
    teacher: TeacherOutputs,
    config: TrainConfig,
    precision: str,
    gpu_index: int | None,
) -> dict:
    """Train ``candidates`` one at a time, then together; the figures of both ways."""
    out: dict = {"rung": name, "candidates": len(candidates)}
    for way in ("one_at_a_time", "together"):
        _sync(config.device)
        with UtilisationSampler(gpu_index if gpu_index is not None else 0) as util:
            start = time.perf_counter()
            if way == "one_at_a_time":
                pairs = [distil(c.genome, task, teacher, config, c.seed, precision) for c in candidates]
            else:
                pairs = distil_many(candidates, task, teacher, config, precision)
            _sync(config.device)
            wall = time.perf_counter() - start
        results = [r for r, _ in pairs]
        accs = [r.test_acc for r in results if r.status == "ok"]
        per = wall / len(candidates)
        out[way] = {
            "wall_s": wall,
            "s_per_candidate": per,
            "trainings_per_gpu_hour": 3600 / per,
            "gpu_utilisation_pct": util.mean if gpu_index is not None else None,
            "statuses": {s: sum(r.status == s for r in results) for s in sorted({r.status for r in results})},
            "mean_test_acc": statistics.mean(accs) if accs else None,
        }
        print(
            f"| {name} | {way.replace('_', ' ')} | {len(candidates)} | {wall:.2f} | {per:.3f} | {3600 / per:,.0f} | "
            f"{_fmt(out[way]['gpu_utilisation_pct'], '.0f')} | {_fmt(out[way]['mean_test_acc'], '.4f')} |",
            flush=True,
        )
    out["speedup"] = out["one_at_a_time"]["wall_s"] / out["together"]["wall_s"]
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def mixed_rung(n: int, seed: int) -> list[Candidate]:
    """``n`` mixed-size candidates of the default space (architecture and recipe sampled), seeds 0..n-1."""
    rng = np.random.default_rng(seed)
    return [Candidate(get_space("default").sample(rng), seed=i) for i in range(n)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the training device; results are written for cuda only")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rungs", default="8,32", help="sizes of the mixed rungs, comma-separated")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--out", default=str(result_path("gpu_rungs")), help="the result JSON (GPU runs only)")
    parser.add_argument("--smoke", action="store_true", help="a tiny CPU run that checks the script; writes nothing")
    args = parser.parse_args(argv)
    try:
        args.rung_sizes = [int(s) for s in args.rungs.split(",") if s.strip()]
        if not args.rung_sizes or min(args.rung_sizes) < 1:
            raise ValueError
    except ValueError:
        parser.error(f"--rungs must be positive integers separated by commas; got {args.rungs!r}")
    if args.smoke:
        args.device, args.epochs, args.rung_sizes = "cpu", 1, [3]
    try:
        check_device(args.device)
        check_precision(args.precision, args.device)
    except ValueError as e:
        parser.error(str(e))
    if not args.smoke and not args.device.startswith("cuda"):
        parser.error(f"--device {args.device!r}: GPU figures need a CUDA device ('cuda' or 'cuda:N'); or use --smoke")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    gpu_index = None if args.smoke else torch.device(args.device).index or 0
    with tempfile.TemporaryDirectory() as tmp:
        cache = tmp if args.smoke else None  # a smoke run leaves no teacher in the shared cache either
        task = load_task(SMOKE_TASK if args.smoke else TASK, args.data_dir)
        # a smoke run's teacher: 2 epochs are enough to check the script (the real one: the zoo's own budget)
        teacher_config = {"config": TrainConfig(epochs=2, batch_size=64, device="cpu")} if args.smoke else {}
        teacher = get_teacher("resnet-s", task, cache=cache, **teacher_config)
        outputs = teacher_outputs(teacher, task, cache=cache)
    config = TrainConfig(epochs=args.epochs, device=args.device)
    example: Genome = load_genome(str(STUDENT))
    params = count_params(build_student(example, task.in_shape, task.num_classes))
    print(
        f"device {args.device} ({torch.cuda.get_device_name(args.device) if gpu_index is not None else 'CPU'}), "
        f"precision {args.precision}, task {task.name} ({len(task.x_train)} training images), teacher resnet-s, "
        f"{args.epochs} epochs; example student {params:,} parameters\n"
    )
    print("| rung | way | candidates | wall (s) | s per candidate | trainings per GPU-hour | GPU util (%) | test acc |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    distil(example, task, outputs, config, 0, args.precision)  # warm-up (CUDA context, kernels), not timed
    seeds = 8 if not args.smoke else 2
    rungs = [(f"examples/student.json x {seeds} seeds", [Candidate(example, seed=i) for i in range(seeds)])]
    rungs += [(f"{n} mixed (default space)", mixed_rung(n, SPACE_SEED)) for n in args.rung_sizes]
    rows = [time_rung(name, cands, task, outputs, config, args.precision, gpu_index) for name, cands in rungs]
    report = {
        "measured": provenance(),
        "device": args.device,
        "precision": args.precision,
        "task": task.name,
        "train_images": len(task.x_train),
        "teacher": "resnet-s",
        "teacher_test_acc": outputs.test_acc,
        "epochs": args.epochs,
        "example_student_params": params,
        "space_seed": SPACE_SEED,
        "rungs": rows,
    }
    if args.smoke:
        print("\nsmoke run: nothing written")
    else:
        write_json(args.out, report)
        print(f"\nwrote {args.out}")
    return report


if __name__ == "__main__":
    main()

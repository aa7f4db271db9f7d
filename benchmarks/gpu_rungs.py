"""GPU rungs: a rung's candidates trained one at a time (today's path) vs. together in one loop (issue 23).

On the issue's workload (``mnist:n_train=20000:n_test=5000``, teacher ``resnet-s``, 5 epochs) it trains, each way:
the student of ``examples/student.json`` eight times (seeds 0-7: the ≤ 0.6 s-per-candidate target of the issue is
amortised over a rung of ≥ 8), and rungs of 8 and of 32 mixed-size candidates sampled from the default space.
For every rung: seconds per candidate-training, trainings per GPU-hour, the mean GPU utilisation while the rung
ran (``nvidia-smi`` sampled in a thread, when present) and the mean test accuracy (a sanity check: the two paths
train the same candidates the same way). The one-at-a-time path is :func:`distill.trainer.distil` per candidate;
the multi-candidate path is :func:`distill.multi_train.distil_many` (one CUDA stream per candidate, the task and
the teacher's outputs on the GPU once).

Then the same through the product's own path, the one ``dass search`` and ``dass collect`` take: a rung of the
mixed candidates trained by :class:`search.rungs.Trainer` (jobs in a record store, run by the collector on an
in-process executor) with ``--group 1`` against ``--group N``, and a collector's label seeds of one student (the
example student's jobs with seeds 0..7) collected both ways. Those timings include what a job does besides
training (its proxies, counting its cost, writing its record).

Run on a GPU machine:

    .venv/bin/python -m benchmarks.gpu_rungs --device cuda [--precision bf16] [--rungs 8,32] [--group 8]

Without a CUDA device it refuses with one line (GPU figures come from a GPU). It writes
``benchmarks/results/gpu_rungs.json`` (``--out``). ``--smoke`` runs the whole script on the CPU with a tiny task
and workload, to check that it works before a GPU run, and writes nothing (``tests/benchmarks/test_gpu_rungs.py``
runs it).
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import contextlib
import os
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
from datasets_meta.collector import collect
from datasets_meta.store import InMemoryStore
from distill.cost import count_params
from distill.devices import check_device, check_precision
from distill.executors import GPU_GROUP, InProcessExecutor
from distill.genome import Genome, get_space, load_genome
from distill.job import torch_threads
from distill.multi_train import Candidate, distil_many
from distill.nets import build_student
from distill.records import Job
from distill.tasks import Task, load_task
from distill.teachers import get_teacher, teacher_config, teacher_id, teacher_outputs
from distill.trainer import TeacherOutputs, TrainConfig, distil
from search.rungs import Trainer

TASK = "mnist:n_train=20000:n_test=5000"
SMOKE_TASK = "digits:classes=0-4"
STUDENT = ROOT / "examples" / "student.json"
SPACE_SEED = 0  # the mixed rungs' candidates: sampled from the default space with this seed
TEACHER = "resnet-s"
HEADER = "| rung | path, way | n | wall (s) | s per candidate | trainings per GPU-hour | GPU util (%) | test acc |"
SMOKE_TEACHER_EPOCHS = 1  # the product path's teacher in a smoke run (the real one: the zoo's own budget)


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
    out: dict = {"rung": name, "candidates": len(candidates), "path": "raw"}
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
        out[way] = _row(
            name,
            f"raw, {way.replace('_', ' ')}",
            len(candidates),
            wall,
            util.mean if gpu_index is not None else None,
            [r.status for r in results],
            [r.test_acc for r in results if r.status == "ok"],
        )
    out["speedup"] = out["one_at_a_time"]["wall_s"] / out["together"]["wall_s"]
    return out


def _row(name: str, way: str, n: int, wall: float, util: float | None, statuses: list[str], accs: list) -> dict:
    """One way of one rung: its figures as stored, and its line of the printed table."""
    per = wall / n
    accs = [a for a in accs if a is not None]
    out = {
        "wall_s": wall,
        "s_per_candidate": per,
        "trainings_per_gpu_hour": 3600 / per,
        "gpu_utilisation_pct": util,
        "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
        "mean_test_acc": statistics.mean(accs) if accs else None,
    }
    print(
        f"| {name} | {way} | {n} | {wall:.2f} | {per:.3f} | {3600 / per:,.0f} | {_fmt(util, '.0f')} | "
        f"{_fmt(out['mean_test_acc'], '.4f')} |",
        flush=True,
    )
    return out


class ProductPath:
    """Trainings through the product's own path, as ``dass search`` and ``dass collect`` run them: jobs of one
    (task, teacher) in a record store, collected on an in-process executor on ``device``.

    Args:
        task: the task (its spec and id name the jobs).
        data_dir: where its data files live.
        device: the training device.
        precision: the jobs' precision.
        teacher_epochs: the zoo teacher's budget (its id and its training in the worker).
    """

    def __init__(self, task: Task, data_dir: str, device: str, precision: str, teacher_epochs: int | None) -> None:
        self.data_dir, self.device = data_dir, device
        epochs = teacher_epochs if teacher_epochs is not None else teacher_config().epochs
        tags = {"teacher_epochs": epochs, **({"precision": precision} if precision != "fp32" else {})}
        self.fields = {
            "task_id": task.id,
            "teacher_id": teacher_id(TEACHER, task, config=teacher_config(epochs)),
            "task_spec": str(task.spec),
            "teacher": TEACHER,
            "seed": 0,
            "suite": "gpu-rungs",
            "tags": tags,
        }

    def rung(self, genomes: list[Genome], budget: int, group: int) -> list[dict]:
        """A rung of ``genomes`` at ``budget`` by :class:`search.rungs.Trainer`; the records."""
        trainer = Trainer(
            InMemoryStore(), InProcessExecutor(self.data_dir, self.device), self.fields, budget, group=group
        )
        return [m.record for m in trainer.train(genomes, budget)]

    def label_seeds(self, genome: Genome, seeds: int, budget: int, group: int) -> list[dict]:
        """A collector's label seeds of one student (seeds ``0 .. seeds-1``) by :func:`collect`; the records."""
        store = InMemoryStore()
        fields = {k: v for k, v in self.fields.items() if k != "seed"}
        store.add_jobs(
            Job(genome_hash=genome.hash, budget=budget, genome=genome.to_json(indent=None), seed=s, **fields)
            for s in range(seeds)
        )
        collect(store, InProcessExecutor(self.data_dir, self.device), group=group)
        return store.records(status=None)


def time_product(name: str, n: int, train, group: int, device: str, gpu_index: int | None) -> dict:
    """``train(group)`` (the product path) with groups of 1 (today's one-at-a-time path) and of ``group``."""
    out: dict = {"rung": name, "candidates": n, "path": "product", "group": group}
    for way, g in (("one_at_a_time", 1), ("together", group)):
        _sync(device)
        with UtilisationSampler(gpu_index if gpu_index is not None else 0) as util:
            start = time.perf_counter()
            records = train(g)
            _sync(device)
            wall = time.perf_counter() - start
        statuses = [r["status"] if r["state"] == "done" else "failed" for r in records]
        out[way] = _row(
            name,
            f"product, group {g}",
            n,
            wall,
            util.mean if gpu_index is not None else None,
            statuses,
            [r["test_acc"] for r in records],
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
    parser.add_argument(
        "--group", type=int, default=GPU_GROUP, help="the product path's group (jobs a worker trains together)"
    )
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
    if args.group < 1:
        parser.error(f"--group must be a positive integer; got {args.group}")
    if args.smoke:
        args.device, args.epochs, args.rung_sizes, args.group = "cpu", 1, [3], 2
    if not args.smoke and not (args.device.startswith("cuda") and torch.cuda.is_available()):
        _refuse(f"--device {args.device!r}: GPU figures need a CUDA device ('cuda' or 'cuda:N'); or run --smoke")
    try:
        check_device(args.device)
        check_precision(args.precision, args.device)
    except ValueError as e:
        _refuse(str(e))
    return args


def _refuse(message: str) -> None:
    """Stop with one line on stderr and exit status 2, as the CLI does for a user's mistake."""
    print(f"gpu_rungs: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def _teacher_cache(path: str | None):
    """The block with ``$DASS_CACHE`` at ``path`` (the workers' teachers go there), then as it was."""
    if path is None:
        yield
        return
    before = os.environ.get("DASS_CACHE")
    os.environ["DASS_CACHE"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DASS_CACHE", None)
        else:
            os.environ["DASS_CACHE"] = before


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    gpu_index = None if args.smoke else torch.device(args.device).index or 0
    # a smoke run leaves no teacher in the shared cache either, and trains with one thread, as a worker does
    with (
        tempfile.TemporaryDirectory() as tmp,
        _teacher_cache(tmp if args.smoke else None),
        torch_threads(1 if args.smoke else None),
    ):
        return _run(args, gpu_index, tmp if args.smoke else None)


def _run(args: argparse.Namespace, gpu_index: int | None, cache: str | None) -> dict:
    task = load_task(SMOKE_TASK if args.smoke else TASK, args.data_dir)
    # a smoke run's teacher: 2 epochs are enough to check the script (the real one: the zoo's own budget)
    config_kw = {"config": TrainConfig(epochs=2, batch_size=64, device="cpu")} if args.smoke else {}
    teacher = get_teacher(TEACHER, task, cache=cache, **config_kw)
    outputs = teacher_outputs(teacher, task, cache=cache)
    config = TrainConfig(epochs=args.epochs, device=args.device)
    example: Genome = load_genome(str(STUDENT))
    params = count_params(build_student(example, task.in_shape, task.num_classes))
    print(
        f"device {args.device} ({torch.cuda.get_device_name(args.device) if gpu_index is not None else 'CPU'}), "
        f"precision {args.precision}, task {task.name} ({len(task.x_train)} training images), teacher resnet-s, "
        f"{args.epochs} epochs; example student {params:,} parameters\n"
    )
    print(HEADER)
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    distil(example, task, outputs, config, 0, args.precision)  # warm-up (CUDA context, kernels), not timed
    seeds = 8 if not args.smoke else 2
    rungs = [(f"examples/student.json x {seeds} seeds", [Candidate(example, seed=i) for i in range(seeds)])]
    rungs += [(f"{n} mixed (default space)", mixed_rung(n, SPACE_SEED)) for n in args.rung_sizes]
    rows = [time_rung(name, cands, task, outputs, config, args.precision, gpu_index) for name, cands in rungs]

    product = ProductPath(
        task, args.data_dir, args.device, args.precision, SMOKE_TEACHER_EPOCHS if args.smoke else None
    )
    product.rung([example], 1, 1)  # warm-up: the worker loads (or trains) its teacher, not timed
    for name, cands in rungs[1:]:
        genomes = [c.genome for c in cands]
        rows.append(
            time_product(
                f"{name} via search.rungs",
                len(genomes),
                lambda g, genomes=genomes: product.rung(genomes, args.epochs, g),
                args.group,
                args.device,
                gpu_index,
            )
        )
    rows.append(
        time_product(
            f"examples/student.json x {seeds} label seeds via collect",
            seeds,
            lambda g: product.label_seeds(example, seeds, args.epochs, g),
            args.group,
            args.device,
            gpu_index,
        )
    )
    report = {
        "measured": provenance(),
        "device": args.device,
        "precision": args.precision,
        "task": task.name,
        "train_images": len(task.x_train),
        "teacher": TEACHER,
        "group": args.group,
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

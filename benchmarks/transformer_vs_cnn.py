"""Are transformer students worth having? Vision-transformer vs staged-CNN students at equal parameters.

Issue 24 asks where the best transformer student stands against the best CNN student of the same size. On one
task, students of both families are drawn in matched parameter bins (the ``vit`` space and the CNN's ``default``
space, spread across each bin's log-size range), and each is trained stand-alone with the project's distillation
path (:func:`distill.trainer.distil`, as every record of the meta-dataset is made) with plain cross-entropy and
with a simple logit-KD recipe from each teacher, for a few seeds. Per bin and recipe the table gives the best
(chosen by validation accuracy, reported on test) and the median transformer and CNN, with their parameters and
MACs, so equal parameters and the MACs they cost can be read side by side.

Resumable: every finished training is written to the result file at once (atomically); a rerun with the same
settings trains only what is missing, and one with other settings is refused. Run from the repository root:

    .venv/bin/python -m benchmarks.transformer_vs_cnn                 # mnist 16x16, resnet-s and vit-s
    .venv/bin/python -m benchmarks.transformer_vs_cnn --quick --out /tmp/tvc.json   # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import DATA_DIR, provenance, result_path, write_json
from distill.genome import Genome, Recipe, get_space
from distill.tasks import Task, load_task
from distill.teachers import get_teacher, teacher_config, teacher_outputs
from distill.trainer import TeacherOutputs, TrainConfig, distil

log = logging.getLogger(__name__)

# The student families compared, by the search space each is drawn from at 8-16 px inputs.
FAMILIES = {"vit": "vit", "cnn": "default"}
# "The best simple KD recipe": Hinton's KL at T=4 with CE and KD weighted 0.5 : 1, the v1 spaces' default and
# the recipe kd_overhead times. Plain CE is the no-distillation control.
KD_RECIPE = Recipe("kl", 4.0, 0.5, 1.0)
PLAIN = "plain CE"


@dataclass(frozen=True)
class Settings:
    """Everything the trainings depend on: a result file holds the trainings of one ``Settings`` only."""

    task: str
    teachers: tuple[str, ...]
    bins: tuple[tuple[int, int], ...]  # [low, high) parameter ranges
    per_bin: int  # students per family and bin
    seeds: int
    epochs: int
    teacher_epochs: int
    seed: int  # of the architecture draws

    def as_json(self) -> dict[str, Any]:
        return {
            k: list(map(list, v)) if k == "bins" else list(v) if isinstance(v, tuple) else v
            for k, v in self.__dict__.items()
        }


FULL = Settings(
    task="mnist:size=16:n_train=2000:n_test=2000",
    teachers=("resnet-s", "vit-s"),
    bins=((5_000, 20_000), (20_000, 80_000), (80_000, 300_000)),
    per_bin=3,
    seeds=2,
    epochs=6,
    teacher_epochs=12,
    seed=0,
)
# A smoke run in seconds: digits at 8x8, one tiny bin, one student a family, plain CE only (no teacher).
QUICK = Settings(
    task="digits:n_train=300",
    teachers=(),
    bins=((2_000, 12_000),),
    per_bin=1,
    seeds=1,
    epochs=1,
    teacher_epochs=1,
    seed=0,
)


def recipes(settings: Settings) -> dict[str, tuple[Recipe, str | None]]:
    """Recipe name -> (recipe, teacher name or None): plain CE, and KD from each teacher."""
    out: dict[str, tuple[Recipe, str | None]] = {PLAIN: (Recipe.plain(), None)}
    for t in settings.teachers:
        out[f"KD {t}"] = (KD_RECIPE, t)
    return out


def draw_students(settings: Settings, task: Task, pool: int = 4000) -> list[dict[str, Any]]:
    """``per_bin`` architectures per family and bin, spread evenly over the bin's log-parameter range.

    A pool of ``pool`` random architectures per family is drawn from one seeded generator; a bin the family
    cannot fill (too few architectures of that size in its space) is filled as far as it goes.
    """
    students = []
    for f, (family, space_name) in enumerate(FAMILIES.items()):
        space = get_space(space_name)
        rng = np.random.default_rng([settings.seed, f])
        drawn = {}
        for _ in range(pool):
            g = space.sample(rng, distill=False)
            drawn.setdefault(g.hash, g)
        sized = sorted((g.count_params(task.in_shape, task.num_classes), h) for h, g in drawn.items())
        for b, (low, high) in enumerate(settings.bins):
            inside = [(p, h) for p, h in sized if low <= p < high]
            if not inside:
                log.warning("family %s has no architecture of %d-%d parameters", family, low, high)
                continue
            picks = np.linspace(0, len(inside) - 1, min(settings.per_bin, len(inside))).round().astype(int)
            for i in sorted(set(picks.tolist())):
                params, h = inside[i]
                g = drawn[h]
                students.append(
                    {
                        "family": family,
                        "bin": b,
                        "hash": h,
                        "genome": g.to_json(indent=None),
                        "params": params,
                        "macs": g.count_macs(task.in_shape, task.num_classes),
                    }
                )
    return students


def training_key(student: dict[str, Any], recipe: str, seed: int) -> str:
    return f"{student['family']}|{student['hash']}|{recipe}|{seed}"


def load_state(out: Path, settings: Settings) -> dict[str, Any]:
    """The result file of an interrupted run with the same settings, or a fresh one."""
    if out.exists():
        state = json.loads(out.read_text())
        if state.get("settings") != settings.as_json():
            raise SystemExit(
                f"{out} holds trainings of other settings ({state.get('settings')}); use another --out, or delete it"
            )
        return state
    return {"settings": settings.as_json(), "trainings": {}}


def summarise(state: dict[str, Any], students: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """Per bin and recipe: best and median student of each family (a student's accuracy: mean over seeds)."""
    rows = []
    for b, (low, high) in enumerate(settings.bins):
        for recipe in recipes(settings):
            row: dict[str, Any] = {"bin": f"{low}-{high}", "recipe": recipe}
            for family in FAMILIES:
                scored = []
                for s in students:
                    if s["family"] != family or s["bin"] != b:
                        continue
                    runs = [state["trainings"].get(training_key(s, recipe, seed)) for seed in range(settings.seeds)]
                    runs = [r for r in runs if r and r["status"] == "ok"]
                    if len(runs) == settings.seeds:  # only students with every seed: means of equal standing
                        val = statistics.mean(r["val_acc"] for r in runs)
                        test = statistics.mean(r["test_acc"] for r in runs)
                        scored.append((val, test, s))
                if not scored:
                    row[family] = None
                    continue
                best_val, best_test, best = max(scored, key=lambda x: x[0])
                row[family] = {
                    "students": len(scored),
                    "best_test_acc": best_test,  # the best by validation accuracy, scored on test
                    "best_params": best["params"],
                    "best_macs": best["macs"],
                    "median_test_acc": statistics.median(t for _, t, _ in scored),
                    "median_params": statistics.median(s["params"] for *_, s in scored),
                    "median_macs": statistics.median(s["macs"] for *_, s in scored),
                }
            if row.get("vit") and row.get("cnn"):
                row["best_vit_minus_cnn"] = row["vit"]["best_test_acc"] - row["cnn"]["best_test_acc"]
                row["median_vit_minus_cnn"] = row["vit"]["median_test_acc"] - row["cnn"]["median_test_acc"]
            rows.append(row)
    return rows


def render(data: dict[str, Any]) -> str:
    """The per-bin table of a result file, in Markdown."""
    lines = [
        "| params | recipe | ViT best (params, MACs) | CNN best (params, MACs) | best ViT - CNN | ViT median | "
        "CNN median | median ViT - CNN |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def best(cell: dict | None) -> str:
        if not cell:
            return "-"
        return f"{cell['best_test_acc']:.3f} ({cell['best_params'] / 1e3:.0f}k, {cell['best_macs'] / 1e6:.2f}M)"

    def med(cell: dict | None) -> str:
        return f"{cell['median_test_acc']:.3f}" if cell else "-"

    def diff(x: float | None) -> str:
        return f"{x:+.3f}" if x is not None else "-"

    for r in data["rows"]:
        lines.append(
            f"| {r['bin']} | {r['recipe']} | {best(r['vit'])} | {best(r['cnn'])} | {diff(r.get('best_vit_minus_cnn'))} "
            f"| {med(r['vit'])} | {med(r['cnn'])} | {diff(r.get('median_vit_minus_cnn'))} |"
        )
    return "\n".join(lines)


def run(
    settings: Settings,
    out: Path,
    data_dir: str | None,
    device: str = "cpu",
    on_training: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train every missing (student, recipe, seed) of ``settings``, writing ``out`` after each; the result."""
    task = load_task(settings.task, data_dir)
    students = draw_students(settings, task)
    state = load_state(out, settings)
    state["students"] = students
    outputs: dict[str, TeacherOutputs] = {}
    teacher_acc = {}
    for name in settings.teachers:
        teacher = get_teacher(name, task, config=teacher_config(settings.teacher_epochs))
        outputs[name] = teacher_outputs(teacher, task)
        teacher_acc[name] = outputs[name].test_acc
    config = TrainConfig(epochs=settings.epochs, device=device)
    todo = [
        (s, name, recipe, teacher, seed)
        for seed in range(settings.seeds)  # every student's seed 0 first: an interrupted run is useful sooner
        for s in students
        for name, (recipe, teacher) in recipes(settings).items()
        if training_key(s, name, seed) not in state["trainings"]
    ]
    total = len(students) * len(recipes(settings)) * settings.seeds
    start = time.monotonic()
    for s, name, recipe, teacher, seed in todo:
        genome = Genome.from_json(s["genome"]).with_recipe(recipe)
        result, _ = distil(genome, task, outputs[teacher] if teacher else None, config, seed=seed)
        state["trainings"][training_key(s, name, seed)] = {
            "status": result.status,
            "val_acc": result.val_acc,
            "test_acc": result.test_acc,
            "train_time_s": result.train_time_s,
            "reason": result.reason,
        }
        state.update(
            measured=provenance(),
            task_id=task.id,
            teacher_test_acc=teacher_acc,
            rows=summarise(state, students, settings),
            trainings_done=len(state["trainings"]),
            trainings_total=total,
        )
        write_json(out, state)
        if on_training:
            on_training(len(state["trainings"]), total)
    state.update(
        task_id=task.id,
        teacher_test_acc=teacher_acc,
        rows=summarise(state, students, settings),
        trainings_done=len(state["trainings"]),
        trainings_total=total,
        wall_s_this_run=time.monotonic() - start,
    )
    state.setdefault("measured", provenance())
    write_json(out, state)
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds (digits, one tiny bin)")
    parser.add_argument("--task", help=f"task spec (default {FULL.task})")
    parser.add_argument(
        "--teachers", nargs="*", help=f"zoo teachers to distil from (default {' '.join(FULL.teachers)})"
    )
    parser.add_argument("--per-bin", type=int, help=f"students per family and bin (default {FULL.per_bin})")
    parser.add_argument("--seeds", type=int, help=f"training seeds per student (default {FULL.seeds})")
    parser.add_argument("--epochs", type=int, help=f"epochs per student (default {FULL.epochs})")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(result_path("transformer_vs_cnn")), help="the result JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    base = QUICK if args.quick else FULL
    given = {
        "task": args.task,
        "teachers": tuple(args.teachers) if args.teachers is not None else None,
        "per_bin": args.per_bin,
        "seeds": args.seeds,
        "epochs": args.epochs,
    }
    settings = Settings(**{**base.__dict__, **{k: v for k, v in given.items() if v is not None}})
    start = time.monotonic()

    def progress(done: int, total: int) -> None:
        rate = (time.monotonic() - start) / max(1, done - done_before[0])
        log.info("training %d/%d done; ETA %.0f min", done, total, rate * (total - done) / 60)

    out = Path(args.out)
    done_before = [len(load_state(out, settings)["trainings"])]
    data = run(settings, out, args.data_dir, args.device, progress)
    print(render(data))
    print(f"result: {out}")


if __name__ == "__main__":
    main()

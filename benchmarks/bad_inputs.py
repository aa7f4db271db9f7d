"""Run bad inputs through every `dass` command as a user would, and record what the user sees.

Every case is one command line with one mistake in it: a bad task spec, a bad number, a missing or damaged
file (a truncated checkpoint, a database that is not SQLite, a genome that is not JSON, a truncated search
state), an unknown name (teacher, space, strategy, device), a teacher whose outputs are NaN, an image size
too large for memory, stray labels in an ``.npz``. A case is *clean* when the command exits with 2 and prints
its error on one line without a traceback (argparse's own usage block above that line is counted apart, in
``usage_block``). Each run is bounded by a timeout. The cases run in a scratch folder with their own cache;
the few files they need (a valid genome, a small finished search run to damage, a teacher module) are made
first. Run (about 15 minutes on 2 busy cores):

    .venv/bin/python -m benchmarks.bad_inputs [--only SUBSTRING] [--timeout 120]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch
from torch import nn

from benchmarks.common import ROOT, provenance, result_path, write_json

CHECKPOINT = ROOT / "checkpoints" / "predictor_v1.pt"
META = ROOT / "datasets_meta" / "meta_v1.csv.gz"
TEACHER = ["--teacher", "cnn-s", "--teacher-epochs", "1"]  # trained once in the setup, then read from the cache
GENOME = ["--genome", "genome.json"]
OUT = "OUT"  # replaced by a run directory of the case's own, so that a case wrongly accepted spoils no other
# a tiny search: what every search case adds, so that a case that is wrongly accepted stays cheap (an explicit
# --out after it wins)
TINY = ["--generations", "2", "--population", "8", "--rungs", "1", "--rung-every", "2", "--rung-size", "2"]
TINY += ["--verify", "1", "--max-params", "20000", "--no-best", "--out", OUT]

TEACHERS_PY = '''
"""Teachers a user might write; each misbehaves in one way."""
import torch
from torch import nn


class NaNNet(nn.Module):
    """A network whose outputs are NaN (e.g. weights that diverged)."""

    def __init__(self, classes=10):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, classes))

    def forward(self, x):
        return self.body(x) * float("nan")


def nan_net():
    return NaNNet()


def five_classes():  # a 5-class teacher for a 10-class task
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))


def ten_classes():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def raises():
    raise RuntimeError("cannot build the teacher")


def not_a_module():
    return 42


def wants_an_argument(width):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width))
'''

SUITE_OK = """
name = "bad"
budget = 1
teacher_epochs = 1
students_per_pair = 2
recipes_per_student = 1
replicate_fraction = 0.0

[[groups]]
source = "digits"
classes = ["0-4"]
teachers = ["cnn-s"]
teachers_per_task = 1
"""


# inputs that look wrong but that a command rightly accepts: the reason is shown beside them in the table
ACCEPTED = {
    "genome: out in a missing directory": "the directory is created, as for every output file",
    "pretrain: out in a missing dir": "the directory is created with the checkpoint, after the fit",
    "collect: data dir missing": "the suite's digits need no data directory",
    "train: genome without recipe": "a genome without a recipe has the default recipe",
    "tasks: generated source, size 2": "size >= 1 is the documented range",
    "search: resume with corrupt state.json": "it resumes from the previous state checkpoint, with a warning",
    "search: max-params inf": "an infinite budget is no limit, as when --max-params is left out",
    "tasks: val_fraction 0": "showing a task without validation images is harmless; train and search refuse it",
}


@dataclass(frozen=True)
class Case:
    """One bad input: a name, the command line after ``dass``, and optional extra environment."""

    name: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def case(name: str, *args: str, env: dict[str, str] | None = None) -> Case:
    return Case(name, tuple(args), tuple((env or {}).items()))


# ---------------------------------------------------------------- the files the cases need


def write_files(work: Path, dass: list[str], env: dict[str, str]) -> None:
    """Valid inputs to damage, and damaged ones; a finished tiny search run and its damaged copies."""
    ok = subprocess.run([*dass, "genome", "--seed", "1", "--out", "genome.json"], cwd=work, env=env)
    assert ok.returncode == 0, "dass genome failed"
    genome = json.loads((work / "genome.json").read_text())

    def genome_with(name: str, change) -> None:
        g = json.loads(json.dumps(genome))
        change(g)
        (work / name).write_text(json.dumps(g))

    genome_with("g_width7.json", lambda g: g["stages"][0].update(width=7))
    genome_with("g_block.json", lambda g: g["stages"][0].update(block="transformer"))
    genome_with("g_depth0.json", lambda g: g["stages"][0].update(depth=0))
    genome_with("g_kernel4.json", lambda g: g["stages"][0].update(kernel=4))
    genome_with("g_loss.json", lambda g: g["recipe"].update(logit_loss="wasserstein"))
    genome_with("g_temp.json", lambda g: g["recipe"].update(temperature=-1.0))
    genome_with("g_weight_nan.json", lambda g: g["recipe"].update(kd_weight=float("nan")))
    genome_with("g_space.json", lambda g: g.update(space="nosuch"))
    genome_with("g_no_recipe.json", lambda g: g.pop("recipe"))
    genome_with("g_no_stages.json", lambda g: g.update(stages=[]))
    genome_with("g_extra.json", lambda g: g.update(colour="red"))
    genome_with("g_width_str.json", lambda g: g["stages"][0].update(width="wide"))
    (work / "g_corrupt.json").write_text(json.dumps(genome)[:40])
    (work / "g_empty.json").write_text("")
    (work / "g_list.json").write_text("[]")
    (work / "text.txt").write_text("hello, not what you think\n")
    (work / "a_dir").mkdir()
    ckpt = CHECKPOINT.read_bytes()
    (work / "ckpt_truncated.pt").write_bytes(ckpt[: len(ckpt) // 3])
    (work / "ckpt_empty.pt").write_bytes(b"")
    torch.save({"weight": torch.zeros(3)}, work / "state_dict.pt")
    (work / "not_sqlite.db").write_text("this is not a database\n" * 100)
    with sqlite3.connect(work / "other_schema.db") as db:  # SQLite, but not a record store
        db.execute("CREATE TABLE people (name TEXT)")
    db_bytes = (work / "other_schema.db").read_bytes()
    (work / "sqlite_truncated.db").write_bytes(db_bytes[:100])
    # suites
    (work / "suite.toml").write_text(SUITE_OK)
    (work / "suite_not_toml.toml").write_text("name = [unclosed\n")
    (work / "suite_no_groups.toml").write_text('name = "x"\nbudget = 1\n')
    (work / "suite_source.toml").write_text(SUITE_OK.replace('"digits"', '"nosuch"'))
    (work / "suite_teacher.toml").write_text(SUITE_OK.replace('"cnn-s"', '"gpt-9"'))
    (work / "suite_budget0.toml").write_text(SUITE_OK.replace("budget = 1", "budget = 0"))
    (work / "suite_students.toml").write_text(SUITE_OK.replace("students_per_pair = 2", "students_per_pair = -1"))
    (work / "suite_key.toml").write_text(SUITE_OK.replace("budget = 1", "budget = 1\nbudgett = 2"))
    (work / "suite_classes.toml").write_text(SUITE_OK.replace('["0-4"]', '["0-40"]'))
    (work / "suite_replicate.toml").write_text(SUITE_OK.replace("replicate_fraction = 0.0", "replicate_fraction = 2"))
    # meta-dataset exports
    with gzip.open(work / "empty.csv.gz", "wt") as f:
        f.write("")
    with gzip.open(work / "columns.csv.gz", "wt") as f:
        f.write("a,b,c\n1,2,3\n")
    (work / "truncated.csv.gz").write_bytes(META.read_bytes()[:5000])
    with gzip.open(META, "rt") as f:
        header = f.readline()
        rows = [f.readline() for _ in range(40)]
    with gzip.open(work / "few.csv.gz", "wt") as f:  # too few records for a split by task
        f.write(header + "".join(rows))
    # npz datasets (8x8 images, 10 classes)
    rng = np.random.default_rng(0)
    x = rng.random((200, 8, 8), dtype=np.float32)
    y = np.repeat(np.arange(10), 20)
    good = {"x_train": x, "y_train": y, "x_test": x[:50], "y_test": y[:50]}
    np.savez(work / "good.npz", **good)
    np.savez(work / "stray.npz", **{**good, "y_train": np.where(np.arange(200) == 7, 15, y)})
    np.savez(work / "negative.npz", **{**good, "y_train": np.where(np.arange(200) == 7, -1, y)})
    np.savez(work / "float_labels.npz", **{**good, "y_train": y + 0.5})
    np.savez(work / "missing_key.npz", x_train=x, y_train=y, x_test=x[:50])
    np.savez(work / "lengths.npz", **{**good, "y_train": y[:150]})
    np.savez(work / "nan_pixels.npz", **{**good, "x_train": np.where(x > 0.99, np.nan, x)})
    np.savez(work / "flat.npz", **{**good, "x_train": x.reshape(-1)})
    np.savez(work / "one_class.npz", **{**good, "y_train": np.zeros(200, int), "y_test": np.zeros(50, int)})
    np.savez(work / "empty_train.npz", **{**good, "x_train": x[:0], "y_train": y[:0]})
    (work / "truncated.npz").write_bytes((work / "good.npz").read_bytes()[:500])
    # image folders
    from PIL import Image

    (work / "folder_empty").mkdir()
    (work / "folder_one_class" / "cat").mkdir(parents=True)
    for i in range(5):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(
            work / "folder_one_class" / "cat" / f"{i}.png"
        )
    (work / "folder_broken" / "a").mkdir(parents=True)
    (work / "folder_broken" / "b").mkdir(parents=True)
    for cls in ("a", "b"):
        (work / "folder_broken" / cls / "0.png").write_bytes(b"not a png")
    # teachers
    (work / "bad_teachers.py").write_text(TEACHERS_PY)
    spec = importlib.util.spec_from_file_location("bad_teachers", work / "bad_teachers.py")
    bad_teachers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bad_teachers)
    torch.save(bad_teachers.nan_net().state_dict(), work / "nan_weights.pt")
    torch.save(bad_teachers.five_classes().state_dict(), work / "five_weights.pt")
    torch.save(bad_teachers.five_classes().state_dict(), work / "wrong_shape_weights.pt")  # for ten_classes
    torch.jit.save(torch.jit.script(bad_teachers.nan_net()), work / "nan_teacher.ts")
    torch.jit.save(torch.jit.script(bad_teachers.five_classes()), work / "five_teacher.ts")
    ts = (work / "five_teacher.ts").read_bytes()
    (work / "truncated_teacher.ts").write_bytes(ts[: len(ts) // 2])
    torch.save(nn.Linear(64, 10), work / "pickled_module.pt")  # a whole pickled module, not TorchScript
    # a finished tiny search run, and damaged copies of it for --resume
    run = ["search", "--task", "digits", *TEACHER, *TINY, "--seed", "1", "--out", "run_ok"]
    done = subprocess.run([*dass, *run], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"the tiny search of the setup failed: {done.stderr[-2000:]}"
    # the same run stopped after its first generation (an interrupted run to resume)
    for name in ("run_config", "run_config_value", "run_state_json", "run_state_npz", "run_records", "run_no_db"):
        shutil.copytree(work / "run_ok", work / name)
    (work / "run_config" / "config.json").write_text('{"task": "digits", "teach')
    config = json.loads((work / "run_ok" / "config.json").read_text())
    (work / "run_config_value" / "config.json").write_text(json.dumps({**config, "population": -3}))
    (work / "run_state_json" / "state.json").write_text("{not json")
    for npz in (work / "run_state_npz").glob("state-*.npz"):
        npz.write_bytes(npz.read_bytes()[:100])
    (work / "run_records" / "records.db").write_text("this is not a database\n" * 100)
    (work / "run_no_db" / "records.db").unlink()
    (work / "run_empty").mkdir()
    # a record store to export from
    done = subprocess.run([*dass, "collect", "--db", "store.db", "--import", "few.csv.gz"], cwd=work, env=env)
    assert done.returncode == 0, "importing few.csv.gz into a new store failed"


# ---------------------------------------------------------------- the cases


def cases() -> list[Case]:
    c: list[Case] = [
        # ---- the dispatcher
        case("no command"),
        case("unknown command", "serach"),
        case("unknown global flag", "--colour"),
        case("flag of another command", "tasks", "--db", "x.db"),
        # ---- tasks: bad task specs
        case("tasks: no spec after --show", "tasks", "--show"),
        case("tasks: empty spec", "tasks", "--show", ""),
        case("tasks: unknown source", "tasks", "--show", "imagenet"),
        case("tasks: source misspelt", "tasks", "--show", "digit"),
        case("tasks: classes out of range", "tasks", "--show", "digits:classes=0-99"),
        case("tasks: classes reversed", "tasks", "--show", "digits:classes=5-2"),
        case("tasks: classes not numbers", "tasks", "--show", "digits:classes=a-b"),
        case("tasks: one class", "tasks", "--show", "digits:classes=3"),
        case("tasks: repeated class", "tasks", "--show", "digits:classes=1,1"),
        case("tasks: size 0", "tasks", "--show", "digits:size=0"),
        case("tasks: size negative", "tasks", "--show", "digits:size=-8"),
        case("tasks: size not a number", "tasks", "--show", "digits:size=big"),
        case("tasks: size 1000 (16 GB)", "tasks", "--show", "digits:size=1000"),
        case("tasks: size 100000", "tasks", "--show", "digits:size=100000"),
        case("tasks: size 1.5", "tasks", "--show", "digits:size=1.5"),
        case("tasks: n_train 0", "tasks", "--show", "digits:n_train=0"),
        case("tasks: n_train negative", "tasks", "--show", "digits:n_train=-5"),
        case("tasks: n_train not a number", "tasks", "--show", "digits:n_train=many"),
        case("tasks: n_train above the data", "tasks", "--show", "digits:n_train=999999"),
        case("tasks: n_test above the data", "tasks", "--show", "digits:n_test=999999"),
        case("tasks: n_val 0", "tasks", "--show", "digits:n_val=0"),
        case("tasks: val_fraction 1.5", "tasks", "--show", "digits:val_fraction=1.5"),
        case("tasks: val_fraction 0", "tasks", "--show", "digits:val_fraction=0"),
        case("tasks: val_fraction that rounds to no image", "tasks", "--show", "digits:val_fraction=0.0001"),
        case("tasks: val_fraction nan", "tasks", "--show", "digits:val_fraction=nan"),
        case("tasks: n_val and val_fraction", "tasks", "--show", "digits:n_val=100:val_fraction=0.1"),
        case("tasks: unknown transform", "tasks", "--show", "digits:transform=sharpen"),
        case("tasks: transform value not a number", "tasks", "--show", "digits:transform=rotateabc"),
        case("tasks: noise negative", "tasks", "--show", "digits:transform=noise-1"),
        case("tasks: blur negative", "tasks", "--show", "digits:transform=blur-2"),
        case("tasks: downsample 0", "tasks", "--show", "digits:transform=downsample0"),
        case("tasks: seed negative", "tasks", "--show", "digits:seed=-1"),
        case("tasks: seed not a number", "tasks", "--show", "digits:seed=x"),
        case("tasks: bad norm", "tasks", "--show", "digits:norm=zscore"),
        case("tasks: norm with zero std", "tasks", "--show", "digits:norm=0.5/0"),
        case("tasks: norm nan", "tasks", "--show", "digits:norm=nan/1"),
        case("tasks: unknown option", "tasks", "--show", "digits:colour=red"),
        case("tasks: option without value", "tasks", "--show", "digits:size"),
        case("tasks: empty option", "tasks", "--show", "digits::size=8"),
        case("tasks: option twice", "tasks", "--show", "digits:size=8:size=16"),
        case("tasks: path on digits", "tasks", "--show", "digits:path=x.npz"),
        case("tasks: mnist, missing data dir", "tasks", "--show", "mnist", "--data-dir", "no_such_dir"),
        case("tasks: mnist, data dir without mnist", "tasks", "--show", "mnist", "--data-dir", "a_dir"),
        case("tasks: mnist, data dir is a file", "tasks", "--show", "mnist", "--data-dir", "text.txt"),
        case("tasks: cifar10 without torchvision", "tasks", "--show", "cifar10"),
        case("tasks: npz without path", "tasks", "--show", "npz"),
        case("tasks: npz missing file", "tasks", "--show", "npz:path=missing.npz"),
        case("tasks: npz is a text file", "tasks", "--show", "npz:path=text.txt"),
        case("tasks: npz truncated", "tasks", "--show", "npz:path=truncated.npz"),
        case("tasks: npz missing a key", "tasks", "--show", "npz:path=missing_key.npz"),
        case("tasks: npz stray label 15", "tasks", "--show", "npz:path=stray.npz"),
        case("tasks: npz negative label", "tasks", "--show", "npz:path=negative.npz"),
        case("tasks: npz float labels", "tasks", "--show", "npz:path=float_labels.npz"),
        case("tasks: npz x and y lengths differ", "tasks", "--show", "npz:path=lengths.npz"),
        case("tasks: npz NaN pixels", "tasks", "--show", "npz:path=nan_pixels.npz"),
        case("tasks: npz flat images", "tasks", "--show", "npz:path=flat.npz"),
        case("tasks: npz one class", "tasks", "--show", "npz:path=one_class.npz"),
        case("tasks: npz empty training set", "tasks", "--show", "npz:path=empty_train.npz"),
        case("tasks: npz is a directory", "tasks", "--show", "npz:path=a_dir"),
        case("tasks: folder without path", "tasks", "--show", "folder"),
        case("tasks: folder missing", "tasks", "--show", "folder:path=no_such_dir"),
        case("tasks: folder empty", "tasks", "--show", "folder:path=folder_empty"),
        case("tasks: folder with one class", "tasks", "--show", "folder:path=folder_one_class"),
        case("tasks: folder of broken images", "tasks", "--show", "folder:path=folder_broken"),
        case("tasks: folder is a file", "tasks", "--show", "folder:path=text.txt"),
        case("tasks: generated source, classes out of range", "tasks", "--show", "shapes:classes=0-99"),
        case("tasks: generated source, size 2", "tasks", "--show", "glyphs:size=2"),
        case("tasks: generated source, size 1000", "tasks", "--show", "textures:size=1000"),
        case("tasks: generated source, n_train 1", "tasks", "--show", "fractals:n_train=1"),
        # ---- teachers, genome
        case("teachers: stray argument", "teachers", "cnn-s"),
        case("teachers: unknown flag", "teachers", "--family", "cnn"),
        case("genome: unknown space", "genome", "--space", "transformer"),
        case("genome: empty space", "genome", "--space", ""),
        case("genome: seed negative", "genome", "--seed", "-1"),
        case("genome: seed not a number", "genome", "--seed", "one"),
        case("genome: out in a missing directory", "genome", "--out", "no_such_dir/g.json"),
        case("genome: out is a directory", "genome", "--out", "a_dir"),
        # ---- train
        case("train: no --task", "train", *TEACHER, *GENOME, "--out", "t"),
        case("train: no --teacher", "train", "--task", "digits", *GENOME, "--out", "t"),
        case(
            "train: no validation images", "train", "--task", "digits:val_fraction=0", *TEACHER, *GENOME, "--out", "t"
        ),
        case("train: bad task spec", "train", "--task", "digits:classes=0-99", *TEACHER, *GENOME, "--out", "t"),
        case("train: size too large", "train", "--task", "digits:size=5000", *TEACHER, *GENOME, "--out", "t"),
        case("train: genome missing", "train", "--task", "digits", *TEACHER, "--genome", "no.json", "--out", "t"),
        case("train: genome not JSON", "train", "--task", "digits", *TEACHER, "--genome", "g_corrupt.json"),
        case("train: genome empty file", "train", "--task", "digits", *TEACHER, "--genome", "g_empty.json"),
        case("train: genome a JSON list", "train", "--task", "digits", *TEACHER, "--genome", "g_list.json"),
        case("train: genome is a directory", "train", "--task", "digits", *TEACHER, "--genome", "a_dir"),
        case("train: genome width 7", "train", "--task", "digits", *TEACHER, "--genome", "g_width7.json"),
        case("train: genome unknown block", "train", "--task", "digits", *TEACHER, "--genome", "g_block.json"),
        case("train: genome depth 0", "train", "--task", "digits", *TEACHER, "--genome", "g_depth0.json"),
        case("train: genome kernel 4", "train", "--task", "digits", *TEACHER, "--genome", "g_kernel4.json"),
        case("train: genome unknown loss", "train", "--task", "digits", *TEACHER, "--genome", "g_loss.json"),
        case("train: genome temperature -1", "train", "--task", "digits", *TEACHER, "--genome", "g_temp.json"),
        case("train: genome weight NaN", "train", "--task", "digits", *TEACHER, "--genome", "g_weight_nan.json"),
        case("train: genome unknown space", "train", "--task", "digits", *TEACHER, "--genome", "g_space.json"),
        case(
            "train: genome without recipe",
            *("train", "--task", "digits", *TEACHER, "--genome", "g_no_recipe.json", "--epochs", "1"),
        ),
        case("train: genome without stages", "train", "--task", "digits", *TEACHER, "--genome", "g_no_stages.json"),
        case("train: genome unknown field", "train", "--task", "digits", *TEACHER, "--genome", "g_extra.json"),
        case("train: genome width a word", "train", "--task", "digits", *TEACHER, "--genome", "g_width_str.json"),
        case("train: unknown teacher", "train", "--task", "digits", "--teacher", "gpt-9", *GENOME),
        case("train: teacher file missing", "train", "--task", "digits", "--teacher", "teacher.pt", *GENOME),
        case("train: teacher a text file", "train", "--task", "digits", "--teacher", "text.txt", *GENOME),
        case("train: teacher truncated", "train", "--task", "digits", "--teacher", "truncated_teacher.ts", *GENOME),
        case("train: teacher pickled module", "train", "--task", "digits", "--teacher", "pickled_module.pt", *GENOME),
        case("train: teacher TorchScript NaN", "train", "--task", "digits", "--teacher", "nan_teacher.ts", *GENOME),
        case("train: teacher 5 classes on 10", "train", "--task", "digits", "--teacher", "five_teacher.ts", *GENOME),
        case("train: teacher module missing", "train", "--task", "digits", "--teacher", "no_module:build", *GENOME),
        case("train: teacher callable missing", "train", "--task", "digits", "--teacher", "bad_teachers:nope", *GENOME),
        case(
            "train: teacher callable raises", "train", "--task", "digits", "--teacher", "bad_teachers:raises", *GENOME
        ),
        case(
            "train: teacher callable not a module",
            *("train", "--task", "digits", "--teacher", "bad_teachers:not_a_module", *GENOME),
        ),
        case(
            "train: teacher callable needs an argument",
            *("train", "--task", "digits", "--teacher", "bad_teachers:wants_an_argument", *GENOME),
        ),
        case(
            "train: NaN teacher",
            *("train", "--task", "digits", "--teacher", "bad_teachers:nan_net"),
            *("--teacher-weights", "nan_weights.pt", *GENOME, "--out", "t_nan"),
        ),
        case(
            "train: teacher weights missing",
            *("train", "--task", "digits", "--teacher", "bad_teachers:ten_classes"),
            *("--teacher-weights", "no_weights.pt", *GENOME),
        ),
        case(
            "train: teacher weights a text file",
            *("train", "--task", "digits", "--teacher", "bad_teachers:ten_classes"),
            *("--teacher-weights", "text.txt", *GENOME),
        ),
        case(
            "train: teacher weights of another shape",
            *("train", "--task", "digits", "--teacher", "bad_teachers:ten_classes"),
            *("--teacher-weights", "wrong_shape_weights.pt", *GENOME),
        ),
        case(
            "train: teacher weights truncated",
            *("train", "--task", "digits", "--teacher", "cnn-s", "--teacher-weights", "ckpt_truncated.pt", *GENOME),
        ),
        case("train: epochs 0", "train", "--task", "digits", *TEACHER, *GENOME, "--epochs", "0"),
        case("train: epochs negative", "train", "--task", "digits", *TEACHER, *GENOME, "--epochs", "-2"),
        case("train: epochs 1.5", "train", "--task", "digits", *TEACHER, *GENOME, "--epochs", "1.5"),
        case("train: epochs a word", "train", "--task", "digits", *TEACHER, *GENOME, "--epochs", "ten"),
        case("train: seed negative", "train", "--task", "digits", *TEACHER, *GENOME, "--seed", "-1"),
        case("train: teacher-epochs 0", "train", "--task", "digits", "--teacher", "cnn-s", "--teacher-epochs", "0"),
        case("train: device mps", "train", "--task", "digits", *TEACHER, *GENOME, "--device", "mps"),
        case("train: device cuda (none here)", "train", "--task", "digits", *TEACHER, *GENOME, "--device", "cuda"),
        case("train: device cuda:7", "train", "--task", "digits", *TEACHER, *GENOME, "--device", "cuda:7"),
        case("train: device tpu", "train", "--task", "digits", *TEACHER, *GENOME, "--device", "tpu"),
        case("train: out is a file", "train", "--task", "digits", *TEACHER, *GENOME, "--out", "text.txt"),
        case("train: cache dir is a file", "train", "--task", "digits", *TEACHER, *GENOME, "--cache-dir", "text.txt"),
        case("train: mnist without data", "train", "--task", "mnist", *TEACHER, *GENOME, "--data-dir", "a_dir"),
        case("train: npz stray label", "train", "--task", "npz:path=stray.npz", *TEACHER, *GENOME),
        # ---- predict
        case("predict: no --genome", "predict", "--task", "digits", *TEACHER),
        case("predict: genome missing", "predict", "--task", "digits", *TEACHER, "--genome", "no.json"),
        case("predict: genome not JSON", "predict", "--task", "digits", *TEACHER, "--genome", "g_corrupt.json"),
        case("predict: one good, one bad", "predict", "--task", "digits", *TEACHER, *GENOME, "g_width7.json"),
        case("predict: budget 0", "predict", "--task", "digits", *TEACHER, *GENOME, "--budget", "0"),
        case("predict: budget a word", "predict", "--task", "digits", *TEACHER, *GENOME, "--budget", "long"),
        case("predict: checkpoint missing", "predict", "--task", "digits", *TEACHER, *GENOME, "--checkpoint", "no.pt"),
        case(
            "predict: checkpoint truncated",
            *("predict", "--task", "digits", *TEACHER, *GENOME, "--checkpoint", "ckpt_truncated.pt"),
        ),
        case(
            "predict: checkpoint empty",
            "predict",
            "--task",
            "digits",
            *TEACHER,
            *GENOME,
            "--checkpoint",
            "ckpt_empty.pt",
        ),
        case(
            "predict: checkpoint a text file",
            *("predict", "--task", "digits", *TEACHER, *GENOME, "--checkpoint", "text.txt"),
        ),
        case(
            "predict: checkpoint a state dict",
            *("predict", "--task", "digits", *TEACHER, *GENOME, "--checkpoint", "state_dict.pt"),
        ),
        case(
            "predict: checkpoint a directory", "predict", "--task", "digits", *TEACHER, *GENOME, "--checkpoint", "a_dir"
        ),
        case("predict: unknown teacher", "predict", "--task", "digits", "--teacher", "gpt-9", *GENOME),
        case("predict: bad task", "predict", "--task", "digits:size=-1", *TEACHER, *GENOME),
        case(
            "predict: NaN teacher",
            *("predict", "--task", "digits", "--teacher", "bad_teachers:nan_net"),
            *("--teacher-weights", "nan_weights.pt", *GENOME),
        ),
        case(
            "predict: $DASS_CHECKPOINT missing",
            *("predict", "--task", "digits", *TEACHER, *GENOME),
            env={"DASS_CHECKPOINT": "no_such.pt"},
        ),
        # ---- collect
        case("collect: no --db", "collect", "--suite", "suite.toml"),
        case("collect: db in a missing directory", "collect", "--suite", "suite.toml", "--db", "no_dir/m.db"),
        case("collect: db not SQLite", "collect", "--suite", "suite.toml", "--db", "not_sqlite.db"),
        case("collect: db SQLite of another schema", "collect", "--suite", "suite.toml", "--db", "other_schema.db"),
        case("collect: db truncated", "collect", "--suite", "suite.toml", "--db", "sqlite_truncated.db"),
        case("collect: db is a directory", "collect", "--suite", "suite.toml", "--db", "a_dir"),
        case("collect: suite missing", "collect", "--suite", "no_suite.toml", "--db", "c1.db"),
        case("collect: suite not TOML", "collect", "--suite", "suite_not_toml.toml", "--db", "c2.db"),
        case("collect: suite without groups", "collect", "--suite", "suite_no_groups.toml", "--db", "c3.db"),
        case("collect: suite unknown source", "collect", "--suite", "suite_source.toml", "--db", "c4.db"),
        case("collect: suite unknown teacher", "collect", "--suite", "suite_teacher.toml", "--db", "c5.db"),
        case("collect: suite budget 0", "collect", "--suite", "suite_budget0.toml", "--db", "c6.db"),
        case("collect: suite students -1", "collect", "--suite", "suite_students.toml", "--db", "c7.db"),
        case("collect: suite unknown key", "collect", "--suite", "suite_key.toml", "--db", "c8.db"),
        case("collect: suite classes out of range", "collect", "--suite", "suite_classes.toml", "--db", "c9.db"),
        case("collect: suite replicate 2", "collect", "--suite", "suite_replicate.toml", "--db", "c10.db"),
        case("collect: suite is a directory", "collect", "--suite", "a_dir", "--db", "c11.db"),
        case("collect: workers 0", "collect", "--suite", "suite.toml", "--db", "c12.db", "--workers", "0"),
        case("collect: workers a word", "collect", "--suite", "suite.toml", "--db", "c13.db", "--workers", "two"),
        case("collect: max-jobs 0", "collect", "--suite", "suite.toml", "--db", "c14.db", "--max-jobs", "0"),
        case("collect: ray address bogus", "collect", "--suite", "suite.toml", "--db", "c15.db", "--ray-address", "x"),
        case(
            "collect: ray address unreachable",
            *("collect", "--suite", "suite.toml", "--db", "c16.db", "--ray-address", "127.0.0.1:1"),
        ),
        case(
            "collect: ray address, port a word",
            *("collect", "--suite", "suite.toml", "--db", "c17.db", "--ray-address", "localhost:port"),
        ),
        case("collect: export to a missing dir", "collect", "--db", "store.db", "--export", "no_dir/x.csv.gz"),
        case("collect: export .txt", "collect", "--db", "store.db", "--export", "x.txt"),
        case("collect: export onto a directory", "collect", "--db", "store.db", "--export", "a_dir"),
        case("collect: import missing", "collect", "--db", "c20.db", "--import", "no.csv.gz"),
        case("collect: import not a CSV", "collect", "--db", "c21.db", "--import", "text.txt"),
        case("collect: import wrong columns", "collect", "--db", "c22.db", "--import", "columns.csv.gz"),
        case("collect: import truncated gzip", "collect", "--db", "c23.db", "--import", "truncated.csv.gz"),
        case("collect: status of a missing db", "collect", "--db", "no_such.db", "--status"),
        case("collect: status of a non-SQLite db", "collect", "--db", "not_sqlite.db", "--status"),
        case("collect: nothing to do (no suite, new db)", "collect", "--db", "c24.db"),
        case("collect: data dir missing", "collect", "--suite", "suite.toml", "--db", "c25.db", "--data-dir", "nodir"),
        # ---- pretrain
        case("pretrain: no --data", "pretrain", "--out", "p.pt"),
        case("pretrain: data missing", "pretrain", "--data", "no.csv.gz", "--out", "p.pt"),
        case("pretrain: data a text file", "pretrain", "--data", "text.txt", "--out", "p.pt"),
        case("pretrain: data empty", "pretrain", "--data", "empty.csv.gz", "--out", "p.pt"),
        case("pretrain: data wrong columns", "pretrain", "--data", "columns.csv.gz", "--out", "p.pt"),
        case("pretrain: data truncated gzip", "pretrain", "--data", "truncated.csv.gz", "--out", "p.pt"),
        case("pretrain: data too few records", "pretrain", "--data", "few.csv.gz", "--out", "p.pt"),
        case("pretrain: data a SQLite db", "pretrain", "--data", "other_schema.db", "--out", "p.pt"),
        case("pretrain: out in a missing dir", "pretrain", "--data", str(META), "--out", "no_dir/p.pt"),
        case("pretrain: out is a directory", "pretrain", "--data", str(META), "--out", "a_dir"),
        case("pretrain: epochs 0", "pretrain", "--data", str(META), "--out", "p.pt", "--epochs", "0"),
        case("pretrain: epochs list with a word", "pretrain", "--data", str(META), "--out", "p.pt", "--epochs", "5,x"),
        case("pretrain: rank weight -1", "pretrain", "--data", str(META), "--out", "p.pt", "--rank-weight", "-1"),
        case("pretrain: models 0", "pretrain", "--data", str(META), "--out", "p.pt", "--models", "0"),
        case("pretrain: hidden 0", "pretrain", "--data", str(META), "--out", "p.pt", "--hidden", "0"),
        case("pretrain: task noise -1", "pretrain", "--data", str(META), "--out", "p.pt", "--task-noise", "-1"),
        case("pretrain: task noise nan", "pretrain", "--data", str(META), "--out", "p.pt", "--task-noise", "nan"),
        case("pretrain: label seeds 0", "pretrain", "--data", str(META), "--out", "p.pt", "--label-seeds", "0"),
        case("pretrain: seed negative", "pretrain", "--data", str(META), "--out", "p.pt", "--seed", "-3"),
        # ---- evaluate
        case("evaluate: data missing", "evaluate", "--data", "no.csv.gz", "--out", "e"),
        case("evaluate: data a text file", "evaluate", "--data", "text.txt", "--out", "e"),
        case("evaluate: data wrong columns", "evaluate", "--data", "columns.csv.gz", "--out", "e"),
        case("evaluate: data truncated gzip", "evaluate", "--data", "truncated.csv.gz", "--out", "e"),
        case("evaluate: data too few records", "evaluate", "--data", "few.csv.gz", "--out", "e"),
        case("evaluate: checkpoint truncated", "evaluate", "--data", str(META), "--checkpoint", "ckpt_truncated.pt"),
        case("evaluate: checkpoint a state dict", "evaluate", "--data", str(META), "--checkpoint", "state_dict.pt"),
        case("evaluate: adapt negative", "evaluate", "--data", str(META), "--adapt", "-1", "--out", "e"),
        case("evaluate: unknown split", "evaluate", "--data", str(META), "--split", "train", "--out", "e"),
        case("evaluate: label seeds 0", "evaluate", "--data", str(META), "--label-seeds", "0", "--out", "e"),
        case("evaluate: out is a file", "evaluate", "--data", str(META), "--out", "text.txt"),
        # ---- search
        case("search: no --task", "search", *TEACHER, *TINY, "--out", "s"),
        case("search: no --teacher", "search", "--task", "digits", *TINY, "--out", "s"),
        case("search: bad task", "search", "--task", "digits:classes=9-0", *TEACHER, *TINY, "--out", "s"),
        case("search: size too large", "search", "--task", "digits:size=4096", *TEACHER, *TINY, "--out", "s"),
        case("search: npz stray label", "search", "--task", "npz:path=stray.npz", *TEACHER, *TINY, "--out", "s"),
        case("search: unknown teacher", "search", "--task", "digits", "--teacher", "gpt-9", *TINY, "--out", "s"),
        case(
            "search: NaN teacher",
            *("search", "--task", "digits", "--teacher", "bad_teachers:nan_net"),
            *("--teacher-weights", "nan_weights.pt", *TINY, "--out", "s"),
        ),
        case("search: teacher 5 classes", "search", "--task", "digits", "--teacher", "five_teacher.ts", *TINY),
        case("search: unknown space", "search", "--task", "digits", *TEACHER, *TINY, "--space", "vit"),
        case("search: unknown objective", "search", "--task", "digits", *TEACHER, *TINY, "--objective", "energy"),
        case("search: unknown strategy", "search", "--task", "digits", *TEACHER, *TINY, "--strategy", "bayes"),
        case("search: unknown executor", "search", "--task", "digits", *TEACHER, *TINY, "--executor", "slurm"),
        case(
            "search: ray executor without address", "search", "--task", "digits", *TEACHER, *TINY, "--executor", "ray"
        ),
        case("search: max-params 0", "search", "--task", "digits", *TEACHER, *TINY, "--max-params", "0"),
        case("search: max-params negative", "search", "--task", "digits", *TEACHER, *TINY, "--max-params", "-5"),
        case("search: max-params a word", "search", "--task", "digits", *TEACHER, *TINY, "--max-params", "small"),
        case("search: max-params nan", "search", "--task", "digits", *TEACHER, *TINY, "--max-params", "nan"),
        case("search: max-params inf", "search", "--task", "digits", *TEACHER, *TINY, "--max-params", "inf"),
        case(
            "search: max-params 10 (nothing fits)", "search", "--task", "digits", *TEACHER, *TINY, "--max-params", "10"
        ),
        case("search: max-flops 0", "search", "--task", "digits", *TEACHER, *TINY, "--max-flops", "0"),
        case("search: max-latency negative", "search", "--task", "digits", *TEACHER, *TINY, "--max-latency", "-1"),
        case("search: generations 0", "search", "--task", "digits", *TEACHER, *TINY, "--generations", "0"),
        case("search: population 0", "search", "--task", "digits", *TEACHER, *TINY, "--population", "0"),
        case("search: population 1", "search", "--task", "digits", *TEACHER, *TINY, "--population", "1"),
        case("search: rungs empty", "search", "--task", "digits", *TEACHER, *TINY, "--rungs", ""),
        case("search: rungs 0", "search", "--task", "digits", *TEACHER, *TINY, "--rungs", "0"),
        case("search: rungs decreasing", "search", "--task", "digits", *TEACHER, *TINY, "--rungs", "3,1"),
        case("search: rungs a word", "search", "--task", "digits", *TEACHER, *TINY, "--rungs", "1,two"),
        case("search: rung-every 0", "search", "--task", "digits", *TEACHER, *TINY, "--rung-every", "0"),
        case("search: rung-size 0", "search", "--task", "digits", *TEACHER, *TINY, "--rung-size", "0"),
        case("search: eta 1", "search", "--task", "digits", *TEACHER, *TINY, "--eta", "1"),
        case("search: eta 0", "search", "--task", "digits", *TEACHER, *TINY, "--eta", "0"),
        case("search: verify negative", "search", "--task", "digits", *TEACHER, *TINY, "--verify", "-1"),
        case("search: max-trainings 0", "search", "--task", "digits", *TEACHER, *TINY, "--max-trainings", "0"),
        case("search: max-trainings 0.5", "search", "--task", "digits", *TEACHER, *TINY, "--max-trainings", "0.5"),
        case("search: max-trainings negative", "search", "--task", "digits", *TEACHER, *TINY, "--max-trainings", "-1"),
        case("search: max-trainings nan", "search", "--task", "digits", *TEACHER, *TINY, "--max-trainings", "nan"),
        case("search: accuracy-share 1.5", "search", "--task", "digits", *TEACHER, *TINY, "--accuracy-share", "1.5"),
        case("search: accuracy-share -0.1", "search", "--task", "digits", *TEACHER, *TINY, "--accuracy-share", "-0.1"),
        case("search: workers 0", "search", "--task", "digits", *TEACHER, *TINY, "--workers", "0"),
        case("search: device mps", "search", "--task", "digits", *TEACHER, *TINY, "--device", "mps"),
        case("search: device cuda (none here)", "search", "--task", "digits", *TEACHER, *TINY, "--device", "cuda"),
        case("search: seed negative", "search", "--task", "digits", *TEACHER, *TINY, "--seed", "-1"),
        case("search: teacher-epochs 0", "search", "--task", "digits", "--teacher", "cnn-s", "--teacher-epochs", "0"),
        case("search: checkpoint missing", "search", "--task", "digits", *TEACHER, *TINY, "--checkpoint", "no.pt"),
        case(
            "search: checkpoint truncated",
            *("search", "--task", "digits", *TEACHER, *TINY, "--checkpoint", "ckpt_truncated.pt"),
        ),
        case("search: out is a file", "search", "--task", "digits", *TEACHER, *TINY, "--out", "text.txt"),
        case("search: out holds a run", "search", "--task", "digits", *TEACHER, *TINY, "--out", "run_ok"),
        case("search: cache dir is a file", "search", "--task", "digits", *TEACHER, *TINY, "--cache-dir", "text.txt"),
        case("search: resume a missing dir", "search", "--resume", "no_such_run"),
        case("search: resume an empty dir", "search", "--resume", "run_empty"),
        case("search: resume a file", "search", "--resume", "text.txt"),
        case("search: resume with corrupt config.json", "search", "--resume", "run_config"),
        case("search: resume with a bad value in config.json", "search", "--resume", "run_config_value"),
        case("search: resume with corrupt state.json", "search", "--resume", "run_state_json"),
        case("search: resume with truncated state npz", "search", "--resume", "run_state_npz"),
        case("search: resume with a non-SQLite records.db", "search", "--resume", "run_records"),
        case("search: resume and --task", "search", "--resume", "run_ok", "--task", "mnist"),
        case("search: resume and --max-params", "search", "--resume", "run_ok", "--max-params", "100"),
        case("search: resume with workers 0", "search", "--resume", "run_ok", "--workers", "0"),
        # ---- any command
        case("--debug is no value flag", "tasks", "--debug=yes"),
        case("a file option given a directory", "predict", "--task", "digits", *TEACHER, "--genome", "a_dir"),
    ]
    return c


# ---------------------------------------------------------------- running them


def run_case(c: Case, dass: list[str], work: Path, env: dict[str, str], timeout_s: float) -> dict:
    slug = "".join(ch if ch.isalnum() else "-" for ch in c.name)
    args = [f"runs/{slug}" if a == OUT else a for a in c.args]
    start = time.monotonic()
    try:
        done = subprocess.run(
            [*dass, *args],
            cwd=work,
            env={**env, **dict(c.env)},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
        code, stderr, stdout = done.returncode, done.stderr, done.stdout
    except subprocess.TimeoutExpired as e:
        code, stdout = None, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        stderr = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    seconds = time.monotonic() - start
    lines = [line for line in stderr.splitlines() if line.strip()]
    usage = 0
    if lines and lines[0].startswith("usage:"):  # argparse's usage block: counted apart from the message
        usage = next((i for i, line in enumerate(lines) if ": error: " in line), len(lines))
    message = lines[usage:]
    one_line = len(message) == 1 and "Traceback" not in stderr
    return {
        "case": c.name,
        "command": "dass " + " ".join(_quote(a) for a in args),
        "env": dict(c.env),
        "exit_code": code,
        "last_line": lines[-1] if lines else "",
        "stderr_lines": len(lines),
        "usage_block": usage > 0,
        "one_line": one_line,
        "traceback": "Traceback" in stderr,
        "clean": code == 2 and one_line,
        "seconds": round(seconds, 2),
        "stderr_tail": "\n".join(lines[-6:]),
        "stdout_tail": "\n".join((stdout or "").splitlines()[-3:]),
    }


def _quote(arg: str) -> str:
    return arg if arg and all(ch.isalnum() or ch in "-_=.,:/+" for ch in arg) else json.dumps(arg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="run only the cases whose name holds one of these texts")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one case may run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--out", default=str(result_path("bad_inputs")), help="the result JSON")
    parser.add_argument("--merge", action="store_true", help="replace only the cases run in the existing --out")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dass-bad-inputs-"))
    script = Path(sys.executable).with_name("dass")  # the console script, as a user runs it
    dass = [str(script)] if script.exists() else [sys.executable, "-m", "dass"]
    env = {**os.environ, "DASS_CACHE": str(work / "cache"), "WANDB_MODE": "disabled"}
    env.pop("DASS_CHECKPOINT", None)
    started = time.monotonic()
    print(f"setting up in {work}", flush=True)
    write_files(work, dass, env)
    setup_s = time.monotonic() - started
    selected = [c for c in cases() if not args.only or any(text in c.name for text in args.only)]
    names = [c.name for c in selected]
    assert len(names) == len(set(names)), "two cases share a name"
    rows = []
    for i, c in enumerate(selected, 1):
        row = run_case(c, dass, work, env, args.timeout)
        rows.append(row)
        mark = "ok " if row["clean"] else "BAD"
        print(f"[{i:3d}/{len(selected)}] {mark} {row['exit_code']} {row['seconds']:6.1f}s {c.name}: {row['last_line']}")
    result = {
        "measured": provenance(),
        "setup_s": round(setup_s, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "timeout_s": args.timeout,
    }
    out = Path(args.out)
    if args.merge and out.exists():  # the earlier run's rows, with the cases run now replaced
        earlier = json.loads(out.read_text())
        rerun = {r["case"]: r for r in rows}
        order = [c.name for c in cases()]
        kept = {r["case"]: r for r in earlier["results"] if r["case"] in order}
        rows = [rerun.get(name) or kept[name] for name in order if name in rerun or name in kept]
        result = {**earlier, "rerun": [*earlier.get("rerun", []), {**result, "cases": sorted(rerun)}]}
    for r in rows:
        r["accepted"] = ACCEPTED.get(r["case"])
    clean = sum(r["clean"] for r in rows)
    defects = [r["case"] for r in rows if not r["clean"] and not r["accepted"]]
    print(f"\n{clean} of {len(rows)} cases give a clean one-line error with exit code 2; defects: {len(defects)}")
    for name in defects:
        print(f"  {name}")
    result.update(
        cases=len(rows),
        clean=clean,
        accepted=sum(bool(r["accepted"]) for r in rows),
        defects=defects,
        with_usage_block=sum(r["usage_block"] for r in rows),
        results=rows,
    )
    write_json(out, result)
    if args.keep:
        print(f"scratch folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def render(data: dict) -> str:
    """RESULTS.md's table of this benchmark's result file: every case, its exit code and message."""
    from benchmarks.render import table

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    def verdict(r: dict) -> str:
        if r["clean"]:
            return ""
        return f"accepted ({r['accepted']}): " if r.get("accepted") else "**not clean** "

    rows = [
        [
            cell(r["case"]),
            "timeout" if r["exit_code"] is None else r["exit_code"],
            verdict(r) + (f"`{cell(r['last_line'])}`" if r["last_line"] else "(nothing)"),
            f"{r['seconds']:.1f}",
        ]
        for r in data["results"]
    ]
    not_clean = data["cases"] - data["clean"]
    return (
        f"{data['clean']} of {data['cases']} bad inputs give a clean one-line error with exit code 2 "
        f"({data['with_usage_block']} of them below argparse's usage block); {not_clean} do not, of which "
        f"{data.get('accepted', 0)} are rightly accepted and {len(data.get('defects', []))} are defects. Run "
        "times include starting Python and torch on a busy machine; each case may run "
        f"{data['timeout_s']:.0f} s.\n\n"
        + table(["case", "exit code", "message (the last line of stderr)", "s"], rows, [False, True, False, True])
    )


if __name__ == "__main__":
    main()

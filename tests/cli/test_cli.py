import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dass.cli import main

ROOT = Path(__file__).resolve().parents[2]
GENOME = str(ROOT / "examples" / "student.json")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_everywhere():
    for argv in ([], ["tasks"], ["teachers"], ["genome"], ["train"]):
        proc = subprocess.run([sys.executable, "-m", "dass", *argv, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: dass" in proc.stdout


def test_tasks_and_teachers_list(capsys):
    code, out, _ = run(capsys, "tasks")
    assert code == 0 and "digits" in out and "rotate" in out
    code, out, _ = run(capsys, "teachers")
    assert code == 0 and "resnet-s" in out and "mobilenet-l" in out
    code, out, _ = run(capsys, "tasks", "--show", "digits:classes=0-2")
    assert code == 0 and json.loads(out)["num_classes"] == 3


def test_genome_sample_round_trips(capsys, tmp_path):
    code, out, _ = run(capsys, "genome", "--space", "mobilenet", "--seed", "3")
    assert code == 0 and json.loads(out)["space"] == "mobilenet"
    code, out, _ = run(capsys, "genome", "--no-distill", "--out", str(tmp_path / "g.json"))
    assert code == 0 and json.loads((tmp_path / "g.json").read_text())["recipe"]["logit_loss"] == "none"


def test_train_saves_everything(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(
        capsys,
        "train",
        "--task",
        "digits:classes=0-4",
        "--teacher",
        "cnn-s",
        "--genome",
        GENOME,
        "--epochs",
        "2",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    assert "distilled: val acc" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and len(metrics["curve"]) == 2 and metrics["params"] > 0
    assert json.loads((out_dir / "genome.json").read_text())["recipe"]["hint_position"] == "late"
    state = torch.load(out_dir / "student.pt", weights_only=True)
    assert any(k.startswith("stages.") for k in state)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--task", "nope", "--teacher", "cnn-s", "--genome", GENOME], "unknown task source 'nope'"),
        (["train", "--task", "digits", "--teacher", "cnn-xl", "--genome", GENOME], "unknown teacher 'cnn-xl'; valid:"),
        (["train", "--task", "digits", "--teacher", "cnn-s", "--genome", "missing.json"], "does not exist"),
        (
            [
                "train",
                "--task",
                "mnist",
                "--teacher",
                "cnn-s",
                "--genome",
                GENOME,
                "--data-dir",
                str(ROOT / "examples"),
            ],
            "mnist.npz",
        ),
        (["genome", "--space", "vit"], "unknown search space 'vit'"),
        (
            ["collect", "--db", "unused.db", "--import", "x.csv.gz", "--suite", "s.toml"],
            "does one of --status, --export, --import, --suite at a time; got --import and --suite",
        ),
        (["collect", "--db", "unused.db", "--status", "--export", "y.csv.gz"], "got --status and --export"),
        (
            ["search", "--task", "digits", "--teacher", "cnn-s", "--accuracy-share", "1.5", "--out", "unused"],
            "--accuracy-share must be in [0, 1]; got 1.5",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_output_paths_of_the_wrong_kind_fail_before_any_work(capsys, tmp_path):
    a_file, a_dir = tmp_path / "file", tmp_path / "dir"
    a_file.write_text("kept")
    a_dir.mkdir()
    train = ["train", "--task", "digits", "--teacher", "cnn-s", "--genome", GENOME]
    for argv, message in [
        (["genome", "--out", str(a_dir)], f"--out {a_dir} is a directory; give a file path"),
        ([*train, "--out", str(a_file)], f"--out {a_file} is a file; give a directory"),
        ([*train, "--cache-dir", str(a_file)], f"--cache-dir {a_file} is a file; give a directory"),
        (["pretrain", "--data", GENOME, "--out", str(a_dir)], f"--out {a_dir} is a directory"),
        (["collect", "--db", str(a_dir), "--status"], f"--db {a_dir} is a directory"),
        (["evaluate", "--data", GENOME, "--out", str(a_file)], f"--out {a_file} is a file"),
        (["predict", "--task", "digits", "--teacher", "cnn-s", "--genome", str(a_dir)], "is a directory, not a file"),
    ] + ([([*train, "--device", "cuda"], "no CUDA device is available here")] if not torch.cuda.is_available() else []):
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
    assert a_file.read_text() == "kept" and not any(a_dir.iterdir())
    with pytest.raises(SystemExit) as exit_:  # argparse's own errors: a usage line, then the error
        main(["genome", "--seed", "-1"])
    assert exit_.value.code == 2 and "argument --seed: must be an integer >= 0; got '-1'" in capsys.readouterr().err


def test_version_and_a_closed_pipe(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("dass ")
    # `dass tasks --show digits | head -1`: the reader goes away; no traceback, exit 0
    shell = f"{sys.executable} -m dass tasks --show digits | head -1"
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {shell}"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout == "{\n" and "Traceback" not in done.stderr, done.stderr


def test_bad_gene_and_class_mismatch(capsys, tmp_path):
    g = json.loads(Path(GENOME).read_text())
    g["stages"][0]["kernel"] = 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(g))
    code, _, err = run(capsys, "train", "--task", "digits", "--teacher", "cnn-s", "--genome", str(bad))
    assert code == 2 and "the stage 0 'kernel' gene must be one of {3, 5}; got 4" in err

    class Ten(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    ts = tmp_path / "ten.pt"
    torch.jit.save(torch.jit.script(Ten()), str(ts))
    code, _, err = run(capsys, "train", "--task", "digits:classes=0-4", "--teacher", str(ts), "--genome", GENOME)
    assert code == 2 and "outputs 10 classes but task 'digits:classes=0-4' has 5" in err

    # a TorchScript teacher has no feature maps: a student with a feature hint can be neither trained nor scored
    class Five(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :5]

    torch.jit.save(torch.jit.script(Five()), str(ts))
    assert json.loads(Path(GENOME).read_text())["recipe"]["hint_position"] != "off"
    for command in ("train", "predict"):
        code, _, err = run(capsys, command, "--task", "digits:classes=0-4", "--teacher", str(ts), "--genome", GENOME)
        assert code == 2 and "feature maps" in err and err.count("\n") == 1, (command, err)


def test_debug_shows_the_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "dass", "--debug", "genome", "--space", "vit"], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "dass", "genome", "--space", "vit"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "digits", "--teacher", "cnn-s", "--genome", GENOME, "--epochs", "0"])
    assert e.value.code == 2
    assert "must be a positive integer; got '0'" in capsys.readouterr().err

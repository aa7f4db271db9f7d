"""The dispatcher: help everywhere, one-line errors, exit codes, paths checked before any work."""

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
        (["genome", "--space", "transformer"], "unknown search space 'transformer'"),
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


def test_debug_shows_the_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "dass", "--debug", "genome", "--space", "transformer"], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "dass", "genome", "--space", "transformer"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "digits", "--teacher", "cnn-s", "--genome", GENOME, "--epochs", "0"])
    assert e.value.code == 2
    assert "must be a positive integer; got '0'" in capsys.readouterr().err

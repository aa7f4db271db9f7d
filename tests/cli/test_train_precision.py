"""``dass train --precision`` (issue 23): bf16 needs CUDA, refused on one line before any work."""

from pathlib import Path

from dass.cli import main

GENOME = str(Path(__file__).resolve().parents[2] / "examples" / "student.json")


def test_bf16_on_the_cpu_is_one_line_and_exit_2(capsys, tmp_path):
    argv = ["train", "--task", "digits:classes=0-4", "--teacher", "cnn-s", "--genome", GENOME, "--device", "cpu"]
    assert main([*argv, "--precision", "bf16", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "precision 'bf16' needs a CUDA device" in err and "\n" not in err
    assert not (tmp_path / "run").exists()

"""``dass train`` (dass/cli/train.py), and the teacher flags it shares with ``dass predict``."""

import json
from pathlib import Path

import torch

from dass.cli import main

ROOT = Path(__file__).resolve().parents[2]
GENOME = str(ROOT / "examples" / "student.json")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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

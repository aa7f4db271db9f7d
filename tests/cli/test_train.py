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


class NaNTeacher(torch.nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 5), float("nan"))


def test_a_nan_teacher_is_one_line_exit_2_and_nothing_is_saved(capsys, tmp_path):
    """It used to exit 1 with an empty stderr and print "saved to" (issue 22, item 6)."""
    ts = tmp_path / "nan.pt"
    torch.jit.save(torch.jit.script(NaNTeacher()), str(ts))
    plain = tmp_path / "plain.json"  # no feature hint: a TorchScript teacher exposes no feature maps
    g = json.loads(Path(GENOME).read_text())
    g["recipe"]["hint_position"] = "off"
    plain.write_text(json.dumps(g))
    out_dir = tmp_path / "run"
    argv = ["train", "--task", "digits:classes=0-4", "--teacher", str(ts), "--genome", str(plain), "--epochs", "1"]
    code, out, err = run(capsys, *argv, "--out", str(out_dir))
    assert code == 2 and err.count("\n") == 1 and "gives non-finite outputs (NaN or inf)" in err, err
    assert "saved to" not in out and not out_dir.exists()


def test_a_failed_training_saves_nothing_and_says_so_on_stderr(capsys, tmp_path, monkeypatch):
    import dass.cli.train as train_cli

    real = train_cli.train_student

    def diverging(*args, **kwargs):
        trained = real(*args, **kwargs)
        trained.result.status, trained.result.reason = "diverged", "non-finite loss at epoch 1"
        return trained

    monkeypatch.setattr(train_cli, "train_student", diverging)
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "student.pt").write_text("an earlier student")  # must not be overwritten by a failed one
    argv = ["train", "--task", "digits:classes=0-4", "--teacher", "cnn-s", "--genome", GENOME, "--epochs", "1"]
    code, out, err = run(capsys, *argv, "--teacher-epochs", "1", "--out", str(out_dir))
    assert code == 1 and "saved to" not in out
    assert "training ended as diverged: non-finite loss at epoch 1; nothing saved" in err and err.count("\n") == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["student.pt"]
    assert (out_dir / "student.pt").read_text() == "an earlier student"


def test_an_unavailable_device_is_refused_before_any_work(capsys, tmp_path):
    """``--device mps`` passed validation, then every training failed silently (issue 22, item 6)."""
    from distill.devices import available_devices

    available = available_devices()
    train = ["train", "--task", "digits:classes=0-4", "--teacher", "cnn-s", "--genome", GENOME]
    for device in ("mps", "cuda:7", "tpu"):
        if device in available:
            continue
        code, out, err = run(capsys, *train, "--device", device, "--out", str(tmp_path / "run"))
        assert code == 2 and err.count("\n") == 1 and f"device {device!r}" in err, err
        assert f"available here: {', '.join(available)}" in err and not (tmp_path / "run").exists()

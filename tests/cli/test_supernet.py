"""``dass supernet`` (dass/cli/supernet.py): training, resuming, scoring with inherited weights, bad input."""

import json

import pytest

from dass.cli import main
from distill.supernet import get_subspaces

TASK = "digits:classes=0-4"
TRAIN = ["supernet", "--task", TASK, "--teacher", "cnn-s", "--teacher-epochs", "1", "--subspaces", "tiny"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("supernets") / "run"
    assert main([*TRAIN, "--steps", "3", "--checkpoint-every", "2", "--out", str(out)]) == 0
    return out


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_training_saves_the_supernet_its_description_and_its_cost(trained, capsys):
    meta = json.loads((trained / "supernet.json").read_text())
    assert meta["task"] == TASK and meta["space"] == "default" and list(meta["subspaces"]) == ["tiny"]
    assert meta["config"]["steps"] == 3 and meta["config"]["sandwich"] == ["largest", "smallest", "random", "random"]
    cost = json.loads((trained / "tiny" / "cost.json").read_text())
    n_train = cost["teacher_forward_images"]
    assert cost["student_image_passes"] == 3 * 4 * 128 and cost["standalone_image_passes"] == 6 * n_train
    assert cost["full_budget_equivalent_trainings"] == pytest.approx(3 * 4 * 128 / (6 * n_train))
    # the same command again: nothing to do
    code, out, err = run(capsys, *TRAIN, "--steps", "3", "--checkpoint-every", "2", "--out", str(trained))
    assert code == 0, err
    assert "tiny: already trained (3 steps)" in out and "inherited val acc largest" in out


def test_eval_scores_sampled_sub_networks_and_a_genome_file(trained, capsys, tmp_path):
    code, out, err = run(capsys, "supernet", "--eval", "--out", str(trained), "--sample", "3")
    assert code == 0, err
    assert "scored 3 sub-network(s) with inherited weights" in out
    rows = json.loads((trained / "eval.json").read_text())["results"]
    assert len(rows) == 3 and all(0 <= r["val_acc"] <= 1 and r["subspace"] == "tiny" for r in rows)
    genome = tmp_path / "g.json"
    genome.write_text(get_subspaces("default")["tiny"].smallest().to_json())
    code, out, err = run(capsys, "supernet", "--eval", "--out", str(trained), "--genome", str(genome))
    assert code == 0, err
    assert len(json.loads((trained / "eval.json").read_text())["results"]) == 1


def test_a_genome_outside_the_sub_space_is_a_one_line_error(trained, capsys, tmp_path):
    g = json.loads(get_subspaces("default")["tiny"].largest().to_json())
    g["stages"][2]["width"] = 32  # in the default space, not in the tiny sub-space
    genome = tmp_path / "g.json"
    genome.write_text(json.dumps(g))
    code, _, err = run(capsys, "supernet", "--eval", "--out", str(trained), "--genome", str(genome))
    assert code == 2 and err.count("\n") == 1
    assert "the stage 2 'width' gene must be one of {16, 24}; got 32" in err


def test_another_tasks_supernet_directory_is_refused(trained, capsys):
    before = (trained / "supernet.json").read_text()
    code, _, err = run(capsys, "supernet", "--task", "digits:classes=5-9", "--teacher", "cnn-s", "--out", str(trained))
    assert code == 2 and err.count("\n") == 1
    assert f"--out {trained} holds the supernets of task '{TASK}', not 'digits:classes=5-9'" in err
    assert (trained / "supernet.json").read_text() == before  # nothing stored is lost


def test_other_settings_in_the_same_directory_are_refused(trained, capsys):
    code, _, err = run(capsys, *TRAIN, "--steps", "5", "--out", str(trained))
    assert code == 2 and "holds the supernets of another training settings" in err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--space", "mobilenet"], "unknown supernet space 'mobilenet'; valid: default, resnet, vit, wide"),
        (["--subspaces", "huge"], "unknown supernet sub-space 'huge' of space 'default'; valid: base, small, tiny"),
        (["--sample", "3"], "--sample goes with --eval"),
    ],
)
def test_bad_training_input(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, *TRAIN, "--out", str(tmp_path / "o"), *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_bad_eval_input(capsys, tmp_path, trained):
    code, _, err = run(capsys, "supernet", "--eval", "--out", str(tmp_path), "--sample", "2")
    assert code == 2 and "holds no trained supernet (supernet.json is missing)" in err
    code, _, err = run(capsys, "supernet", "--eval", "--out", str(trained))
    assert code == 2 and "--eval needs one of --genome FILE or --sample N" in err
    code, _, err = run(capsys, "supernet", "--eval", "--out", str(trained), "--sample", "2", "--subspaces", "base")
    assert code == 2 and "holds no trained supernet of sub-space 'base'; trained: tiny" in err
    code, _, err = run(capsys, "supernet", "--out", str(tmp_path / "o"))
    assert code == 2 and "training supernets needs --task and --teacher" in err


@pytest.mark.slow  # a vit-s teacher is trained (one epoch)
def test_a_vit_supernet_trains_on_attention_relations_and_scores_sub_networks(tmp_path, capsys):
    out = tmp_path / "vit"
    argv = ["supernet", "--task", TASK, "--teacher", "vit-s", "--teacher-epochs", "1", "--space", "vit"]
    code, printed, err = run(capsys, *argv, "--subspaces", "tiny", "--loss", "relation", "--steps", "2",
                             "--cache-dir", str(tmp_path / "cache"), "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert "tiny: 256 sub-networks" in printed and "inherited val acc largest" in printed
    meta = json.loads((out / "supernet.json").read_text())
    assert meta["space"] == "vit" and meta["config"]["objective"] == "relation"
    assert meta["subspaces"]["tiny"]["family"] == "vit"
    code, printed, err = run(capsys, "supernet", "--eval", "--out", str(out), "--sample", "2")
    assert code == 0, err
    rows = json.loads((out / "eval.json").read_text())["results"]
    assert len(rows) == 2 and all(r["genome"]["space"] == "vit" for r in rows)

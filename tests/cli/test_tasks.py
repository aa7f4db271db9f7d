"""``dass tasks``, ``dass teachers``, ``dass genome`` (dass/cli/tasks.py)."""

import json

from dass.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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


def test_a_task_too_large_for_memory_is_one_line_and_exit_2(capsys):
    code = main(["tasks", "--show", "digits:size=1000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "digits:size=1000" in err and "the limit of 4 GiB" in err

"""End to end: a tiny real meta-dataset -> dass pretrain -> dass predict -> dass evaluate."""

import json

import pytest

from dass.cli import main
from datasets_meta.collector import collect, expand
from datasets_meta.store import InMemoryStore
from datasets_meta.suite import Suite
from distill.executors import InProcessExecutor
from distill.progress import Progress
from predictor.data import describe_split, load_records, split_by_task
from predictor.estimator import AccuracyPredictor

SUITE = {
    "name": "tiny-meta",
    "budget": 2,
    "teacher_epochs": 2,
    "students_per_pair": 5,
    "recipes_per_student": 1,
    "replicate_fraction": 0.5,
    "groups": [
        {"source": "digits", "classes": ["0-2", "3-5", "6-8"], "teachers": ["cnn-s"], "teachers_per_task": 1},
        {"source": "digits", "classes": ["0-4"], "teachers": ["resnet-s"], "teachers_per_task": 1, "heldout": True},
    ],
}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    store = InMemoryStore()
    store.add_jobs(expand(Suite.from_dict(SUITE)))
    collect(store, InProcessExecutor())
    path = tmp_path_factory.mktemp("meta") / "tiny.csv.gz"
    store.export(path)
    return path


def test_split_is_by_task(export):
    split = split_by_task(load_records(export), val_fraction=0.34)
    tasks = {name: {e["task_id"] for e in exs} for name, exs in split.items()}
    assert not tasks["train"] & tasks["test"] and not tasks["val"] & tasks["test"] and not tasks["train"] & tasks["val"]
    assert {e["task_spec"] for e in split["test"]} == {"digits:classes=0-4"}


class RecordedProgress(Progress):
    """The progress a command shows, with every phase it went through: (what, units done, total)."""

    made: list["RecordedProgress"] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phases = []
        RecordedProgress.made.append(self)

    def phase(self, *args, **kwargs):
        self.phases.append((self.desc, self.n, self.total))
        super().phase(*args, **kwargs)

    def close(self):
        if self.phases[-1:] != [(self.desc, self.n, self.total)]:
            self.phases.append((self.desc, self.n, self.total))
        super().close()


def shown_progress():
    """The phases the last command showed, and how it showed them."""
    (progress,) = RecordedProgress.made
    RecordedProgress.made = []
    return progress.mode, [p for p in progress.phases if p[2] is not None]


def test_pretrain_predict_evaluate(export, tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "p.pt"
    RecordedProgress.made = []
    monkeypatch.setattr("dass.cli.predictor.Progress", RecordedProgress)
    monkeypatch.setenv("DASS_PROGRESS_INTERVAL", "3600")  # a status line would come every hour: none in this test
    assert (
        main(
            [
                "pretrain",
                "--data",
                str(export),
                "--out",
                str(ckpt),
                "--epochs",
                "2,3",
                "--models",
                "2",
                "--rank-weight",
                "1",
                "--recipe-readout",
                "--sum-readout",
                "--task-noise",
                "0.2",
                "--task-noise-on",
                "probe",
                "--balance",
                "source",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "meta-test" in out and "ours (zero-shot)" in out
    assert "within the predicted ±1 sigma: ours (zero-shot) " in out  # the calibration, beside the ranking
    mode, phases = shown_progress()  # pretrain shows how far it is: fits, then the groups it scores
    assert mode == "lines"  # stderr is not a terminal here: a status line every interval
    assert phases == [
        ("dass pretrain: fitting the predictor", 2, 2),
        ("dass pretrain: scoring groups", 1, 1),  # meta-validation
        ("dass pretrain: fitting the no-KD baseline", 1, 1),
        ("dass pretrain: fitting the random-forest baseline", 1, 1),
        ("dass pretrain: scoring groups", 1, 1),  # meta-test
    ]
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["data"]["records"] > 20 and len(card["data"]["sha256"]) == 64
    assert card["splits"]["test"]["tasks"] == 1 and card["hyper_parameters"]["n_models"] == 2
    assert card["hyper_parameters"]["recipe_readout"] is True and card["hyper_parameters"]["task_noise"] == 0.2
    assert card["hyper_parameters"]["sum_readout"] is True and card["hyper_parameters"]["balance"] == "source"
    assert card["hyper_parameters"]["task_noise_on"] == "probe"
    config = AccuracyPredictor.load(ckpt).config_
    assert config.recipe_readout and config.sum_readout

    code = main(
        [
            "predict",
            "--task",
            "digits:classes=0-4",
            "--teacher",
            "resnet-s",
            "--teacher-epochs",
            "2",
            "--genome",
            "examples/student.json",
            "--checkpoint",
            str(ckpt),
            "--budget",
            "2",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and "predicted test accuracy" in captured.out and "±" in captured.out
    assert "epochs is an extrapolation" not in captured.err  # a budget it was meta-trained on
    # the task is none of the two it was meta-trained on, and lies outside them: a notice, one line
    notice = "dass predict: warning: this task lies outside the predictor's 2 meta-training (task, teacher) pairs on "
    assert captured.err.count("\n") == 1 and captured.err.startswith(notice), captured.err
    assert AccuracyPredictor.load(ckpt).budgets_ == (1, 2)  # the export's students train 2 epochs
    predict = ["predict", "--task", "digits:classes=0-4", "--teacher", "resnet-s", "--teacher-epochs", "2"]
    code = main([*predict, "--genome", "examples/student.json", "--checkpoint", str(ckpt), "--budget", "5"])
    captured = capsys.readouterr()
    assert code == 0 and "predicted test accuracy" in captured.out
    assert "meta-trained on budgets of 1 to 2 epochs; its prediction at 5 epochs is an extrapolation" in captured.err

    code = main(["evaluate", "--data", str(export), "--checkpoint", str(ckpt), "--adapt", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "params" in out and "random forest" in out and "GNN, no-KD data" in out
    assert shown_progress() == (
        "lines",
        [
            ("dass evaluate: fitting the no-KD baseline", 1, 1),
            ("dass evaluate: fitting the random-forest baseline", 1, 1),
            ("dass evaluate: scoring groups", 1, 1),
        ],
    )
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["predictions"] and (tmp_path / "predicted_vs_measured.png").stat().st_size > 1000

    # adapted by the residual Gaussian process instead of fine-tuning: the same table, scored the same way
    code = main(
        [
            "evaluate",
            "--data",
            str(export),
            "--checkpoint",
            str(ckpt),
            "--adapt",
            "3",
            "--adapt-method",
            "residual",
            "--no-control-baseline",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "ours (adapted 3)" in out

    # the meta-validation tasks instead (digits 6-8 falls in the default 15 % validation share)
    assert {e["task_spec"] for e in split_by_task(load_records(export))["val"]} == {"digits:classes=6-8"}
    code = main(["evaluate", "--data", str(export), "--checkpoint", str(ckpt), "--adapt", "0", "--split", "val"])
    out = capsys.readouterr().out
    assert code == 0 and "meta-validation tasks of" in out and "ours (zero-shot)" in out


def test_checkpoint_errors(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code = main(
        [
            "predict",
            "--task",
            "digits",
            "--teacher",
            "cnn-s",
            "--genome",
            "examples/student.json",
            "--checkpoint",
            str(bad),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "bad.pt" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--data", "x.csv.gz", "--out", str(tmp_path / "p.pt"), "--task-noise", "-1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--task-noise: must be a non-negative number; got '-1'" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--data", "x.csv.gz", "--out", str(tmp_path / "p.pt"), "--task-noise-on", "meta"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--task-noise-on: invalid choice: 'meta'" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--data", "x.csv.gz", "--out", str(tmp_path / "p.pt"), "--balance", "family"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--balance: must be 'source' or a number from 0 to 1; got 'family'" in err
    code = main(["evaluate", "--data", str(tmp_path / "none.csv.gz"), "--checkpoint", str(bad)])
    assert code == 2


def test_pretrain_leaves_out_the_unreliable_groups(export, tmp_path, capsys):
    from predictor.evaluate import unreliable_groups

    split = split_by_task(load_records(export))
    left_out = unreliable_groups(split["train"], 1.0)  # every measured group agrees less than perfectly
    assert left_out, "the tiny meta-dataset has no group whose seeds disagree: the test would not test"
    out = tmp_path / "p.pt"
    args = ["pretrain", "--data", str(export), "--out", str(out), "--models", "1", "--epochs", "1", "--no-test"]
    assert main([*args, "--rank-weight", "1", "--min-reliability", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"below 1: {len(left_out)} groups" in printed
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["left_out_unreliable"]["min_reliability"] == 1.0
    assert sorted(card["left_out_unreliable"]["groups"].values()) == sorted(round(r, 4) for r in left_out.values())
    kept = {e["group"] for e in split["train"]} - set(left_out)
    assert card["splits"]["train"]["groups"] == len(kept)
    assert card["splits"]["val"] == describe_split(split)["val"]  # meta-validation keeps every group
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--min-reliability", "1.5"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "--min-reliability: must be a Spearman correlation, a number from -1 to 1; got '1.5'" in err


def test_pretrain_never_writes_over_its_data_or_its_own_checkpoint(export, tmp_path, capsys):
    import shutil

    data = tmp_path / "meta.csv.gz"
    shutil.copy(export, data)
    blob = data.read_bytes()
    shutil.copy(export, tmp_path / "card.json")
    for out, message in [
        (data, "would overwrite the meta-dataset"),
        (tmp_path / "p.json", "would be overwritten by its card (p.json): give a .pt path"),
    ]:
        assert main(["pretrain", "--data", str(data), "--out", str(out), "--models", "1"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    # the card of card.pt would be card.json, the data here
    assert main(["pretrain", "--data", str(tmp_path / "card.json"), "--out", str(tmp_path / "card.pt")]) == 2
    assert "would overwrite the meta-dataset" in capsys.readouterr().err
    assert data.read_bytes() == blob and (tmp_path / "card.json").read_bytes() == blob
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "card.pt").exists()


def test_a_grid_without_meta_validation_tasks_is_refused(export, tmp_path, monkeypatch, capsys):
    import predictor.pretrain

    def without_val(examples, val_fraction=0.15):
        split = split_by_task(examples, val_fraction)
        return {**split, "train": split["train"] + split["val"], "val": []}

    monkeypatch.setattr(predictor.pretrain, "split_by_task", without_val)
    args = ["pretrain", "--data", str(export), "--out", str(tmp_path / "p.pt"), "--models", "1", "--no-test"]
    assert main([*args, "--epochs", "1,2", "--rank-weight", "1,4"]) == 2
    assert "4 hyper-parameter settings need scored meta-validation tasks" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()
    assert main([*args, "--epochs", "1", "--rank-weight", "1"]) == 0  # one setting needs no choice
    assert f"not scored there: {export}: it has no meta-validation tasks" in capsys.readouterr().out


def test_groups_too_small_to_score_are_one_line_errors(export, tmp_path, monkeypatch, capsys):
    """A Spearman needs 5 students of a (task, teacher) group: smaller groups are refused or reported unscored."""
    import predictor.data
    import predictor.pretrain

    real = predictor.data.split_by_task

    def keep_four(exs):  # the first four students of each group
        students = {}
        for e in exs:
            students.setdefault(e["group"], set()).add(e["genome_hash"])
        first = {group: sorted(hashes)[:4] for group, hashes in students.items()}
        return [e for e in exs if e["genome_hash"] in first[e["group"]]]

    def small_groups(examples, val_fraction=0.15):
        split = real(examples, val_fraction)
        return {**split, "val": keep_four(split["val"]), "test": keep_four(split["test"])}

    monkeypatch.setattr(predictor.pretrain, "split_by_task", small_groups)
    monkeypatch.setattr(predictor.data, "split_by_task", small_groups)
    args = ["pretrain", "--data", str(export), "--out", str(tmp_path / "p.pt"), "--models", "1"]
    assert main([*args, "--epochs", "1,2", "--rank-weight", "1"]) == 2
    err = capsys.readouterr().err
    assert "no meta-validation (task, teacher) group has 5 or more students (the most: 4)" in err, err
    assert err.count("\n") == 1 and not (tmp_path / "p.pt").exists()
    assert main([*args, "--epochs", "1", "--rank-weight", "1"]) == 0
    out = capsys.readouterr().out
    assert "no meta-test (task, teacher) group has 5 or more students" in out and "meta-test (tasks never" not in out
    card = json.loads((tmp_path / "p.json").read_text())
    assert set(card["unscored"]) == {"meta_validation", "meta_test"} and "meta_test" not in card
    code = main(["evaluate", "--data", str(export), "--checkpoint", str(tmp_path / "p.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "nothing to score" in err and "the most: 4" in err and err.count("\n") == 1


def test_pretrain_and_evaluate_read_several_exports_together(export, tmp_path, capsys):
    import csv
    import gzip

    with gzip.open(export, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    parts = {"a": [r for r in rows if r["task_spec"] != "digits:classes=0-4"], "b": []}
    parts["b"] = [r for r in rows if r["task_spec"] == "digits:classes=0-4"]  # the held-out task alone
    files = []
    for name, part in parts.items():
        files.append(tmp_path / f"{name}.csv.gz")
        with gzip.open(files[-1], "wt", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
    ckpt = tmp_path / "p.pt"
    args = ["--epochs", "2", "--models", "1", "--rank-weight", "1", "--no-test"]
    assert main(["pretrain", "--data", *map(str, files), "--out", str(ckpt), *args]) == 0
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert [f["file"] for f in card["data"]["files"]] == [str(f) for f in files]
    assert card["data"]["records"] == len(load_records(export)) and card["splits"]["test"]["tasks"] == 1
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", *map(str, files), "--adapt", "0"]) == 0
    assert "meta-test (held-out) tasks of " + " + ".join(map(str, files)) in capsys.readouterr().out
    # a missing file among them is a one-line error
    assert main(["pretrain", "--data", str(files[0]), str(tmp_path / "missing.csv.gz"), "--out", str(ckpt)]) == 2
    assert "missing.csv.gz" in capsys.readouterr().err


def test_the_default_checkpoint_is_v2_and_scores_every_space(tmp_path, monkeypatch, capsys):
    from dass.cli.common import DEFAULT_CHECKPOINT, checkpoint
    from distill.genome import SPACES

    monkeypatch.delenv("DASS_CHECKPOINT", raising=False)
    assert checkpoint(None) == DEFAULT_CHECKPOINT and DEFAULT_CHECKPOINT.name == "predictor_v2.pt"
    v2 = AccuracyPredictor.load(DEFAULT_CHECKPOINT)
    assert v2.landmarks  # it reads the tasks' landmarks (measured for a task it has not met)
    assert all(v2.space_refusal(space) is None for space in SPACES.names())  # CNN, transformer and mixed spaces
    # v1 ships beside it and knows CNN students only
    v1 = AccuracyPredictor.load(DEFAULT_CHECKPOINT.with_name("predictor_v1.pt"))
    assert v1.space_refusal("default") is None and v1.space_refusal("vit")
    # a checkpoint the user names is kept, whatever the space (it refuses the genomes itself, with its reason)
    mine = tmp_path / "mine.pt"
    mine.write_bytes(DEFAULT_CHECKPOINT.with_name("predictor_v1.pt").read_bytes())
    assert checkpoint(str(mine)) == mine
    monkeypatch.setenv("DASS_CHECKPOINT", str(mine))
    assert checkpoint(None) == mine
    assert capsys.readouterr().err == ""
    # a directory or a missing file is named in the error
    with pytest.raises(FileNotFoundError, match="is a directory"):
        checkpoint(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="missing.pt' does not exist"):
        checkpoint(str(tmp_path / "missing.pt"))


def test_a_predictor_that_reads_landmarks_end_to_end(export, tmp_path, capsys):
    """--landmarks TABLE: the tasks' landmarks measured into the table (once), read by the fit, the card, predict
    and evaluate; a checkpoint without them refuses a table."""
    from distill.landmarks import LandmarkTable

    table, ckpt = tmp_path / "landmarks.json", tmp_path / "lm.pt"
    args = ["--epochs", "2", "--models", "1", "--rank-weight", "1", "--no-test", "--landmarks", str(table)]
    assert main(["pretrain", "--data", str(export), "--out", str(ckpt), *args]) == 0
    tasks = {e["task_spec"] for e in load_records(export)}
    assert set(LandmarkTable(table).accuracies) == tasks  # every task of the export, measured once
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["hyper_parameters"]["landmarks"] is True and card["landmarks"]["file"] == str(table)
    model = AccuracyPredictor.load(ckpt)
    assert model.landmarks and model.feature_dims_["global"] == 16
    capsys.readouterr()

    predict = ["predict", "--task", "digits:classes=0-4", "--teacher", "resnet-s", "--teacher-epochs", "2"]
    assert main([*predict, "--genome", "examples/student.json", "--checkpoint", str(ckpt), "--budget", "2"]) == 0
    assert "predicted test accuracy" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(export), "--checkpoint", str(ckpt), "--adapt", "2"]) == 0
    assert "ours (adapted 2)" in capsys.readouterr().out

    plain = tmp_path / "plain.pt"
    assert main(["pretrain", "--data", str(export), "--out", str(plain), *args[:-2]]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--data", str(export), "--checkpoint", str(plain), "--landmarks", str(table)]) == 2
    assert capsys.readouterr().err.strip().endswith(f"--landmarks {table}: the predictor {plain} reads none")


def test_a_landmark_table_of_other_reference_students_is_a_one_line_error_and_kept(export, tmp_path, capsys):
    table = tmp_path / "old.json"
    table.write_text(json.dumps({"version": "000000000000", "landmarks": {"digits": {"shallow": 0.5, "deep": 0.6}}}))
    before = table.read_text()
    args = ["pretrain", "--data", str(export), "--out", str(tmp_path / "p.pt"), "--landmarks", str(table)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the landmark table '{table}' has version '000000000000'" in err
    assert table.read_text() == before and not (tmp_path / "p.pt").exists()

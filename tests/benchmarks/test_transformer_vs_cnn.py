"""The transformer-vs-CNN benchmark: its quick run trains both families, resumes without retraining, and refuses
a result file of other settings."""

from __future__ import annotations

import json

import pytest

from benchmarks import transformer_vs_cnn as tvc


def test_quick_run_scores_both_families_in_every_bin_and_resumes_without_training(tmp_path, monkeypatch):
    out = tmp_path / "tvc.json"
    tvc.main(["--quick", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["trainings_done"] == data["trainings_total"] == 2  # one ViT and one CNN, plain CE, one seed
    assert {s["family"] for s in data["students"]} == {"vit", "cnn"}
    assert all(2_000 <= s["params"] < 12_000 for s in data["students"])
    (row,) = data["rows"]
    assert row["recipe"] == "plain CE" and row["vit"]["students"] == row["cnn"]["students"] == 1
    assert row["best_vit_minus_cnn"] == pytest.approx(row["vit"]["best_test_acc"] - row["cnn"]["best_test_acc"])

    def no_training(*args, **kwargs):
        raise AssertionError("a finished training was trained again")

    monkeypatch.setattr(tvc, "distil", no_training)
    tvc.main(["--quick", "--out", str(out)])  # everything is in the file: nothing to train
    assert json.loads(out.read_text())["trainings"] == data["trainings"]


def test_a_result_file_of_other_settings_is_refused(tmp_path):
    out = tmp_path / "tvc.json"
    out.write_text(json.dumps({"settings": {"task": "other"}, "trainings": {}}))
    with pytest.raises(SystemExit, match="other settings"):
        tvc.main(["--quick", "--out", str(out)])

"""Fits of predictor v2's data side by side: read from their pretrain cards, fits of other data refused."""

import json
import sys

import pytest

import benchmarks.predictor_v2_fits as fits


def _card(path, zero_shot, data="a.csv.gz", **params):
    metrics = {"ours (zero-shot)": {"spearman": zero_shot}, "ours (adapted 10)": {"spearman": zero_shot + 0.01}}
    card = {
        "hyper_parameters": {"hidden": 48, "task_noise": 0.3, **params},
        "code_commit": "abc",
        "fit_seconds": 500.0,
        "data": {"files": [{"file": f"datasets_meta/{data}", "records": 10, "sha256": data}], "records": 10},
        "meta_validation": {"mean": {"ours (zero-shot)": {"spearman": zero_shot - 0.02}}},
        "meta_test": {"mean": metrics, "mean_by_source": {"digits": metrics, "mnist": metrics}, "groups": 22},
    }
    path.write_text(json.dumps(card))
    return str(path)


def test_the_fits_are_read_from_their_cards(tmp_path, monkeypatch, capsys):
    shipped = _card(tmp_path / "shipped.json", 0.83)
    probe = _card(tmp_path / "probe.json", 0.87, task_noise_on="probe")
    v1 = _card(tmp_path / "v1.json", 0.866, data="v1.csv.gz")
    out = tmp_path / "out.json"
    argv = ["x", "--card", f"shipped={shipped}", "--card", f"probe={probe}", "--reference", v1, "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    fits.main()
    data = json.loads(out.read_text())
    assert data["fits"]["shipped"]["overrides"] == {}
    assert data["fits"]["probe"]["overrides"] == {"task_noise_on": "probe"}  # the shipped card lacks it: "all"
    assert data["fits"]["probe"]["test_zero_shot"] == 0.87 and data["fits"]["probe"]["val_zero_shot"] == 0.85
    assert "probe: meta-val 0.850, v1's meta-test 0.870 zero-shot, 0.880 adapted (v1: 0.866, 0.876)" in (
        capsys.readouterr().out
    )
    rendered = fits.render(data)
    assert "| `probe` | task_noise_on=probe | 0.850 | **0.870** | 0.880 | 0.870 | 0.870 | 500 |" in rendered
    assert "| v1's own checkpoint | v1's data |  | **0.866** |" in rendered


def test_a_fit_of_other_data_is_refused(tmp_path, monkeypatch):
    a, b = _card(tmp_path / "a.json", 0.8), _card(tmp_path / "b.json", 0.8, data="b.csv.gz")
    monkeypatch.setattr(sys, "argv", ["x", "--card", f"a={a}", "--card", f"b={b}", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="--card b: fitted on other data than the first card"):
        fits.main()


def test_other_data_is_compared_when_asked_and_named_in_the_settings(tmp_path, monkeypatch):
    a = _card(tmp_path / "a.json", 0.89)
    b = _card(tmp_path / "b.json", 0.86, data="b.csv.gz", random_state=1)
    out = tmp_path / "o.json"
    argv = ["x", "--card", f"a={a}", "--card", f"b={b}", "--other-data", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv + ["--reference", a])
    fits.main()
    data = json.loads(out.read_text())
    assert data["fits"]["a"]["more_data"] == [] and data["fits"]["a"]["less_data"] == []
    assert data["fits"]["b"]["more_data"] == ["b.csv.gz"] and data["fits"]["b"]["less_data"] == ["a.csv.gz"]
    rendered = fits.render(data)
    assert "| `a` | (first card) | 0.870 | **0.890** |" in rendered
    assert "| `b` | random_state=1, +b.csv.gz, −a.csv.gz | 0.840 (another set) | **0.860** |" in rendered
    assert rendered.index("| `a` |") < rendered.index("| `b` |")  # the first card first, whatever its name


def test_the_first_card_comes_first_even_when_another_has_its_recipe_on_other_data(tmp_path, monkeypatch):
    first = _card(tmp_path / "z.json", 0.89)
    more = _card(tmp_path / "m.json", 0.86, data="b.csv.gz")  # same recipe, no override: only its data differs
    out = tmp_path / "o.json"
    argv = ["x", "--card", f"z={first}", "--card", f"m={more}", "--other-data", "--reference", first, "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    fits.main()
    rendered = fits.render(json.loads(out.read_text()))
    assert rendered.index("| `z` | (first card) |") < rendered.index("| `m` | +b.csv.gz, −a.csv.gz |")


def test_a_fit_that_left_out_unreliable_groups_says_so(tmp_path, monkeypatch):
    first = _card(tmp_path / "z.json", 0.89)
    reliable = tmp_path / "r.json"
    _card(reliable, 0.87)
    card = json.loads(reliable.read_text())
    card["left_out_unreliable"] = {"min_reliability": 0.5, "groups": {"t / cnn-s (g1)": 0.3, "u / vit-s (g2)": 0.1}}
    reliable.write_text(json.dumps(card))
    out = tmp_path / "o.json"
    argv = ["x", "--card", f"z={first}", "--card", f"r={reliable}", "--reference", first, "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    fits.main()  # the same data: not refused, the groups are left out of training only
    data = json.loads(out.read_text())
    assert data["fits"]["r"]["min_reliability"] == 0.5 and data["fits"]["r"]["left_out_groups"] == 2
    assert "min_reliability" not in data["fits"]["z"]
    rendered = fits.render(data)
    assert rendered.index("| `z` | (first card) |") < rendered.index("| `r` | min_reliability=0.5")
    assert "| `r` | min_reliability=0.5 (2 groups left out) | 0.850 | **0.870** |" in rendered


def test_with_val_on_first_every_checkpoint_is_scored_on_the_first_cards_validation_tasks(tmp_path, monkeypatch):
    first = tmp_path / "z.json"
    _card(first, 0.89)
    card = json.loads(first.read_text())
    card.update(label_seeds=8, split_tasks={"val": ["t1", "t2"], "train": ["t3"]})
    first.write_text(json.dumps(card))
    more = _card(tmp_path / "m.json", 0.86, data="b.csv.gz")
    asked = []
    monkeypatch.setattr(fits, "first_card_validation", lambda c: [{"task_spec": t} for t in c["split_tasks"]["val"]])

    def spearman(checkpoint, records, label_seeds):
        asked.append((checkpoint.name, [r["task_spec"] for r in records], label_seeds))
        return {"z.pt": 0.853, "m.pt": 0.849}[checkpoint.name]

    monkeypatch.setattr(fits, "validation_spearman", spearman)
    out = tmp_path / "o.json"
    argv = ["x", "--card", f"z={first}", "--card", f"m={more}", "--other-data", "--val-on-first", "--reference"]
    monkeypatch.setattr(sys, "argv", argv + [str(first), "--out", str(out)])
    fits.main()
    assert asked == [("z.pt", ["t1", "t2"], 8), ("m.pt", ["t1", "t2"], 8)]  # the first card's tasks and seeds
    data = json.loads(out.read_text())
    assert data["val_on_first"] == {"tasks": 2, "label_seeds": 8}
    assert data["fits"]["m"]["val_on_first"] == 0.849
    rendered = fits.render(data)
    assert "| meta-val, the first card's tasks |" in rendered
    assert "| `m` | +b.csv.gz, −a.csv.gz | 0.840 (another set) | 0.849 | **0.860** |" in rendered
    assert "| `z` | (first card) | 0.870 | 0.853 | **0.890** |" in rendered


def test_the_first_cards_validation_records_are_its_val_tasks_of_the_files_it_names(tmp_path, monkeypatch):
    (tmp_path / "datasets_meta").mkdir()
    export = tmp_path / "datasets_meta" / "a.csv.gz"
    export.write_bytes(b"records")
    card = {
        "data": {"files": [{"file": "datasets_meta/a.csv.gz", "sha256": fits.file_sha256(export)}]},
        "split_tasks": {"val": ["t1"], "train": ["t2"]},
    }
    monkeypatch.setattr(fits, "ROOT", tmp_path)
    monkeypatch.setattr(fits, "load_records", lambda p: [{"task_spec": "t1", "k": 0}, {"task_spec": "t2", "k": 1}])
    assert fits.first_card_validation(card) == [{"task_spec": "t1", "k": 0}]
    export.write_bytes(b"other records")
    with pytest.raises(SystemExit, match="datasets_meta/a.csv.gz is not the file the first card was fitted on"):
        fits.first_card_validation(card)

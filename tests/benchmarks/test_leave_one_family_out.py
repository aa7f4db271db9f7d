"""The leave-one-family-out benchmark's calibration across families."""

import numpy as np
import pytest

from benchmarks.leave_one_family_out import (
    cross_fitted_calibration,
    family_of,
    fold_runs,
    held_out_runs,
    mae_noise_floor,
    merge_folds,
    top_precision_ceiling,
)
from predictor.estimator import fit_calibration


def _fold(rng, n, noise):
    spread = rng.uniform(0.01, 0.05, n)
    return {"held_out_errors": {"err": list(np.abs(rng.normal(0, noise * spread))), "spread": list(spread)}}


def test_each_family_is_calibrated_on_the_others_only():
    rng = np.random.default_rng(0)
    # the ensemble's spread is 3x too narrow on every held-out family: cross-fitting finds the scale without
    # looking at the family it is scored on, and then covers about 68 % of it
    folds = {f: _fold(rng, 400, 3.0) for f in ("a", "b", "c")}
    out = cross_fitted_calibration(folds)
    for family in folds:
        fold = out["folds"][family]
        assert fold["scale"] == pytest.approx(3.0, rel=0.2) and 0.6 < fold["within_1sigma"] < 0.76
    assert out["all_folds"]["scale"] == pytest.approx(3.0, rel=0.15)
    # a family that is much harder than the others is under-covered: the calibration did not see it
    folds["d"] = _fold(rng, 400, 9.0)
    d = cross_fitted_calibration(folds)["folds"]["d"]
    others = [folds[f]["held_out_errors"] for f in "abc"]
    pooled = [np.concatenate([e[k] for e in others]) for k in ("err", "spread")]
    expected = fit_calibration(*pooled)
    assert (d["scale"], d["floor"]) == expected and d["within_1sigma"] < 0.45  # fitted on a, b and c alone
    # one fold, or folds without errors (scored before they were kept), give nothing to cross-fit
    assert cross_fitted_calibration({"a": folds["a"], "x": {}}) == {"folds": {}}


def _run(group: str, genome: str, seed: int, target: float) -> dict:
    return {"group": group, "genome_hash": genome, "budget": 6, "seed": seed, "target": target, "curve": [target]}


def test_the_mae_noise_floor_comes_from_the_seed_spread_and_each_label_s_seed_count():
    # two students with seeds 0 and 1 (differences 0.1 and -0.1), one with seed 0 only
    runs = [_run("g", "a", 0, 0.5), _run("g", "a", 1, 0.4), _run("g", "b", 0, 0.6), _run("g", "b", 1, 0.7)]
    runs.append(_run("g", "c", 0, 0.8))
    floor = mae_noise_floor(runs, label_seeds=2)
    sigma = np.sqrt(0.01 / 2)
    assert floor["pairs"] == 2 and floor["seed_sigma"] == pytest.approx(sigma, abs=1e-6)
    per_label = np.sqrt(2 / np.pi) * sigma / np.sqrt([2, 2, 1])  # two two-seed labels, one one-seed label
    assert floor["mae_floor"] == pytest.approx(per_label.mean(), abs=1e-6)
    assert mae_noise_floor(runs, label_seeds=1)["mae_floor"] == pytest.approx(np.sqrt(2 / np.pi) * sigma, abs=1e-6)
    assert mae_noise_floor([_run("g", "a", 0, 0.5)], label_seeds=2) == {}


def test_a_split_makes_part_of_a_family_a_family_of_its_own():
    def record(spec, source=None):
        return {"tags": {"source": source} if source else {}, "task_spec": spec}

    splits = (("textures", ":size=32"),)
    assert family_of(record("textures:size=32:color=rgb", "textures"), splits) == "textures[:size=32]"
    assert family_of(record("textures:size=16:color=rgb", "textures"), splits) == "textures"
    assert family_of(record("shapes:size=32"), splits) == "shapes"  # another family with the same text: untouched
    assert family_of(record("textures:size=32")) == "textures"  # no split: the source
    runs = [{**record(f"textures:size={s}", "textures"), "group": f"g{s}"} for s in (16, 32, 32)]
    held, groups = held_out_runs("textures[:size=32]", runs, None, splits)
    assert [r["group"] for r in held] == ["g32", "g32"] and groups == 1


def _graded(noise_at, rng_seed: int) -> list[dict]:
    """Two groups of 100 students 0.005 apart (0.3 to 0.795), each trained with seeds 0 and 1, the seed noise of a
    student of true accuracy ``t`` of spread ``noise_at(t)``."""
    rng = np.random.default_rng(rng_seed)
    out = []
    for g in ("g", "h"):
        for i in range(100):
            true = 0.3 + 0.005 * i
            out += [_run(g, f"s{i}", seed, true + rng.normal(0, noise_at(true))) for seed in (0, 1)]
    return out


def test_the_top10_ceiling_is_one_without_seed_noise_and_falls_with_it():
    def runs(noise: float) -> list[dict]:
        return _graded(lambda true: noise, rng_seed=1)

    exact = top_precision_ceiling(runs(0.0), label_seeds=2)
    assert exact["ceiling"] == 1.0 and exact["seed_vs_seed"] == 1.0 and exact["seed_vs_seed_groups"] == 2
    assert exact["seed_sigma_by_level"] == [0.0] * 5
    noisy = top_precision_ceiling(runs(0.1), label_seeds=2)
    assert 0.85 < np.mean(noisy["seed_sigma_by_level"]) / 0.1 < 1.15
    # twenty times the gap between students: their order is mostly lost, and the top ten with it
    assert noisy["ceiling"] < 0.7 and noisy["seed_vs_seed"] < 0.7
    slightly = top_precision_ceiling(runs(0.005), label_seeds=2)
    assert noisy["ceiling"] < slightly["ceiling"] <= 1.0
    assert top_precision_ceiling([_run("g", "a", 0, 0.5)], label_seeds=2) == {}


def test_the_top10_ceiling_reads_the_seed_noise_at_each_accuracy_level():
    def runs(noisy_top: bool) -> list[dict]:
        out = _graded(lambda true: 0.05 if (true > 0.55) == noisy_top else 0.0, rng_seed=2)
        # a group of three students is too small to score: it changes no figure
        out += [_run("tiny", f"t{i}", seed, 0.5 + 0.1 * i) for i in range(3) for seed in (0, 1)]
        return out

    top_noisy, bottom_noisy = top_precision_ceiling(runs(True), 2), top_precision_ceiling(runs(False), 2)
    # the same noise pooled over all students, but only where it falls on the best students does it blur their order
    assert bottom_noisy["seed_sigma_by_level"][-1] == 0.0 and top_noisy["seed_sigma_by_level"][0] == 0.0
    assert bottom_noisy["ceiling"] == 1.0 and top_noisy["ceiling"] < 0.8
    assert top_noisy["seed_vs_seed_groups"] == 2  # not the tiny group


def test_the_beside_table_counts_equal_groups_and_the_groups_scored_here_only(tmp_path, monkeypatch):
    import json

    from benchmarks import render

    def fold(scores: dict[str, float]) -> dict:
        per_group = {g: {"ours (zero-shot)": z, "ours (adapted 10)": z} for g, z in scores.items()}
        return {"per_group": per_group, "mean": {}}

    there = {g: 0.5 for g in "abcdefg"}
    here = {**there, "a": 0.9, "b": 0.7, "x": 0.2, "y": 0.4}  # two groups better, five the same, two new
    (tmp_path / "ref.json").write_text(json.dumps({"folds": {"fam": fold(there)}}))
    monkeypatch.setattr(render, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(render, "render_leave_one_family_out", lambda data: "")
    text = render.render_lofo_beside("ref.json", {"fam": "fam"})({"folds": {"fam": fold(here)}})
    row = next(line for line in text.splitlines() if line.startswith("| fam "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "7" and cells[3] == "0.586" and cells[4] == "0.500"
    assert cells[5].startswith("2 of 7, 5 equal (p ") and cells[-1] == "2: 0.300"
    # beside two files: one row for each, in the order given; a file without the fold gives no row
    (tmp_path / "lower.json").write_text(json.dumps({"folds": {"fam": fold({g: 0.1 for g in "abcdefg"})}}))
    (tmp_path / "other.json").write_text(json.dumps({"folds": {"another": fold(there)}}))
    beside = render.render_lofo_beside(("lower.json", "other.json", "ref.json"), {"fam": "fam"})
    rows = [line for line in beside({"folds": {"fam": fold(here)}}).splitlines() if line.startswith("| fam ")]
    assert [row.split("|")[2].strip() for row in rows] == ["`fam` of `lower.json`", "`fam` of `ref.json`"]
    assert rows[0].split("|")[6].strip().startswith("7 of 7 (p ")


def test_a_fold_leaves_out_of_training_the_groups_whose_seeds_disagree():
    def run(group, genome, seed, target, family):
        task = f"{family}:{group}"
        return {**_run(f"{task}/t", genome, seed, target), "task_id": task, "task_spec": task, "tags": {}}

    runs = []
    for family, group, order in [("digits", "a", 1), ("glyphs", "b", 1), ("glyphs", "c", -1), ("shapes", "d", -1)]:
        for i in range(6):  # seed 1 ranks the students as seed 0 does (order 1) or the other way round (-1)
            runs += [run(group, f"g{i}", 0, 0.5 + 0.04 * i, family)]
            runs += [run(group, f"g{i}", 1, 0.5 + 0.04 * (i if order == 1 else 5 - i), family)]
    train, val, left_out = fold_runs("shapes", runs)
    assert left_out == {} and {e["group"] for e in train + val} == {"digits:a/t", "glyphs:b/t", "glyphs:c/t"}
    train, val, left_out = fold_runs("shapes", runs, min_reliability=0.5)
    assert left_out == {"glyphs:c/t": pytest.approx(-1.0)}  # the held-out family's own group is not training's
    assert {e["group"] for e in train} == {"digits:a/t", "glyphs:b/t"} - {e["group"] for e in val}


@pytest.mark.parametrize("bad", ["2", "-1.5", "nan", "high"])
def test_a_min_reliability_that_is_no_spearman_is_a_one_line_error(bad, monkeypatch, capsys):
    from benchmarks import leave_one_family_out

    argv = ["leave_one_family_out", "--data", "unread.csv.gz", "--min-reliability", bad]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_:
        leave_one_family_out.main()
    assert exit_.value.code == 2
    assert (
        f"--min-reliability: must be a Spearman correlation, a number from -1 to 1; got {bad!r}"
        in capsys.readouterr().err
    )


def test_merging_copies_the_folds_of_the_same_settings_only_and_recalibrates_across_them():
    rng = np.random.default_rng(0)
    settings = {"data": {"a.csv.gz": "0f"}, "max_groups": 24}

    def result(families, measured="x"):
        folds = {f: {**_fold(rng, 40, 0.05), "mean": {}} for f in families}
        return {"settings": dict(settings), "folds": folds, "measured": {"commit": measured}}

    here, other = result(["glyphs"]), result(["shapes", "digits"], measured="y")
    assert merge_folds(here, {"b.json": other}) == ["shapes", "digits"]
    assert set(here["folds"]) == {"glyphs", "shapes", "digits"}
    assert here["folds"]["shapes"]["measured"] == {"commit": "y"} and "measured" not in here["folds"]["glyphs"]
    assert set(here["cross_fitted_calibration"]["folds"]) == {"glyphs", "shapes", "digits"}
    assert merge_folds(here, {"b.json": other}) == []  # the same folds again: nothing new, no error

    changed = result(["textures"])
    changed["settings"]["max_groups"] = 12
    with pytest.raises(ValueError, match=r"c.json was measured with other settings than this command \(max_groups\)"):
        merge_folds(here, {"c.json": changed})
    rescored = result(["glyphs"])
    with pytest.raises(ValueError, match="d.json: its 'glyphs' fold differs"):
        merge_folds(here, {"d.json": rescored})
    assert set(here["folds"]) == {"glyphs", "shapes", "digits"}  # nothing of a refused file was copied


def test_a_new_out_takes_the_first_merged_file_s_measurement():
    settings = {"data": {}}
    here = {"settings": settings, "folds": {}}
    merge_folds(here, {"a.json": {"settings": settings, "folds": {"shapes": {}}, "measured": {"commit": "y"}}})
    assert here["measured"] == {"commit": "y"} and here["folds"]["shapes"] == {}


def test_merging_into_an_out_of_other_settings_is_a_one_line_error_and_keeps_its_folds(tmp_path, monkeypatch, capsys):
    import json

    from benchmarks import leave_one_family_out

    out, other = tmp_path / "out.json", tmp_path / "other.json"
    stored = json.dumps({"settings": {"data": {"another.csv.gz": "0f"}}, "folds": {"shapes": {"mean": {}}}})
    out.write_text(stored)
    other.write_text(json.dumps({"settings": {}, "folds": {}}))
    data = str(leave_one_family_out.ROOT / "datasets_meta" / "meta_v2" / "part9_aerial.csv.gz")
    argv = ["leave_one_family_out", "--data", data, "--out", str(out), "--merge", str(other)]
    monkeypatch.setattr("sys.argv", argv)
    monkeypatch.setattr(leave_one_family_out, "merge_folds", lambda results, others: [])  # a merge that would pass
    with pytest.raises(SystemExit) as exit_:
        leave_one_family_out.main()
    assert exit_.value.code == 2
    assert f"--merge: {out} holds folds of other data or settings than this command" in capsys.readouterr().err
    assert out.read_text() == stored


def test_a_fold_scored_into_a_file_leaves_the_earlier_folds_their_own_measurement():
    from benchmarks.leave_one_family_out import stamp

    results = {"folds": {"glyphs": {}, "shapes": {"measured": {"commit": "s"}}}, "measured": {"commit": "old"}}
    results["folds"]["textures"] = {}
    stamp(results, {"commit": "new"}, "textures")
    assert results["measured"] == {"commit": "new"} and "measured" not in results["folds"]["textures"]
    assert results["folds"]["glyphs"]["measured"] == {"commit": "old"}  # scored in the earlier run
    assert results["folds"]["shapes"]["measured"] == {"commit": "s"}  # copied in with its own stamp
    stamp(results, {"commit": "new"}, "glyphs")  # rescored in the same run
    assert results["folds"]["glyphs"] == {} and results["folds"]["shapes"]["measured"] == {"commit": "s"}
    first = {"folds": {"digits": {}}}
    stamp(first, {"commit": "a"}, "digits")  # a new file: nothing earlier to keep
    assert first == {"folds": {"digits": {}}, "measured": {"commit": "a"}}

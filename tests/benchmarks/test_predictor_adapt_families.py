"""The choice of an adaptation setting across held-out families: made on some families, never on the checked ones."""

import subprocess
import sys

from benchmarks.predictor_adapt_families import DEFAULT, GRID, chosen, name, render


def _row(adapted: float) -> dict:
    return {
        "adapted": adapted,
        "adapted_mae": 0.05,
        "adapted_top10": 0.3,
        "zero_shot_same_records": 0.5,
        "zero_shot_mae": 0.08,
        "groups": 3,
        "seconds": 1.0,
    }


def test_the_setting_is_chosen_on_the_choose_families_alone():
    names = [name(s) for s in GRID]
    a, b = names[0], names[1]
    folds = {
        "x": {n: _row(0.6) for n in names} | {b: _row(0.7)},  # b best on average over x and y ...
        "y": {n: _row(0.6) for n in names} | {a: _row(0.65)},
        "z": {a: _row(0.9), b: _row(0.1)},  # ... whatever it scores on z, a family the choice does not read
    }
    results = {"folds": folds}
    assert chosen(results, ["x", "y"]) == b
    assert chosen(results, ["x", "y", "z"]) == a
    # a setting not scored on every family it is chosen on is not a candidate; none scored: no choice
    del folds["y"][b]
    assert chosen(results, ["x", "y"]) == a
    assert chosen({"folds": {}}, ["x"]) is None


def test_the_table_marks_the_chosen_setting_and_the_families_roles():
    names = [name(s) for s in GRID]
    data = {
        "key": {"lofo": "f.json", "fold_dir": "abc", "choose": ["x"], "check": ["z"]},
        "grid": names,
        "chosen": names[2],
        "folds": {"x": {n: _row(0.6) for n in names}, "z": {name(DEFAULT): _row(0.5)}},
    }
    text = render(data)
    assert f"**{names[2]}**" in text and "x (chosen on)" in text and "z (check)" in text
    assert "0.600 / 0.050 / 0.300" in text and "–" in text  # z was not scored with every setting


def test_a_family_both_chosen_on_and_checked_is_refused():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.predictor_adapt_families",
            "--lofo",
            "x.json",
            "--data",
            "d.csv.gz",
            "--choose",
            "a",
            "b",
            "--check",
            "b",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "'b' is also in --choose" in out.stderr

"""``--strategy autodistil``: supernets trained and charged, sub-networks scored with inherited weights, the front
verified stand-alone; resumable; and ``ours``'s supernet-fidelity decision rule."""

import json

import numpy as np
import pytest

import search.rungs
import search.strategies.autodistil as autodistil
from dass.cli import main
from datasets_meta.collector import collect
from datasets_meta.store import SQLiteStore
from distill.genome import SPACES
from search import SearchConfig, format_front, resume_search, run_search
from search.context import SearchRun
from search.strategies.autodistil import supernet_spaces, supernet_trainings
from search.supernet_fidelity import MIN_PAIRS, decide

TASK = "digits:classes=0-4"
SETTINGS = dict(task=TASK, teacher="cnn-s", teacher_epochs=2, strategy="autodistil", max_params=20000,
                population=6, rungs=(1, 2), verify=2, max_trainings=4, save_best=False, seed=1)  # fmt: skip


def _config(out, **kw):
    return SearchConfig(out=str(out), **{**SETTINGS, **kw})


def _ledger_trainings(out) -> float:
    with SQLiteStore(out / "records.db", writer=False) as store:
        return sum(r["budget"] for r in store.records(status=None)) / 2


def test_autodistil_charges_its_supernets_and_verifies_an_inherited_front(tmp_path):
    result = run_search(_config(tmp_path / "a"))
    state = json.loads((result.out / "state.json").read_text())
    charges = state["charges"]
    assert charges and set(charges) <= {"supernet base", "supernet small", "supernet tiny"}
    for name, value in charges.items():  # each charge is the supernet's own cost accounting
        cost = json.loads((result.out / "supernets" / name.split()[1] / "cost.json").read_text())
        assert value == cost["full_budget_equivalent_trainings"] > 0
    assert result.trainings == pytest.approx(_ledger_trainings(result.out) + sum(charges.values()))
    assert result.trainings <= 4 + 1e-9 and sum(charges.values()) <= supernet_trainings(4, 2) + 1e-9
    assert result.front and all(r["budget"] == 2 and r["cost"] <= 20000 for r in result.front)
    assert all(r["predicted_acc"] is not None for r in result.front)  # the inherited accuracy it was picked by
    assert result.history[0]["trainings"] >= sum(charges.values())  # the curve starts after the supernets' cost
    report = (result.out / "report.md").read_text()
    assert "of which outside the trainings: supernet" in report and "inherited-weight scoring" in report
    assert "inherited = the accuracy with weights inherited from its supernet" in report
    assert "| test acc | inherited |" in report
    table = format_front(result.front, "params", "autodistil")
    assert table.split("\n")[0].split()[-2:] == ["inherited", "recipe"] and " ± " not in table


def test_autodistil_resumed_after_interruptions_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    whole = run_search(_config(tmp_path / "whole"))
    calls = []
    real = autodistil.train_supernet

    def interrupted_second_supernet(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(autodistil, "train_supernet", interrupted_second_supernet)
    with pytest.raises(KeyboardInterrupt):
        run_search(_config(tmp_path / "cut"))
    monkeypatch.setattr(autodistil, "train_supernet", real)

    def interrupting_collect(store, executor, **kw):  # the first verification's result, then Ctrl-C
        def on_result(job, outcome):
            kw["on_result"](job, outcome)
            raise KeyboardInterrupt

        return collect(store, executor, **{**kw, "on_result": on_result})

    monkeypatch.setattr(search.rungs, "collect", interrupting_collect)
    with pytest.raises(KeyboardInterrupt):
        resume_search(tmp_path / "cut")
    monkeypatch.setattr(search.rungs, "collect", collect)

    def refuse(*args, **kw):
        raise AssertionError("a supernet trained in the run directory is trained again")

    monkeypatch.setattr(autodistil, "train_supernet", refuse)
    resumed = resume_search(tmp_path / "cut")
    key = lambda rows: [(r["genome_hash"], r["val_acc"], r["test_acc"], r["predicted_acc"]) for r in rows]  # noqa: E731
    assert key(resumed.front) == key(whole.front) and resumed.trainings == pytest.approx(whole.trainings)
    a, b = (json.loads((d / "state.json").read_text()) for d in (tmp_path / "whole", tmp_path / "cut"))
    assert a["charges"] == b["charges"] and a["scores"] == b["scores"] and a["ledger"] == b["ledger"]


def test_a_space_without_supernets_is_one_line_and_exit_2(tmp_path, capsys):
    without = [s for s in SPACES.names() if s not in supernet_spaces()]
    if not without:
        pytest.skip("every space has supernets")
    out = tmp_path / "r"
    code = main(["search", "--task", TASK, "--teacher", "cnn-s", "--strategy", "autodistil", "--space", without[0],
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and repr(without[0]) in err
    assert all(s in err for s in supernet_spaces()) and not out.exists()


def test_supernet_for_a_strategy_that_does_not_read_it_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--supernet is read by --strategy ours only"):
        run_search(_config(tmp_path / "r", strategy="random", supernet=str(tmp_path)))


def test_the_supernets_share_what_the_verification_leaves():
    assert supernet_trainings(None, 8) is None
    assert supernet_trainings(20, 8) == 12 and supernet_trainings(4, 8) == 2 and supernet_trainings(4, 1) == 3


def test_workers_count_groups_and_the_group_reaches_the_trainer(tmp_path, monkeypatch):
    monkeypatch.delenv("DASS_GROUP", raising=False)
    kw = dict(task=TASK, teacher="cnn-s", teacher_epochs=2, strategy="random")
    for name in "abc":
        (tmp_path / name).mkdir()
    with SearchRun(SearchConfig(out=str(tmp_path / "a"), group=3, **kw), False) as run:
        assert run.workers == 3 and run.trainer.group == 3
    monkeypatch.setenv("DASS_GROUP", "5")  # without the setting, the default of the executor's device
    with SearchRun(SearchConfig(out=str(tmp_path / "b"), **kw), False) as run:
        assert run.workers == 5 and run.trainer.group == 5
    monkeypatch.delenv("DASS_GROUP")
    with SearchRun(SearchConfig(out=str(tmp_path / "c"), **kw), False) as run:
        assert run.workers == 1 and run.trainer.group == 1  # the CPU: one at a time, as always


# ---------------------------------------------------------------------------- ours's supernet-fidelity rule
MEASURED = np.array([0.50, 0.60, 0.70, 0.80, 0.90])


def test_inherited_accuracy_is_chosen_when_it_ranks_the_first_rung_better():
    predicted = np.array([0.9, 0.8, 0.7, 0.6, 0.5])  # the predictor ranks them backwards
    inherited = np.array([0.2, 0.3, 0.35, 0.5, 0.6])  # inherited ranks them right
    d = decide(predicted, inherited, MEASURED)
    assert d.source == "inherited" and d.pairs == 5
    assert d.rho_inherited == pytest.approx(1.0) and d.rho_predictor == pytest.approx(-1.0)
    # mapped onto the predictor's scale: same mean and spread over the candidates, order kept
    mapped = d.shift + d.scale * inherited
    assert mapped.mean() == pytest.approx(predicted.mean()) and mapped.std() == pytest.approx(predicted.std())


def test_the_predictor_stays_on_a_tie_a_worse_inherited_or_too_few_pairs():
    right = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    assert decide(right, right, MEASURED).source == "predictor"  # a tie keeps the default
    assert decide(right, right[::-1], MEASURED).source == "predictor"
    outside = np.array([0.1, np.nan, np.nan, 0.4, 0.5])  # only 3 candidates lie in a sub-space
    d = decide(right[::-1], outside, MEASURED)
    assert d.source == "predictor" and d.pairs == 3 < MIN_PAIRS and d.rho_predictor is None
    assert decide(right[::-1], np.full(5, 0.3), MEASURED).source == "predictor"  # constant: no ranking (rho 0)

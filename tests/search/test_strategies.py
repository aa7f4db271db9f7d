"""Search strategies: the registry, the strategy contract, and every registered strategy end to end."""

import ast
import inspect
import json

import pytest

from datasets_meta.store import SQLiteStore
from distill.genome import Genome
from search import STRATEGIES, SearchConfig, resume_search, run_search
from search.rungs import non_dominated
from search.strategies import SearchStrategy

TASK = "digits:classes=0-4"


def _front_is_non_dominated_and_stored(out, rows):
    accuracy = [r["val_acc"] for r in rows]
    cost = [r["cost"] for r in rows]
    assert sorted(non_dominated(accuracy, cost).tolist()) == list(range(len(rows)))
    with SQLiteStore(out / "records.db", writer=False) as store:
        records = {(r["genome_hash"], r["budget"]): r for r in store.records()}
    for row in rows:
        record = records[(row["genome_hash"], row["budget"])]
        assert record["status"] == "ok" and (record["val_acc"], record["test_acc"]) == (row["val_acc"], row["test_acc"])
        assert Genome.from_json(record["genome"]).to_dict() == row["genome"]
    return True


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_is_a_registered_object_with_setup_step_and_state(name):
    entry = STRATEGIES.get(name)
    assert entry.name == name and entry.description and isinstance(entry.needs_predictor, bool)
    strategy = entry.factory()
    assert isinstance(strategy, SearchStrategy)
    for verb in ("setup", "step", "candidates", "state_dict", "load_state_dict"):
        assert callable(getattr(strategy, verb)), verb
    assert STRATEGIES.get("ours").needs_predictor and not STRATEGIES.get("random").needs_predictor


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_a_strategy_acts_through_the_runs_verbs_only(name):
    """No strategy reads the trainer's ledger (tuples by position) or writes the run's settings."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(STRATEGIES.get(name).factory)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("ledger", "trainer", "max_trainings"), f"{name} uses .{node.attr}"
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                text = ast.unparse(target)
                assert not text.startswith(("run.", "self.run.", "c.")), f"{name} assigns {text}"


def test_an_unknown_strategy_is_refused_before_the_run_starts(tmp_path):
    config = SearchConfig(task="digits", teacher="cnn-s", out=str(tmp_path / "r"), strategy="grid")
    with pytest.raises(ValueError, match="unknown search strategy 'grid'; valid: autodistil, autokd, diswot, ours"):
        run_search(config)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_every_strategy_searches_within_the_training_budget(strategy, checkpoint, tmp_path):
    config = SearchConfig(
        task=TASK,
        teacher="cnn-s",
        teacher_epochs=2,
        out=str(tmp_path / strategy),
        checkpoint=checkpoint,
        strategy=strategy,
        max_params=20000,
        generations=2,
        population=4,
        rungs=(1, 2),
        rung_every=1,
        rung_size=3,
        eta=2,
        verify=2,
        max_trainings=4,
        save_best=False,
        seed=1,
    )
    settings = config.to_dict()
    result = run_search(config)
    assert config.to_dict() == settings  # a strategy keeps its own caps; the run's settings never change
    assert result.front and _front_is_non_dominated_and_stored(result.out, result.front)
    assert result.trainings <= 4 + 1e-9
    best = [h["best_val_acc"] for h in result.history if h["best_val_acc"] is not None]
    assert best == sorted(best) and best[-1] == max(r["val_acc"] for r in result.front)
    assert json.loads((result.out / "history.json").read_text()) == result.history  # the run's curve, on disk
    again = resume_search(result.out)  # resuming a finished run trains nothing and gives the same front
    assert again.front == result.front and again.trainings == result.trainings

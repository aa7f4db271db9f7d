"""SearchConfig: declared once; the `dass search` flags, their help and defaults come from its fields."""

import argparse
import dataclasses
import json

import pytest

from dass.cli import build_parser
from search import STRATEGIES, SearchConfig
from search.config import RESUMABLE
from search.flags import add_flags, flag_fields, given_settings, increasing_epochs, positive_int


def _search_help() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(sub.choices["search"].format_help().split())


def test_population_defaults_to_a_large_one_only_where_it_costs_no_training(tmp_path):
    def config(**kw):
        return SearchConfig(task="digits", teacher="cnn-s", out=str(tmp_path), **kw)

    assert config(strategy="ours").population == 100  # the predictor scores it
    assert config(strategy="uniads").population == 32  # its fitness is a training
    assert config(strategy="random").population == 32
    assert config(strategy="ours", population=8).population == 8
    with pytest.raises(ValueError, match="population"):
        config(strategy="ours", population=1)


def test_every_field_has_help_and_the_flags_are_generated_from_the_fields():
    for field in dataclasses.fields(SearchConfig):
        assert field.metadata["help"], field.name
    parser = argparse.ArgumentParser()
    fields = add_flags(parser, SearchConfig)
    names = {f.name for f in fields}
    # two tuning knobs have no flag (as before); every other setting has one
    assert {f.name for f in dataclasses.fields(SearchConfig)} - names == {"exploration", "adapt_steps"}
    args = parser.parse_args(["--rungs", "1,2", "--no-best", "--eta", "2", "--seed", "0"])
    given = given_settings(args, SearchConfig)
    assert given["rungs"] == (1, 2) and given["save_best"] is False and given["eta"] == 2 and given["seed"] == 0
    assert given["task"] is None and given["wandb"] is None  # not given: the config's default applies


def test_the_search_help_states_every_default_from_the_fields():
    text = _search_help()
    for phrase in (
        "epochs of a zoo teacher trained on demand (15)",
        "NSGA-II generations (20)",
        "for autodistil, sub-networks scored per supernet (100 for ours, 256 for autodistil, 32 otherwise)",
        "--group N candidates a worker trains together",
        "--supernet DIR",
        "the last is full (1,3,6)",
        "a bracket of rungs every this many generations (5)",
        "candidates at the first rung of a bracket (9)",
        "keep 1/eta of the candidates at every rung (3)",
        "final Pareto candidates trained at the full budget (8)",
        "rest spread along the front (0.5)",
        "cost objective: params, flops, latency (default: params)",
        "local, ray (default: local)",
        "training device: auto, cpu, cuda (default: auto)",
        "--no-best do not retrain the best student",
        "--max-latency MS latency budget, ms per image on the CPU",
        "--cache-dir",
        "--resume DIR",
    ):
        assert phrase in text, phrase
    assert f"{', '.join(STRATEGIES.names())} (default: ours, dass's own predictor-guided search; " in text


def test_flag_parsers_name_what_they_want():
    assert increasing_epochs("1,3,6") == (1, 3, 6)
    with pytest.raises(argparse.ArgumentTypeError, match="increasing positive epochs"):
        increasing_epochs("3,1")
    with pytest.raises(argparse.ArgumentTypeError, match="a positive integer; got '0'"):
        positive_int("0")


def test_config_json_round_trips_and_an_old_run_directory_still_loads(tmp_path):
    config = SearchConfig(task="digits", teacher="cnn-s", out=str(tmp_path), rungs=(1, 2), max_params=5000)
    config.save(tmp_path)
    assert SearchConfig.load(tmp_path) == config
    # the keys a run directory written before the settings were declared with their flags holds
    old = {
        **{f.name: getattr(config, f.name) for f in dataclasses.fields(SearchConfig)},
        "rungs": [1, 2],
    }
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert SearchConfig.load(tmp_path) == config
    (tmp_path / "config.json").write_text(json.dumps({**old, "budget_fudge": 2}))
    with pytest.raises(ValueError, match="unknown settings"):
        SearchConfig.load(tmp_path)


def test_only_where_trainings_run_may_change_on_resume():
    assert RESUMABLE == ("executor", "workers", "group", "ray_address")
    assert set(RESUMABLE) <= {f.name for f in flag_fields(SearchConfig)}


def test_a_predictor_without_the_spaces_family_is_refused_before_the_teacher_trains(tmp_path):
    from dass.cli import DEFAULT_CHECKPOINT
    from search.context import load_predictor

    v1 = DEFAULT_CHECKPOINT.with_name("predictor_v1.pt")  # meta-trained on CNN students only
    config = SearchConfig(task="digits", teacher="vit-s", space="vit", checkpoint=str(v1), out=str(tmp_path))
    with pytest.raises(ValueError, match=r"trained without the 'vit' student family .* space 'vit'\)"):
        load_predictor(config)
    assert load_predictor(dataclasses.replace(config, space="default")) is not None
    assert not any(tmp_path.iterdir())  # nothing written

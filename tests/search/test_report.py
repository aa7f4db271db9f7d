"""The run's plots and report say how much their numbers can bear."""

from types import SimpleNamespace

import numpy as np

from search.report import MIN_RANK_PAIRS, describe_rank_quality, plot_best_vs_trainings, plot_predicted_vs_measured


def _run(predicted, measured):
    """A run whose students ``i`` were predicted ``predicted[i]`` and measured ``measured[i]``."""
    results = [SimpleNamespace(genome=SimpleNamespace(hash=f"g{i}"), val_acc=float(a)) for i, a in enumerate(measured)]
    return SimpleNamespace(
        full_results=lambda: results,
        predictions={f"g{i}": [float(p), 0.01] for i, p in enumerate(predicted)},
        config=SimpleNamespace(full_budget=6),
    )


def test_a_small_gain_is_drawn_on_an_axis_from_chance_to_one(tmp_path):
    history = [
        {"trainings": 4.0, "best_val_acc": 0.9947},
        {"trainings": 8.0, "best_val_acc": 0.9947},
        {"trainings": 12.0, "best_val_acc": 1.0},
    ]
    low, high = plot_best_vs_trainings(tmp_path / "b.png", history, "ours", chance=0.1)
    assert low <= 0.1 and high >= 1.0  # it was 0.9947 to 1.000: a 0.005 gain filled the plot
    assert (tmp_path / "b.png").stat().st_size > 0


def test_no_rank_correlation_over_a_handful_of_students(tmp_path):
    # 11 students in two clusters, as in the run that printed "Spearman" over them
    predicted = [0.50, 0.51, 0.52, 0.50, 0.51, 0.80, 0.81, 0.82, 0.80, 0.81, 0.82]
    measured = [0.60, 0.62, 0.61, 0.63, 0.60, 0.90, 0.91, 0.92, 0.90, 0.93, 0.91]
    quality = plot_predicted_vs_measured(tmp_path / "p.png", _run(predicted, measured))
    assert quality["n"] == 11 and quality["spearman"] is None
    assert describe_rank_quality(quality) == (
        f"n=11 student(s) predicted and then measured: too few for a rank correlation (it needs {MIN_RANK_PAIRS})"
    )


def test_a_rank_correlation_comes_with_its_n_and_interval(tmp_path):
    rng = np.random.default_rng(0)
    predicted = np.linspace(0.5, 0.9, 30)
    measured = predicted + rng.normal(0, 0.02, 30)
    quality = plot_predicted_vs_measured(tmp_path / "p.png", _run(predicted, measured))
    assert quality["n"] == 30 and quality["low"] < quality["spearman"] < quality["high"] <= 1
    text = describe_rank_quality(quality)
    assert text.startswith(f"Spearman {quality['spearman']:.2f} over n=30 students (95% interval")

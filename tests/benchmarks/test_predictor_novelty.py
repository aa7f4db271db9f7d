import numpy as np

from benchmarks.predictor_novelty import _rank_correlation, coverage_summary, summary


def test_the_rank_correlation_is_undefined_where_every_group_lies_inside_the_range():
    inside = np.zeros(5)
    assert _rank_correlation(inside, np.arange(5.0)) == {"rho": None, "p": None}
    assert np.isclose(_rank_correlation(np.arange(5.0), np.arange(5.0))["rho"], 1.0)


def test_coverage_is_summarised_beyond_and_within_each_distance():
    rows = [
        {"distance": 0.0, "within_1sigma": 0.5, "ours (zero-shot)": 0.8},
        {"distance": 0.1, "within_1sigma": 0.7, "ours (zero-shot)": 0.7},
        {"distance": 0.6, "within_1sigma": 0.9, "ours (zero-shot)": 0.6},
        {"distance": 2.0, "within_1sigma": 1.0, "ours (zero-shot)": 0.5},
        {"distance": 3.0, "ours (zero-shot)": 0.4},  # a group without a coverage (no fold predictor) is left out
    ]
    c = coverage_summary(rows)
    assert c["groups"] == 4 and np.isclose(c["within_1sigma"], 0.775)
    at_notice = c["thresholds"]["0.25"]
    assert at_notice["beyond"]["groups"] == 2 and np.isclose(at_notice["beyond"]["within_1sigma"], 0.95)
    assert at_notice["within"]["groups"] == 2 and np.isclose(at_notice["within"]["within_1sigma"], 0.6)
    assert np.isclose(c["spearman_distance_vs_coverage"]["rho"], 1.0)
    assert np.isclose(summary(rows)["spearman_distance_vs_zero_shot"]["rho"], -1.0)

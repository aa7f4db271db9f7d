"""The rendering of benchmark result files into RESULTS.md."""

from benchmarks.render import render_search_efficiency


def _efficiency(seeds: dict[str, int]) -> dict:
    """A search_efficiency result with ``seeds[strategy]`` runs of each strategy on one task."""
    runs = [
        {"task": "digits", "strategy": strategy, "seed": seed, "history": [{"trainings": 1.0, "best_test_acc": 0.9}]}
        for strategy, n in seeds.items()
        for seed in range(n)
    ]
    return {
        "args": {
            "max_trainings": 20.0,
            "random_trainings": 200.0,
            "max_params": 20000.0,
            "seeds": seeds["ours"],
            "checkpoint": "checkpoints/p.pt",
        },
        "runs": runs,
        "trainings_to_match_random": [],
        "nsga2_overhead": {
            "population": 100,
            "generations": 100,
            "evaluations": 10000,
            "total_s": 1.0,
            "architectures_costed": 10,
            "predictor_s": 0.1,
            "cost_s": 0.1,
            "pymoo_and_decoding_s": 0.8,
        },
    }


def test_search_efficiency_says_each_strategys_seeds_when_they_differ():
    assert render_search_efficiency(_efficiency({"ours": 3, "random": 3})).startswith("3 seeds per strategy; ")
    text = render_search_efficiency(_efficiency({"random": 3, "ours": 6}))
    assert text.startswith("seeds: ours 6, random 3; ")  # a reference run with fewer seeds than this run's

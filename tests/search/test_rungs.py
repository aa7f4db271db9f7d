"""Successive-halving rungs: Pareto ranking, candidate selection, the accuracy share, promotion."""

import numpy as np

from distill.genome import Genome, Recipe, StageGene
from search.rungs import (
    Measurement,
    non_dominated,
    pareto_order,
    select_candidates,
    successive_halving,
    with_accuracy_share,
)


def test_pareto_order_ranks_fronts_then_crowding_and_puts_failures_last():
    acc = np.array([0.9, 0.8, 0.95, 0.7, 0.99, np.nan])
    cost = np.array([10.0, 5.0, 20.0, 6.0, 1.0, 1.0])
    ok = np.array([True, True, True, True, False, True])
    order = pareto_order(acc, cost, ok)
    # front 0 = {1, 0, 2} (ends first: 2 most accurate, 1 cheapest), then 3; failed 4 and NaN 5 last
    assert set(order[:3]) == {0, 1, 2} and order[3] == 3 and set(order[4:]) == {4, 5}
    assert list(order[:3]).index(0) == 2  # the middle of the front is the least crowded
    assert non_dominated(acc[:4], cost[:4]).tolist() == [1, 0, 2]


def test_selection_prefers_uncertain_students_among_equals():
    F = np.array([[-0.8, 100.0], [-0.8, 100.0], [-0.5, 50.0], [-0.9, 200.0]])
    std = np.array([0.0, 0.2, 0.0, 0.0])
    eligible = np.array([True, True, True, False])
    chosen = select_candidates(F, std, eligible, n=2)
    assert 3 not in chosen and chosen[0] == 1  # optimistic 1.0 beats 0.8; 3 is not eligible


def test_accuracy_share_interleaves_the_front_with_the_most_accurate():
    # a front spread by crowding (ends first), and 5 points off it that are more accurate than its middle
    front = [0, 1, 2, 3]
    accuracy = np.array([0.95, 0.50, 0.70, 0.60, 0.90, 0.80, 0.85, 0.2, 0.1])
    assert with_accuracy_share(front, accuracy, 0.0, pool=range(9)) == front  # 0: the front alone
    assert with_accuracy_share(front, accuracy, 1.0) == [0, 2, 3, 1]  # 1: by accuracy
    # 0.5: every second slot is the most accurate not yet taken, from the pool; then the rest
    assert with_accuracy_share(front, accuracy, 0.5, pool=range(9)) == [0, 4, 1, 6, 2, 5, 3, 7, 8]
    # the bracket's selection: a share of the rung goes to the most accurate (optimistic) ones
    F = np.column_stack([-accuracy, [10.0, 1.0, 4.0, 2.0, 30.0, 20.0, 25.0, 50.0, 60.0]])
    eligible = np.ones(9, dtype=bool)
    assert select_candidates(F, np.zeros(9), eligible, n=3, accuracy_share=0.0).tolist() == [0, 1, 2]
    assert select_candidates(F, np.zeros(9), eligible, n=3, accuracy_share=0.5).tolist() == [0, 4, 1]


def test_successive_halving_promotes_by_pareto_rank_and_never_a_diverged_run():
    genomes = [Genome(8, (StageGene("conv", 1, w), StageGene("conv", 1, w)), Recipe.plain()) for w in (8, 16, 24, 32)]
    accuracy = {8: 0.5, 16: 0.9, 24: 0.7, 32: None}  # the widest one diverges
    trained = []

    def train(gs, budget):
        trained.append((budget, [g.stages[0].width for g in gs]))
        return [
            Measurement(
                g, budget, "diverged" if accuracy[g.stages[0].width] is None else "ok", accuracy[g.stages[0].width]
            )
            for g in gs
        ]

    levels = successive_halving(
        genomes, train, (1, 3), eta=2, cost=lambda gs: np.array([g.stages[0].width for g in gs])
    )
    # the two ends of the first front (cheapest and most accurate) go up; the diverged run never does
    assert trained[0] == (1, [8, 16, 24, 32]) and trained[1][0] == 3 and sorted(trained[1][1]) == [8, 16]
    assert len(levels) == 2

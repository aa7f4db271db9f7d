"""The random-forest baseline's flat encoding: one space as before, several spaces in one shared encoding."""

import numpy as np

from distill.genome import get_space
from predictor.evaluate import flat_choices, flat_features


def _example(genome, params=1000):
    return {"genome": genome.to_json(), "params": params, "budget": 2, "task_features": {"global": [0.5, 0.25]}}


def test_examples_of_one_space_are_encoded_by_that_space_alone():
    rng = np.random.default_rng(0)
    examples = [_example(get_space("default").sample(rng)) for _ in range(20)]
    assert flat_choices(examples) == get_space("default").vector_choices()
    for e in examples:
        np.testing.assert_array_equal(flat_features(e, flat_choices(examples)), flat_features(e))


def test_genomes_of_several_spaces_share_one_encoding_that_keeps_their_values_apart():
    rng = np.random.default_rng(1)
    default = [_example(get_space("default").sample(rng)) for _ in range(10)]
    wide = [_example(get_space("wide").sample(rng)) for _ in range(10)]
    choices = flat_choices(default + wide)
    widths = dict(choices)["stage0.width"]
    assert set(widths) == set(get_space("wide").widths) | set(get_space("default").widths)
    rows = np.stack([flat_features(e, choices) for e in default + wide])
    assert rows.shape[0] == 20 and len({len(r) for r in rows}) == 1
    # every active gene is one-hot in the shared encoding: a 96-channel stage is not read as another width
    n_genes = len(choices)
    assert (rows[:, : sum(len(c) for _, c in choices)].sum(axis=1) == n_genes).all()

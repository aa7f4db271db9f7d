"""The random-forest baseline's flat encoding: one space as before, several spaces in one shared encoding."""

from dataclasses import replace

import numpy as np

from distill.genome import Genome, get_space
from predictor.evaluate import flat_choices, flat_features


def _example(genome, params=1000):
    return {"genome": genome.to_json(), "params": params, "budget": 2, "task_features": {"global": [0.5, 0.25]}}


def test_examples_of_one_space_are_encoded_by_that_space_alone():
    rng = np.random.default_rng(0)
    examples = [_example(get_space("default").sample(rng)) for _ in range(20)]
    space = get_space("default")
    recipe = {gene for gene, _ in space.recipe_choices}
    # the space's own genes, each architecture gene named with its family
    assert flat_choices(examples) == [
        (gene if gene in recipe else f"staged_cnn.{gene}", c) for gene, c in space.vector_choices()
    ]
    for e in examples:
        np.testing.assert_array_equal(flat_features(e, flat_choices(examples)), flat_features(e))
        onehot = flat_features(e)[: space.one_hot([]).shape[1]]
        np.testing.assert_array_equal(onehot, space.one_hot([Genome.from_json(e["genome"])])[0])


def test_genomes_of_several_spaces_share_one_encoding_that_keeps_their_values_apart():
    rng = np.random.default_rng(1)
    default = [_example(get_space("default").sample(rng)) for _ in range(10)]
    wide = [_example(get_space("wide").sample(rng)) for _ in range(10)]
    choices = flat_choices(default + wide)
    widths = dict(choices)["staged_cnn.stage0.width"]
    assert set(widths) == set(get_space("wide").widths) | set(get_space("default").widths)
    rows = np.stack([flat_features(e, choices) for e in default + wide])
    assert rows.shape[0] == 20 and len({len(r) for r in rows}) == 1
    # every active gene is one-hot in the shared encoding: a 96-channel stage is not read as another width
    n_genes = len(choices)
    assert (rows[:, : sum(len(c) for _, c in choices)].sum(axis=1) == n_genes).all()


def test_one_student_has_one_encoding_whichever_space_it_comes_from():
    """A staged CNN of the ``mixed`` space (staged CNN or ViT) is the same student as in ``default``: the forest
    must see the same genes, not all zeros because the mixed space names them ``staged_cnn.<gene>``."""
    rng = np.random.default_rng(2)
    default = [get_space("default").sample(rng) for _ in range(10)]
    mixed = [replace(g, space="mixed").validate() for g in default]
    choices = flat_choices([_example(g) for g in default + mixed])
    for a, b in zip(default, mixed):
        np.testing.assert_array_equal(flat_features(_example(a), choices), flat_features(_example(b), choices))


def test_families_do_not_share_gene_columns_or_stage_flags():
    rng = np.random.default_rng(3)
    cnn = [_example(get_space("default").sample(rng)) for _ in range(10)]
    vit = [_example(get_space("vit").sample(rng)) for _ in range(10)]
    choices = flat_choices(cnn + vit)
    recipe = {gene for gene, _ in get_space("default").recipe_choices}
    arch = [gene for gene, _ in choices if gene not in recipe]
    assert arch and all(gene.startswith(("staged_cnn.", "vit.")) for gene in arch)
    rows = np.stack([flat_features(e, choices) for e in cnn + vit])
    n_onehot = sum(len(c) for _, c in choices)
    # a genome sets exactly one value of each gene of its own family and of the recipe, none of the other's
    own = {"staged_cnn": 0, "vit": 0}
    for gene, _ in choices:
        if gene not in recipe:
            own[gene.split(".")[0]] += 1
    expected = [own["staged_cnn"] + len(recipe)] * 10 + [own["vit"] + len(recipe)] * 10
    np.testing.assert_array_equal(rows[:, :n_onehot].sum(axis=1), expected)
    # stage flags per family: a ViT's stages are not counted in the CNN's flags
    flags = rows[:, n_onehot:-4]
    assert flags.shape[1] == 4 + 3  # the default space's 4 CNN stages, the vit space's 3
    assert not flags[10:, :4].any() and not flags[:10, 4:].any()

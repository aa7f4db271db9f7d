import json

import numpy as np
import pytest

from distill.genome import SPACES, Genome, Recipe, StageGene, get_space, hint_index


def _sample(space: str, n: int, seed: int = 0, **kw) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng, **kw) for _ in range(n)]


@pytest.mark.parametrize("space", SPACES.names())
def test_samples_are_valid_and_round_trip(space):
    for g in _sample(space, 100):
        assert g.validate() is g
        assert Genome.from_json(g.to_json()) == g
        assert Genome.from_vector(g.to_vector(), space) == g
        assert Genome.from_json(g.to_json()).hash == g.hash


@pytest.mark.parametrize("space", SPACES.names())
def test_vector_within_bounds(space):
    lower, upper = get_space(space).bounds()
    for g in _sample(space, 50):
        v = g.to_vector()
        assert v.shape == lower.shape and (v >= lower).all() and (v <= upper).all()


def test_random_vectors_decode_to_valid_genomes():
    sp = get_space("default")
    lower, upper = sp.bounds()
    rng = np.random.default_rng(1)
    for _ in range(200):
        g = Genome.from_vector(rng.integers(lower, upper + 1), sp)
        g.validate()
        widths = [s.width for s in g.stages]
        assert widths == sorted(widths)


def test_mutation_changes_and_stays_valid():
    rng = np.random.default_rng(2)
    g = _sample("default", 1)[0]
    changed = 0
    for _ in range(50):
        m = g.mutate(rng, n_genes=2)
        m.validate()
        changed += m.hash != g.hash
    assert changed > 25


def test_hash_ignores_inactive_genes():
    g = _sample("default", 1, distill=False)[0]
    # with no hint, the hint transform has no effect; with no logit loss, the temperature neither
    other = Genome(
        g.stem_width, g.stages, Recipe(**{**g.recipe.__dict__, "hint_transform": "attention", "temperature": 8.0})
    )
    assert other.hash == g.hash
    assert g.with_recipe(Recipe(logit_loss="kl", temperature=4.0)).hash != g.hash


def test_controls_and_distilling_samples():
    assert all(not g.recipe.distills and g.recipe.ce_weight == 1.0 for g in _sample("default", 20, distill=False))
    assert all(g.recipe.distills for g in _sample("default", 50, distill=True))


def test_dass_resnet_and_mobilenet_spaces():
    for g in _sample("resnet", 20):
        assert len(g.stages) == 4 and {s.block for s in g.stages} == {"basic"}
    blocks = {s.block for g in _sample("mobilenet", 50) for s in g.stages}
    assert blocks == {"mbconv", "dwsep"}
    kernels = {s.kernel for g in _sample("mobilenet", 50) for s in g.stages}
    assert 7 in kernels


def _genome_dict() -> dict:
    return {
        "stem_width": 16,
        "stages": [
            {"block": "basic", "depth": 1, "width": 16},
            {"block": "mbconv", "depth": 2, "width": 32, "expansion": 4},
        ],
        "recipe": {"logit_loss": "kl", "temperature": 4, "hint_position": "late", "hint_transform": "attention"},
    }


def test_from_dict_defaults_and_int_floats():
    g = Genome.from_dict(_genome_dict())
    assert g.recipe.temperature == 4.0 and isinstance(g.recipe.temperature, float)
    assert g.stages[1] == StageGene("mbconv", 2, 32, 3, 4, False)
    assert g.hint_stage() == 1


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["stages"][0].update(width=10),
            "the stage 0 'width' gene must be one of {8, 12, 16, 24, 32, 48, 64}; got 10",
        ),
        (
            lambda d: d["stages"][1].update(block="dense"),
            "stage 1 'block' gene must be one of {'conv', 'basic', 'mbconv', 'dwsep'}; got 'dense'",
        ),
        (lambda d: d["recipe"].update(logit_loss="js"), "'logit_loss' gene must be one of"),
        (
            lambda d: d["recipe"].update(temperature=3),
            "'temperature' gene must be one of {1.0, 2.0, 4.0, 8.0}; got 3.0",
        ),
        (lambda d: d["stages"].reverse(), "stage widths must not decrease"),
        (lambda d: d.update(stages=[]), "non-empty list"),
        (lambda d: d.update(stages=d["stages"] * 3), "number of stages must be in [2, 4]; got 6"),
        (lambda d: d.update(colour="red"), "unknown key 'colour' in genome"),
        (lambda d: d["stages"][0].update(se=1), "'se' gene must be one of {False, True}; got 1"),
        (lambda d: d.update(space="transformer"), "unknown search space 'transformer'; valid: default, "),
        (
            lambda d: d.update(recipe={"logit_loss": "none", "ce_weight": 0.0}),
            "the recipe trains nothing",
        ),
    ],
)
def test_validation_errors_name_the_value(edit, message):
    d = _genome_dict()
    edit(d)
    with pytest.raises(ValueError) as e:
        Genome.from_dict(d)
    assert message in str(e.value)


def test_from_json_rejects_garbage():
    with pytest.raises(ValueError, match="not valid JSON"):
        Genome.from_json("{nope")
    with pytest.raises(ValueError, match="must be a JSON object"):
        Genome.from_json(json.dumps([1, 2]))


def test_hint_index_spreads_over_depth():
    assert [hint_index(p, 4) for p in ("early", "mid", "late")] == [0, 2, 3]
    assert [hint_index(p, 2) for p in ("early", "mid", "late")] == [0, 0, 1]


def test_space_reads_its_family_genes_and_rejects_bad_choices():
    from distill.families import StagedCNNSpace
    from distill.genome import SearchSpace

    sp = get_space("resnet")
    assert sp.widths is sp.arch.widths and sp.family.name == "staged_cnn"
    with pytest.raises(AttributeError, match="no attribute 'colour'"):
        _ = sp.colour
    with pytest.raises(ValueError, match="block_types must be drawn from"):
        StagedCNNSpace(block_types=("dense",))
    with pytest.raises(ValueError, match="min_stages must be in"):
        StagedCNNSpace(min_stages=0)
    with pytest.raises(ValueError, match="hint_distances must be drawn from"):
        SearchSpace(hint_distances=("emd",))

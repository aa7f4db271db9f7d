"""The transformer recipes in the search space: new registry entries stay out of the existing spaces, which are
pinned, and enter the spaces that opt into them (``recipe_space`` of a family's space)."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from distill import genome, losses
from distill.families.staged_cnn import StagedCNNSpace
from distill.genome import SPACES, Genome, Recipe, SearchSpace, StageGene, space_of


@dataclass(frozen=True)
class _OptIn(StagedCNNSpace):
    recipe_space: ClassVar[dict] = losses.TRANSFORMER_RECIPE


def test_the_default_recipe_choices_are_the_first_ones_spelled_out():
    space = SearchSpace()
    assert space.logit_losses == ("none", "kl", "dist", "mse")
    assert space.hint_transforms == ("connector", "attention", "relation", "channel")
    assert space.hint_distances == ("mse", "l1", "cosine", "pearson")
    assert "attn_relation" in genome.HINT_TRANSFORMS  # a gene value (and a predictor column) all the same


@pytest.mark.parametrize("name", [n for n in SPACES.names() if not getattr(SPACES.get(n).arch, "recipe_space", None)])
def test_spaces_that_do_not_opt_in_never_sample_a_transformer_recipe(name):
    space = SPACES.get(name)
    assert "attn_relation" not in space.hint_transforms
    rng = np.random.default_rng(0)
    assert all(space.sample(rng).recipe.hint_transform != "attn_relation" for _ in range(200))


def test_a_space_opts_in_through_its_architecture_choices(monkeypatch):
    space = space_of("opt-in", _OptIn())
    monkeypatch.setitem(SPACES._entries, "opt-in", space)
    assert space.hint_transforms == (*losses.V1_HINT_TRANSFORMS, "attn_relation")
    assert space.logit_losses == losses.V1_LOGIT_LOSSES  # what it does not override stays
    rng = np.random.default_rng(0)
    assert any(space.sample(rng).recipe.hint_transform == "attn_relation" for _ in range(200))


def test_a_bad_recipe_space_is_a_clear_error():
    @dataclass(frozen=True)
    class Bad(StagedCNNSpace):
        recipe_space: ClassVar[dict] = {"hint_transform": ("connector",)}

    with pytest.raises(ValueError, match="unknown key 'hint_transform'.*hint_transforms"):
        space_of("bad", Bad())

    @dataclass(frozen=True)
    class Unknown(StagedCNNSpace):
        recipe_space: ClassVar[dict] = {"hint_transforms": ("connector", "nope")}

    with pytest.raises(ValueError, match=r"hint_transforms must be drawn from .*got \['nope'\]"):
        space_of("unknown", Unknown())


def test_the_distance_gene_of_a_relation_hint_is_canonical(monkeypatch):
    monkeypatch.setitem(SPACES._entries, "opt-in", space_of("opt-in", _OptIn()))
    stages = (StageGene("basic", 1, 8), StageGene("conv", 1, 16))
    a = Genome(8, stages, Recipe("kl", 4.0, 0.5, 1.0, "late", "attn_relation", "cosine", 1.0), "opt-in")
    b = Genome(8, stages, Recipe("kl", 4.0, 0.5, 1.0, "late", "attn_relation", "mse", 1.0), "opt-in")
    assert a.hash == b.hash and a.canonical().recipe.hint_distance == "mse"
    assert genome.OWN_OBJECTIVE_TRANSFORMS == ("attn_relation",)
    # in a space without it, the gene value is an error naming the choices
    with pytest.raises(ValueError, match="'hint_transform' gene must be one of"):
        Genome(8, stages, a.recipe).validate()
    assert Genome.from_json(a.to_json()) == a

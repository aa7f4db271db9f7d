"""The union family (distill/families/mixed.py): one search space over the staged CNN and the vision transformer.

The family contract (round trips, costs, graphs, taps) runs over the mixed spaces in test_families.py; here
is what is the union's own: the member read from the stage genes, the ``family`` gene, mutation across it.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from distill.families import FAMILIES
from distill.families.mixed import MixedSpace
from distill.families.staged_cnn import StagedCNNSpace
from distill.families.vit import ViTSpace
from distill.genome import Genome, StageGene, get_space
from distill.vit import ViTNet, ViTStageGene
from predictor.graph import LAYOUT, encode_batch, genome_to_graph

CNN = Genome(16, (StageGene("basic", 1, 16), StageGene("mbconv", 2, 32, 3, 4)), space="mixed")
VIT = Genome(0, (ViTStageGene(2, 1, 16, 2, 2), ViTStageGene(2, 2, 32, 4, 4)), space="mixed")


def _sample(space: str, n: int, seed: int) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng) for _ in range(n)]


def test_a_mixed_genome_is_its_member_family_s_genome():
    for g, member, net_type in ((CNN, "staged_cnn", torch.nn.Module), (VIT, "vit", ViTNet)):
        alone = replace(g, space="default" if member == "staged_cnn" else "vit")
        assert g.family.member_of(g).name == member
        assert g.count_params((1, 12, 12), 10) == alone.count_params((1, 12, 12), 10)
        assert g.count_macs((3, 32, 32), 10) == alone.count_macs((3, 32, 32), 10)
        assert isinstance(g.build((1, 12, 12), 10, seed=0), net_type)
        assert g.to_dict() == {**alone.to_dict(), "space": "mixed"}
        assert np.array_equal(genome_to_graph(g).x, genome_to_graph(alone).x)
        assert Genome.from_json(g.to_json()) == g


def test_sampling_draws_both_families_deterministically():
    a, b = _sample("mixed", 100, 0), _sample("mixed", 100, 0)
    assert a == b
    members = [g.family.member_of(g).name for g in a]
    assert set(members) == {"staged_cnn", "vit"}
    for g in a:
        g.validate()


def test_the_vector_starts_with_the_family_gene_and_keeps_each_member_s_positions():
    sp = get_space("mixed")
    names = [n for n, _ in sp.vector_choices()]
    cnn_genes = [n for n, _ in get_space("default").family.vector_choices(get_space("default").arch)]
    vit_genes = [n for n, _ in get_space("vit").family.vector_choices(get_space("vit").arch)]
    assert names[: 1 + len(cnn_genes) + len(vit_genes)] == [
        "family",
        *(f"staged_cnn.{n}" for n in cnn_genes),
        *(f"vit.{n}" for n in vit_genes),
    ]
    v = VIT.to_vector()
    assert v[0] == 1 and not v[1 : 1 + len(cnn_genes)].any()
    assert Genome.from_vector(v, "mixed") == VIT and Genome.from_vector(CNN.to_vector(), "mixed") == CNN


def test_mutation_can_flip_the_family_and_lands_on_a_valid_student():
    sp = get_space("mixed")
    rng = np.random.default_rng(0)
    lower, upper = sp.bounds()
    flips = 0
    for g in _sample("mixed", 40, 1):
        for n_genes in (1, 4, 12):
            child = g.mutate(rng, n_genes)
            child.validate()
            flips += child.family.member_of(child).name != g.family.member_of(g).name
    assert flips > 0
    for _ in range(200):
        Genome.from_vector(rng.integers(lower, upper + 1), sp).validate()


@pytest.mark.parametrize(
    ("genome", "message"),
    [
        (
            replace(CNN, stages=(StageGene("basic", 1, 16, kernel=4), StageGene("basic", 1, 16))),
            "the stage 0 'kernel' gene must be one of {3, 5}",
        ),
        (replace(VIT, stages=(ViTStageGene(2, 1, 32, 3, 2),)), "the 'width' 32 must be divisible by the 'heads' 3"),
        (
            replace(VIT, stages=(ViTStageGene(2, 1, 16, 2, 2), StageGene("basic", 1, 16))),
            "a genome's stages must all be of one student family; got StageGene, ViTStageGene",
        ),
        (replace(VIT, stages=("conv",)), "stage 0 must be one of StageGene (staged_cnn), ViTStageGene (vit); got str"),
    ],
)
def test_validation_reads_the_member_s_space(genome, message):
    with pytest.raises(ValueError) as e:
        genome.validate()
    assert message in str(e.value)


def test_json_picks_the_member_by_the_stage_keys():
    d = VIT.to_dict()
    d["stages"][0] = {"depth": 1, "width": 16}
    with pytest.raises(ValueError, match=r"stage 0's keys \['depth', 'width'\] are no member family's stage"):
        Genome.from_dict(d)
    d = CNN.to_dict()
    d["stages"][1] = VIT.to_dict()["stages"][1]
    with pytest.raises(ValueError, match="unknown key 'heads' in stage 1"):
        Genome.from_dict(d)


def test_interleaved_families_encode_in_order():
    genomes = _sample("mixed", 30, 2) + [VIT, CNN, VIT]
    batch = encode_batch(genomes)
    for k, g in enumerate(genomes):
        assert torch.equal(batch[k].x, genome_to_graph(g).x)
        assert torch.equal(batch[k].edge_index, genome_to_graph(g).edge_index)
    family = FAMILIES.get("mixed")
    arch = family.graph_batch(genomes, LAYOUT)
    assert arch.tap_ptr[-1] == sum(len(family.tap_channels(g)) for g in genomes)


def test_a_mixed_space_holds_each_registered_family_once():
    with pytest.raises(ValueError, match="holds each family once"):
        MixedSpace(members=(ViTSpace(), ViTSpace()))
    with pytest.raises(ValueError, match=r"must be spaces of the families \['staged_cnn', 'vit'\]; got 'mixed'"):
        MixedSpace(members=(StagedCNNSpace(), MixedSpace()))

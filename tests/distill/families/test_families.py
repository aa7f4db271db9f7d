"""Contract tests of every registered student family, every search space and every block type.

Parametrised over the registries, so a new family, space or block type is tested for free.
"""

import numpy as np
import pytest
import torch

from distill.cost import count_flops, count_params
from distill.families import FAMILIES, ArchGraph, StudentFamily
from distill.genome import SPACES, Genome, get_space
from distill.nets import BLOCKS, IDENTITY, NO_SHORTCUT, PROJECTION, SHORTCUTS, BasicBlock, MBConv
from predictor.graph import LAYOUT

SHAPES = [((1, 8, 8), 10), ((1, 28, 28), 10), ((3, 32, 32), 100), ((2, 5, 7), 3), ((1, 1, 1), 4)]


def _sample(space: str, n: int, seed: int = 0) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng) for _ in range(n)]


def _spaces_of(family: str) -> list[str]:
    return [s for s in SPACES.names() if get_space(s).family.name == family]


@pytest.mark.parametrize("family", FAMILIES.names())
def test_family_declares_the_contract(family):
    fam = FAMILIES.get(family)
    assert isinstance(fam, StudentFamily) and fam.name == family
    assert fam.spaces, "a family brings at least one search space"
    for name, arch in fam.spaces.items():
        assert isinstance(arch, fam.space_type) and arch.family == family
        assert get_space(name).arch == arch
    assert "stage_pos" in fam.graph_features
    assert set(fam.node_types) >= {"input", "output"}


@pytest.mark.parametrize("space", SPACES.names())
def test_json_vector_and_hash_round_trips(space):
    for g in _sample(space, 60, seed=11):
        assert Genome.from_json(g.to_json()) == g
        assert Genome.from_vector(g.to_vector(), space) == g
        assert Genome.from_json(g.to_json()).hash == g.hash == g.canonical().hash
        assert g.canonical() == g  # samples are canonical
        lower, upper = get_space(space).bounds()
        assert ((g.to_vector() >= lower) & (g.to_vector() <= upper)).all()


@pytest.mark.parametrize("space", SPACES.names())
def test_one_hot_marks_one_choice_per_vector_position(space):
    sp = get_space(space)
    genomes = _sample(space, 20, seed=12)
    features = sp.one_hot(genomes)
    assert features.shape == (20, sum(len(c) for _, c in sp.vector_choices()))
    assert (features.sum(1) == sp.n_var).all()


@pytest.mark.parametrize("space", SPACES.names())
def test_builder_matches_the_parameter_and_mac_counts(space):
    for i, g in enumerate(_sample(space, 12, seed=13)):
        shape, classes = SHAPES[i % len(SHAPES)]
        net = g.build(shape, classes, seed=0)
        assert g.count_params(shape, classes) == count_params(net)
        assert g.count_macs(shape, classes) == count_flops(net, shape)
        assert isinstance(g.count_params(shape, classes), int) and isinstance(g.count_macs(shape, classes), int)


@pytest.mark.parametrize("space", SPACES.names())
def test_feature_taps_are_what_forward_features_returns(space):
    for g in _sample(space, 4, seed=14):
        net = g.build((1, 12, 12), 5, seed=0)
        _, feats = net.forward_features(torch.randn(2, 1, 12, 12))
        assert [f.shape[1] for f in feats] == g.family.tap_channels(g)
        if g.recipe.has_hint:
            assert 0 <= g.hint_stage() < len(feats)


@pytest.mark.parametrize("space", SPACES.names())
def test_readable_and_batched_architecture_graphs_agree(space):
    genomes = [g.canonical() for g in _sample(space, 30, seed=15)]
    family = get_space(space).family
    batch = family.graph_batch(genomes, LAYOUT)
    starts = np.concatenate([[0], np.cumsum(batch.counts)])
    for k, g in enumerate(genomes):
        single: ArchGraph = family.graph(g, LAYOUT)
        assert np.array_equal(single.x, batch.x[starts[k] : starts[k + 1]])
        mine = batch.edge_graph == k
        edges = set(zip(batch.edge_src[mine].tolist(), batch.edge_dst[mine].tolist(), batch.edge_kind[mine].tolist()))
        assert edges == set(single.edges)
        assert single.output == batch.output[k]
        assert single.taps == batch.tap_node[batch.tap_ptr[k] : batch.tap_ptr[k + 1]].tolist()
        assert len(single.taps) == len(family.tap_channels(g))


def test_smallest_students_contain_the_cheapest_sample():
    for space in SPACES.names():
        sp = get_space(space)
        smallest = min(
            Genome(**a, space=space).repaired().count_params((1, 8, 8), 10) for a in sp.family.smallest(sp.arch)
        )
        assert smallest <= min(g.count_params((1, 8, 8), 10) for g in _sample(space, 200, seed=16))


# ---- block types: one declaration each (module, costs, shortcut) ----
BLOCK_CASES = [(8, 8, 1, 3, 9, 9), (8, 16, 2, 5, 8, 8), (12, 12, 2, 3, 7, 5), (3, 24, 1, 1, 4, 6), (16, 16, 2, 3, 1, 1)]


@pytest.mark.parametrize("block", BLOCKS.names())
@pytest.mark.parametrize("se", [False, True])
@pytest.mark.parametrize("expansion", [1, 4])
def test_every_block_declares_its_exact_costs(block, se, expansion):
    cls = BLOCKS.get(block)
    for cin, cout, stride, kernel, h, w in BLOCK_CASES:
        module = cls(cin, cout, stride, kernel, expansion, se)
        out_pixels = -(-h // stride) * -(-w // stride)
        assert cls.params(cin, cout, stride, kernel, expansion, se) == count_params(module)
        assert cls.macs(cin, cout, stride, kernel, expansion, se, h * w, out_pixels) == count_flops(module, (cin, h, w))


@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_block_formula_works_on_arrays_as_on_ints(block):
    cls = BLOCKS.get(block)
    cases = np.array(
        [
            (cin, cout, stride, kernel, e, se)
            for cin, cout, stride, kernel, *_ in BLOCK_CASES
            for e in (1, 4)
            for se in (0, 1)
        ]
    )
    cin, cout, stride, kernel, expansion, se = cases.T
    params = cls.params(cin, cout, stride, kernel, expansion, se)
    macs = cls.macs(cin, cout, stride, kernel, expansion, se, 4 * cin, cout)
    shortcut = cls.shortcut_kind(cin, cout, stride)
    for k, row in enumerate(cases.tolist()):
        a, b, s, kk, e, f = row
        assert params[k] == cls.params(a, b, s, kk, e, bool(f))
        assert macs[k] == cls.macs(a, b, s, kk, e, bool(f), 4 * a, b)
        assert shortcut[k] == cls.shortcut_kind(a, b, s)


@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_block_shortcut_matches_its_module(block):
    cls = BLOCKS.get(block)
    for cin, cout, stride, kernel, h, w in BLOCK_CASES:
        module = cls(cin, cout, stride, kernel, 2, False).eval()
        x = torch.randn(1, cin, h, w)
        kind = SHORTCUTS[int(cls.shortcut_kind(cin, cout, stride))]
        if isinstance(module, BasicBlock):
            assert kind == ("identity" if isinstance(module.shortcut, torch.nn.Identity) else "projection")
        elif isinstance(module, MBConv):
            assert kind == ("identity" if module.residual else "none")
        else:  # a block without a skip: its output does not depend on the input beyond its body
            assert kind == "none"
        assert module(x).shape[1] == cout
    assert {NO_SHORTCUT, IDENTITY, PROJECTION} == {0, 1, 2}

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distill.cost import count_flops, count_params
from distill.genome import Genome, Recipe, StageGene, get_space
from distill.nets import BLOCKS, build_net, build_student, count_net_macs, count_net_params
from distill.teachers import TEACHER_FAMILIES


def _one_step(net, shape, classes):
    x = torch.randn(4, *shape)
    y = torch.arange(4) % classes
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("block", BLOCKS.names())
@pytest.mark.parametrize("se", [False, True])
def test_every_block_builds_and_trains_one_step(block, se):
    net = build_net(8, (StageGene(block, 2, 8, 3, 3, se), StageGene(block, 1, 16, 5, 3, se)), (1, 8, 8), 3)
    _one_step(net, (1, 8, 8), 3)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (1, 28, 28), (2, 5, 7), (1, 1, 1)])
def test_students_take_any_input_size_and_channels(shape):
    rng = np.random.default_rng(0)
    g = get_space("default").sample(rng)
    net = build_student(g, shape, 7)
    logits, feats = net.forward_features(torch.randn(2, *shape))
    assert logits.shape == (2, 7)
    assert [f.shape[1] for f in feats] == [s.width for s in g.stages]
    assert all(f.shape[0] == 2 and f.dim() == 4 for f in feats)


def test_stages_halve_the_spatial_size():
    g = Genome(16, tuple(StageGene("conv", 1, w) for w in (8, 16, 32, 64)), Recipe())
    _, feats = build_student(g, (1, 16, 16), 10).forward_features(torch.randn(1, 1, 16, 16))
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]
    # 28x28 inputs are halved by the stem first
    _, feats = build_student(g, (1, 28, 28), 10).forward_features(torch.randn(1, 1, 28, 28))
    assert [f.shape[-1] for f in feats] == [14, 7, 4, 2]


def test_seeded_build_is_deterministic_and_leaves_global_rng():
    g = get_space("default").sample(np.random.default_rng(3))
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = build_student(g, (1, 8, 8), 10, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = build_student(g, (1, 8, 8), 10, seed=5)
    c = build_student(g, (1, 8, 8), 10, seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


@pytest.mark.parametrize("name", [f"{f}-{s}" for f in TEACHER_FAMILIES for s in TEACHER_FAMILIES.get(f).sizes])
def test_every_zoo_teacher_builds_and_trains_one_step(name):
    family, size = name.rsplit("-", 1)
    net = TEACHER_FAMILIES.get(family).net(size, (1, 16, 16), 5)
    _one_step(net, (1, 16, 16), 5)


def test_zoo_has_four_families_at_two_sizes():
    assert len(TEACHER_FAMILIES) >= 4
    assert all(len(TEACHER_FAMILIES.get(f).sizes) >= 2 for f in TEACHER_FAMILIES)
    # larger sizes are larger networks
    for f in TEACHER_FAMILIES:
        nets = [TEACHER_FAMILIES.get(f).net(size, (1, 16, 16), 10) for size in TEACHER_FAMILIES.get(f).sizes]
        counts = [sum(p.numel() for p in n.parameters()) for n in nets]
        assert counts == sorted(counts) and counts[0] < counts[-1]


@pytest.mark.parametrize("block", BLOCKS.names())
@pytest.mark.parametrize("se", [False, True])
@pytest.mark.parametrize("expansion", [1, 4])
def test_every_block_counts_its_parameters_without_being_built(block, se, expansion):
    for cin, cout, stride, kernel in [(8, 8, 1, 3), (8, 16, 2, 5), (12, 12, 2, 3), (3, 24, 1, 1)]:
        module = BLOCKS.get(block)(cin, cout, stride, kernel, expansion, se)
        assert BLOCKS.get(block).params(cin, cout, stride, kernel, expansion, se) == count_params(module)


@pytest.mark.parametrize("space", ["default", "resnet", "mobilenet"])
def test_network_parameter_count_matches_the_built_network(space):
    for i in range(40):
        g = get_space(space).sample(np.random.default_rng(i))
        for shape, classes in [((1, 8, 8), 10), ((1, 12, 12), 5), ((3, 32, 32), 100), ((1, 28, 28), 10)]:
            built = count_params(build_student(g, shape, classes))
            assert count_net_params(g.stem_width, g.stages, shape, classes) == built


# the staged CNN families (the vit family's counts: tests/distill/test_transformer_distill.py)
@pytest.mark.parametrize(
    "name",
    [
        f"{f}-{s}"
        for f in TEACHER_FAMILIES
        if TEACHER_FAMILIES.get(f).build is build_net
        for s in TEACHER_FAMILIES.get(f).sizes
    ],
)
def test_zoo_networks_are_counted_without_being_built(name):
    family, size = name.rsplit("-", 1)
    stem, stages = TEACHER_FAMILIES.get(family).sizes[size]
    for shape in [(1, 16, 16), (3, 28, 28), (1, 9, 7)]:
        net = build_net(stem, stages, shape, 10)
        assert count_net_params(stem, stages, shape, 10) == count_params(net)
        assert count_net_macs(stem, stages, shape, 10) == count_flops(net, shape)

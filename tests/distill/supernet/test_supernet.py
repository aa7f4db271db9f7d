"""The supernet contract on the staged CNN: extraction, elastic kernel, BatchNorm recalibration, sandwich step."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distill.supernet import SUBSPACES, build_supernet, get_subspaces
from distill.supernet.elastic import ElasticConvBN, centre_crop, inherit
from distill.supernet.evaluate import calibration_images, inherited_accuracy
from distill.supernet.training import SupernetConfig, train_supernet
from distill.trainer import TeacherOutputs

ALL = [(space, name) for space in SUBSPACES.names() for name in SUBSPACES.get(space)]
# every sub-space on 8x8 gray images; the smallest of each on larger colour ones (a stem of stride 2)
CASES = [(space, name, (1, 8, 8)) for space, name in ALL] + [(space, "tiny", (3, 24, 24)) for space in SUBSPACES]


def _x(in_shape, n=16, seed=0):
    return torch.randn(n, *in_shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("space,name,in_shape", CASES)
def test_extracted_student_gives_the_supernets_outputs(space, name, in_shape):
    sub = get_subspaces(space)[name]
    net = build_supernet(sub, in_shape, 5, seed=0)
    x, rng = _x(in_shape, 8), np.random.default_rng(0)
    for kind in ("largest", "smallest", "random"):
        genome = net.sample_active(rng, kind)
        net.recalibrate_bn(x)
        net.eval()
        logits, feats = net.forward_features(x)
        student = net.extract().eval()
        s_logits, s_feats = student.forward_features(x)
        assert torch.allclose(logits, s_logits, atol=1e-5, rtol=1e-5)
        assert [f.shape for f in feats] == [f.shape for f in s_feats] and net.stage_channels == student.stage_channels
        # the student is the genome's own network: its size is what the genome counts
        assert sum(p.numel() for p in student.parameters()) == genome.count_params(in_shape, 5)
        net.train()


def test_every_sub_network_is_a_genome_of_its_registered_space():
    for space, name in ALL:
        sub = get_subspaces(space)[name]
        rng = np.random.default_rng(1)
        for genome in [sub.largest(), sub.smallest(), *(sub.sample(rng) for _ in range(20))]:
            assert genome.space == space and genome.validate() is genome
            assert sub.validate(genome) is genome
    tiny = get_subspaces("default")["tiny"]
    assert len({g.hash for g in tiny.genomes()}) == tiny.size == 2048


def test_a_genome_outside_the_sub_space_names_the_gene_and_its_choices():
    tiny = get_subspaces("default")["tiny"]
    net = build_supernet(tiny, (1, 8, 8), 5, seed=0)
    g = tiny.largest()
    bad = g.__class__(g.stem_width, (*g.stages[:2], g.stages[2].__class__("mbconv", 2, 32, 5, 2)), space="default")
    with pytest.raises(ValueError) as e:
        net.set_active(bad)
    assert str(e.value) == (
        "supernet sub-space 'tiny' (space 'default'): the stage 2 'width' gene must be one of {16, 24}; got 32"
    )
    with pytest.raises(ValueError, match="the genome's space must be 'default'; got 'wide'"):
        net.set_active(get_subspaces("wide")["tiny"].largest())
    with pytest.raises(ValueError, match="must not be below stage 0's"):
        type(tiny)("bad", "default", (8,), (tiny.stages[1], tiny.stages[0]))


def test_the_active_kernel_is_the_centre_of_the_largest():
    torch.manual_seed(0)
    conv = ElasticConvBN(4, 6, 5, act=False).eval()
    x = torch.randn(2, 3, 7, 7)
    w = conv._modules["0"].weight
    bn = conv._modules["1"]
    expected = F.batch_norm(
        F.conv2d(x, w[:5, :3, 1:4, 1:4], padding=1), bn.running_mean[:5], bn.running_var[:5], bn.weight[:5], bn.bias[:5]
    )
    assert torch.allclose(conv(x, 5, 3), expected, atol=1e-6)
    assert torch.equal(centre_crop(w, 1), w[..., 2:3, 2:3])
    assert torch.equal(inherit(w, (5, 3, 3, 3)), w[:5, :3, 1:4, 1:4])
    # an extracted student's depthwise kernel is the supernet's centre crop
    sub = get_subspaces("default")["tiny"]
    net = build_supernet(sub, (1, 8, 8), 5, seed=0)
    small_kernel = sub.genome(8, [(1, 8, 3, 2), (1, 12, 3, 2), (1, 16, 3, 2)])
    student = net.extract(small_kernel)
    big = net.stages[1][0].depthwise._modules["0"].weight  # (hidden, 1, 5, 5)
    small = student.stages[1][0].depthwise[0].weight  # (12 * 2... the active hidden, 1, 3, 3)
    assert big.shape[-1] == 5 and small.shape[-1] == 3
    assert torch.equal(small, big[: small.shape[0], :, 1:4, 1:4])


def _bn_stats(net):
    return {k: v.clone() for k, v in net.state_dict().items() if k.endswith(("running_mean", "running_var"))}


def test_bn_recalibration_re_estimates_the_statistics_of_the_active_sub_network():
    sub = get_subspaces("default")["small"]
    net = build_supernet(sub, (1, 8, 8), 5, seed=0)
    x = _x((1, 8, 8), 64)
    before = _bn_stats(net)
    net.set_active(sub.largest()).recalibrate_bn(x, batch_size=16)
    largest = _bn_stats(net)
    assert all(not torch.equal(before[k], largest[k]) for k in before)  # every BatchNorm runs in the largest
    net.set_active(sub.smallest()).recalibrate_bn(x, batch_size=16)
    smallest = _bn_stats(net)
    key = "stages.2.0.project.1.running_mean"  # behind the smallest's own narrower convolutions
    assert not torch.allclose(largest[key][:24], smallest[key][:24])
    assert net.training and all(m.momentum == 0.1 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # the inputs as a tensor cut into batches, or as a loader's (x, y) batches: the same statistics
    net.recalibrate_bn([(x[i : i + 16], None) for i in range(0, 64, 16)])
    again = _bn_stats(net)
    assert all(torch.equal(again[k], smallest[k]) for k in smallest)


def _teacher(task, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return TeacherOutputs(torch.randn(len(task.x_train), task.num_classes, generator=gen), {}, 0.0, 0.0)


def test_a_sandwich_step_trains_every_sampled_sub_network(digits_task, tmp_path):
    sub = get_subspaces("default")["tiny"]
    net = build_supernet(sub, digits_task.in_shape, digits_task.num_classes, seed=0)
    sampled = net.sandwich(np.random.default_rng([0, 0]))  # what step 0 of seed 0 samples
    assert [sampled[0], sampled[1]] == [sub.largest(), sub.smallest()] and len(sampled) == 4
    before = [net.extract(g).state_dict() for g in sampled]
    config = SupernetConfig(steps=1, batch_size=32, device="cpu")
    run = train_supernet(net, digits_task, _teacher(digits_task), config, seed=0, checkpoint=tmp_path / "c.pt")
    assert run.status == "ok" and run.steps == 1
    for genome, old in zip(sampled, before):
        new = dict(net.extract(genome).named_parameters())
        assert all(not torch.equal(old[k], p) for k, p in new.items()), genome  # every weight it uses moved


def test_inherited_accuracy_is_the_accuracy_of_the_extracted_student(digits_task):
    sub = get_subspaces("default")["tiny"]
    net = build_supernet(sub, digits_task.in_shape, digits_task.num_classes, seed=0)
    genomes = [sub.largest(), sub.smallest(), sub.sample(np.random.default_rng(0))]
    acc = inherited_accuracy(net, genomes, digits_task, calibration=128)
    assert acc.shape == (3,) and acc.dtype == np.float64
    calib = calibration_images(digits_task, 128)
    for genome, a in zip(genomes, acc):
        student = net.set_active(genome).recalibrate_bn(calib).extract().eval()
        with torch.no_grad():
            expected = (student(digits_task.x_val).argmax(1) == digits_task.y_val).float().mean().item()
        assert a == pytest.approx(expected)
    with pytest.raises(ValueError, match="the split must be one of"):
        inherited_accuracy(net, genomes, digits_task, split="train")

"""The ViT supernet: exact extraction (q/k/v slicing included), elastic heads, LayerNorm, relation training."""

import numpy as np
import pytest
import torch

from distill.supernet import SUPERNETS, ViTSubSpace, build_supernet, get_subspaces
from distill.supernet.elastic_vit import ElasticViT, _qkv_weight
from distill.supernet.evaluate import inherited_accuracy
from distill.supernet.training import SupernetConfig, train_supernet
from distill.supernet.vit_subspace import ElasticViTStage
from distill.trainer import TeacherOutputs
from distill.vit import ViTStageGene

NAMES = ("base", "small", "tiny")


def _x(in_shape, n=8, seed=0):
    return torch.randn(n, *in_shape, generator=torch.Generator().manual_seed(seed))


def test_the_vit_family_has_a_registered_supernet_and_three_sub_spaces():
    assert SUPERNETS.get("vit") is ElasticViT
    subs = get_subspaces("vit")
    assert tuple(subs) == NAMES
    sizes = [s.largest().count_params((1, 16, 16), 10) for s in subs.values()]
    assert sizes == sorted(sizes, reverse=True)  # base > small > tiny


# every sub-space on 8x8 gray images; the smallest on odd-sized colour ones (padded patches)
@pytest.mark.parametrize("name,in_shape", [(n, (1, 8, 8)) for n in NAMES] + [("tiny", (3, 11, 11))])
def test_extracted_vit_gives_the_supernets_outputs_and_attention(name, in_shape):
    sub = get_subspaces("vit")[name]
    net = build_supernet(sub, in_shape, 5, seed=0)
    x, rng = _x(in_shape), np.random.default_rng(0)
    for kind in ("largest", "smallest", "random"):
        genome = net.sample_active(rng, kind)
        assert genome.validate() is genome and genome.space == "vit"
        net.recalibrate_bn(x).eval()  # the conv stem's BatchNorm
        logits, feats = net.forward_features(x)
        student = net.extract().eval()
        s_logits, s_feats = student.forward_features(x)
        assert torch.allclose(logits, s_logits, atol=1e-5, rtol=1e-5)
        assert [f.shape for f in feats] == [f.shape for f in s_feats] and net.stage_channels == student.stage_channels
        assert net.num_attention_layers == student.num_attention_layers
        for layer in (0, -1):
            _, _, qkv = net.forward_qkv(x, layer)
            _, _, s_qkv = student.forward_qkv(x, layer)
            assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-5) for a, b in zip(qkv, s_qkv))
        assert sum(p.numel() for p in student.parameters()) == genome.count_params(in_shape, 5)
        net.train()


def test_the_fused_qkv_projection_is_sliced_per_query_key_and_value():
    w = torch.arange(6 * 4, dtype=torch.float32).reshape(6, 4)  # W = 2 rows per block, 4 inputs
    assert torch.equal(_qkv_weight(w, 1, 3), w[[0, 2, 4], :3])
    assert torch.equal(_qkv_weight(torch.arange(6.0), 1, 0), torch.tensor([0.0, 2.0, 4.0]))
    sub = get_subspaces("vit")["tiny"]
    net = build_supernet(sub, (1, 8, 8), 3, seed=0)
    small = net.extract(sub.smallest())
    fused = net.state_dict()["stages.0.blocks.0.attn.qkv.weight"]  # (3 * 24, 24)
    q_k_v = small.state_dict()["stages.0.blocks.0.attn.qkv.weight"]  # (3 * 16, 16)
    for i in range(3):
        assert torch.equal(q_k_v[16 * i : 16 * (i + 1)], fused[24 * i : 24 * i + 16, :16])


def test_heads_regroup_the_same_channels_and_own_no_weights():
    sub = get_subspaces("vit")["small"]
    net = build_supernet(sub, (1, 8, 8), 3, seed=0)
    g = sub.largest()
    one_head = g.__class__(g.stem_width, tuple(ViTStageGene(s.patch, s.depth, s.width, 1, s.mlp_ratio)
                                              for s in g.stages), space="vit")  # fmt: skip
    a, b = net.extract(g).state_dict(), net.extract(one_head).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = _x((1, 8, 8))
    net.eval()
    assert not torch.allclose(net.set_active(g)(x), net.set_active(one_head)(x))  # but attend differently


def test_without_a_stem_there_is_nothing_to_recalibrate():
    sub = ViTSubSpace("nostem", "vit", (0,), (ElasticViTStage(2, (1, 2), (16, 24), (1, 2), (1, 2)),
                                              ElasticViTStage(1, (1,), (24, 32), (2,), (2,))))  # fmt: skip
    net = build_supernet(sub, (1, 8, 8), 4, seed=0)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    x = _x((1, 8, 8))
    rng = np.random.default_rng(3)
    for kind in ("largest", "smallest", "random", "random"):
        net.sample_active(rng, kind)
        net.recalibrate_bn(x).eval()  # a no-op: no forward pass is needed
        # stage 1 keeps the tokens (patch 1): an identity where the widths agree, else the shared projection
        assert torch.allclose(net(x), net.extract().eval()(x), atol=1e-5)
        net.train()


def test_sub_space_errors_name_the_gene():
    tiny = get_subspaces("vit")["tiny"]
    g = tiny.largest()
    bad = g.__class__(g.stem_width, (g.stages[0], ViTStageGene(2, 1, 48, 2, 1)), space="vit")
    with pytest.raises(ValueError) as e:
        build_supernet(tiny, (1, 8, 8), 3).set_active(bad)
    assert str(e.value) == (
        "supernet sub-space 'tiny' (space 'vit'): the stage 1 'width' gene must be one of {24, 32}; got 48"
    )
    with pytest.raises(ValueError, match="every width must be divisible by every heads choice; 16 by 3"):
        ViTSubSpace("bad", "vit", (8,), (ElasticViTStage(2, (1,), (16,), (1, 3), (1,)),))
    with pytest.raises(ValueError, match="all positive or"):
        ViTSubSpace("bad", "vit", (0, 8), (ElasticViTStage(2, (1,), (24,), (1,), (1,)),))


def test_relation_objective_trains_through_forward_qkv(digits_task, tmp_path):
    sub = get_subspaces("vit")["tiny"]
    net = build_supernet(sub, digits_task.in_shape, digits_task.num_classes, seed=0)
    gen = torch.Generator().manual_seed(0)
    n = len(digits_task.x_train)
    qkv = torch.randn(n, 3, 8, 4, 4, generator=gen)  # a transformer teacher's last-layer q/k/v token maps
    logits = torch.randn(n, digits_task.num_classes, generator=gen)
    teacher = TeacherOutputs(logits, {"late": qkv[:, 2]}, 0.0, 0.0, qkv={"late": qkv})
    calls = []
    original = ElasticViT.forward_qkv

    def spy(self, x, layer):
        calls.append(layer)
        return original(self, x, layer)

    ElasticViT.forward_qkv = spy
    try:
        config = SupernetConfig(steps=2, batch_size=32, objective="relation", device="cpu")
        run = train_supernet(net, digits_task, teacher, config, seed=0, checkpoint=tmp_path / "c.pt")
    finally:
        ElasticViT.forward_qkv = original
    assert run.status == "ok" and run.steps == 2 and calls == [-1] * 8  # 2 steps x 4 sandwich sub-networks
    acc = inherited_accuracy(net, [sub.largest(), sub.smallest()], digits_task)
    assert acc.shape == (2,) and np.all((acc >= 0) & (acc <= 1))

import pytest
import torch
from torch import nn

from distill.cost import Cost, count_flops, count_params, eval_mode, measure_cost, measure_latency

IN_SHAPE = (1, 8, 8)


def small_net() -> nn.Module:
    """conv -> BN -> ReLU -> depthwise (stride 2) -> pointwise -> pool -> BN1d -> linear."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # (4, 8, 8)
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False),  # depthwise, (4, 4, 4)
        nn.Conv2d(4, 8, 1, bias=False),  # pointwise, (8, 4, 4)
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.BatchNorm1d(8),  # breaks a batch of one in train mode
        nn.Linear(8, 3),
    )


def test_count_params_matches_hand_count():
    conv = 4 * 1 * 9 + 4
    bn2d = 2 * 4
    depthwise = 4 * 1 * 9
    pointwise = 8 * 4
    bn1d = 2 * 8
    linear = 8 * 3 + 3
    assert count_params(small_net()) == conv + bn2d + depthwise + pointwise + bn1d + linear == 159


def test_count_params_counts_shared_parameters_once():
    layer = nn.Linear(4, 4)
    assert count_params(nn.Sequential(layer, nn.ReLU(), layer)) == 20


def test_count_flops_matches_hand_count():
    conv = (4 * 8 * 8) * (1 * 3 * 3)  # output values x (C_in / groups) x kernel
    depthwise = (4 * 4 * 4) * (1 * 3 * 3)  # groups=4: one input channel per output channel
    pointwise = (8 * 4 * 4) * 4
    linear = 3 * 8
    assert count_flops(small_net(), IN_SHAPE) == conv + depthwise + pointwise + linear == 3416


def test_count_flops_counts_a_reused_module_each_call():
    layer = nn.Linear(4, 4, bias=False)
    assert count_flops(nn.Sequential(nn.Flatten(), layer, layer), (1, 2, 2)) == 2 * 16


def test_count_flops_restores_mode_and_leaves_no_hooks():
    net = small_net().train()
    net[1].eval()  # a mixed state must come back as it was
    count_flops(net, IN_SHAPE)
    assert [m.training for m in net.modules()] == [m is not net[1] for m in net.modules()]
    assert all(not m._forward_hooks for m in net.modules())


def test_count_flops_rejects_a_bad_shape():
    with pytest.raises(ValueError, match="in_shape"):
        count_flops(small_net(), (8, 8))


def test_eval_mode_restores_each_submodule():
    net = small_net().train()
    net[7].eval()
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert not net[7].training and net[0].training and net.training


def test_measure_latency_is_positive_and_keeps_the_mode():
    net = small_net().train()
    latency = measure_latency(net, IN_SHAPE, batch_size=2, warmup=1, repeats=3)
    assert isinstance(latency, float) and latency > 0
    assert net.training


@pytest.mark.parametrize("arg", [{"repeats": 0}, {"batch_size": 0}, {"warmup": -1}])
def test_measure_latency_rejects_bad_arguments(arg):
    with pytest.raises(ValueError, match=next(iter(arg))):
        measure_latency(small_net(), IN_SHAPE, **arg)


def test_measure_cost():
    net = small_net()
    assert measure_cost(net, IN_SHAPE) == Cost(params=159, flops=3416, latency_ms=None)
    cost = measure_cost(net, IN_SHAPE, latency=True)
    assert (cost.params, cost.flops) == (159, 3416) and cost.latency_ms > 0


def test_weights_are_unchanged():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    measure_cost(net, IN_SHAPE, latency=True)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)

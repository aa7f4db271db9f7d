import math

import pytest
import torch
from torch import nn

from distill.proxies import PROXIES, compute_proxies, diswot, diswot_relation, diswot_semantic, nwot, synflow

NUM_CLASSES = 3


class TwoStageNet(nn.Module):
    """A tiny net that follows the model contract: two conv stages, pooled linear head."""

    def __init__(self, width: int = 4, stride: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.stage2 = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.5)  # makes train-mode forwards random: proxies must not use them
        self.head = nn.Linear(2 * width, NUM_CLASSES)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f1 = self.stage1(x)  # (B, W, H, W)
        f2 = self.stage2(f1)  # (B, 2W, H/stride, W/stride)
        return self.head(self.dropout(f2.mean(dim=(2, 3)))), [f1, f2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(6, 1, 8, 8, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.fixture
def student() -> TwoStageNet:
    return TwoStageNet(width=2, stride=2, seed=2).train()


@pytest.fixture
def teacher() -> TwoStageNet:
    # A stride-1 second stage: the teacher's last feature map is larger than the student's.
    return TwoStageNet(width=6, stride=1, seed=3).eval()


def snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool]]:
    return {k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()]


def assert_unchanged(model: nn.Module, before: tuple[dict[str, torch.Tensor], list[bool]]) -> None:
    state, modes = before
    after = model.state_dict()
    assert state.keys() == after.keys()
    for key in state:
        assert torch.equal(state[key], after[key]), key  # weights and BN running statistics
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_registry_holds_the_proxies_and_not_the_costs():
    assert set(PROXIES.names()) == {"diswot_semantic", "diswot_relation", "diswot", "nwot", "synflow"}


@pytest.mark.parametrize("name", PROXIES.names())
def test_proxy_is_finite_deterministic_and_side_effect_free(name, student, teacher, batch):
    x, y = batch
    student.stage1[1].eval()  # a mixed train/eval state must come back as it was
    before_s, before_t = snapshot(student), snapshot(teacher)
    proxy = PROXIES.get(name)
    first = proxy(student, teacher, x, y)
    second = proxy(student, teacher, x, y)
    assert isinstance(first, float) and math.isfinite(first)
    assert first == second
    assert_unchanged(student, before_s)
    assert_unchanged(teacher, before_t)


@pytest.mark.parametrize("name", PROXIES.names())
def test_proxy_works_with_a_frozen_model(name, student, teacher, batch):
    x, y = batch
    for param in [*student.parameters(), *teacher.parameters()]:
        param.requires_grad_(False)
    assert math.isfinite(PROXIES.get(name)(student, teacher, x, y))


def test_feature_maps_of_the_fixtures_differ_in_size(student, teacher, batch):
    x, _ = batch
    assert student.forward_features(x)[1][-1].shape[2:] != teacher.forward_features(x)[1][-1].shape[2:]


@pytest.mark.parametrize("proxy", [diswot_relation, diswot_semantic, diswot])
def test_diswot_is_zero_for_the_teacher_itself_and_negative_otherwise(proxy, student, teacher, batch):
    x, y = batch
    assert proxy(teacher, teacher, x, y) == 0.0
    assert proxy(student, teacher, x, y) < 0.0


def test_diswot_is_the_size_normalised_sum_of_its_parts(student, teacher, batch):
    x, y = batch
    expected = diswot_semantic(student, teacher, x, y) / math.sqrt(NUM_CLASSES) + diswot_relation(
        student, teacher, x, y
    ) / math.sqrt(len(x))
    assert diswot(student, teacher, x, y) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["diswot_semantic", "diswot_relation", "diswot"])
def test_diswot_needs_a_teacher(name, student, batch):
    with pytest.raises(ValueError, match="teacher"):
        PROXIES.get(name)(student, None, *batch)


def test_diswot_semantic_rejects_different_numbers_of_classes(student, batch):
    other = TwoStageNet(width=2)
    other.head = nn.Linear(4, NUM_CLASSES + 1)
    with pytest.raises(ValueError, match="number of classes"):
        diswot_semantic(student, other, *batch)


class ReluOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)


def test_nwot_matches_hand_computed_kernel():
    # Codes [1, 0], [1, 1], [0, 0] (zero is "off"): K = [[2, 1, 1], [1, 2, 0], [1, 0, 2]], det K = 4.
    x = torch.tensor([[1.0, -1.0], [2.0, 0.5], [0.0, -3.0]]).reshape(3, 1, 1, 2)
    assert nwot(ReluOnly(), None, x, torch.zeros(3)) == pytest.approx(math.log(4.0))


def test_nwot_is_minus_infinity_when_two_samples_share_a_code():
    x = torch.tensor([[1.0, -1.0], [2.0, -5.0]]).reshape(2, 1, 1, 2)
    assert nwot(ReluOnly(), None, x, torch.zeros(2)) == -math.inf


def test_nwot_needs_activation_modules(batch):
    with pytest.raises(ValueError, match="ReLU"):
        nwot(nn.Conv2d(1, 2, 3), None, *batch)


def test_nwot_is_higher_for_a_wide_net_than_a_bottleneck(batch):
    x, y = batch
    assert nwot(TwoStageNet(width=8, seed=4), None, x, y) > nwot(TwoStageNet(width=1, seed=4), None, x, y)


def test_synflow_matches_the_conservation_law():
    # Bias-free linear net with |W1| = [[1, 2], [3, 4]], |w2| = [5, 6]: R = 5 * 3 + 6 * 7 = 57.
    # Each layer's synaptic saliency sums to R (synaptic flow is conserved), so two layers give 2R.
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [-3.0, 4.0]]))
        net[1].weight.copy_(torch.tensor([[-5.0, 6.0]]))
    before = snapshot(net)
    assert synflow(net, None, torch.randn(4, 2), torch.zeros(4)) == pytest.approx(math.log(2 * 57))
    assert_unchanged(net, before)


def test_synflow_grows_with_width(batch):
    x, y = batch
    scores = [synflow(TwoStageNet(width=w, seed=5), None, x, y) for w in (1, 2, 4, 8)]
    assert scores == sorted(scores) and len(set(scores)) == 4


def test_compute_proxies_returns_every_registered_proxy(student, teacher, batch):
    scores = compute_proxies(student, teacher, *batch)
    assert list(scores) == PROXIES.names()
    assert scores["nwot"] == nwot(student, teacher, *batch)


def test_compute_proxies_with_chosen_names(student, batch):
    scores = compute_proxies(student, None, *batch, names=["synflow", "nwot"])
    assert list(scores) == ["synflow", "nwot"]


def test_unknown_proxy_name_lists_the_valid_ones(student, teacher, batch):
    with pytest.raises(ValueError, match="unknown proxy 'zen'.*diswot_relation.*nwot.*synflow"):
        compute_proxies(student, teacher, *batch, names=["nwot", "zen"])

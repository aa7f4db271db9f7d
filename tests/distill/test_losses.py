import math

import numpy as np
import pytest
import torch

from distill import genome
from distill.losses import (
    HINT_DISTANCES,
    HINT_TRANSFORMS,
    LOGIT_LOSSES,
    HintLoss,
    match_spatial,
    temperature_losses,
)

LOGIT_NAMES = LOGIT_LOSSES.names()
TRANSFORM_NAMES = HINT_TRANSFORMS.names()
DISTANCE_NAMES = HINT_DISTANCES.names()


def _features(b: int, c: int, h: int, w: int, seed: int, requires_grad: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g).requires_grad_(requires_grad)


def _logits(b: int = 4, k: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, k, generator=torch.Generator().manual_seed(seed))


# ---- registries ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "registry, genes",
    [
        (LOGIT_LOSSES, genome.LOGIT_LOSSES),
        (HINT_TRANSFORMS, genome.HINT_TRANSFORMS),
        (HINT_DISTANCES, genome.HINT_DISTANCES),
    ],
)
def test_registries_match_genome_genes(registry, genes):
    # the genome's choices are the registry's names in registration order (the search vector's indices)
    assert tuple(registry.names()) == genes


def test_gene_order_is_the_shipped_one():
    # the shipped predictor's one-hot columns and stored search vectors depend on this order: append only
    assert genome.LOGIT_LOSSES[:4] == ("none", "kl", "dist", "mse")
    assert genome.HINT_TRANSFORMS[:4] == ("connector", "attention", "relation", "channel")
    assert genome.HINT_DISTANCES[:4] == ("mse", "l1", "cosine", "pearson")


def test_temperature_losses_are_marked_in_the_registry():
    assert temperature_losses() == genome.TEMPERATURE_LOSSES == ("kl", "dist")


@pytest.mark.parametrize("registry", [LOGIT_LOSSES, HINT_TRANSFORMS, HINT_DISTANCES])
def test_unknown_name_is_value_error_listing_valid_names(registry):
    with pytest.raises(ValueError, match=registry.names()[0]):
        registry.get("nope")


def test_hint_loss_unknown_names():
    with pytest.raises(ValueError, match="connector"):
        HintLoss("nope", "mse", 4, 8)
    with pytest.raises(ValueError, match="pearson"):
        HintLoss("attention", "nope", 4, 8)


# ---- logit losses: every entry -------------------------------------------------------------
@pytest.mark.parametrize("name", LOGIT_NAMES)
def test_logit_loss_is_scalar_zero_for_identical_and_detaches_teacher(name):
    s = _logits(seed=0).requires_grad_()
    t = _logits(seed=1).requires_grad_()
    loss = LOGIT_LOSSES.get(name)(s, t, 2.0)
    assert loss.shape == ()
    loss.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
    assert t.grad is None
    same = LOGIT_LOSSES.get(name)(s.detach(), s.detach(), 2.0)
    assert same.item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("name", LOGIT_NAMES)
@pytest.mark.parametrize("batch", [1, 3])
def test_logit_loss_finite_for_constant_logits(name, batch):
    s = torch.zeros(batch, 4, requires_grad=True)
    t = torch.full((batch, 4), 2.0)
    loss = LOGIT_LOSSES.get(name)(s, t, 4.0)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(s.grad).all()


@pytest.mark.parametrize("name", LOGIT_NAMES)
def test_logit_loss_rejects_bad_shapes(name):
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        LOGIT_LOSSES.get(name)(torch.zeros(2, 3), torch.zeros(2, 4), 1.0)


@pytest.mark.parametrize("name", ["kl", "dist"])
def test_temperature_must_be_positive(name):
    with pytest.raises(ValueError, match="temperature"):
        LOGIT_LOSSES.get(name)(torch.zeros(2, 3), torch.zeros(2, 3), 0.0)


# ---- logit losses: hand values ----------------------------------------------------------------
def test_none_is_zero_but_backpropagates():
    s = _logits().requires_grad_()
    loss = LOGIT_LOSSES.get("none")(s, _logits(seed=1), 4.0)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(s.grad, torch.zeros_like(s))


def test_kl_positive_for_different_logits():
    assert LOGIT_LOSSES.get("kl")(_logits(seed=0), _logits(seed=1), 1.0).item() > 0


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kl_hand_value(temperature):
    # Sample 0: teacher softmax(t/T) = (3^(1/T), 1) / (3^(1/T) + 1) against a uniform student;
    # sample 1: identical. batchmean divides by B = 2, then times T^2.
    s = torch.zeros(2, 2)
    t = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    a = 3.0 ** (1 / temperature)
    p = [a / (a + 1), 1 / (a + 1)]
    kl0 = sum(pi * math.log(pi / 0.5) for pi in p)
    expected = temperature**2 * kl0 / 2
    assert LOGIT_LOSSES.get("kl")(s, t, temperature).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["kl", "dist"])
def test_t_squared_scaling(name):
    # Scaling logits by T and dividing by T inside cancels, leaving only the T^2 factor.
    s, t, temperature = _logits(seed=0), _logits(seed=1), 4.0
    fn = LOGIT_LOSSES.get(name)
    assert fn(s * temperature, t * temperature, temperature).item() == pytest.approx(
        temperature**2 * fn(s, t, 1.0).item(), rel=1e-4
    )


def test_dist_hand_values():
    dist = LOGIT_LOSSES.get("dist")
    # With two classes every centred row/column is +-(x, -x): correlations are signs.
    # Anti-correlated both within samples and within classes: inter = intra = 2.
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert dist(s, t, 1.0).item() == pytest.approx(4.0, abs=1e-5)
    assert dist(s, t, 2.0).item() == pytest.approx(16.0, abs=1e-4)
    # Same ranking but different confidences: DIST only matches relations, so it is ~0.
    s = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    assert dist(s, t, 1.0).item() == pytest.approx(0.0, abs=1e-5)


def test_dist_matches_reference_implementation():
    # The DIST authors' formulation (github.com/hunto/DIST_KD), eps in the denominator only.
    def pearson(a, b, eps=1e-8):
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)

    s, t, tau = _logits(8, 10, seed=0), _logits(8, 10, seed=1), 2.0
    ys, yt = (s / tau).softmax(1), (t / tau).softmax(1)
    expected = tau**2 * ((1 - pearson(ys, yt).mean()) + (1 - pearson(ys.T, yt.T).mean()))
    assert LOGIT_LOSSES.get("dist")(s, t, tau).item() == pytest.approx(expected.item(), rel=1e-4)


def test_mse_hand_value_ignores_temperature():
    s, t = torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)
    mse = LOGIT_LOSSES.get("mse")
    assert mse(s, t, 1.0).item() == pytest.approx(2.5)
    assert mse(s, t, 8.0).item() == pytest.approx(2.5)


# ---- match_spatial ---------------------------------------------------------------------------
def test_match_spatial_pools_the_larger_map():
    fs = torch.arange(16.0).reshape(1, 1, 4, 4)
    ft = torch.zeros(1, 3, 2, 2)
    ps, pt = match_spatial(fs, ft)
    assert pt is ft
    assert torch.equal(ps, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    pt, ps = match_spatial(ft, fs)  # either argument may be the larger
    assert ps.shape == (1, 1, 2, 2) and pt is ft


def test_match_spatial_per_dimension():
    ps, pt = match_spatial(torch.zeros(2, 3, 8, 4), torch.zeros(2, 5, 4, 8))
    assert ps.shape == (2, 3, 4, 4) and pt.shape == (2, 5, 4, 4)


# ---- hint transforms: every entry ------------------------------------------------------------
SHAPE_CASES = [
    # (Cs, Ct, (Hs, Ws), (Ht, Wt))
    (4, 4, (4, 4), (4, 4)),
    (3, 6, (8, 8), (4, 4)),  # student larger spatially, narrower
    (6, 3, (2, 2), (4, 4)),  # teacher larger spatially, wider student
]


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("cs, ct, s_hw, t_hw", SHAPE_CASES)
def test_transform_pair_shapes_match_and_teacher_is_detached(name, cs, ct, s_hw, t_hw):
    fs, ft = _features(2, cs, *s_hw, seed=0), _features(2, ct, *t_hw, seed=1)
    zs, zt = HINT_TRANSFORMS.get(name)(cs, ct)(fs, ft)
    assert zs.shape == zt.shape
    assert zs.shape[0] == 2
    assert zs.requires_grad and not zt.requires_grad
    assert torch.isfinite(zs).all() and torch.isfinite(zt).all()


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("distance", DISTANCE_NAMES)
def test_gradients_reach_student_and_parameters_not_teacher(name, distance):
    fs, ft = _features(2, 3, 8, 8, seed=0), _features(2, 6, 4, 4, seed=1)
    loss_fn = HintLoss(name, distance, 3, 6)
    loss = loss_fn(fs, ft)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert ft.grad is None
    assert fs.grad is not None and fs.grad.abs().sum() > 0
    for pname, p in loss_fn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_transform_finite_for_constant_features(name, value):
    fs = torch.full((2, 3, 4, 4), value, requires_grad=True)
    ft = torch.full((2, 5, 2, 2), value)
    zs, zt = HINT_TRANSFORMS.get(name)(3, 5)(fs, ft)
    assert torch.isfinite(zs).all() and torch.isfinite(zt).all()
    zs.sum().backward()
    assert torch.isfinite(fs.grad).all()


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_transform_rejects_wrong_channels(name):
    transform = HINT_TRANSFORMS.get(name)(3, 5)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        transform(torch.zeros(2, 4, 4, 4), torch.zeros(2, 5, 4, 4))
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="positive int"):
            HINT_TRANSFORMS.get(name)(bad, 5)
    assert HINT_TRANSFORMS.get(name)(np.int64(3), 5).student_channels == 3  # numpy ints are fine


# ---- hint transforms: per entry --------------------------------------------------------------
EXPECTED_SHAPE = {  # (B, Ct, H, W) after match_spatial -> output shape
    "connector": lambda b, ct, h, w: (b, ct, h, w),
    "attention": lambda b, ct, h, w: (b, h * w),
    "relation": lambda b, ct, h, w: (b, b),
    "channel": lambda b, ct, h, w: (b, ct, h * w),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SHAPE))
@pytest.mark.parametrize("cs, ct, s_hw, t_hw", SHAPE_CASES)
def test_transform_output_shape(name, cs, ct, s_hw, t_hw):
    fs, ft = _features(2, cs, *s_hw, seed=0), _features(2, ct, *t_hw, seed=1)
    zs, _ = HINT_TRANSFORMS.get(name)(cs, ct)(fs, ft)
    h, w = min(s_hw[0], t_hw[0]), min(s_hw[1], t_hw[1])
    assert zs.shape == EXPECTED_SHAPE[name](2, ct, h, w)


def _n_params(name: str, cs: int, ct: int) -> int:
    return sum(p.numel() for p in HINT_TRANSFORMS.get(name)(cs, ct).parameters())


def test_parameter_counts():
    assert _n_params("connector", 3, 6) == 3 * 6 + 2 * 6  # 1x1 conv (no bias) + BN affine
    assert _n_params("connector", 4, 4) > 0
    assert _n_params("channel", 3, 6) == 3 * 6
    assert _n_params("channel", 4, 4) == 0
    assert _n_params("attention", 3, 6) == 0
    assert _n_params("relation", 3, 6) == 0


def test_connector_passes_teacher_through():
    ft = _features(2, 6, 4, 4, seed=1)
    zs, zt = HINT_TRANSFORMS.get("connector")(3, 6)(_features(2, 3, 4, 4, seed=0), ft)
    assert torch.equal(zt, ft)
    # BatchNorm in training mode: each output channel is standardised over the batch.
    assert torch.allclose(zs.mean((0, 2, 3)), torch.zeros(6), atol=1e-5)


def test_attention_hand_value():
    f = torch.tensor([[[[1.0, 0.0]], [[1.0, 2.0]]]])  # (1, 2, 1, 2): mean_c f^2 = (1, 2)
    za, _ = HINT_TRANSFORMS.get("attention")(2, 2)(f, f)
    assert torch.allclose(za, torch.tensor([[1.0, 2.0]]) / math.sqrt(5))


def test_attention_ignores_channel_count():
    # Duplicating channels does not change mean_c f^2, so a wider copy has the same map.
    f = _features(2, 3, 4, 4, seed=0, requires_grad=False)
    zs, zt = HINT_TRANSFORMS.get("attention")(3, 6)(f, torch.cat([f, f], 1))
    assert torch.allclose(zs, zt, atol=1e-6)


def test_relation_hand_value():
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).reshape(2, 1, 1, 2)  # G = [[1, 1], [1, 2]]
    zs, zt = HINT_TRANSFORMS.get("relation")(1, 1)(f, f)
    expected = torch.tensor([[1 / math.sqrt(2), 1 / math.sqrt(2)], [1 / math.sqrt(5), 2 / math.sqrt(5)]])
    assert torch.allclose(zs, expected) and torch.allclose(zt, expected)


def test_channel_hand_value_and_distributions():
    f = torch.tensor([0.0, 4 * math.log(3.0)]).reshape(1, 1, 1, 2)  # softmax(f / 4) = (1/4, 3/4)
    zs, _ = HINT_TRANSFORMS.get("channel")(1, 1)(f, f)
    assert torch.allclose(zs, torch.tensor([[[0.25, 0.75]]]))
    zs, zt = HINT_TRANSFORMS.get("channel")(3, 6)(_features(2, 3, 4, 4, seed=0), _features(2, 6, 4, 4, seed=1))
    assert torch.allclose(zs.sum(-1), torch.ones(2, 6)) and torch.allclose(zt.sum(-1), torch.ones(2, 6))


# ---- hint distances: every entry -------------------------------------------------------------
@pytest.mark.parametrize("name", DISTANCE_NAMES)
def test_distance_zero_for_identical_and_positive_otherwise(name):
    a = _features(3, 2, 4, 4, seed=0, requires_grad=False)
    b = _features(3, 2, 4, 4, seed=1, requires_grad=False)
    d = HINT_DISTANCES.get(name)
    assert d(a, a).shape == ()
    assert d(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert d(a, b).item() > 0


@pytest.mark.parametrize("name", DISTANCE_NAMES)
@pytest.mark.parametrize("va, vb", [(0.0, 0.0), (1.0, 1.0), (1.0, 3.0), (0.0, 2.0)])
def test_distance_finite_for_constant_inputs(name, va, vb):
    a = torch.full((2, 5), va, requires_grad=True)
    b = torch.full((2, 5), vb)
    loss = HINT_DISTANCES.get(name)(a, b)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()
    if va == vb:
        assert loss.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", DISTANCE_NAMES)
def test_distance_flattens_per_sample(name):
    a = _features(2, 3, 2, 2, seed=0, requires_grad=False)
    b = _features(2, 3, 2, 2, seed=1, requires_grad=False)
    d = HINT_DISTANCES.get(name)
    assert d(a, b).item() == pytest.approx(d(a.flatten(1), b.flatten(1)).item(), rel=1e-6)


@pytest.mark.parametrize("name", DISTANCE_NAMES)
def test_distance_rejects_shape_mismatch(name):
    with pytest.raises(ValueError, match="equal shape"):
        HINT_DISTANCES.get(name)(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- hint distances: hand values and invariances ---------------------------------------------
# Sample 0: a = (1, 2, 3), b = (1, 3, 2); sample 1 identical, so every mean halves.
# cos = 13 / 14; centred (-1, 0, 1) . (-1, 1, 0) = 1 over norms sqrt(2)^2 -> pearson 1/2.
HAND_A = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
HAND_B = torch.tensor([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
HAND_VALUES = {"mse": 2 / 6, "l1": 2 / 6, "cosine": (1 / 14) / 2, "pearson": 0.5 / 2}


@pytest.mark.parametrize("name", sorted(HAND_VALUES))
def test_distance_hand_values(name):
    assert HINT_DISTANCES.get(name)(HAND_A, HAND_B).item() == pytest.approx(HAND_VALUES[name], rel=1e-5)


def test_cosine_invariant_to_positive_scale():
    a, b = _logits(seed=0), _logits(seed=1)
    d = HINT_DISTANCES.get("cosine")
    assert d(a, 3.0 * b).item() == pytest.approx(d(a, b).item(), rel=1e-5)
    assert d(a, -b).item() == pytest.approx(2.0 - d(a, b).item(), rel=1e-5)


def test_pearson_invariant_to_affine_maps():
    a, b = _logits(seed=0), _logits(seed=1)
    d = HINT_DISTANCES.get("pearson")
    assert d(a, 3.0 * b + 1.0).item() == pytest.approx(d(a, b).item(), rel=1e-5)
    assert d(0.5 * a - 2.0, b).item() == pytest.approx(d(a, b).item(), rel=1e-5)
    assert d(a, 2.0 * a + 5.0).item() == pytest.approx(0.0, abs=1e-6)
    assert d(a, -b).item() == pytest.approx(2.0 - d(a, b).item(), rel=1e-5)


# ---- HintLoss ---------------------------------------------------------------------------------
def test_hint_loss_composes_transform_and_distance():
    fs, ft = _features(2, 3, 4, 4, seed=0), _features(2, 6, 8, 8, seed=1)
    loss = HintLoss("attention", "mse", 3, 6)(fs, ft)
    zs, zt = HINT_TRANSFORMS.get("attention")(3, 6)(fs, ft)
    assert loss.item() == pytest.approx(HINT_DISTANCES.get("mse")(zs, zt).item())


def test_hint_loss_connector_parameters_are_registered():
    loss_fn = HintLoss("connector", "mse", 3, 6)
    assert sum(p.numel() for p in loss_fn.parameters()) == 3 * 6 + 2 * 6

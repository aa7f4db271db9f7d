"""Self-attention relation distillation (MiniLMv2): the ``attn_relation`` hint transform and its KL objective."""

import math

import pytest
import torch
import torch.nn.functional as F

from distill.losses import HINT_DISTANCES, HINT_TRANSFORMS, RELATION_HEADS, HintLoss, qkv_maps
from distill.vit import ViTStageGene, build_vit

RELATION = HINT_TRANSFORMS.get("attn_relation")


def _stack(b: int, c: int, side: int, seed: int, requires_grad: bool = True) -> torch.Tensor:
    """A q/k/v stack (B, 3, C, side, side)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, c, side, side, generator=g).requires_grad_(requires_grad)


def _loss(fs: torch.Tensor, ft: torch.Tensor, cs: int = 1, ct: int = 1) -> torch.Tensor:
    return HintLoss("attn_relation", "mse", cs, ct)(fs, ft)


def _loop_reference(fs: torch.Tensor, ft: torch.Tensor, heads: int) -> float:
    """MiniLMv2's loss written out: per image, relation, head and token row, KL(teacher row || student row)."""
    fs, ft = fs.detach().double(), ft.detach().double()
    if fs.dim() == 4:
        fs, ft = fs.unsqueeze(1), ft.unsqueeze(1)
    total, rows = 0.0, 0
    for b in range(fs.shape[0]):
        for r in range(fs.shape[1]):
            xs, xt = fs[b, r].flatten(1).T, ft[b, r].flatten(1).T  # (T, C) tokens
            ds, dt = xs.shape[1] // heads, xt.shape[1] // heads
            for a in range(heads):
                qs, qt = xs[:, a * ds : (a + 1) * ds], xt[:, a * dt : (a + 1) * dt]
                rs = torch.softmax(qs @ qs.T / math.sqrt(ds), dim=1)
                rt = torch.softmax(qt @ qt.T / math.sqrt(dt), dim=1)
                for i in range(rs.shape[0]):
                    total += float((rt[i] * (rt[i].log() - rs[i].log())).sum())
                    rows += 1
    return total / rows


def test_identical_inputs_give_zero():
    f = _stack(2, 8, 3, seed=0)
    assert _loss(f, f.detach()).item() == pytest.approx(0.0, abs=1e-6)
    m = torch.randn(2, 8, 3, 3)
    assert _loss(m, m, 8, 8).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("cs, ct", [(8, 8), (8, 12), (12, 4)])
def test_matches_a_direct_loop_over_images_relations_heads_and_rows(cs, ct):
    fs, ft = _stack(2, cs, 3, seed=0), _stack(2, ct, 3, seed=1)
    heads = math.gcd(RELATION_HEADS, cs, ct)
    assert _loss(fs, ft).item() == pytest.approx(_loop_reference(fs, ft, heads), rel=1e-5)
    # feature maps (a CNN on either side): the value relation only
    ms, mt = torch.randn(2, cs, 3, 3), torch.randn(2, ct, 3, 3)
    assert _loss(ms, mt, cs, ct).item() == pytest.approx(_loop_reference(ms, mt, heads), rel=1e-5)


def test_hand_value_one_head_two_tokens():
    # one channel, tokens 0 and 1: scores [[0, 0], [0, 4]] (student), [[0, 0], [0, 0]] (teacher)
    fs = torch.tensor([0.0, 2.0]).reshape(1, 1, 1, 2)
    ft = torch.zeros(1, 1, 1, 2)
    zs, zt = RELATION(1, 1)(fs, ft)
    assert zs.shape == zt.shape == (1, 1, 1, 2, 2)
    row1 = torch.log_softmax(torch.tensor([0.0, 4.0]), 0)
    kl_row1 = float((0.5 * (math.log(0.5) - row1)).sum())
    assert _loss(fs, ft).item() == pytest.approx(kl_row1 / 2, rel=1e-6)  # row 0 matches exactly


def test_relation_heads_are_independent_of_widths_and_grids():
    # teacher 12 wide on a 4x4 grid, student 8 wide on a 2x2 grid: the teacher's grid is pooled to 2x2
    fs, ft = _stack(2, 8, 2, seed=0), _stack(2, 12, 4, seed=1)
    zs, zt = RELATION(8, 12)(fs, ft)
    assert zs.shape == zt.shape == (2, 3, 4, 4, 4)  # (B, relations, A = 4, T = 4, T)
    pooled = F.adaptive_avg_pool2d(ft.detach().flatten(1, 2), 2).unflatten(1, (3, -1))
    assert _loss(fs, ft).item() == pytest.approx(_loop_reference(fs, pooled, 4), rel=1e-5)
    # odd widths: as many relation heads as divide both
    assert RELATION(6, 10)(torch.randn(1, 6, 2, 2), torch.randn(1, 10, 2, 2))[0].shape[2] == 2


def test_the_recipe_distance_has_no_effect():
    fs, ft = _stack(2, 8, 3, seed=0), _stack(2, 8, 3, seed=1)
    values = {d: HintLoss("attn_relation", d, 8, 8)(fs, ft).item() for d in HINT_DISTANCES.names()}
    assert len(set(values.values())) == 1


def test_gradient_reaches_the_student_and_not_the_teacher():
    fs, ft = _stack(2, 8, 3, seed=0), _stack(2, 8, 3, seed=1)
    loss = _loss(fs, ft)
    loss.backward()
    assert loss.item() > 0 and ft.grad is None
    assert torch.isfinite(fs.grad).all() and fs.grad.abs().sum() > 0


def test_rejects_mixed_or_malformed_inputs():
    with pytest.raises(ValueError, match=r"\(B, 3, C, H, W\)"):
        RELATION(8, 8)(torch.zeros(2, 2, 8, 3, 3), torch.zeros(2, 3, 8, 3, 3))
    with pytest.raises(ValueError, match="batch sizes differ"):
        RELATION(8, 8)(torch.zeros(2, 3, 8, 3, 3), torch.zeros(3, 3, 8, 3, 3))
    with pytest.raises(ValueError, match="relation_heads"):
        RELATION(8, 8, relation_heads=0)


# ---- from a transformer's forward_qkv -------------------------------------------------------------
def _vit(heads: int, width: int = 16, seed: int = 0):
    return build_vit(0, (ViTStageGene(2, 2, width, heads, 2),), (1, 8, 8), 3, seed=seed)


def test_qkv_maps_keep_the_token_grid():
    q = torch.arange(2 * 6 * 4, dtype=torch.float32).reshape(2, 6, 4)  # (B, N=6, C=4) on a 2x3 grid
    stack = qkv_maps((q, q + 1, q + 2), [torch.zeros(2, 4, 2, 3)])
    assert stack.shape == (2, 3, 4, 2, 3)
    assert torch.equal(stack[:, 0].flatten(2).transpose(1, 2), q) and torch.equal(stack[:, 2], stack[:, 0] + 2)
    assert qkv_maps((q[:, :4], q[:, :4], q[:, :4]), []).shape == (2, 3, 4, 2, 2)  # square without a map
    with pytest.raises(ValueError, match="6 tokens"):
        qkv_maps((q, q, q), [])


def test_the_network_head_count_does_not_change_the_relations():
    # the same weights split into 1 or 4 attention heads: the concatenated q/k/v, hence the loss, are the same
    one, four = _vit(heads=1), _vit(heads=4)
    four.load_state_dict(one.state_dict())
    teacher = _vit(heads=2, width=32, seed=1)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    _, maps_t, qkv_t = teacher.forward_qkv(x, 0)
    ft = qkv_maps(qkv_t, maps_t).detach()
    losses = []
    for net in (one, four):
        _, maps, qkv = net.forward_qkv(x, 0)
        losses.append(_loss(qkv_maps(qkv, maps), ft).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6) and losses[0] > 0


def test_gradient_flows_into_the_student_network():
    student, teacher = _vit(heads=2), _vit(heads=4, width=32, seed=1)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, maps_t, qkv_t = teacher.forward_qkv(x, -1)
    _, maps, qkv = student.forward_qkv(x, -1)
    _loss(qkv_maps(qkv, maps), qkv_maps(qkv_t, maps_t)).backward()
    qkv_weight = student.attention_layers[-1].qkv.weight
    assert qkv_weight.grad is not None and qkv_weight.grad.abs().sum() > 0

"""Distillation losses: logit losses, hint transforms and hint distances, one registry each.

The recipe's loss is ``ce_weight * CE + kd_weight * logit_loss + hint_weight * hint``, where
``hint = distance(*transform(student_feature, teacher_feature))``. Each registry holds exactly
the gene values of :mod:`distill.genome` (the genome reads its choices from these registries, in
registration order), so adding a KD loss is one entry here plus its tests.

- :data:`LOGIT_LOSSES`: ``name -> fn(student_logits, teacher_logits, temperature) -> scalar``.
- :data:`HINT_TRANSFORMS`: ``name -> cls(student_channels, teacher_channels)``, an ``nn.Module``
  whose ``forward(fs, ft)`` returns a pair ``(zs, zt)`` of equal shape. A transform with its own
  ``objective(zs, zt)`` (attention relations: a KL) is scored by it instead of the recipe's distance; one
  marked ``reads_qkv`` is given the queries, keys and values of an attention layer of each network
  (:func:`qkv_maps`) when both are transformers, the feature maps otherwise.
- :data:`HINT_DISTANCES`: ``name -> fn(a, b) -> scalar`` for ``a``, ``b`` of equal shape.

Teacher tensors are constants: every loss and transform detaches them, so no gradient reaches
the teacher. Normalisations carry an ``eps`` so that constant or all-zero inputs give finite
values and finite gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from distill.registry import Registry

LogitLoss = Callable[[Tensor, Tensor, float], Tensor]
HintDistance = Callable[[Tensor, Tensor], Tensor]

# Registration order is the order of the genome's gene choices (the search vector's indices and the
# predictor's one-hot columns): append new entries, never insert.
LOGIT_LOSSES: Registry[LogitLoss] = Registry("logit loss")
HINT_TRANSFORMS: Registry[type[nn.Module]] = Registry("hint transform")
HINT_DISTANCES: Registry[HintDistance] = Registry("hint distance")


# The choices of the spaces made before the transformer recipes (``default``, ``wide``, ...), spelled out so that
# an entry appended to a registry does not enter them (their genomes, hashes and vectors are pinned).
V1_LOGIT_LOSSES: tuple[str, ...] = ("none", "kl", "dist", "mse")
V1_HINT_TRANSFORMS: tuple[str, ...] = ("connector", "attention", "relation", "channel")
V1_HINT_DISTANCES: tuple[str, ...] = ("mse", "l1", "cosine", "pearson")
# The recipe choices a transformer space opts into (as ``recipe_space`` of its architecture choices, read by
# ``distill.genome.space_of``): the first ones plus self-attention relations.
TRANSFORMER_RECIPE: dict[str, tuple[str, ...]] = {"hint_transforms": (*V1_HINT_TRANSFORMS, "attn_relation")}


def uses_temperature(fn: LogitLoss) -> LogitLoss:
    """Marks a logit loss whose ``temperature`` argument matters (the genome canonicalises it otherwise)."""
    fn.uses_temperature = True  # type: ignore[attr-defined]
    return fn


def temperature_losses() -> tuple[str, ...]:
    """Names of the logit losses marked with :func:`uses_temperature`, in registration order."""
    return tuple(n for n in LOGIT_LOSSES.names() if getattr(LOGIT_LOSSES.get(n), "uses_temperature", False))


# Small enough to leave O(1e-4)-scale probabilities and attention maps untouched, large enough
# to keep square roots and divisions of all-zero vectors finite in float32.
EPS = 1e-8
# Temperature of the spatial softmax of channel-wise distillation (Shu et al. 2021 use 4).
CHANNEL_TEMPERATURE = 4.0


# ---------------------------------------------------------------------------------------------
# Shared numerics
# ---------------------------------------------------------------------------------------------
def cosine_similarity(a: Tensor, b: Tensor, dim: int = -1, eps: float = EPS) -> Tensor:
    r"""Cosine similarity along ``dim``, safe for zero vectors.

    .. math::
        \cos(a, b) = \frac{a \cdot b + \epsilon}{\sqrt{(\|a\|^2 + \epsilon)(\|b\|^2 + \epsilon)}}

    The ``eps`` in the numerator makes ``cos(a, a) == 1`` for every ``a`` (zero vectors
    included) while, by Cauchy-Schwarz, the value stays in ``[-1, 1]``; the gradient at a zero
    vector is finite (unlike that of ``a / ||a||``).
    """
    dot = (a * b).sum(dim)
    return (dot + eps) / torch.sqrt((a.pow(2).sum(dim) + eps) * (b.pow(2).sum(dim) + eps))


def pearson_correlation(a: Tensor, b: Tensor, dim: int = -1, eps: float = EPS) -> Tensor:
    """Pearson correlation along ``dim``: the cosine similarity of the centred vectors.

    A constant vector has zero variance; the ``eps`` of :func:`cosine_similarity` makes two
    constant vectors correlate 1 and a constant against a varying vector correlate ~0.
    """
    return cosine_similarity(a - a.mean(dim, keepdim=True), b - b.mean(dim, keepdim=True), dim, eps)


def _check_logits(student_logits: Tensor, teacher_logits: Tensor) -> None:
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            "student and teacher logits must both have shape (B, K); "
            f"got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"the temperature must be > 0; got {temperature!r}")


# ---------------------------------------------------------------------------------------------
# Logit losses: fn(student_logits (B, K), teacher_logits (B, K), temperature) -> scalar
# ---------------------------------------------------------------------------------------------
@LOGIT_LOSSES.register("none")
def no_logit_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """No logit distillation: a zero scalar.

    The zero is ``0 * sum(student_logits)``, so it is attached to the student's graph and a
    total loss made of it alone still supports ``backward()`` (with zero gradients).
    """
    _check_logits(student_logits, teacher_logits)
    return student_logits.sum() * 0.0


@LOGIT_LOSSES.register("kl")
@uses_temperature
def kl_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    r"""Knowledge distillation, Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
    Network" (2015).

    .. math::
        \mathcal{L} = T^2 \cdot \frac{1}{B} \sum_i \mathrm{KL}\big(\mathrm{softmax}(t_i / T)
        \,\|\, \mathrm{softmax}(s_i / T)\big)

    The ``T^2`` keeps the gradient scale independent of the temperature.

    Args:
        student_logits: ``(B, K)``.
        teacher_logits: ``(B, K)``, detached.
        temperature: the softening temperature ``T > 0``.
    """
    _check_logits(student_logits, teacher_logits)
    _check_temperature(temperature)
    log_ps = F.log_softmax(student_logits / temperature, dim=1)  # (B, K)
    log_pt = F.log_softmax(teacher_logits.detach() / temperature, dim=1)  # (B, K)
    return F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True) * temperature**2


@LOGIT_LOSSES.register("dist")
@uses_temperature
def dist_loss(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0, beta: float = 1.0, gamma: float = 1.0
) -> Tensor:
    r"""DIST, Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022.

    Matches relations instead of exact probabilities. With ``Y = softmax(logits / T)`` of
    shape ``(B, K)`` and :math:`\rho` the Pearson correlation:

    .. math::
        \mathcal{L}_{inter} = \frac{1}{B} \sum_i 1 - \rho(Y^s_{i,:}, Y^t_{i,:}), \quad
        \mathcal{L}_{intra} = \frac{1}{K} \sum_j 1 - \rho(Y^s_{:,j}, Y^t_{:,j}), \\
        \mathcal{L} = T^2 (\beta \mathcal{L}_{inter} + \gamma \mathcal{L}_{intra}).

    Args:
        student_logits: ``(B, K)``.
        teacher_logits: ``(B, K)``, detached.
        temperature: the softening temperature ``T > 0``.
        beta: weight of the inter-class (per-sample, over classes) relation.
        gamma: weight of the intra-class (per-class, over the batch) relation.
    """
    _check_logits(student_logits, teacher_logits)
    _check_temperature(temperature)
    ys = F.softmax(student_logits / temperature, dim=1)  # (B, K)
    yt = F.softmax(teacher_logits.detach() / temperature, dim=1)  # (B, K)
    inter = 1.0 - pearson_correlation(ys, yt, dim=1).mean()  # over classes, per sample
    intra = 1.0 - pearson_correlation(ys, yt, dim=0).mean()  # over the batch, per class
    return temperature**2 * (beta * inter + gamma * intra)


@LOGIT_LOSSES.register("mse")
def mse_logit_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Mean squared error between logits, :math:`\frac{1}{BK}\sum (s - t)^2`.

    Logit matching as in Ba & Caruana, "Do Deep Nets Really Need to be Deep?" (2014); Kim et
    al., "Comparing Kullback-Leibler Divergence and Mean Squared Error Loss in Knowledge
    Distillation" (IJCAI 2021). ``temperature`` is ignored.
    """
    _check_logits(student_logits, teacher_logits)
    return F.mse_loss(student_logits, teacher_logits.detach())


# ---------------------------------------------------------------------------------------------
# Hint transforms: cls(student_channels, teacher_channels); forward(fs, ft) -> (zs, zt)
# ---------------------------------------------------------------------------------------------
def match_spatial(fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
    """Adaptive-average-pool the larger feature map to the smaller spatial size.

    Each of height and width goes to the smaller of the two, so ``(8, 4)`` against ``(4, 8)``
    gives ``(4, 4)`` for both. A map already at that size is returned unchanged.

    Shapes:
        fs ``(B, Cs, Hs, Ws)``, ft ``(B, Ct, Ht, Wt)`` ->
        ``(B, Cs, H, W)``, ``(B, Ct, H, W)`` with ``H = min(Hs, Ht)``, ``W = min(Ws, Wt)``.
    """
    size = (min(fs.shape[-2], ft.shape[-2]), min(fs.shape[-1], ft.shape[-1]))
    if tuple(fs.shape[-2:]) != size:
        fs = F.adaptive_avg_pool2d(fs, size)
    if tuple(ft.shape[-2:]) != size:
        ft = F.adaptive_avg_pool2d(ft, size)
    return fs, ft


class HintTransform(nn.Module):
    """Base of the hint transforms: checks shapes, matches spatial sizes, detaches the teacher.

    Subclasses implement :meth:`pair` on spatially matched maps.

    Args:
        student_channels: channels ``Cs`` of the student feature map.
        teacher_channels: channels ``Ct`` of the teacher feature map.

    Shapes:
        - **input:** fs ``(B, Cs, Hs, Ws)``, ft ``(B, Ct, Ht, Wt)``
        - **output:** ``(zs, zt)`` of equal shape; see each subclass.
    """

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        for name, value in (("student_channels", student_channels), ("teacher_channels", teacher_channels)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"the {name!r} parameter must be a positive int; got {value!r}")
        self.student_channels = int(student_channels)
        self.teacher_channels = int(teacher_channels)

    def forward(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        _check_feature("student", fs, self.student_channels)
        _check_feature("teacher", ft, self.teacher_channels)
        if fs.shape[0] != ft.shape[0]:
            raise ValueError(f"student and teacher batch sizes differ: {fs.shape[0]} and {ft.shape[0]}")
        fs, ft = match_spatial(fs, ft.detach())
        return self.pair(fs, ft)

    def pair(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.student_channels}, {self.teacher_channels}"


def _check_feature(who: str, f: Tensor, channels: int) -> None:
    if f.dim() != 4 or f.shape[1] != channels:
        raise ValueError(f"the {who} feature map must have shape (B, {channels}, H, W); got {tuple(f.shape)}")


@HINT_TRANSFORMS.register("connector")
class Connector(HintTransform):
    r"""FitNets hint, Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015.

    A learned regressor maps the student to the teacher's width:
    :math:`z_s = \mathrm{BN}(W * f_s)` with ``W`` a 1x1 convolution ``Cs -> Ct``; :math:`z_t = f_t`.

    Shapes:
        ``(B, Ct, H, W)`` for both.
    """

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__(student_channels, teacher_channels)
        # No conv bias: the BatchNorm that follows has its own shift.
        self.conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(teacher_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        self.bn.reset_parameters()

    def pair(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        return self.bn(self.conv(fs)), ft  # (B, Ct, H, W) each


@HINT_TRANSFORMS.register("attention")
class AttentionMap(HintTransform):
    r"""Attention transfer, Zagoruyko & Komodakis, "Paying More Attention to Attention", ICLR 2017.

    A spatial attention map that needs no parameters and works across channel counts:

    .. math::
        a(f) = \frac{q}{\|q\|_2}, \quad q = \mathrm{vec}\Big(\frac{1}{C} \sum_c f_c^2\Big)
        \in \mathbb{R}^{HW}

    Shapes:
        ``(B, H*W)`` for both.
    """

    def pair(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        return _attention(fs), _attention(ft)


def _attention(f: Tensor) -> Tensor:
    q = f.pow(2).mean(1).flatten(1)  # (B, H*W)
    return q / torch.sqrt(q.pow(2).sum(1, keepdim=True) + EPS)


@HINT_TRANSFORMS.register("relation")
class SimilarityMatrix(HintTransform):
    r"""Similarity-preserving KD, Tung & Mori, "Similarity-Preserving Knowledge Distillation",
    ICCV 2019.

    The batch's pairwise similarity, whose shape is independent of the architecture:

    .. math::
        G = F F^\top, \quad \tilde G_{i,:} = G_{i,:} / \|G_{i,:}\|_2, \quad
        F = \mathrm{reshape}(f, (B, C H W))

    Shapes:
        ``(B, B)`` for both.
    """

    def pair(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        return _similarity(fs), _similarity(ft)


def _similarity(f: Tensor) -> Tensor:
    flat = f.flatten(1)  # (B, C*H*W)
    g = flat @ flat.T  # (B, B)
    return g / torch.sqrt(g.pow(2).sum(1, keepdim=True) + EPS)


@HINT_TRANSFORMS.register("channel")
class ChannelDistribution(HintTransform):
    r"""Channel-wise distillation, Shu et al., "Channel-wise Knowledge Distillation for Dense
    Prediction", ICCV 2021.

    Each channel becomes a distribution over spatial positions, with ``tau = 4``:

    .. math::
        \phi(f)_{c} = \mathrm{softmax}_{hw}\big(f_{c,hw} / \tau\big), \quad
        z_s = \phi(W * f_s), \quad z_t = \phi(f_t)

    ``W`` is a learned 1x1 convolution ``Cs -> Ct`` when the widths differ, the identity
    otherwise (then the transform has no parameters).

    Shapes:
        ``(B, Ct, H*W)`` for both; each row sums to 1.
    """

    def __init__(self, student_channels: int, teacher_channels: int, temperature: float = CHANNEL_TEMPERATURE) -> None:
        super().__init__(student_channels, teacher_channels)
        _check_temperature(temperature)
        self.temperature = temperature
        # No bias: a per-channel constant cancels in the softmax over positions.
        self.conv: nn.Module = (
            nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
            if student_channels != teacher_channels
            else nn.Identity()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if isinstance(self.conv, nn.Conv2d):
            self.conv.reset_parameters()

    def pair(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        return self._distribution(self.conv(fs)), self._distribution(ft)

    def _distribution(self, f: Tensor) -> Tensor:
        return F.softmax(f.flatten(2) / self.temperature, dim=2)  # (B, C, H*W)


# MiniLMv2 uses 12 to 64 relation heads for 384- to 1024-wide models; our widths are 16 to 256, so 4 keeps a
# relation head 4 to 64 wide; 4 divides every zoo and student width (8, 12, 16, 24, ...).
RELATION_HEADS = 4


@HINT_TRANSFORMS.register("attn_relation")
class SelfAttentionRelation(HintTransform):
    r"""Self-attention relation distillation (MiniLMv2), Wang et al., "MiniLMv2: Multi-Head Self-Attention
    Relation Distillation for Compressing Pretrained Transformers", Findings of ACL 2021.

    Between two transformers, the inputs are the queries, keys and values of one attention layer of each
    (:func:`qkv_maps` stacks them as ``(B, 3, C, H, W)``). Each of ``Q``, ``K``, ``V`` (all heads concatenated,
    ``(T, C)`` per image) is split into ``A`` *relation heads*, independent of either network's own head count,
    so that students and teachers with different head counts and widths match:

    .. math::
        R^{a}_{XX} = \mathrm{softmax}\Big(\frac{X_a X_a^\top}{\sqrt{d_a}}\Big) \in \mathbb{R}^{T \times T},
        \quad X \in \{Q, K, V\}, \quad d_a = C / A, \\
        \mathcal{L} = \frac{1}{3 A T} \sum_{X} \sum_{a=1}^{A} \sum_{i=1}^{T}
        \mathrm{KL}\big(R^{a,t}_{XX,i} \,\|\, R^{a,s}_{XX,i}\big),

    averaged over the batch. When either network is a CNN, the inputs are the tapped feature maps ``(B, C, H,
    W)`` instead (tokens = spatial positions, the map plays ``V``) and only the value relation is taken.
    Token grids of different sizes are matched first by :func:`match_spatial` (the larger grid is
    average-pooled to the smaller), so the token counts may differ too.

    ``A = gcd(relation_heads, Cs, Ct)``: :data:`RELATION_HEADS` whenever it divides both widths (every
    zoo and student width does), fewer for odd widths. The transform has no parameters; the objective is
    its own (:meth:`objective`, the KL above), so the recipe's hint distance has no effect with it.

    Args:
        student_channels: channels of the student feature map (checked for maps; q/k/v stacks may have
            any width).
        teacher_channels: channels of the teacher feature map.
        relation_heads: the most relation heads ``A``.

    Shapes:
        - **input:** fs ``(B, Cs, Hs, Ws)`` and ft ``(B, Ct, Ht, Wt)``, or fs ``(B, 3, Cs, Hs, Ws)`` and ft
          ``(B, 3, Ct, Ht, Wt)``
        - **output:** log-relations ``(B, R, A, T, T)`` for both, ``R`` = 1 or 3, ``T = H W`` after matching.
    """

    # between two transformers, the trainer hands it q/k/v stacks (see distill.trainer.kd_loss_fn)
    reads_qkv: ClassVar[bool] = True

    def __init__(self, student_channels: int, teacher_channels: int, relation_heads: int | None = None) -> None:
        super().__init__(student_channels, teacher_channels)
        self.relation_heads = RELATION_HEADS if relation_heads is None else int(relation_heads)
        if self.relation_heads < 1:
            raise ValueError(f"the 'relation_heads' parameter must be a positive int; got {relation_heads!r}")

    def forward(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        if fs.dim() == 4 or ft.dim() == 4:
            return super().forward(fs, ft)
        for who, f in (("student", fs), ("teacher", ft)):
            if f.dim() != 5 or f.shape[1] != 3:
                raise ValueError(f"the {who} q/k/v must have shape (B, 3, C, H, W); got {tuple(f.shape)}")
        if fs.shape[0] != ft.shape[0]:
            raise ValueError(f"student and teacher batch sizes differ: {fs.shape[0]} and {ft.shape[0]}")
        ms, mt = match_spatial(fs.flatten(1, 2), ft.detach().flatten(1, 2))  # (B, 3 C, H, W) each
        return self.pair(ms.unflatten(1, (3, -1)), mt.unflatten(1, (3, -1)))

    def pair(self, fs: Tensor, ft: Tensor) -> tuple[Tensor, Tensor]:
        heads = math.gcd(self.relation_heads, fs.shape[-3], ft.shape[-3])
        return _log_relations(fs, heads), _log_relations(ft, heads)

    @staticmethod
    def objective(zs: Tensor, zt: Tensor) -> Tensor:
        r""":math:`\mathrm{KL}(R_t \| R_s)` of every row of the log-relations, averaged over rows, heads,
        relations and the batch."""
        _check_pair(zs, zt)
        return (zt.exp() * (zt - zs)).sum(-1).mean()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, relation_heads={self.relation_heads}"


def _log_relations(f: Tensor, heads: int) -> Tensor:
    """Row-wise log-softmax of the scaled dot products of ``heads`` relation heads, over tokens.

    Shapes:
        ``(B, C, H, W)`` (one relation) or ``(B, R, C, H, W)`` -> ``(B, R, A, T, T)``, ``T = H W``.
    """
    if f.dim() == 4:
        f = f.unsqueeze(1)
    tokens = f.flatten(3).transpose(2, 3)  # (B, R, T, C)
    b, r, t, c = tokens.shape
    per_head = tokens.reshape(b, r, t, heads, c // heads).transpose(2, 3)  # (B, R, A, T, d)
    scores = per_head @ per_head.transpose(-1, -2) / math.sqrt(c // heads)  # (B, R, A, T, T)
    return F.log_softmax(scores, dim=-1)


def own_objective_transforms() -> tuple[str, ...]:
    """Names of the hint transforms with their own objective (the recipe's hint distance has no effect)."""
    return tuple(n for n in HINT_TRANSFORMS.names() if hasattr(HINT_TRANSFORMS.get(n), "objective"))


def qkv_transforms() -> tuple[str, ...]:
    """Names of the hint transforms that read a transformer's queries, keys and values when both nets have them."""
    return tuple(n for n in HINT_TRANSFORMS.names() if getattr(HINT_TRANSFORMS.get(n), "reads_qkv", False))


def qkv_maps(qkv: tuple[Tensor, Tensor, Tensor], maps: list[Tensor]) -> Tensor:
    """A transformer's queries, keys and values, each ``(B, N, C)``, stacked as token maps ``(B, 3, C, H, W)``.

    The token grid is that of the first feature map with ``N`` positions (a stage's output tokens reshaped, as
    the model contract has them), else the square ``sqrt(N) x sqrt(N)`` grid.
    """
    q, k, v = qkv
    b, n, c = q.shape
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k and v must have equal shapes (B, N, C); got {[tuple(t.shape) for t in qkv]}")
    grid = next((tuple(m.shape[-2:]) for m in maps if m.shape[-2] * m.shape[-1] == n), None)
    if grid is None:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"{n} tokens form no square grid and no feature map has {n} positions")
        grid = (side, side)
    return torch.stack((q, k, v), 1).transpose(2, 3).reshape(b, 3, c, *grid)  # (B, 3, C, H, W)


# ---------------------------------------------------------------------------------------------
# Hint distances: fn(a, b) -> scalar, a and b of equal shape (B, ...)
# ---------------------------------------------------------------------------------------------
def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape or a.dim() < 1:
        raise ValueError(
            f"a hint distance needs two tensors of equal shape (B, ...); got {tuple(a.shape)} and {tuple(b.shape)}"
        )


@HINT_DISTANCES.register("mse")
def mse_distance(a: Tensor, b: Tensor) -> Tensor:
    r"""Mean squared error, :math:`\mathrm{mean}\,(a - b)^2` (FitNets' hint loss)."""
    _check_pair(a, b)
    return F.mse_loss(a, b)


@HINT_DISTANCES.register("l1")
def l1_distance(a: Tensor, b: Tensor) -> Tensor:
    r"""Mean absolute error, :math:`\mathrm{mean}\,|a - b|`."""
    _check_pair(a, b)
    return F.l1_loss(a, b)


@HINT_DISTANCES.register("cosine")
def cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    r"""Mean cosine distance of the per-sample vectors, :math:`\frac{1}{B}\sum_i 1 - \cos(a_i, b_i)`.

    Invariant to positive scaling of either argument; see :func:`cosine_similarity`.
    """
    _check_pair(a, b)
    return (1.0 - cosine_similarity(a.flatten(1), b.flatten(1), dim=1)).mean()


@HINT_DISTANCES.register("pearson")
def pearson_distance(a: Tensor, b: Tensor) -> Tensor:
    r"""Mean Pearson distance of the per-sample vectors, :math:`\frac{1}{B}\sum_i 1 - \rho(a_i, b_i)`.

    Invariant to positive affine maps ``x -> s x + c`` of either argument, as in DIST
    (Huang et al. 2022); see :func:`pearson_correlation`.
    """
    _check_pair(a, b)
    return (1.0 - pearson_correlation(a.flatten(1), b.flatten(1), dim=1)).mean()


# ---------------------------------------------------------------------------------------------
# Transform + distance
# ---------------------------------------------------------------------------------------------
class HintLoss(nn.Module):
    r"""An intermediate-feature (hint) loss: :math:`d(\phi_s(f_s), \phi_t(f_t))`.

    Args:
        transform: a name in :data:`HINT_TRANSFORMS`.
        distance: a name in :data:`HINT_DISTANCES`.
        student_channels: channels of the student feature map.
        teacher_channels: channels of the teacher feature map.

    Shapes:
        - **input:** fs ``(B, Cs, Hs, Ws)``, ft ``(B, Ct, Ht, Wt)``
        - **output:** a scalar.
    """

    def __init__(self, transform: str, distance: str, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        self.transform_name = transform
        self.distance_name = distance
        self.transform = HINT_TRANSFORMS.get(transform)(student_channels, teacher_channels)
        # a transform with its own objective (attention relations: a KL) ignores the recipe's distance
        self.distance = getattr(self.transform, "objective", None) or HINT_DISTANCES.get(distance)

    def forward(self, fs: Tensor, ft: Tensor) -> Tensor:
        zs, zt = self.transform(fs, ft)
        return self.distance(zs, zt)

    def extra_repr(self) -> str:
        return f"distance={self.distance_name!r}"

"""Distillation losses: logit losses, hint transforms and hint distances, one registry each.

The recipe's loss is ``ce_weight * CE + kd_weight * logit_loss + hint_weight * hint``, where
``hint = distance(*transform(student_feature, teacher_feature))``. Each registry holds exactly
the gene values of :mod:`distill.genome` (the genome reads its choices from these registries, in
registration order), so adding a KD loss is one entry here plus its tests.

- :data:`LOGIT_LOSSES`: ``name -> fn(student_logits, teacher_logits, temperature) -> scalar``.
- :data:`HINT_TRANSFORMS`: ``name -> cls(student_channels, teacher_channels)``, an ``nn.Module``
  whose ``forward(fs, ft)`` returns a pair ``(zs, zt)`` of equal shape.
- :data:`HINT_DISTANCES`: ``name -> fn(a, b) -> scalar`` for ``a``, ``b`` of equal shape.

Teacher tensors are constants: every loss and transform detaches them, so no gradient reaches
the teacher. Normalisations carry an ``eps`` so that constant or all-zero inputs give finite
values and finite gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

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
        self.distance = HINT_DISTANCES.get(distance)

    def forward(self, fs: Tensor, ft: Tensor) -> Tensor:
        zs, zt = self.transform(fs, ft)
        return self.distance(zs, zt)

    def extra_repr(self) -> str:
        return f"distance={self.distance_name!r}"

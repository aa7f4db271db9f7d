"""Training losses of the accuracy predictor: regression on the accuracy plus ranking within a group."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pairwise_rank_loss", "regression_loss"]

_EPS = 1e-3  # accuracies are clamped to [eps, 1 - eps] before the logit: 0 and 1 happen (e.g. 2-class tasks)


def regression_loss(logits: Tensor, targets: Tensor, weights: Tensor | None = None) -> Tensor:
    r"""Weighted binary cross-entropy between the predicted accuracy and the true one (a soft label).

    .. math::
        L = \frac{\sum_i w_i \, \big(-y_i \log \sigma(s_i) - (1 - y_i) \log(1 - \sigma(s_i))\big)}{\sum_i w_i}

    It is minimal at :math:`\sigma(s_i) = y_i`, and its gradient :math:`\sigma(s_i) - y_i` does not vanish
    when the sigmoid saturates (unlike the squared error of :math:`\sigma(s_i)`).

    Args:
        logits: ``(B,)`` predicted logits :math:`s_i` of the accuracy.
        targets: ``(B,)`` accuracies :math:`y_i \in [0, 1]`.
        weights: ``(B,)`` non-negative weights :math:`w_i`; all ones when ``None``.
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if weights is None:
        return loss.mean()
    return (weights * loss).sum() / weights.sum().clamp_min(1e-12)


def pairwise_rank_loss(
    scores: Tensor,
    targets: Tensor,
    groups: Tensor,
    min_gap: float = 0.0,
    top: float = 0.0,
    rank: Tensor | None = None,
) -> Tensor:
    r"""RankNet loss (Burges et al., ICML 2005) over the ordered pairs inside each group.

    RankNet models the probability that :math:`i` ranks above :math:`j` as :math:`\sigma(s_i - s_j)` and
    takes the cross-entropy with a target probability :math:`\bar P_{ij}`. We use the paper's soft
    targets, :math:`\bar P_{ij} = \sigma(\operatorname{logit} y_i - \operatorname{logit} y_j)`, so the
    optimum :math:`s_i - s_j = \operatorname{logit} y_i - \operatorname{logit} y_j` agrees with the
    regression loss (hard targets :math:`\bar P_{ij} = 1` would push every score gap to infinity and
    fight the calibration):

    .. math::
        L = \frac{1}{|P|} \sum_{(i, j) \in P} -\bar P_{ij} \log \sigma(s_i - s_j)
            - (1 - \bar P_{ij}) \log \sigma(s_j - s_i), \qquad
        P = \{(i, j) : g_i = g_j,\ y_i > y_j + \delta\}

    Only pairs of the same group (e.g. the same task, teacher and budget) are compared: accuracies of
    different tasks are on different scales and their order means nothing. Pairs closer than the gap
    :math:`\delta` (ties, seed noise) are left out.

    With ``top`` :math:`\alpha > 0`, the pairs are weighted toward the top of each group, after LambdaRank
    (Burges et al., NIPS 2006), by the difference of the two students' DCG position discounts at their true
    ranks: with :math:`r_i` the rank of :math:`i` in its group by true accuracy (0 the best), pair
    :math:`(i, j)` weighs :math:`(1 - \alpha) + \alpha\, \Delta_{ij} / \bar\Delta` for
    :math:`\Delta_{ij} = 1/\log_2(2 + r_i) - 1/\log_2(2 + r_j)` and :math:`\bar\Delta` its mean over the
    pairs, so the mean weight stays 1. (LambdaRank also multiplies by the difference of the two gains and
    ranks by the current scores; here the order is the true one.) A search keeps the students predicted
    best; mistakes among the worst cost it nothing. A batch may hold part of a group only: ``rank`` gives the
    ranks in the whole group; without it they are counted among the batch's students of the group.

    Args:
        scores: ``(B,)`` predicted scores :math:`s_i` (logits of the accuracy).
        targets: ``(B,)`` true accuracies :math:`y_i \in [0, 1]`.
        groups: ``(B,)`` integer group ids :math:`g_i`.
        min_gap: :math:`\delta`.
        top: :math:`\alpha \in [0, 1]`; 0 (plain RankNet) weighs every pair the same.
        rank: ``(B,)`` :math:`r_i`, each student's rank in its whole group (only read when ``top`` > 0).

    Returns:
        A scalar; ``0`` (still attached to ``scores``) when there is no pair.
    """
    if not 0.0 <= top <= 1.0:
        raise ValueError(f"pairwise_rank_loss: top must be in [0, 1]; got {top!r}")
    same = groups.unsqueeze(0) == groups.unsqueeze(1)  # (B, B), [i, j]
    ordered = targets.unsqueeze(1) > targets.unsqueeze(0) + min_gap  # y_i > y_j + gap
    pairs = same & ordered
    if not bool(pairs.any()):
        return scores.sum() * 0.0
    z = torch.logit(targets.clamp(_EPS, 1 - _EPS))
    target_prob = torch.sigmoid(z.unsqueeze(1) - z.unsqueeze(0))[pairs]  # P_ij
    diff = (scores.unsqueeze(1) - scores.unsqueeze(0))[pairs]  # s_i - s_j
    if not top:
        return F.binary_cross_entropy_with_logits(diff, target_prob)
    if rank is None:  # the students of i's group in the batch above i
        rank = (same & (targets.unsqueeze(0) > targets.unsqueeze(1))).sum(1)
    gain = 1.0 / torch.log2(rank.to(scores.dtype) + 2.0)
    delta = (gain.unsqueeze(1) - gain.unsqueeze(0))[pairs]  # > 0: i ranks above j
    weight = (1.0 - top) + top * delta / delta.mean().clamp_min(1e-12)
    return F.binary_cross_entropy_with_logits(diff, target_prob, weight=weight.detach())

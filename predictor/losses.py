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


def pairwise_rank_loss(scores: Tensor, targets: Tensor, groups: Tensor, min_gap: float = 0.0) -> Tensor:
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

    Args:
        scores: ``(B,)`` predicted scores :math:`s_i` (logits of the accuracy).
        targets: ``(B,)`` true accuracies :math:`y_i \in [0, 1]`.
        groups: ``(B,)`` integer group ids :math:`g_i`.
        min_gap: :math:`\delta`.

    Returns:
        A scalar; ``0`` (still attached to ``scores``) when there is no pair.
    """
    same = groups.unsqueeze(0) == groups.unsqueeze(1)  # (B, B), [i, j]
    ordered = targets.unsqueeze(1) > targets.unsqueeze(0) + min_gap  # y_i > y_j + gap
    pairs = same & ordered
    if not bool(pairs.any()):
        return scores.sum() * 0.0
    z = torch.logit(targets.clamp(_EPS, 1 - _EPS))
    target_prob = torch.sigmoid(z.unsqueeze(1) - z.unsqueeze(0))[pairs]  # P_ij
    diff = (scores.unsqueeze(1) - scores.unsqueeze(0))[pairs]  # s_i - s_j
    return F.binary_cross_entropy_with_logits(diff, target_prob)

"""Training losses of the accuracy predictor: regression on the accuracy plus ranking within a group."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pairwise_rank_loss", "regression_loss"]


def regression_loss(logits: Tensor, targets: Tensor, weights: Tensor | None = None) -> Tensor:
    r"""Weighted mean squared error of the predicted accuracy.

    .. math::
        L = \frac{\sum_i w_i \, (\sigma(s_i) - y_i)^2}{\sum_i w_i}

    Args:
        logits: ``(B,)`` predicted logits :math:`s_i` of the accuracy.
        targets: ``(B,)`` accuracies :math:`y_i \in [0, 1]`.
        weights: ``(B,)`` non-negative weights :math:`w_i`; all ones when ``None``.
    """
    err = (torch.sigmoid(logits) - targets) ** 2
    if weights is None:
        return err.mean()
    return (weights * err).sum() / weights.sum().clamp_min(1e-12)


def pairwise_rank_loss(scores: Tensor, targets: Tensor, groups: Tensor, min_gap: float = 0.0) -> Tensor:
    r"""RankNet loss (Burges et al., ICML 2005) over the ordered pairs inside each group.

    .. math::
        L = \frac{1}{|P|} \sum_{(i, j) \in P} \log\big(1 + e^{-(s_i - s_j)}\big), \qquad
        P = \{(i, j) : g_i = g_j,\ y_i > y_j + \delta\}

    Only pairs of the same group (e.g. the same task, teacher and budget) are compared: accuracies of
    different tasks are on different scales and their order means nothing. Pairs closer than the gap
    :math:`\delta` (ties, seed noise) are left out.

    Args:
        scores: ``(B,)`` predicted scores :math:`s_i` (logits).
        targets: ``(B,)`` true accuracies :math:`y_i`.
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
    diff = scores.unsqueeze(1) - scores.unsqueeze(0)  # s_i - s_j
    return F.softplus(-diff[pairs]).mean()

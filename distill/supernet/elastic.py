"""Elastic layers: one set of weights at the largest size, run at any smaller size by slicing.

The weight-sharing rules of Once-for-All (Cai et al., ICLR 2020) and AutoFormer's weight entanglement (Chen et
al., ICCV 2021): a sub-network's

* width of ``c`` channels uses the first ``c`` output (and input) channels of the largest layer;
* kernel of ``k x k`` uses the centre ``k x k`` crop of the largest kernel (OFA's kernel transform matrices are
  left out: the plain crop keeps the extracted student's weights a slice of the supernet's, which is what makes
  :func:`inherit` a copy);
* BatchNorm uses the first ``c`` entries of the affine parameters and of the running statistics, so the
  statistics must be recalibrated per sub-network before it is evaluated (OFA; :meth:`Supernet.recalibrate_bn`).

Each module keeps the parameter names of its stand-alone counterpart in :mod:`distill.nets` (an
:class:`ElasticConvBN` holds ``0`` the convolution and ``1`` the BatchNorm, as ``conv_bn``'s ``nn.Sequential``
does), so a stand-alone student's state dict is the supernet's, key by key, cut down by :func:`inherit`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ElasticConvBN", "centre_crop", "elastic_batch_norm", "inherit"]


def centre_crop(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """The centre ``kernel x kernel`` of a ``(..., K, K)`` convolution weight (OFA's elastic kernel)."""
    start = (weight.shape[-1] - kernel) // 2
    return weight[..., start : start + kernel, start : start + kernel]


def inherit(source: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """The part of a supernet tensor a sub-network of ``shape`` uses: leading slices, a centred kernel.

    Channel and feature dimensions take their first entries (width slicing); the two spatial dimensions of a 4-D
    convolution weight take their centre (kernel cropping). ``shape`` must fit inside ``source``.
    """
    assert source.dim() == len(shape) and all(s <= m for s, m in zip(shape, source.shape)), (source.shape, shape)
    out = source
    if source.dim() == 4:
        out = centre_crop(out, shape[-1])
        shape = (*shape[:2], out.shape[2], out.shape[3])
    return out[tuple(slice(0, n) for n in shape)]


def elastic_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``bn`` on the first ``x.shape[1]`` channels, with the update rule of ``nn.BatchNorm2d`` itself.

    The running statistics of those channels are updated in place (slices of the buffers are views), with
    the module's momentum, or the cumulative average when it is ``None`` (what recalibration sets).
    """
    c = x.shape[1]
    factor = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch_stats = bn.training or bn.running_mean is None
    return F.batch_norm(
        x,
        bn.running_mean[:c] if bn.running_mean is not None else None,
        bn.running_var[:c] if bn.running_var is not None else None,
        bn.weight[:c],
        bn.bias[:c],
        use_batch_stats,
        factor,
        bn.eps,
    )


class ElasticConvBN(nn.Module):
    """``conv(k) -> BN [-> ReLU]`` at the largest size, run on the first channels and the centre kernel.

    The elastic counterpart of :func:`distill.nets.conv_bn` with the same parameter names (``0.weight``,
    ``1.weight``, ``1.running_mean``, ...). The input channels are those of the input tensor.

    Args:
        max_in: the most input channels.
        max_out: the most output channels.
        max_kernel: the largest (odd) kernel.
        stride: the convolution's stride.
        depthwise: one filter per channel (``groups`` = channels; the output has the input's channels).
        act: a ReLU after the BatchNorm.

    Shapes:
        ``(B, c_in, H, W)`` -> ``(B, out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(
        self, max_in: int, max_out: int, max_kernel: int, stride: int = 1, depthwise: bool = False, act: bool = True
    ) -> None:
        super().__init__()
        self.max_in, self.max_out, self.max_kernel = max_in, max_out, max_kernel
        self.stride, self.depthwise, self.act = stride, depthwise, act
        groups = max_out if depthwise else 1
        self.add_module("0", nn.Conv2d(max_in, max_out, max_kernel, stride, max_kernel // 2, groups=groups, bias=False))
        self.add_module("1", nn.BatchNorm2d(max_out))

    def forward(self, x: torch.Tensor, out: int, kernel: int) -> torch.Tensor:
        conv, bn = self._modules["0"], self._modules["1"]
        if self.depthwise:
            assert out == x.shape[1], "a depthwise convolution keeps the channels"
            weight, groups = centre_crop(conv.weight[:out], kernel), out
        else:
            weight, groups = centre_crop(conv.weight[:out, : x.shape[1]], kernel), 1
        y = elastic_batch_norm(bn, F.conv2d(x, weight, None, self.stride, kernel // 2, 1, groups))
        return F.relu(y) if self.act else y

"""The elastic staged CNN: one :class:`~distill.nets.StagedNet` at the largest size of a sub-space, run at any
smaller one (Once-for-All's elastic depth, width and kernel, plus MBConv's elastic expansion).

Every block type of :data:`distill.nets.BLOCKS` has an elastic counterpart here, with its stand-alone
parameter names, that runs on the first channels and the centre kernel of its weights (:mod:`.elastic`):

* ``conv``: ``body``; ``dwsep``: ``depthwise`` then ``pointwise``;
* ``basic``: ``conv1``, ``conv2`` and a 1x1 ``shortcut`` projection in every stage's first block, used by the
  sub-networks whose block changes the shape (stride 2, or input and output widths that differ): the same
  rule as the stand-alone block's (:meth:`~distill.nets.BasicBlock.shortcut_kind`);
* ``mbconv``: ``expand`` (skipped at expansion 1, where the stand-alone block has none), ``depthwise`` at
  ``input width x expansion`` channels, ``project``; the residual when the block keeps the shape.

Elastic depth runs the first ``depth`` blocks of a stage: every later block keeps the shape (stride 1, the
stage's width in and out), so skipping it leaves a valid network. The spatial down-sampling is
:func:`distill.nets.plan_blocks`'s, read from the largest sub-network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from distill.nets import BLOCKS, IDENTITY, STEM_KERNEL, plan_blocks, stem_stride
from distill.registry import Registry
from distill.supernet.base import SUPERNETS, Supernet
from distill.supernet.elastic import ElasticConvBN
from distill.supernet.subspace import StagedCNNSubSpace

__all__ = ["ELASTIC_BLOCKS", "ElasticBlock", "ElasticStagedCNN"]


class ElasticBlock(nn.Module):
    """A block of one type at its largest size; ``forward(x, out, kernel, expansion)`` runs a smaller one.

    Args:
        max_in: the most input channels; max_out: the most output channels.
        stride: the block's stride; max_kernel, max_expansion: the largest kernel and expansion.
    """

    def __init__(self, max_in: int, max_out: int, stride: int, max_kernel: int, max_expansion: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor, out: int, kernel: int, expansion: int) -> torch.Tensor:
        raise NotImplementedError


ELASTIC_BLOCKS: Registry[type[ElasticBlock]] = Registry("elastic block type")


@ELASTIC_BLOCKS.register("conv")
class ElasticConv(ElasticBlock):
    def __init__(self, max_in: int, max_out: int, stride: int, max_kernel: int, max_expansion: int) -> None:
        super().__init__(max_in, max_out, stride, max_kernel, max_expansion)
        self.body = ElasticConvBN(max_in, max_out, max_kernel, stride)

    def forward(self, x: torch.Tensor, out: int, kernel: int, expansion: int) -> torch.Tensor:
        return self.body(x, out, kernel)


@ELASTIC_BLOCKS.register("basic")
class ElasticBasic(ElasticBlock):
    def __init__(
        self, max_in: int, max_out: int, stride: int, max_kernel: int, max_expansion: int, projection: bool = True
    ) -> None:
        super().__init__(max_in, max_out, stride, max_kernel, max_expansion)
        self.conv1 = ElasticConvBN(max_in, max_out, max_kernel, stride)
        self.conv2 = ElasticConvBN(max_out, max_out, max_kernel, act=False)
        if projection:
            self.shortcut = ElasticConvBN(max_in, max_out, 1, stride, act=False)

    def forward(self, x: torch.Tensor, out: int, kernel: int, expansion: int) -> torch.Tensor:
        y = self.conv2(self.conv1(x, out, kernel), out, kernel)
        identity = BLOCKS.get("basic").shortcut_kind(x.shape[1], out, self.stride) == IDENTITY
        return F.relu(y + (x if identity else self.shortcut(x, out, 1)))


@ELASTIC_BLOCKS.register("mbconv")
class ElasticMBConv(ElasticBlock):
    def __init__(self, max_in: int, max_out: int, stride: int, max_kernel: int, max_expansion: int) -> None:
        super().__init__(max_in, max_out, stride, max_kernel, max_expansion)
        hidden = max_in * max_expansion
        if max_expansion != 1:
            self.expand = ElasticConvBN(max_in, hidden, 1)
        self.depthwise = ElasticConvBN(hidden, hidden, max_kernel, stride, depthwise=True)
        self.project = ElasticConvBN(hidden, max_out, 1, act=False)

    def forward(self, x: torch.Tensor, out: int, kernel: int, expansion: int) -> torch.Tensor:
        cin = x.shape[1]
        hidden = cin * expansion
        h = self.expand(x, hidden, 1) if expansion != 1 else x  # (B, cin * e, H, W)
        y = self.project(self.depthwise(h, hidden, kernel), out, 1)
        return y + x if BLOCKS.get("mbconv").shortcut_kind(cin, out, self.stride) == IDENTITY else y


@ELASTIC_BLOCKS.register("dwsep")
class ElasticDepthwiseSeparable(ElasticBlock):
    def __init__(self, max_in: int, max_out: int, stride: int, max_kernel: int, max_expansion: int) -> None:
        super().__init__(max_in, max_out, stride, max_kernel, max_expansion)
        self.depthwise = ElasticConvBN(max_in, max_in, max_kernel, stride, depthwise=True)
        self.pointwise = ElasticConvBN(max_in, max_out, 1)

    def forward(self, x: torch.Tensor, out: int, kernel: int, expansion: int) -> torch.Tensor:
        return self.pointwise(self.depthwise(x, x.shape[1], kernel), out, 1)


@SUPERNETS.register("staged_cnn")
class ElasticStagedCNN(Supernet):
    """``stem -> elastic stages -> global average pool -> linear`` of a :class:`StagedCNNSubSpace`.

    Its parameter names are :class:`~distill.nets.StagedNet`'s (``stem.0.weight``, ``stages.1.0.conv1.0.weight``,
    ``classifier.weight``), so :meth:`extract` copies by key.
    """

    def __init__(self, subspace: StagedCNNSubSpace, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__(subspace, in_shape, num_classes)
        missing = [s.block for s in subspace.stages if s.block not in ELASTIC_BLOCKS]
        if missing:
            raise ValueError(f"block type {missing[0]!r} has no elastic version; valid: {', '.join(ELASTIC_BLOCKS)}")
        largest = subspace.largest()
        self.stem = ElasticConvBN(in_shape[0], largest.stem_width, STEM_KERNEL, stem_stride(in_shape))
        stages: list[list[ElasticBlock]] = [[] for _ in subspace.stages]
        for plan in plan_blocks(largest.stem_width, largest.stages, in_shape):
            choices = subspace.stages[plan.stage]
            cls = ELASTIC_BLOCKS.get(plan.block)
            args = (plan.cin, plan.cout, plan.stride, max(choices.kernels), max(choices.expansions))
            # a stage's later blocks keep the shape in every sub-network: no projection to learn
            stages[plan.stage].append(cls(*args, projection=plan.index == 0) if cls is ElasticBasic else cls(*args))
        self.stages = nn.ModuleList(nn.ModuleList(blocks) for blocks in stages)
        self.classifier = nn.Linear(largest.stages[-1].width, num_classes)

    @property
    def stage_channels(self) -> list[int]:
        """Channels of the active sub-network's stage outputs (what its stand-alone network reports)."""
        return [s.width for s in self.active.stages]

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        g = self.active
        x = self.stem(x, g.stem_width, STEM_KERNEL)  # (B, stem, H', W')
        feats = []
        for blocks, gene in zip(self.stages, g.stages):
            for block in blocks[: gene.depth]:
                x = block(x, gene.width, gene.kernel, gene.expansion)  # (B, C_i, H_i, W_i)
            feats.append(x)
        c = x.shape[1]
        logits = F.linear(x.mean((2, 3)), self.classifier.weight[:, :c], self.classifier.bias)  # (B, K)
        return logits, feats

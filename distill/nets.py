"""Building blocks and the one network skeleton shared by students and zoo teachers.

Every network here is ``stem -> stages -> global pool -> linear`` and follows the model
contract the rest of the project relies on:

* ``forward(x) -> logits``  # (B, K)
* ``forward_features(x) -> (logits, [stage outputs])``  # each (B, C_i, H_i, W_i), shallow to deep

A block type is one registry entry (``BLOCKS``): a :class:`Block` subclass that is at once the module
and the declaration of its costs. Its static methods ``params``, ``macs`` and ``shortcut_kind`` are
written with operators that work on Python ints and on numpy arrays alike, so the network's parameter
and MAC counts (:func:`count_net_params`, :func:`count_net_macs`), the search's cost model and the
predictor's vectorised graph encoder all read the same formulas; tests check every formula against the
built module (``count_params``, ``count_flops``) and the shortcut against the module's residual.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from distill.registry import Registry


@dataclass(frozen=True)
class StageGene:
    """One stage of a :class:`StagedNet`: ``depth`` blocks of one type (a student's gene, a teacher's spec)."""

    block: str
    depth: int
    width: int
    kernel: int = 3
    expansion: int = 1
    se: bool = False


class Buildable(Protocol):
    """What :func:`build_student` needs of a genome (:class:`distill.genome.Genome` is one)."""

    def build(self, in_shape: tuple[int, int, int], num_classes: int, seed: int | None = None) -> nn.Module: ...


# What the cost formulas take and return: Python ints for one block, numpy int arrays for many.
Num = int | bool | np.ndarray

# A block's shortcut, as ``Block.shortcut_kind`` returns it (an index into this tuple).
SHORTCUTS = ("none", "identity", "projection")
NO_SHORTCUT, IDENTITY, PROJECTION = range(len(SHORTCUTS))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_bn_params(cin: Num, cout: Num, kernel: Num, groups: Num = 1) -> Num:
    """Parameters of :func:`conv_bn`: the bias-free convolution and the BatchNorm's weight and bias.

    Like every cost formula here, it takes ints or numpy arrays.
    """
    return cin // groups * cout * kernel * kernel + 2 * cout


def conv_macs(cin: Num, cout: Num, kernel: Num, out_pixels: Num, groups: Num = 1) -> Num:
    """Multiply-adds of a ``kernel x kernel`` convolution with ``out_pixels`` output positions."""
    return cin // groups * cout * kernel * kernel * out_pixels


def keeps_shape(cin: Num, cout: Num, stride: Num) -> Num:
    """Whether a block's output has its input's shape (stride 1, ``cin == cout``); ints or arrays."""
    return (stride == 1) & (cin == cout)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018): ``x * sigmoid(W2 relu(W1 mean_hw(x)))``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.act = nn.ReLU(inplace=True)

    @staticmethod
    def hidden(channels: Num, reduction: int = 4) -> Num:
        return np.maximum(4, channels // reduction)

    @staticmethod
    def params(channels: Num, reduction: int = 4) -> Num:
        hidden = SqueezeExcite.hidden(channels, reduction)
        return 2 * channels * hidden + hidden + channels  # two 1x1 convs with biases

    @staticmethod
    def macs(channels: Num, reduction: int = 4) -> Num:
        """Per image: both 1x1 convs run on the pooled ``1 x 1`` map, whatever the resolution."""
        return 2 * channels * SqueezeExcite.hidden(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))


class Block(nn.Module):
    """A block type: the module, and its costs and shortcut declared once, without building it.

    Subclasses take ``(cin, cout, stride, kernel, expansion, se)`` and implement the static methods
    below with operators that work on ints and on numpy arrays alike (``&`` not ``and``, ``np.where``
    not ``if``, ``flag * x`` for an optional part), so one formula serves a single network and a
    vectorised batch of thousands of blocks.
    """

    # Whether the ``expansion`` gene changes the block; when not, the genome's canonical form sets it to 1.
    uses_expansion: ClassVar[bool] = False

    @staticmethod
    def params(cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num, se: Num) -> Num:
        """Parameters, exactly as :func:`distill.cost.count_params` counts the module."""
        raise NotImplementedError

    @staticmethod
    def macs(
        cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num, se: Num, in_pixels: Num, out_pixels: Num
    ) -> Num:
        """Multiply-adds of one forward pass of one input, as :func:`distill.cost.count_flops` counts them.

        ``in_pixels`` and ``out_pixels`` are the spatial positions of the block's input and output.
        """
        raise NotImplementedError

    @staticmethod
    def shortcut_kind(cin: Num, cout: Num, stride: Num) -> Num:
        """Index into :data:`SHORTCUTS` of the block's skip connection (none by default)."""
        return np.zeros(np.shape(cin), dtype=np.int64)


BLOCKS: Registry[type[Block]] = Registry("block type")


@BLOCKS.register("conv")
class ConvBlock(Block):
    """Plain ``conv(k) -> BN -> ReLU`` (VGG style), optional SE."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        self.body = conv_bn(cin, cout, kernel, stride)
        self.se = SqueezeExcite(cout) if se else nn.Identity()

    @staticmethod
    def params(cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num = 1, se: Num = False) -> Num:
        return conv_bn_params(cin, cout, kernel) + se * SqueezeExcite.params(cout)

    @staticmethod
    def macs(
        cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num, se: Num, in_pixels: Num, out_pixels: Num
    ) -> Num:
        return conv_macs(cin, cout, kernel, out_pixels) + se * SqueezeExcite.macs(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.body(x))


@BLOCKS.register("basic")
class BasicBlock(Block):
    """ResNet basic block (He et al., CVPR 2016): ``relu(F(x) + shortcut(x))`` with two k x k convs.

    The shortcut is the identity when the block keeps the shape, a strided 1x1 projection otherwise.
    """

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, kernel, stride)
        self.conv2 = conv_bn(cout, cout, kernel, act=False)
        self.se = SqueezeExcite(cout) if se else nn.Identity()
        identity = self.shortcut_kind(cin, cout, stride) == IDENTITY
        self.shortcut = nn.Identity() if identity else conv_bn(cin, cout, 1, stride, act=False)
        self.act = nn.ReLU(inplace=True)

    @staticmethod
    def shortcut_kind(cin: Num, cout: Num, stride: Num) -> Num:
        return np.where(keeps_shape(cin, cout, stride), IDENTITY, PROJECTION)

    @staticmethod
    def params(cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num = 1, se: Num = False) -> Num:
        projection = BasicBlock.shortcut_kind(cin, cout, stride) == PROJECTION
        return (
            conv_bn_params(cin, cout, kernel)
            + conv_bn_params(cout, cout, kernel)
            + se * SqueezeExcite.params(cout)
            + projection * conv_bn_params(cin, cout, 1)
        )

    @staticmethod
    def macs(
        cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num, se: Num, in_pixels: Num, out_pixels: Num
    ) -> Num:
        projection = BasicBlock.shortcut_kind(cin, cout, stride) == PROJECTION
        return (
            conv_macs(cin, cout, kernel, out_pixels)
            + conv_macs(cout, cout, kernel, out_pixels)
            + projection * conv_macs(cin, cout, 1, out_pixels)
            + se * SqueezeExcite.macs(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv2(self.conv1(x))) + self.shortcut(x))


@BLOCKS.register("mbconv")
class MBConv(Block):
    """Inverted residual (MobileNetV2, Sandler et al. 2018): 1x1 expand -> k x k depthwise -> SE -> 1x1 project.

    The residual is used when the block keeps shape (stride 1, ``cin == cout``).
    """

    uses_expansion = True

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = conv_bn(cin, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.se = SqueezeExcite(hidden) if se else nn.Identity()
        self.project = conv_bn(hidden, cout, 1, act=False)
        self.residual = bool(self.shortcut_kind(cin, cout, stride) == IDENTITY)

    @staticmethod
    def shortcut_kind(cin: Num, cout: Num, stride: Num) -> Num:
        return np.where(keeps_shape(cin, cout, stride), IDENTITY, NO_SHORTCUT)

    @staticmethod
    def params(cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num = 1, se: Num = False) -> Num:
        hidden = cin * expansion
        return (
            (expansion != 1) * conv_bn_params(cin, hidden, 1)
            + conv_bn_params(hidden, hidden, kernel, hidden)
            + se * SqueezeExcite.params(hidden)
            + conv_bn_params(hidden, cout, 1)
        )

    @staticmethod
    def macs(
        cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num, se: Num, in_pixels: Num, out_pixels: Num
    ) -> Num:
        hidden = cin * expansion
        # the 1x1 expansion runs before the strided depthwise conv: at the input resolution
        return (
            (expansion != 1) * conv_macs(cin, hidden, 1, in_pixels)
            + conv_macs(hidden, hidden, kernel, out_pixels, hidden)
            + conv_macs(hidden, cout, 1, out_pixels)
            + se * SqueezeExcite.macs(hidden)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + x if self.residual else out


@BLOCKS.register("dwsep")
class DepthwiseSeparable(Block):
    """Depthwise-separable conv (MobileNetV1, Howard et al. 2017): k x k depthwise -> SE -> 1x1 pointwise."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        self.depthwise = conv_bn(cin, cin, kernel, stride, groups=cin)
        self.se = SqueezeExcite(cin) if se else nn.Identity()
        self.pointwise = conv_bn(cin, cout, 1)

    @staticmethod
    def params(cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num = 1, se: Num = False) -> Num:
        return conv_bn_params(cin, cin, kernel, cin) + se * SqueezeExcite.params(cin) + conv_bn_params(cin, cout, 1)

    @staticmethod
    def macs(
        cin: Num, cout: Num, stride: Num, kernel: Num, expansion: Num, se: Num, in_pixels: Num, out_pixels: Num
    ) -> Num:
        return (
            conv_macs(cin, cin, kernel, out_pixels, cin)
            + se * SqueezeExcite.macs(cin)
            + conv_macs(cin, cout, 1, out_pixels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


def stem_stride(in_shape: tuple[int, int, int]) -> int:
    """Large inputs (MNIST's 28x28 and up) are halved by the stem to keep students cheap."""
    return 2 if min(in_shape[1:]) >= 24 else 1


@dataclass(frozen=True)
class BlockPlan:
    """One block of a :class:`StagedNet`: where it sits, its arguments and its spatial sizes."""

    stage: int
    index: int  # inside its stage
    block: str
    cin: int
    cout: int
    stride: int
    kernel: int
    expansion: int
    se: bool
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]

    @property
    def args(self) -> tuple[int, int, int, int, int, bool]:
        """The block constructor's (and cost formulas') arguments."""
        return self.cin, self.cout, self.stride, self.kernel, self.expansion, self.se


def stem_output_hw(in_shape: tuple[int, int, int]) -> tuple[int, int]:
    """Height and width after the stem (a padded ``3 x 3`` conv of stride :func:`stem_stride`)."""
    stride = stem_stride(in_shape)
    return -(-in_shape[1] // stride), -(-in_shape[2] // stride)


def plan_blocks(stem_width: int, stages: tuple[StageGene, ...], in_shape: tuple[int, int, int]) -> Iterator[BlockPlan]:
    """The blocks of ``StagedNet(stem_width, stages, in_shape, ...)`` in order: the one down-sampling rule.

    The first block of every stage after the first halves the spatial size while its smaller side is > 1.
    Every kernel is odd and padded by ``kernel // 2``, so a stride-``s`` conv gives ``ceil(size / s)``.
    """
    h, w = stem_output_hw(in_shape)
    size, cin = min(h, w), stem_width
    for i, spec in enumerate(stages):
        for j in range(spec.depth):
            down = 2 if (i > 0 and j == 0 and size > 1) else 1
            out_hw = (-(-h // down), -(-w // down))
            yield BlockPlan(
                i, j, spec.block, cin, spec.width, down, spec.kernel, spec.expansion, spec.se, (h, w), out_hw
            )
            size, (h, w), cin = -(-size // down), out_hw, spec.width


class StagedNet(nn.Module):
    """``stem -> stages -> global average pool -> linear``; any input size and channel count.

    Args:
        stem_width: channels of the stem convolution.
        stages: the stages; every stage after the first halves the spatial size (while it is > 1).
        in_shape: ``(C, H, W)`` of the inputs.
        num_classes: outputs of the classifier.

    Shapes:
        input ``(B, C, H, W)`` -> logits ``(B, num_classes)``.
    """

    def __init__(
        self, stem_width: int, stages: tuple[StageGene, ...], in_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.stem = conv_bn(in_shape[0], stem_width, 3, stem_stride(in_shape))
        blocks: list[list[nn.Module]] = [[] for _ in stages]
        cin = stem_width
        for plan in plan_blocks(stem_width, stages, in_shape):
            blocks[plan.stage].append(BLOCKS.get(plan.block)(*plan.args))
            cin = plan.cout
        self.stages = nn.ModuleList(nn.Sequential(*layers) for layers in blocks)
        self.stage_channels = [s.width for s in stages]
        self.classifier = nn.Linear(cin, num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        x = self.stem(x)  # (B, stem, H', W')
        for stage in self.stages:
            x = stage(x)  # (B, C_i, H_i, W_i)
            feats.append(x)
        logits = self.classifier(x.mean((2, 3)))  # (B, K)
        return logits, feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


STEM_KERNEL = 3  # the stem is a 3 x 3 conv_bn


def count_net_params(
    stem_width: int, stages: tuple[StageGene, ...], in_shape: tuple[int, int, int], num_classes: int
) -> int:
    """Parameters of ``StagedNet(stem_width, stages, in_shape, num_classes)`` without building it.

    Raises ``AttributeError`` when a block type has no ``params`` method (build the network instead).
    """
    total = conv_bn_params(in_shape[0], stem_width, STEM_KERNEL)
    cin = stem_width
    for plan in plan_blocks(stem_width, stages, in_shape):
        total += BLOCKS.get(plan.block).params(*plan.args)
        cin = plan.cout
    return int(total + cin * num_classes + num_classes)


def count_net_macs(
    stem_width: int, stages: tuple[StageGene, ...], in_shape: tuple[int, int, int], num_classes: int
) -> int:
    """Multiply-adds of one input through ``StagedNet(...)`` without building it, as ``count_flops`` counts."""
    h, w = stem_output_hw(in_shape)
    total = conv_macs(in_shape[0], stem_width, STEM_KERNEL, h * w)
    cin = stem_width
    for plan in plan_blocks(stem_width, stages, in_shape):
        in_pixels, out_pixels = plan.in_hw[0] * plan.in_hw[1], plan.out_hw[0] * plan.out_hw[1]
        total += BLOCKS.get(plan.block).macs(*plan.args, in_pixels, out_pixels)
        cin = plan.cout
    return int(total + cin * num_classes)


def build_student(
    genome: Buildable, in_shape: tuple[int, int, int], num_classes: int, seed: int | None = None
) -> nn.Module:
    """The student network of ``genome`` for inputs of ``in_shape`` and ``num_classes`` outputs.

    With a ``seed`` the initial weights are a function of it alone (the global RNG is left as it was).
    The genome's student family builds it (see :mod:`distill.families`).
    """
    return genome.build(in_shape, num_classes, seed)


def build_net(
    stem_width: int,
    stages: tuple[StageGene, ...],
    in_shape: tuple[int, int, int],
    num_classes: int,
    seed: int | None = None,
) -> StagedNet:
    if seed is None:
        return StagedNet(stem_width, stages, in_shape, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return StagedNet(stem_width, stages, in_shape, num_classes)


def stage_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and stage outputs of any classifier, shallow to deep, as ``forward_features`` gives them.

    A model with ``forward_features`` (this module's networks) is asked; a TorchScript module exposes
    no stages (an empty list); a plain ``nn.Module`` gives the last 4-D activation at each spatial
    resolution, found with forward hooks on its leaf modules.
    """
    if hasattr(model, "forward_features"):
        return model.forward_features(x)
    if isinstance(model, torch.jit.ScriptModule):
        return model(x), []
    outs: list[torch.Tensor] = []
    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [
        m.register_forward_hook(lambda _m, _i, o: outs.append(o) if torch.is_tensor(o) and o.dim() == 4 else None)
        for m in leaves
    ]
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    # the last activation at each resolution, in order; 1x1 maps (squeeze-excitation, global
    # pooling) are not stages
    stages: list[torch.Tensor] = []
    for o in outs:
        if o.shape[2] * o.shape[3] == 1 or (stages and o.shape[2:] > stages[-1].shape[2:]):
            continue
        if stages and stages[-1].shape[2:] == o.shape[2:]:
            stages[-1] = o
        else:
            stages.append(o)
    return logits, stages


class Normalised(nn.Module):
    """``net`` behind the task's normalisation: takes images in [0, 1], the way a user has them.

    ``mean`` and ``std`` are per channel (a task's ``input_mean``/``input_std``); it scripts with
    ``torch.jit.script`` so a found student ships as one file.
    """

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

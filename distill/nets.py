"""Building blocks and the one network skeleton shared by students and zoo teachers.

Every network here is ``stem -> stages -> global pool -> linear`` and follows the model
contract the rest of the project relies on:

* ``forward(x) -> logits``  # (B, K)
* ``forward_features(x) -> (logits, [stage outputs])``  # each (B, C_i, H_i, W_i), shallow to deep

A block type is one registry entry (``BLOCKS``); adding one is a class plus its tests. Each block
class also counts its parameters without being built (``params``, a static method), so the search
can price thousands of architectures per second; a test checks every count against the module.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.genome import Genome, StageGene
from distill.registry import Registry

BLOCKS: Registry[type[nn.Module]] = Registry("block type")


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_bn_params(cin: int, cout: int, kernel: int, groups: int = 1) -> int:
    """Parameters of :func:`conv_bn`: the bias-free convolution and the BatchNorm's weight and bias."""
    return cin // groups * cout * kernel * kernel + 2 * cout


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018): ``x * sigmoid(W2 relu(W1 mean_hw(x)))``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.act = nn.ReLU(inplace=True)

    @staticmethod
    def params(channels: int, reduction: int = 4) -> int:
        hidden = max(4, channels // reduction)
        return channels * hidden + hidden + hidden * channels + channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))


@BLOCKS.register("conv")
class ConvBlock(nn.Module):
    """Plain ``conv(k) -> BN -> ReLU`` (VGG style), optional SE."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        self.body = conv_bn(cin, cout, kernel, stride)
        self.se = SqueezeExcite(cout) if se else nn.Identity()

    @staticmethod
    def params(cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> int:
        return conv_bn_params(cin, cout, kernel) + (SqueezeExcite.params(cout) if se else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.body(x))


@BLOCKS.register("basic")
class BasicBlock(nn.Module):
    """ResNet basic block (He et al., CVPR 2016): ``relu(F(x) + shortcut(x))`` with two k x k convs."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, kernel, stride)
        self.conv2 = conv_bn(cout, cout, kernel, act=False)
        self.se = SqueezeExcite(cout) if se else nn.Identity()
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=False)
        self.act = nn.ReLU(inplace=True)

    @staticmethod
    def params(cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> int:
        shortcut = 0 if stride == 1 and cin == cout else conv_bn_params(cin, cout, 1)
        se_params = SqueezeExcite.params(cout) if se else 0
        return conv_bn_params(cin, cout, kernel) + conv_bn_params(cout, cout, kernel) + se_params + shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv2(self.conv1(x))) + self.shortcut(x))


@BLOCKS.register("mbconv")
class MBConv(nn.Module):
    """Inverted residual (MobileNetV2, Sandler et al. 2018): 1x1 expand -> k x k depthwise -> SE -> 1x1 project.

    The residual is used when the block keeps shape (stride 1, ``cin == cout``).
    """

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = conv_bn(cin, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.se = SqueezeExcite(hidden) if se else nn.Identity()
        self.project = conv_bn(hidden, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    @staticmethod
    def params(cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> int:
        hidden = cin * expansion
        expand = conv_bn_params(cin, hidden, 1) if expansion != 1 else 0
        se_params = SqueezeExcite.params(hidden) if se else 0
        return expand + conv_bn_params(hidden, hidden, kernel, hidden) + se_params + conv_bn_params(hidden, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + x if self.residual else out


@BLOCKS.register("dwsep")
class DepthwiseSeparable(nn.Module):
    """Depthwise-separable conv (MobileNetV1, Howard et al. 2017): k x k depthwise -> SE -> 1x1 pointwise."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> None:
        super().__init__()
        self.depthwise = conv_bn(cin, cin, kernel, stride, groups=cin)
        self.se = SqueezeExcite(cin) if se else nn.Identity()
        self.pointwise = conv_bn(cin, cout, 1)

    @staticmethod
    def params(cin: int, cout: int, stride: int, kernel: int, expansion: int = 1, se: bool = False) -> int:
        se_params = SqueezeExcite.params(cin) if se else 0
        return conv_bn_params(cin, cin, kernel, cin) + se_params + conv_bn_params(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


def stem_stride(in_shape: tuple[int, int, int]) -> int:
    """Large inputs (MNIST's 28x28 and up) are halved by the stem to keep students cheap."""
    return 2 if min(in_shape[1:]) >= 24 else 1


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
        stride = stem_stride(in_shape)
        self.stem = conv_bn(in_shape[0], stem_width, 3, stride)
        size = -(-min(in_shape[1:]) // stride)
        blocks, cin = [], stem_width
        for i, spec in enumerate(stages):
            layers = []
            for j in range(spec.depth):
                down = 2 if (i > 0 and j == 0 and size > 1) else 1
                layers.append(BLOCKS.get(spec.block)(cin, spec.width, down, spec.kernel, spec.expansion, spec.se))
                size = -(-size // down)
                cin = spec.width
            blocks.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(blocks)
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


def count_net_params(
    stem_width: int, stages: tuple[StageGene, ...], in_shape: tuple[int, int, int], num_classes: int
) -> int:
    """Parameters of ``StagedNet(stem_width, stages, in_shape, num_classes)`` without building it.

    Raises ``AttributeError`` when a block type has no ``params`` method (build the network instead).
    """
    total = conv_bn_params(in_shape[0], stem_width, 3)
    size = -(-min(in_shape[1:]) // stem_stride(in_shape))
    cin = stem_width
    for i, spec in enumerate(stages):  # the same down-sampling rule as StagedNet
        for j in range(spec.depth):
            down = 2 if (i > 0 and j == 0 and size > 1) else 1
            total += BLOCKS.get(spec.block).params(cin, spec.width, down, spec.kernel, spec.expansion, spec.se)
            size = -(-size // down)
            cin = spec.width
    return total + cin * num_classes + num_classes


def build_student(
    genome: Genome, in_shape: tuple[int, int, int], num_classes: int, seed: int | None = None
) -> StagedNet:
    """The student network of ``genome`` for inputs of ``in_shape`` and ``num_classes`` outputs.

    With a ``seed`` the initial weights are a function of it alone (the global RNG is left as it was).
    """
    return build_net(genome.stem_width, genome.stages, in_shape, num_classes, seed)


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

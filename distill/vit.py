"""A small hierarchical vision transformer: the network of the ``vit`` student family.

``[conv stem] -> stage_1 -> ... -> stage_n -> mean over tokens -> linear``. Every stage is

* a patch embedding by ``patch``: a ``patch x patch`` convolution of stride ``patch`` (ViT, Dosovitskiy et
  al., ICLR 2021); stage 0 patchifies the pixels (or the stem's map), a later stage keeps the tokens
  (``patch = 1``; an identity when the width stays, else a linear projection) or merges each 2x2 group of
  tokens into one (``patch = 2``, the pooling of PiT, Heo et al. 2021, and the patch merging of Swin,
  Liu et al. 2021). The grid is zero-padded up to a multiple of ``patch`` first (as Swin's merging pads
  odd sizes), so a stage gives ``ceil(size / patch)`` tokens per side: never fewer than 1x1, on any input;
* a learned position embedding of the stage's grid;
* ``depth`` pre-norm blocks ``x + attn(LN(x))``, ``x + mlp(LN(x))`` with ``heads`` heads over ``width``
  channels (``F.scaled_dot_product_attention``) and a ``GELU`` MLP of ``mlp_ratio * width`` hidden units;
* a LayerNorm. Its output tokens, reshaped to ``(B, C, H, W)``, are the stage's feature tap (hints,
  proxies) and the next stage's input, exactly as a staged CNN's stage outputs are.

There is no class token: the classifier reads the mean of the last stage's tokens, so every tap is a full
token grid. It follows the model contract of :mod:`distill.nets` (``forward``, ``forward_features``,
``stage_channels``) and adds ``num_attention_layers`` and :meth:`ViTNet.forward_qkv` for attention-relation
distillation. ``forward`` is TorchScript-able (a found student ships scripted).

Costs are declared here once, as formulas on Python ints and numpy arrays (:func:`block_params`,
:func:`block_macs`, ...), for :func:`count_vit_params` / :func:`count_vit_macs` and the family's graph
encoder. MACs are counted as :func:`distill.cost.count_flops` counts them: convolutions, linear layers and
the two attention matmuls (``Q K^T`` and ``A V``, :func:`attention_matmul_macs`) that run inside
``scaled_dot_product_attention``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "STEM_KERNEL",
    "ViTNet",
    "ViTStageGene",
    "attention_matmul_macs",
    "block_macs",
    "block_params",
    "build_vit",
    "count_vit_macs",
    "count_vit_params",
    "embed_params",
    "plan_stages",
]

# Ints for one network, numpy int arrays for many (the graph encoder).
Num = int | np.ndarray

STEM_KERNEL = 3  # the optional conv stem: 3x3 conv -> BN -> GELU, stride 1
POS_STD = 0.02  # position embeddings and linear weights start as in ViT / DeiT: N(0, 0.02^2), truncated


@dataclass(frozen=True)
class ViTStageGene:
    """One stage of a :class:`ViTNet`: a patch embedding by ``patch``, then ``depth`` transformer blocks.

    Attributes:
        patch: patch size of the stage's embedding (stage 0: pixels per patch side; later stages: 1 keeps
            the tokens, 2 merges 2x2 tokens).
        depth: transformer blocks.
        width: channels of the tokens (the embedding width); divisible by ``heads``.
        heads: attention heads; each has ``width // heads`` channels.
        mlp_ratio: hidden units of the MLP per channel.
    """

    patch: int
    depth: int
    width: int
    heads: int
    mlp_ratio: int


# ---------------------------------------------------------------------------------------------
# Cost formulas (ints or numpy arrays)
# ---------------------------------------------------------------------------------------------
def stem_params(cin: Num, width: Num) -> Num:
    """Bias-free 3x3 conv and BatchNorm of the stem (0 when ``width`` is 0: no stem)."""
    return cin * width * STEM_KERNEL * STEM_KERNEL + 2 * width


def embed_is_identity(patch: Num, cin: Num, width: Num) -> Num:
    """A stage that keeps its tokens (``patch == 1``) and its width needs no embedding layer."""
    return (patch == 1) & (cin == width)


def embed_params(patch: Num, cin: Num, width: Num, tokens: Num) -> Num:
    """The stage's patch embedding (a ``patch x patch`` conv with bias, unless an identity) and position embedding."""
    conv = (cin * patch * patch + 1) * width
    return np.where(embed_is_identity(patch, cin, width), 0, conv) + tokens * width


def embed_macs(patch: Num, cin: Num, width: Num, tokens: Num) -> Num:
    """Multiply-adds of the patch embedding: ``cin * patch^2`` per output value."""
    return np.where(embed_is_identity(patch, cin, width), 0, tokens * width * cin * patch * patch)


def attention_params(width: Num) -> Num:
    """LayerNorm, fused QKV projection and output projection (all with biases)."""
    return 2 * width + 3 * width * width + 3 * width + width * width + width


def mlp_params(width: Num, mlp_ratio: Num) -> Num:
    """LayerNorm and the two linear layers of the MLP (with biases)."""
    hidden = width * mlp_ratio
    return 2 * width + width * hidden + hidden + hidden * width + width


def block_params(width: Num, mlp_ratio: Num) -> Num:
    """Parameters of one transformer block (attention and MLP halves); the number of heads changes none."""
    return attention_params(width) + mlp_params(width, mlp_ratio)


def attention_linear_macs(width: Num, tokens: Num) -> Num:
    """Multiply-adds of the QKV and output projections (what ``count_flops`` sees of the attention)."""
    return tokens * 4 * width * width


def attention_matmul_macs(width: Num, tokens: Num) -> Num:
    """Multiply-adds of ``Q K^T`` and ``softmax(.) V`` over all heads: ``2 N^2 C``."""
    return 2 * tokens * tokens * width


def mlp_macs(width: Num, mlp_ratio: Num, tokens: Num) -> Num:
    return tokens * 2 * width * width * mlp_ratio


def block_macs(width: Num, mlp_ratio: Num, tokens: Num) -> Num:
    """Multiply-adds of one block's linear layers, as ``count_flops`` counts them."""
    return attention_linear_macs(width, tokens) + mlp_macs(width, mlp_ratio, tokens)


# ---------------------------------------------------------------------------------------------
# The plan: one place for the token grid of every stage
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StagePlan:
    """One stage of a :class:`ViTNet`: its gene, its input channels and its token grid (after embedding)."""

    index: int
    gene: ViTStageGene
    cin: int
    grid: tuple[int, int]

    @property
    def tokens(self) -> int:
        return self.grid[0] * self.grid[1]


def check_in_shape(in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    shape = tuple(in_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"the 'in_shape' parameter must be three positive ints (C, H, W); got {in_shape!r}")
    return shape  # type: ignore[return-value]


def check_stages(stem_width: int, stages: tuple[ViTStageGene, ...]) -> None:
    """``ValueError`` naming the first gene that cannot be built (a genome is validated against its space first)."""
    if not isinstance(stem_width, int) or stem_width < 0:
        raise ValueError(f"the 'stem_width' gene must be an int >= 0 (0: no stem); got {stem_width!r}")
    if not stages:
        raise ValueError("a vision transformer needs at least one stage")
    for i, s in enumerate(stages):
        for gene in ("patch", "depth", "width", "heads", "mlp_ratio"):
            value = getattr(s, gene)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"the stage {i} '{gene}' gene must be a positive int; got {value!r}")
        if s.width % s.heads:
            raise ValueError(f"stage {i}: the 'width' {s.width} must be divisible by the 'heads' {s.heads}")


def plan_stages(
    stem_width: int, stages: tuple[ViTStageGene, ...], in_shape: tuple[int, int, int]
) -> Iterator[StagePlan]:
    """The stages of ``ViTNet(stem_width, stages, in_shape, ...)`` in order: the one token-grid rule.

    Every stage pads its input grid to a multiple of its patch and embeds it: ``ceil(size / patch)`` tokens
    per side (so a grid never shrinks below 1x1).
    """
    c, h, w = check_in_shape(in_shape)
    cin = stem_width or c
    for i, gene in enumerate(stages):
        h, w = -(-h // gene.patch), -(-w // gene.patch)
        yield StagePlan(i, gene, cin, (h, w))
        cin = gene.width


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention (Vaswani et al., NeurIPS 2017) with a fused QKV projection.

    ``softmax(Q K^T / sqrt(d)) V`` per head, by ``F.scaled_dot_product_attention``.

    Args:
        width: channels ``C`` of the tokens.
        heads: attention heads; ``width`` must be divisible by it.

    Shapes:
        ``(B, N, C) -> (B, N, C)``; ``self.qkv``'s output is ``(B, N, 3C)``: queries, keys, values, each
        with the heads concatenated (head ``h`` at channels ``h*d .. (h+1)*d``).
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.width = width
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # (3, B, h, N, d)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, h, N, d)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """``Linear -> GELU -> Linear`` with ``mlp_ratio * width`` hidden units."""

    def __init__(self, width: int, mlp_ratio: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(width * mlp_ratio, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + mlp(LN(x))``; ``(B, N, C) -> (B, N, C)``."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = Mlp(width, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTStage(nn.Module):
    """Patch embedding (padded), position embedding, ``depth`` blocks, LayerNorm; maps in and out.

    Shapes:
        ``(B, C_in, H, W) -> (B, C, ceil(H / patch), ceil(W / patch))``.
    """

    def __init__(self, plan: StagePlan) -> None:
        super().__init__()
        gene = plan.gene
        self.patch = gene.patch
        self.grid = plan.grid
        identity = bool(embed_is_identity(gene.patch, plan.cin, gene.width))
        self.embed = nn.Identity() if identity else nn.Conv2d(plan.cin, gene.width, gene.patch, gene.patch)
        self.pos = nn.Parameter(torch.zeros(1, plan.tokens, gene.width))
        self.blocks = nn.ModuleList(TransformerBlock(gene.width, gene.heads, gene.mlp_ratio) for _ in range(gene.depth))
        self.norm = nn.LayerNorm(gene.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        x = F.pad(x, (0, (-w) % self.patch, 0, (-h) % self.patch))  # (B, C_in, H_p, W_p), a multiple of patch
        x = self.embed(x)  # (B, C, H', W')
        b, c, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2) + self.pos  # (B, N, C)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x.transpose(1, 2).reshape(b, c, gh, gw)  # (B, C, H', W')


class ViTNet(nn.Module):
    """``[conv stem] -> stages -> mean over tokens -> linear``; a hierarchical ViT (see the module docstring).

    Args:
        stem_width: channels of the 3x3 conv stem; 0 for none (stage 0 patchifies the pixels).
        stages: the stages (:class:`ViTStageGene`).
        in_shape: ``(C, H, W)`` of the inputs (the position embeddings are sized for it).
        num_classes: outputs of the classifier.

    Shapes:
        input ``(B, C, H, W)`` -> logits ``(B, num_classes)``; feature maps ``(B, C_i, H_i, W_i)``.
    """

    def __init__(
        self, stem_width: int, stages: tuple[ViTStageGene, ...], in_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        self.num_classes = num_classes
        check_stages(stem_width, stages)
        if stem_width:
            self.stem: nn.Module = nn.Sequential(
                nn.Conv2d(in_shape[0], stem_width, STEM_KERNEL, padding=STEM_KERNEL // 2, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.GELU(),
            )
        else:
            self.stem = nn.Identity()
        self.stages = nn.ModuleList(ViTStage(plan) for plan in plan_stages(stem_width, stages, self.in_shape))
        self.stage_channels = [s.width for s in stages]
        self.classifier = nn.Linear(stages[-1].width, num_classes)
        self.attention_layers = [block.attn for stage in self.stages for block in stage.blocks]
        self.num_attention_layers = len(self.attention_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Linear weights and position embeddings ``N(0, 0.02^2)`` truncated at 2 sigma, biases 0 (as DeiT)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=POS_STD, a=-2 * POS_STD, b=2 * POS_STD)
                nn.init.zeros_(module.bias)
        for stage in self.stages:
            nn.init.trunc_normal_(stage.pos, std=POS_STD, a=-2 * POS_STD, b=2 * POS_STD)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats: list[torch.Tensor] = []
        x = self.stem(x)  # (B, stem, H, W), or the input without a stem
        for stage in self.stages:
            x = stage(x)  # (B, C_i, H_i, W_i)
            feats.append(x)
        logits = self.classifier(x.mean((2, 3)))  # (B, K)
        return logits, feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]

    @torch.jit.unused
    def forward_qkv(
        self, x: torch.Tensor, layer: int
    ) -> tuple[torch.Tensor, list[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``forward_features`` plus the queries, keys and values of attention layer ``layer``.

        Args:
            x: the input batch ``(B, C, H, W)``.
            layer: 0-based over all blocks of all stages, shallow to deep; negative counts from the end.

        Returns:
            ``(logits, maps, (q, k, v))``, each of q, k, v ``(B, N, C)`` with the heads concatenated
            (head ``h`` at channels ``h * C / heads`` on); gradients flow through them.
        """
        n = self.num_attention_layers
        if isinstance(layer, bool) or not isinstance(layer, int) or not -n <= layer < n:
            raise ValueError(f"the 'layer' parameter must be an int in [{-n}, {n - 1}]; got {layer!r}")
        captured: list[torch.Tensor] = []
        attn = self.attention_layers[layer]
        handle = attn.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            logits, feats = self.forward_features(x)
        finally:
            handle.remove()
        q, k, v = captured[0].split(attn.width, dim=-1)  # each (B, N, C)
        return logits, feats, (q, k, v)


def build_vit(
    stem_width: int,
    stages: tuple[ViTStageGene, ...],
    in_shape: tuple[int, int, int],
    num_classes: int,
    seed: int | None = None,
) -> ViTNet:
    """A :class:`ViTNet`; with a ``seed`` its weights are a function of it alone (the global RNG is left as it was)."""
    if seed is None:
        return ViTNet(stem_width, stages, in_shape, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViTNet(stem_width, stages, in_shape, num_classes)


def count_vit_params(
    stem_width: int, stages: tuple[ViTStageGene, ...], in_shape: tuple[int, int, int], num_classes: int
) -> int:
    """Parameters of ``ViTNet(stem_width, stages, in_shape, num_classes)`` without building it."""
    total = stem_params(in_shape[0], stem_width) if stem_width else 0
    for plan in plan_stages(stem_width, stages, in_shape):
        g = plan.gene
        total += embed_params(g.patch, plan.cin, g.width, plan.tokens)
        total += g.depth * block_params(g.width, g.mlp_ratio) + 2 * g.width  # blocks and the stage's LayerNorm
    return int(total + stages[-1].width * num_classes + num_classes)


def count_vit_macs(
    stem_width: int, stages: tuple[ViTStageGene, ...], in_shape: tuple[int, int, int], num_classes: int
) -> int:
    """Multiply-adds of one input through ``ViTNet(...)`` without building it, as ``count_flops`` counts them
    (convolutions, linear layers and the attention matmuls, :func:`attention_matmul_macs`)."""
    c, h, w = check_in_shape(in_shape)
    total = c * stem_width * STEM_KERNEL * STEM_KERNEL * h * w
    for plan in plan_stages(stem_width, stages, in_shape):
        g = plan.gene
        total += embed_macs(g.patch, plan.cin, g.width, plan.tokens)
        total += g.depth * (block_macs(g.width, g.mlp_ratio, plan.tokens) + attention_matmul_macs(g.width, plan.tokens))
    return int(total + stages[-1].width * num_classes)

"""The elastic vision transformer: one :class:`~distill.vit.ViTNet` at the largest size of a sub-space, run at
any smaller one (AutoFormer's weight entanglement, Chen et al., ICCV 2021; AutoDistil's elastic layers, heads,
hidden size and FFN ratio, Xu et al., 2022).

A sub-network of width ``c`` (per stage) uses the first ``c`` channels of its patch embedding, position
embedding, LayerNorms (normalising over those ``c`` channels: a LayerNorm has no running statistics, so nothing
needs recalibrating) and linear layers; its MLP the first ``mlp_ratio * c`` hidden units; its depth the first
``depth`` blocks of the stage (every block keeps the token shape, so skipping later ones leaves a valid network).
The fused query-key-value projection holds three ``(W, W)`` blocks (queries, keys, values); a sub-network takes
the first ``c`` rows and columns of each, which is not a leading slice of the fused ``(3W, W)`` weight:
:meth:`ElasticViT.inherited` overrides the default slicing for it. The heads regroup those ``c`` channels into
``heads`` heads of ``c // heads`` (the stand-alone network's rule) and own no weights. The optional conv stem is
the one BatchNorm, recalibrated per sub-network as in the staged CNN.

Its parameter names are :class:`~distill.vit.ViTNet`'s (``stem.0.weight``, ``stages.0.blocks.1.attn.qkv.weight``,
``stages.1.pos``, ``classifier.weight``), so :meth:`~distill.supernet.base.Supernet.extract` copies by key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from distill.genome import Genome
from distill.supernet.base import SUPERNETS, Supernet
from distill.supernet.elastic import elastic_batch_norm, inherit
from distill.supernet.vit_subspace import ViTSubSpace
from distill.vit import STEM_KERNEL, ViTNet, ViTStageGene, embed_is_identity

__all__ = ["ElasticViT"]

_QKV = (".attn.qkv.weight", ".attn.qkv.bias")


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """``norm`` over the first ``x.shape[-1]`` channels (its first affine parameters)."""
    c = x.shape[-1]
    return F.layer_norm(x, (c,), norm.weight[:c], norm.bias[:c], norm.eps)


def _qkv_weight(weight: torch.Tensor, out: int, cin: int) -> torch.Tensor:
    """The first ``out`` rows (of ``cin`` columns) of each of the query, key and value blocks of a fused
    ``(3W, W_in)`` projection (or ``(3W,)`` bias), concatenated: ``(3 * out, cin)`` (or ``(3 * out,)``)."""
    blocks = weight.unflatten(0, (3, -1))  # (3, W, W_in) or (3, W)
    blocks = blocks[:, :out, :cin] if weight.dim() == 2 else blocks[:, :out]
    return blocks.flatten(0, 1)


@SUPERNETS.register("vit")
class ElasticViT(Supernet):
    """``[conv stem] -> elastic stages -> mean over tokens -> linear`` of a :class:`ViTSubSpace`.

    Built as the largest sub-network's :class:`~distill.vit.ViTNet` (its initialisation included), plus a 1x1
    projection in any stage that keeps its tokens where some sub-network changes the width there (the largest
    may have an identity where a smaller one needs the projection).
    """

    def __init__(self, subspace: ViTSubSpace, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__(subspace, in_shape, num_classes)
        largest = subspace.largest()
        net = ViTNet(largest.stem_width, largest.stages, in_shape, num_classes)
        self.stem = net.stem
        self.stages = net.stages
        self.classifier = net.classifier
        prev_widths = (tuple(subspace.stem_widths) if largest.stem_width else (in_shape[0],),)
        prev_widths += tuple(s.widths for s in subspace.stages[:-1])
        for stage, choices, before in zip(self.stages, subspace.stages, prev_widths):
            if isinstance(stage.embed, nn.Identity) and any(c != w for c in before for w in choices.widths):
                stage.embed = nn.Conv2d(max(before), max(choices.widths), 1, 1)

    @property
    def stage_channels(self) -> list[int]:
        """Channels of the active sub-network's stage outputs (what its stand-alone network reports)."""
        return [s.width for s in self.active.stages]

    @property
    def num_attention_layers(self) -> int:
        """Attention layers of the active sub-network."""
        return sum(s.depth for s in self.active.stages)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, feats, _ = self._forward(x, None)
        return logits, feats

    def forward_qkv(
        self, x: torch.Tensor, layer: int
    ) -> tuple[torch.Tensor, list[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``forward_features`` plus the queries, keys and values of the active sub-network's attention layer
        ``layer`` (0-based over its blocks, shallow to deep; negative from the end), each ``(B, N, C)`` with the
        heads concatenated: :meth:`distill.vit.ViTNet.forward_qkv`'s contract."""
        n = self.num_attention_layers
        if isinstance(layer, bool) or not isinstance(layer, int) or not -n <= layer < n:
            raise ValueError(f"the 'layer' parameter must be an int in [{-n}, {n - 1}]; got {layer!r}")
        logits, feats, qkv = self._forward(x, layer % n)
        assert qkv is not None
        return logits, feats, qkv

    def _forward(
        self, x: torch.Tensor, capture: int | None
    ) -> tuple[torch.Tensor, list[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None]:
        g = self.active
        if g.stem_width:
            conv, bn = self.stem[0], self.stem[1]
            x = F.conv2d(x, conv.weight[: g.stem_width], None, 1, STEM_KERNEL // 2)  # (B, stem, H, W)
            x = F.gelu(elastic_batch_norm(bn, x))
        feats: list[torch.Tensor] = []
        layer, captured = 0, None
        for stage, gene in zip(self.stages, g.stages):
            x, qkv = self._stage(stage, gene, x, capture - layer if capture is not None else None)
            captured = qkv if qkv is not None else captured
            layer += gene.depth
            feats.append(x)
        c = x.shape[1]
        logits = F.linear(x.mean((2, 3)), self.classifier.weight[:, :c], self.classifier.bias)  # (B, K)
        return logits, feats, captured

    def _stage(
        self, stage: nn.Module, gene: ViTStageGene, x: torch.Tensor, capture: int | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None]:
        """One stage of ``gene`` on ``x`` ``(B, C_in, H, W)``; the q/k/v of its block ``capture`` if it has it."""
        p, c, cin = gene.patch, gene.width, x.shape[1]
        x = F.pad(x, (0, (-x.shape[3]) % p, 0, (-x.shape[2]) % p))  # (B, C_in, H_p, W_p)
        if not embed_is_identity(p, cin, c):
            x = F.conv2d(x, stage.embed.weight[:c, :cin], stage.embed.bias[:c], p)  # (B, c, H', W')
        b, _, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2) + stage.pos[:, :, :c]  # (B, N, c)
        captured = None
        d, hidden = c // gene.heads, c * gene.mlp_ratio
        for j, block in enumerate(stage.blocks[: gene.depth]):
            attn, mlp = block.attn, block.mlp
            w, bias = _qkv_weight(attn.qkv.weight, c, c), _qkv_weight(attn.qkv.bias, c, c)
            qkv = F.linear(_layer_norm(block.norm1, x), w, bias)  # (B, N, 3c): queries, keys, values
            if j == capture:
                captured = tuple(qkv.split(c, dim=-1))  # each (B, N, c)
            heads = qkv.unflatten(-1, (3, gene.heads, d)).permute(2, 0, 3, 1, 4)  # (3, B, h, N, d)
            out = F.scaled_dot_product_attention(heads[0], heads[1], heads[2]).transpose(1, 2).flatten(2)  # (B, N, c)
            x = x + F.linear(out, attn.proj.weight[:c, :c], attn.proj.bias[:c])
            h = F.gelu(F.linear(_layer_norm(block.norm2, x), mlp.fc1.weight[:hidden, :c], mlp.fc1.bias[:hidden]))
            x = x + F.linear(h, mlp.fc2.weight[:c, :hidden], mlp.fc2.bias[:c])
        x = _layer_norm(stage.norm, x)
        return x.transpose(1, 2).reshape(b, c, gh, gw), captured  # (B, c, H', W')

    def inherited(self, key: str, shape: torch.Size, genome: Genome) -> torch.Tensor:
        """The default slicing, except for the fused query-key-value projection: the first rows of each of its
        three blocks (see the module docstring)."""
        source = self.state_dict()[key]
        if key.endswith(_QKV):
            return _qkv_weight(source, shape[0] // 3, shape[1] if len(shape) == 2 else 0)
        return inherit(source, shape)

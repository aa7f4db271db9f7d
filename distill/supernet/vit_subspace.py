"""Weight-sharing sub-spaces of the vision-transformer family (AutoDistil's base / small / tiny).

A :class:`ViTSubSpace` fixes the number of stages and each stage's patch (the token grid, hence the position
embeddings, is then the same in every sub-network) and whether there is a conv stem; it leaves elastic, per
stage, the depth (the first ``d`` blocks), the width (the first ``c`` channels of the embedding, the position
embedding, every LayerNorm and every linear layer), the heads and the MLP ratio (the first ``r * c`` hidden
units); and the stem's width. These are AutoDistil's elastic dimensions (layers, heads, hidden size, FFN ratio)
with AutoFormer's weight entanglement.

Heads: the stand-alone :class:`~distill.vit.ViTNet` splits a stage's ``width`` channels into ``heads`` heads of
``width // heads`` channels (AutoDistil's rule, not AutoFormer's fixed head dimension), so the heads are a
regrouping of the same first ``c`` channels of the queries, keys and values: they hold no weights of their own.
Every width choice of a stage must therefore be divisible by every heads choice (checked here), so that every
combination is a genome of the registered space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from distill.families.base import check_choice
from distill.genome import Genome, Recipe, get_space
from distill.supernet.subspace import SUBSPACES, GridMethods
from distill.vit import ViTStageGene

__all__ = ["ElasticViTStage", "ViTSubSpace"]


@dataclass(frozen=True)
class ElasticViTStage:
    """The choices of one stage of a :class:`ViTSubSpace`; the patch is fixed."""

    patch: int
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    heads: tuple[int, ...]
    mlp_ratios: tuple[int, ...]

    @property
    def choices(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(gene, choices) of every gene, in the order of :class:`~distill.vit.ViTStageGene`'s fields."""
        return (
            ("patch", (self.patch,)),
            ("depth", self.depths),
            ("width", self.widths),
            ("heads", self.heads),
            ("mlp_ratio", self.mlp_ratios),
        )


@dataclass(frozen=True)
class ViTSubSpace(GridMethods):
    """A weight-sharing sub-space of the vision-transformer family (see the module docstring).

    Args:
        name: the sub-space's name (``base``, ``small``, ``tiny``).
        space: the registered search space (of the ``vit`` family) every sub-network validates in.
        stem_widths: the stem's width choices: all positive (a stem of elastic width) or ``(0,)`` (none).
        stages: one :class:`ElasticViTStage` per stage (their number and patches are fixed).
    """

    family: ClassVar[str] = "vit"

    name: str
    space: str
    stem_widths: tuple[int, ...]
    stages: tuple[ElasticViTStage, ...]

    def __post_init__(self) -> None:
        space = get_space(self.space)
        where = f"sub-space {self.name!r}"
        if space.arch.family != self.family:
            raise ValueError(f"{where}: space {self.space!r} is not a {self.family} space")
        arch = space.arch
        for c in self.stem_widths:
            check_choice(f"{where} 'stem_width'", c, arch.stem_widths)
        if not self.stem_widths or (0 in self.stem_widths and len(self.stem_widths) > 1):
            raise ValueError(f"{where}: the stem widths must be all positive or (0,); got {self.stem_widths}")
        if not arch.min_stages <= len(self.stages) <= arch.max_stages:
            raise ValueError(f"{where}: {len(self.stages)} stages do not fit space {self.space!r}")
        for i, stage in enumerate(self.stages):
            for gene, choices in stage.choices:
                if not choices:
                    raise ValueError(f"{where} stage {i} has no {gene!r} choice")
                for c in choices:
                    check_choice(f"{where} stage {i} {gene!r}", c, dict(arch.stage_choices(i))[gene])
            bad = [(w, h) for w in stage.widths for h in stage.heads if w % h]
            if bad:
                raise ValueError(
                    f"{where} stage {i}: every width must be divisible by every heads choice; "
                    f"{bad[0][0]} by {bad[0][1]}"
                )
            if i and min(stage.widths) < max(self.stages[i - 1].widths):
                raise ValueError(
                    f"{where}: stage {i}'s widths {stage.widths} must not be below stage {i - 1}'s "
                    f"{self.stages[i - 1].widths} (stage widths never decrease)"
                )

    # ---- sub-networks ----
    def genome(self, stem_width: int, stages: list[tuple[int, int, int, int, int]]) -> Genome:
        """The sub-network of ``stem_width`` and ``(patch, depth, width, heads, mlp_ratio)`` per stage."""
        genes = tuple(ViTStageGene(*(int(v) for v in s)) for s in stages)
        return Genome(int(stem_width), genes, Recipe(), self.space).canonical()


def _stage(patch: int, depths: tuple, widths: tuple, heads: tuple, mlp_ratios: tuple) -> ElasticViTStage:
    return ElasticViTStage(patch, depths, widths, heads, mlp_ratios)


# K = 3 sub-spaces of the ``vit`` space (8..16 px tasks), by size, overlapping at their edges: two stages, the
# first patchifying 2x2 pixels, the second merging 2x2 tokens. Heads (1, 2, 4) divide every width of the space.
SUBSPACES.add(
    "vit",
    {
        s.name: s
        for s in (
            ViTSubSpace("base", "vit", (16,), (_stage(2, (1, 2, 3), (32, 48), (2, 4), (2, 4)),
                                               _stage(2, (1, 2, 3), (48, 64), (2, 4), (2, 4)))),
            ViTSubSpace("small", "vit", (8, 16), (_stage(2, (1, 2), (24, 32), (1, 2, 4), (2, 4)),
                                                  _stage(2, (1, 2), (32, 48), (1, 2, 4), (2, 4)))),
            ViTSubSpace("tiny", "vit", (8,), (_stage(2, (1, 2), (16, 24), (1, 2), (1, 2)),
                                              _stage(2, (1, 2), (24, 32), (1, 2), (1, 2)))),
        )
    },
)  # fmt: skip

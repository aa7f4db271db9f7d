"""Sub-spaces of a student family in which one set of weights serves every sub-network.

AutoDistil (Xu et al., 2022) splits its student space into K compact sub-spaces by size (base, small, tiny)
and trains one weight-sharing supernet per sub-space. Here a sub-space is a declared, frozen slice of a
registered search space (:data:`distill.genome.SPACES`): every sub-network it holds IS a genome of that space,
which ``genome.build`` builds stand-alone, ``genome.count_params`` counts and the predictor encodes.

A sub-space of the staged CNN (:class:`StagedCNNSubSpace`) fixes the number of stages and each stage's block
type (weights can be shared between widths of one block, not between block types) and leaves elastic, per
stage, the depth (the first ``d`` blocks), the width (the first ``c`` channels), the kernel (the centre crop)
and the MBConv expansion; and the stem width. Per-stage width choices are ordered ranges (the largest width
of a stage is at most the smallest of the next), so that every combination keeps the family's rule that
stage widths never decrease.

:data:`SUBSPACES` maps a registered space's name to its K sub-spaces; a new family's supernet (a ViT's) adds
its own entry for its own spaces.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from distill.families.base import check_choice
from distill.genome import Genome, Recipe, StageGene, get_space
from distill.registry import Registry

__all__ = ["SUBSPACES", "ElasticStage", "StagedCNNSubSpace", "SubSpace", "get_subspaces"]


class SubSpace(Protocol):
    """What a supernet and its training need of a sub-space, whatever the family."""

    name: str  # e.g. "base"
    space: str  # the registered search space its genomes belong to
    family: ClassVar[str]  # the student family (the key of :data:`distill.supernet.base.SUPERNETS`)

    def validate(self, genome: Genome) -> Genome:
        """``genome``, or a one-line ``ValueError`` naming the first gene outside the sub-space and its choices."""

    def largest(self) -> Genome: ...

    def smallest(self) -> Genome: ...

    def sample(self, rng: np.random.Generator) -> Genome:
        """A uniformly random sub-network."""

    def genomes(self) -> Iterator[Genome]:
        """Every sub-network, in a fixed order (a grid to enumerate)."""

    @property
    def size(self) -> int:
        """How many sub-networks there are."""

    def to_dict(self) -> dict[str, Any]:
        """The definition as JSON data."""


@dataclass(frozen=True)
class ElasticStage:
    """The choices of one stage of a :class:`StagedCNNSubSpace`; the block type is fixed."""

    block: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    kernels: tuple[int, ...] = (3,)
    expansions: tuple[int, ...] = (1,)

    @property
    def choices(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(gene, choices) of the elastic genes, in the order of :class:`~distill.nets.StageGene`'s fields."""
        return (
            ("depth", self.depths),
            ("width", self.widths),
            ("kernel", self.kernels),
            ("expansion", self.expansions),
        )


class GridMethods:
    """What every sub-space derives from its ``stem_widths`` and its stages' ``choices`` (``(gene, values)``
    pairs, in the order :meth:`genome` takes them): the largest, smallest and a random sub-network, the whole
    grid, its size, the JSON definition and membership (:meth:`validate`). A sub-space dataclass inherits it and
    defines ``genome``."""

    def checks(self, stage: Any) -> tuple[tuple[str, tuple], ...]:
        """A stage's genes and their allowed values, in the order :meth:`validate` checks them."""
        return stage.choices

    def validate(self, genome: Genome) -> Genome:
        """``genome`` if it is a sub-network of this sub-space, else a one-line ``ValueError`` naming the gene."""
        where = f"supernet sub-space {self.name!r} (space {self.space!r})"
        if genome.space != self.space:
            raise ValueError(f"{where}: the genome's space must be {self.space!r}; got {genome.space!r}")
        if len(genome.stages) != len(self.stages):
            raise ValueError(f"{where}: the genome must have {len(self.stages)} stages; got {len(genome.stages)}")
        try:
            check_choice("'stem_width'", genome.stem_width, self.stem_widths)
            for i, (gene, stage) in enumerate(zip(genome.stages, self.stages)):
                for name, choices in self.checks(stage):
                    check_choice(f"stage {i} {name!r}", getattr(gene, name), choices)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        return genome

    def largest(self) -> Genome:
        return self.genome(max(self.stem_widths), [tuple(max(c) for _, c in s.choices) for s in self.stages])

    def smallest(self) -> Genome:
        return self.genome(min(self.stem_widths), [tuple(min(c) for _, c in s.choices) for s in self.stages])

    def sample(self, rng: np.random.Generator) -> Genome:
        stem = rng.choice(self.stem_widths)
        return self.genome(stem, [tuple(rng.choice(c) for _, c in s.choices) for s in self.stages])

    def genomes(self) -> Iterator[Genome]:
        per_stage = [list(itertools.product(*(c for _, c in s.choices))) for s in self.stages]
        for stem, *stages in itertools.product(self.stem_widths, *per_stage):
            yield self.genome(stem, stages)

    @property
    def size(self) -> int:
        return len(self.stem_widths) * math.prod(math.prod(len(c) for _, c in s.choices) for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """The definition as JSON data (lists, not tuples), as ``supernet.json`` records it."""
        return json.loads(json.dumps({"family": self.family, **asdict(self)}))


@dataclass(frozen=True)
class StagedCNNSubSpace(GridMethods):
    """A weight-sharing sub-space of the staged CNN family (see the module docstring).

    Args:
        name: the sub-space's name (``base``, ``small``, ``tiny``).
        space: the registered search space (of the staged CNN family) every sub-network validates in.
        stem_widths: the stem's width choices.
        stages: one :class:`ElasticStage` per stage (their number is fixed).
        se: squeeze-and-excitation of every block; only ``False`` (its hidden width does not slice with the channels).
    """

    family: ClassVar[str] = "staged_cnn"

    name: str
    space: str
    stem_widths: tuple[int, ...]
    stages: tuple[ElasticStage, ...]
    se: bool = False

    def __post_init__(self) -> None:
        space = get_space(self.space)
        if space.arch.family != self.family:
            raise ValueError(f"sub-space {self.name!r}: space {self.space!r} is not a {self.family} space")
        for c in self.stem_widths:
            check_choice(f"sub-space {self.name!r} 'stem_width'", c, space.stem_widths)
        if not space.min_stages <= len(self.stages) <= space.max_stages:
            raise ValueError(f"sub-space {self.name!r}: {len(self.stages)} stages do not fit space {self.space!r}")
        if self.se:
            raise ValueError(
                f"sub-space {self.name!r}: squeeze-and-excitation is not elastic (its hidden width does not slice "
                "with the channels); se must be False"
            )
        for i, stage in enumerate(self.stages):
            check_choice(f"sub-space {self.name!r} stage {i} 'block'", stage.block, space.block_types)
            for gene, choices in stage.choices:
                if not choices:
                    raise ValueError(f"sub-space {self.name!r} stage {i} has no {gene!r} choice")
                for c in choices:
                    check_choice(f"sub-space {self.name!r} stage {i} {gene!r}", c, getattr(space, f"{gene}s"))
            if i and min(stage.widths) < max(self.stages[i - 1].widths):
                raise ValueError(
                    f"sub-space {self.name!r}: stage {i}'s widths {stage.widths} must not be below stage {i - 1}'s "
                    f"{self.stages[i - 1].widths} (stage widths never decrease)"
                )

    # ---- membership ----
    def checks(self, stage: ElasticStage) -> tuple[tuple[str, tuple], ...]:
        """A stage's genes and their allowed values: its fixed block, its elastic choices, the sub-space's SE."""
        return (("block", (stage.block,)), *stage.choices, ("se", (self.se,)))

    # ---- sub-networks ----
    def genome(self, stem_width: int, stages: list[tuple[int, int, int, int]]) -> Genome:
        """The sub-network of ``stem_width`` and ``(depth, width, kernel, expansion)`` per stage (canonical)."""
        genes = tuple(
            StageGene(s.block, int(d), int(w), int(k), int(e), self.se) for s, (d, w, k, e) in zip(self.stages, stages)
        )
        return Genome(int(stem_width), genes, Recipe(), self.space).canonical()


def _mbconv(name: str, space: str, stems: tuple[int, ...], *stages: tuple[tuple, tuple, tuple]) -> StagedCNNSubSpace:
    """A sub-space of inverted residuals (OFA's block), 3x3 or 5x5 kernels; stages as (depths, widths, expansions)."""
    return StagedCNNSubSpace(name, space, stems, tuple(ElasticStage("mbconv", d, w, (3, 5), e) for d, w, e in stages))


def _basic(name: str, space: str, stems: tuple[int, ...], *stages: tuple[tuple, tuple]) -> StagedCNNSubSpace:
    """A sub-space of ResNet basic blocks (3x3 only, as the ``resnet`` space has); stages as (depths, widths)."""
    return StagedCNNSubSpace(name, space, stems, tuple(ElasticStage("basic", d, w) for d, w in stages))


SUBSPACES: Registry[dict[str, SubSpace]] = Registry("supernet space")
# K = 3 sub-spaces per space, by size (AutoDistil's base / small / tiny): largest to smallest, overlapping at
# their edges so that the three cover the space's sizes without gaps.
SUBSPACES.add(
    "default",
    {
        s.name: s
        for s in (
            _mbconv("base", "default", (16, 24), ((1, 2), (16, 24), (2, 4)), ((1, 2, 3), (24, 32), (2, 4)),
                    ((1, 2, 3), (48, 64), (2, 4))),
            _mbconv("small", "default", (8, 16), ((1, 2), (12, 16), (2, 4)), ((1, 2), (16, 24), (2, 4)),
                    ((1, 2, 3), (24, 32), (2, 4))),
            _mbconv("tiny", "default", (8,), ((1,), (8, 12), (1, 2)), ((1, 2), (12, 16), (1, 2)),
                    ((1, 2), (16, 24), (1, 2))),
        )
    },
)  # fmt: skip
SUBSPACES.add(
    "wide",
    {
        s.name: s
        for s in (
            _mbconv("base", "wide", (24, 32), ((1, 2), (24, 32), (2, 4)), ((1, 2, 3), (48, 64), (2, 4)),
                    ((1, 2, 3), (64, 96), (2, 4))),
            _mbconv("small", "wide", (16, 24), ((1, 2), (16, 24), (2, 4)), ((1, 2), (24, 32), (2, 4)),
                    ((1, 2, 3), (48, 64), (2, 4))),
            _mbconv("tiny", "wide", (8, 16), ((1,), (8, 12), (1, 2)), ((1, 2), (16, 24), (1, 2)),
                    ((1, 2), (24, 32), (1, 2))),
        )
    },
)  # fmt: skip
SUBSPACES.add(
    "resnet",
    {
        s.name: s
        for s in (
            _basic("base", "resnet", (16, 24), ((1, 2, 3), (16, 24)), ((1, 2, 3), (24, 32)), ((1, 2, 3), (32, 48)),
                   ((1, 2, 3), (48, 64))),
            _basic("small", "resnet", (8, 16), ((1, 2), (8, 16)), ((1, 2), (16, 24)), ((1, 2), (24, 32)),
                   ((1, 2), (32, 48))),
            _basic("tiny", "resnet", (8,), ((1, 2), (8,)), ((1, 2), (8, 16)), ((1, 2), (16, 24)),
                   ((1, 2), (24, 32))),
        )
    },
)  # fmt: skip


def get_subspaces(space: str, names: list[str] | None = None) -> dict[str, SubSpace]:
    """The sub-spaces of registered space ``space`` (all, or ``names`` in that order); one-line errors."""
    table = SUBSPACES.get(space)
    names = list(table) if names is None else names
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown supernet sub-space {unknown[0]!r} of space {space!r}; valid: {', '.join(table)}")
    return {n: table[n] for n in names}

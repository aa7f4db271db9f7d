"""A search space over several student families at once (space ``mixed``: staged CNN or vision transformer).

The union family holds no architecture of its own: a genome of a mixed space is a genome of one member
family, and which one is read from its stage genes' type (:attr:`StudentFamily.stage_type`: a
:class:`~distill.nets.StageGene` is a staged CNN, a :class:`~distill.vit.ViTStageGene` a vision
transformer), so its JSON, hash, network, costs, taps and graph are exactly the member's. Only the search
vector is the union's own: a ``family`` gene first, then every member's positions in turn (named
``<family>.<gene>``); a genome fills its own member's positions and leaves the others at index 0. Mutation
can flip the ``family`` gene: before it does, the inactive members' positions are filled with a random
genome of that member, so a flip lands on a sensible student.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

import numpy as np
from torch import nn

from distill.families import vit as _vit  # noqa: F401  (registers the vit family before this one reads it)
from distill.families.base import (
    FAMILIES,
    ArchGraph,
    ArchGraphBatch,
    Genome,
    GraphLayout,
    Recipe,
    StudentFamily,
    ragged_arange,
)
from distill.families.staged_cnn import StagedCNN, StagedCNNSpace
from distill.families.vit import ViTFamily, ViTSpace
from distill.losses import TRANSFORMER_RECIPE

__all__ = ["MixedFamily", "MixedSpace", "concat_graph_batches"]


@dataclass(frozen=True)
class MixedSpace:
    """The gene choices of every member family (each its own family's space dataclass), in vector order."""

    family: ClassVar[str] = "mixed"
    # the recipe choices its spaces offer: the first ones plus self-attention relations (distill.genome.space_of)
    recipe_space: ClassVar[dict[str, tuple[str, ...]]] = TRANSFORMER_RECIPE

    members: tuple[Any, ...] = (StagedCNNSpace(), ViTSpace())

    def __post_init__(self) -> None:
        names = [getattr(type(m), "family", None) for m in self.members]
        if not names:
            raise ValueError("a mixed space needs at least one member family")
        for name in names:
            if name is None or name == self.family or name not in FAMILIES:
                valid = sorted(set(FAMILIES.names()) - {self.family})
                raise ValueError(f"mixed space members must be spaces of the families {valid}; got {name!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"a mixed space holds each family once; got {names}")

    @property
    def names(self) -> tuple[str, ...]:
        """The member families, in order: the choices of the ``family`` gene."""
        return tuple(type(m).family for m in self.members)


class _Arch:
    """The architecture fields of a genome (what a family's ``to_vector`` reads), without a recipe."""

    def __init__(self, stem_width: int, stages: tuple) -> None:
        self.stem_width = stem_width
        self.stages = stages


def _members() -> list[StudentFamily]:
    return [FAMILIES.get(name) for name in MixedSpace().names]


class MixedFamily(StudentFamily):
    """The union of the staged CNN and the vision transformer (see the module docstring)."""

    name = "mixed"
    space_type = MixedSpace
    stage_type = object  # any member's stage gene
    genome_keys = ("stem_width", "stages")
    required_keys = ("stem_width", "stages")
    node_types = tuple(dict.fromkeys(t for f in _members() for t in f.node_types))
    edge_kinds = tuple(dict.fromkeys(k for f in _members() for k in f.edge_kinds))
    graph_features = tuple(dict.fromkeys(c for f in _members() for c in f.graph_features))
    spaces = {
        # 8..16 px tasks: the default staged CNN space or the vit space
        "mixed": MixedSpace(members=(StagedCNN.spaces["default"], ViTFamily.spaces["vit"])),
        # 32 px tasks: the wide staged CNN space or the vit-wide space
        "mixed-wide": MixedSpace(members=(StagedCNN.spaces["wide"], ViTFamily.spaces["vit-wide"])),
    }

    # ---- which member ----
    @staticmethod
    def member_of(genome: Genome) -> StudentFamily:
        """The member family of a genome, by the type of its stage genes; ``ValueError`` when none or mixed."""
        stages = tuple(genome.stages)
        if not stages:
            raise ValueError("the genome's 'stages' must not be empty")
        kinds = {type(s) for s in stages}
        if len(kinds) > 1:
            names = ", ".join(sorted(k.__name__ for k in kinds))
            raise ValueError(f"a genome's stages must all be of one student family; got {names}")
        for family in _members():
            if type(stages[0]) is family.stage_type:
                return family
        allowed = ", ".join(f"{f.stage_type.__name__} ({f.name})" for f in _members())
        raise ValueError(f"stage 0 must be one of {allowed}; got {type(stages[0]).__name__}")

    @staticmethod
    def _member_space(space: MixedSpace, family: StudentFamily) -> Any:
        if family.name not in space.names:
            raise ValueError(f"the family must be one of {space.names}; got {family.name!r}")
        return space.members[space.names.index(family.name)]

    # ---- genes ----
    def sample(
        self, space: MixedSpace, rng: np.random.Generator, sample_recipe: Callable[[], Recipe]
    ) -> tuple[dict[str, Any], Recipe]:
        k = int(rng.integers(len(space.members)))
        return FAMILIES.get(space.names[k]).sample(space.members[k], rng, sample_recipe)

    def validate(self, space: MixedSpace, genome: Genome) -> None:
        family = self.member_of(genome)
        family.validate(self._member_space(space, family), genome)

    def canonical(self, genome: Genome) -> dict[str, Any]:
        return self.member_of(genome).canonical(genome)

    def repaired(self, genome: Genome) -> dict[str, Any]:
        return self.member_of(genome).repaired(genome)

    def to_dict(self, genome: Genome) -> dict[str, Any]:
        return self.member_of(genome).to_dict(genome)

    def from_dict(self, d: dict[str, Any]) -> dict[str, Any]:
        stages = d["stages"]
        if not isinstance(stages, list) or not stages or not isinstance(stages[0], dict):
            raise ValueError("the genome's 'stages' must be a non-empty list of JSON objects")
        keys = set(stages[0])
        for family in _members():
            names = {f.name for f in fields(family.stage_type)}
            required = {
                f.name for f in fields(family.stage_type) if f.default is MISSING and f.default_factory is MISSING
            }
            if required <= keys <= names:
                return family.from_dict(d)
        allowed = "; ".join(f"{f.name}: {', '.join(x.name for x in fields(f.stage_type))}" for f in _members())
        raise ValueError(f"stage 0's keys {sorted(keys)} are no member family's stage ({allowed})")

    def vector_choices(self, space: MixedSpace) -> list[tuple[str, tuple]]:
        out: list[tuple[str, tuple]] = [("family", space.names)]
        for name, member in zip(space.names, space.members):
            out += [(f"{name}.{gene}", choices) for gene, choices in FAMILIES.get(name).vector_choices(member)]
        return out

    def _slices(self, space: MixedSpace) -> list[slice]:
        """The vector positions of every member (after the ``family`` gene)."""
        out, start = [], 1
        for name, member in zip(space.names, space.members):
            n = len(FAMILIES.get(name).vector_choices(member))
            out.append(slice(start, start + n))
            start += n
        return out

    def to_vector(self, space: MixedSpace, genome: Genome) -> list[int]:
        """The member's index, its positions, 0 for every other member's."""
        family = self.member_of(genome)
        k = space.names.index(family.name)
        v = [k]
        for j, (name, member) in enumerate(zip(space.names, space.members)):
            fam = FAMILIES.get(name)
            v += fam.to_vector(member, genome) if j == k else [0] * len(fam.vector_choices(member))
        return v

    def from_vector(self, space: MixedSpace, values: Sequence[Any]) -> dict[str, Any]:
        k = space.names.index(values[0])
        part = self._slices(space)[k]
        return FAMILIES.get(space.names[k]).from_vector(space.members[k], list(values[part]))

    def prepare_mutation(
        self, space: MixedSpace, genome: Genome, vector: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        own = space.names.index(self.member_of(genome).name)
        for k, (part, name, member) in enumerate(zip(self._slices(space), space.names, space.members)):
            fam = FAMILIES.get(name)
            if k == own:
                vector[part] = fam.prepare_mutation(member, genome, vector[part].copy(), rng)
            else:  # a random student of that family, for a flip of the family gene to land on
                arch, _ = fam.sample(member, rng, lambda: None)
                vector[part] = fam.to_vector(member, _Arch(**fam.repaired(_Arch(**arch))))
        return vector

    def smallest(self, space: MixedSpace) -> list[dict[str, Any]]:
        return [a for name, m in zip(space.names, space.members) for a in FAMILIES.get(name).smallest(m)]

    # ---- network ----
    def build(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int, seed: int | None) -> nn.Module:
        return self.member_of(genome).build(genome, in_shape, num_classes, seed)

    def count_params(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        return self.member_of(genome).count_params(genome, in_shape, num_classes)

    def count_macs(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        return self.member_of(genome).count_macs(genome, in_shape, num_classes)

    def tap_channels(self, genome: Genome) -> list[int]:
        return self.member_of(genome).tap_channels(genome)

    # ---- predictor graph ----
    def graph(self, genome: Genome, layout: GraphLayout) -> ArchGraph:
        return self.member_of(genome).graph(genome, layout)

    def graph_batch(self, genomes: Sequence[Genome], layout: GraphLayout) -> ArchGraphBatch:
        members = [self.member_of(g).name for g in genomes]
        parts = []
        for name in dict.fromkeys(members):
            pos = np.array([i for i, m in enumerate(members) if m == name], dtype=np.int64)
            parts.append((pos, FAMILIES.get(name).graph_batch([genomes[i] for i in pos], layout)))
        return concat_graph_batches(parts, len(genomes))


def concat_graph_batches(parts: Sequence[tuple[np.ndarray, ArchGraphBatch]], n_graphs: int) -> ArchGraphBatch:
    """One :class:`ArchGraphBatch` of ``n_graphs`` graphs from batches of some of them.

    Args:
        parts: ``(positions, batch)``: graph ``i`` of ``batch`` is graph ``positions[i]`` of the result; every
            position in ``range(n_graphs)`` appears once over all parts.
        n_graphs: graphs of the result.
    """
    counts = np.zeros(n_graphs, dtype=np.int64)
    n_taps = np.zeros(n_graphs, dtype=np.int64)
    output = np.zeros(n_graphs, dtype=np.int64)
    for pos, b in parts:
        counts[pos] = b.counts
        n_taps[pos] = np.diff(b.tap_ptr)
        output[pos] = b.output
    node_off = np.cumsum(counts) - counts
    tap_ptr = np.concatenate([[0], np.cumsum(n_taps)])
    width = parts[0][1].x.shape[1]
    x = np.zeros((int(counts.sum()), width), dtype=np.float32)
    tap_node = np.zeros(int(tap_ptr[-1]), dtype=np.int64)
    edges: list[np.ndarray] = []
    for pos, b in parts:
        x[node_off[np.repeat(pos, b.counts)] + ragged_arange(b.counts)] = b.x
        part_taps = np.diff(b.tap_ptr)
        tap_node[tap_ptr[np.repeat(pos, part_taps)] + ragged_arange(part_taps)] = b.tap_node
        edges.append(np.stack([pos[b.edge_graph], b.edge_src, b.edge_dst, b.edge_kind]))
    e = np.concatenate(edges, axis=1)
    e = e[:, np.argsort(e[0], kind="stable")]
    return ArchGraphBatch(
        x=x,
        counts=counts,
        edge_graph=e[0],
        edge_src=e[1],
        edge_dst=e[2],
        edge_kind=e[3],
        output=output,
        tap_ptr=tap_ptr,
        tap_node=tap_node,
    )


FAMILIES.add(MixedFamily.name, MixedFamily())

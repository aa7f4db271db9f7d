"""The contract of a student family, and the registry of families.

A :class:`StudentFamily` owns the architecture part of a genome: the genome's recipe genes (the
distillation recipe) are the same for every family and live in :mod:`distill.genome`. A family is a
stateless object; the numbers of its part of a search space live in its own frozen dataclass
(``space_type``), which a :class:`~distill.genome.SearchSpace` holds as ``space.arch``.

The architecture of a genome is the genome's ``stem_width`` and ``stages`` fields; what a stage gene
is (its dataclass, ``stage_type``) and what the fields mean is the family's business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from distill.registry import Registry

if TYPE_CHECKING:
    from torch import nn


class Genome(Protocol):
    """What a family reads of a genome (:class:`distill.genome.Genome`, which imports the families)."""

    stem_width: int
    stages: tuple[Any, ...]
    recipe: Any
    space: str


Recipe = Any  # distill.genome.Recipe: the families pass it through untouched

__all__ = [
    "FAMILIES",
    "ArchGraph",
    "ArchGraphBatch",
    "GraphLayout",
    "StudentFamily",
    "check_choice",
    "check_keys",
    "get_family",
    "ragged_arange",
]


@dataclass(frozen=True)
class GraphLayout:
    """Where things go in the predictor's graphs: feature columns, node-type and edge-kind ids.

    The predictor's graph module builds it from the declarations of every family (and of the recipe
    nodes) and hands it to the families' encoders, so that every graph of every family has the same
    feature width.
    """

    feature_names: tuple[str, ...]
    node_types: tuple[str, ...]
    edge_kinds: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", {name: i for i, name in enumerate(self.feature_names)})

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    def col(self, name: str) -> int:
        return self.columns[name]  # type: ignore[attr-defined]

    def edge(self, kind: str) -> int:
        return self.edge_kinds.index(kind)

    def node_row(self, kind: str, **features: float) -> np.ndarray:
        """The feature row of one node: its node type's one-hot column set, and ``features`` by column name."""
        row = np.zeros(self.num_features, dtype=np.float32)
        row[self.col(f"node:{kind}")] = 1.0
        for name, value in features.items():
            row[self.col(name)] = value
        return row


@dataclass
class ArchGraph:
    """The architecture nodes and edges of one genome's graph (the recipe nodes are added after them).

    Attributes:
        x: ``(n, num_features)`` float32 node features, in node order.
        edges: forward edges ``(source, target, edge kind id)``.
        output: the node the logit term of the recipe attaches to.
        taps: per feature tap (hint position), the node whose output is tapped, shallow to deep.
    """

    x: np.ndarray
    edges: list[tuple[int, int, int]]
    output: int
    taps: list[int]


@dataclass
class ArchGraphBatch:
    """:class:`ArchGraph` of many genomes, concatenated; node indices are local to each graph.

    Attributes:
        x: ``(sum(counts), num_features)`` rows, graph after graph.
        counts: ``(G,)`` nodes per graph.
        edge_graph, edge_src, edge_dst, edge_kind: ``(E,)`` forward edges: graph, local source and target, kind id.
        output: ``(G,)`` local index of the node the logit term attaches to.
        tap_ptr: ``(G + 1,)`` offsets into ``tap_node``; ``tap_node``: local node of every tap, shallow to deep.
    """

    x: np.ndarray
    counts: np.ndarray
    edge_graph: np.ndarray
    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_kind: np.ndarray
    output: np.ndarray
    tap_ptr: np.ndarray
    tap_node: np.ndarray


class StudentFamily(ABC):
    """A kind of student network: its genes, its builder, its costs, its feature taps and its graph.

    Subclasses declare the class attributes and implement the methods; register an instance in
    :data:`FAMILIES` under ``name``. ``space`` arguments are the family's own ``space_type`` instance
    (``SearchSpace.arch``); ``genome`` arguments are :class:`~distill.genome.Genome` objects.
    """

    name: ClassVar[str]
    space_type: ClassVar[type]  # frozen dataclass of the family's gene choices
    # the search spaces of the family: name -> its gene choices (``SPACES`` gets one per entry)
    spaces: ClassVar[dict[str, Any]]
    stage_type: ClassVar[type]  # dataclass of one stage gene (the items of ``genome.stages``)
    # graph declarations: node types and edge kinds of the architecture, the feature columns it writes;
    # every family writes "stage_pos" (the recipe's hint node records its relative depth there)
    node_types: ClassVar[tuple[str, ...]]
    edge_kinds: ClassVar[tuple[str, ...]]
    graph_features: ClassVar[tuple[str, ...]]

    # ---- genes ----
    @abstractmethod
    def sample(
        self, space: Any, rng: np.random.Generator, sample_recipe: Callable[[], Recipe]
    ) -> tuple[dict[str, Any], Recipe]:
        """Architecture fields of a random genome and its recipe.

        The family decides when ``sample_recipe`` (which draws from ``rng``) is called, so that a seed
        gives the same genomes as long as the family's draw order stays the same.
        """

    @abstractmethod
    def validate(self, space: Any, genome: Genome) -> None:
        """Raise ``ValueError`` naming the first architecture gene outside ``space`` or breaking a constraint."""

    @abstractmethod
    def canonical(self, genome: Genome) -> dict[str, Any]:
        """Architecture fields with genes that have no effect set to their defaults."""

    @abstractmethod
    def repaired(self, genome: Genome) -> dict[str, Any]:
        """Architecture fields with what an unconstrained operator can break fixed (before ``canonical``)."""

    @abstractmethod
    def to_dict(self, genome: Genome) -> dict[str, Any]:
        """The architecture as JSON-ready data, in the genome's JSON key order."""

    @abstractmethod
    def from_dict(self, d: dict[str, Any]) -> dict[str, Any]:
        """Architecture fields from :meth:`to_dict`'s data; ``ValueError`` for bad structure."""

    genome_keys: ClassVar[tuple[str, ...]]  # the keys :meth:`to_dict` writes
    required_keys: ClassVar[tuple[str, ...]]  # the keys :meth:`from_dict` needs

    @abstractmethod
    def vector_choices(self, space: Any) -> list[tuple[str, tuple]]:
        """(gene name, choices) of the architecture positions of the integer search vector."""

    @abstractmethod
    def to_vector(self, space: Any, genome: Genome) -> list[int]:
        """Indices into :meth:`vector_choices` of a canonical genome."""

    @abstractmethod
    def from_vector(self, space: Any, values: Sequence[Any]) -> dict[str, Any]:
        """Architecture fields from the chosen values of the architecture positions (not yet repaired)."""

    def prepare_mutation(self, space: Any, genome: Genome, vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fill positions of the vector that the genome does not use before mutation resamples some."""
        return vector

    @abstractmethod
    def smallest(self, space: Any) -> list[dict[str, Any]]:
        """Architecture fields of the candidates for the cheapest student of ``space`` (one of them is)."""

    # ---- network ----
    @abstractmethod
    def build(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int, seed: int | None) -> nn.Module:
        """The network; it follows the model contract of :mod:`distill.nets` (``forward_features``)."""

    @abstractmethod
    def count_params(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        """Parameters of :meth:`build`'s network without building it."""

    @abstractmethod
    def count_macs(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        """Multiply-adds of one input through the network, as :func:`distill.cost.count_flops` counts them."""

    # ---- feature taps (hints, proxies) ----
    @abstractmethod
    def tap_channels(self, genome: Genome) -> list[int]:
        """Channels of each feature map ``forward_features`` returns, shallow to deep."""

    # ---- predictor graph ----
    @abstractmethod
    def graph(self, genome: Genome, layout: GraphLayout) -> ArchGraph:
        """The architecture part of one canonical genome's graph, readable (the reference for :meth:`graph_batch`)."""

    @abstractmethod
    def graph_batch(self, genomes: Sequence[Genome], layout: GraphLayout) -> ArchGraphBatch:
        """The same for many genomes at once, vectorised; equal to :meth:`graph` graph by graph."""


FAMILIES: Registry[StudentFamily] = Registry("student family")


def get_family(name: str) -> StudentFamily:
    return FAMILIES.get(name)


def check_choice(label: str, value: Any, choices: tuple) -> None:
    """``ValueError`` unless ``value`` is one of ``choices`` (of the same type: True must not stand for 1)."""
    if not any(value == c and type(value) is type(c) for c in choices):
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"the {label} gene must be one of {{{allowed}}}; got {value!r}")


def check_keys(what: str, d: dict, allowed: set[str], required: set[str] = frozenset()) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {what}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(d))
    if missing:
        raise ValueError(f"{what} is missing the key {missing[0]!r}")


def ragged_arange(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` without the Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)

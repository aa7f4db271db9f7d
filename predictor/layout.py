"""The predictor's input layout: what each feature column and edge-type id of a student graph means, and
how a checkpoint trained in an older layout reads the graphs of today's.

Today's layout is composed (:func:`compose_layout`) from declarations: every registered student family's
node types, edge kinds and graph features, then the recipe's, whose one-hots run over the loss registries.
So adding a family or a loss grows it and shifts the columns after the new names; the edge-type ids shift
too (the reverse of kind ``k`` is ``k + len(edge_kinds)``).

A checkpoint therefore reads graphs in *its own* layout, by name: it saves the names of its feature columns
and edge kinds, and :class:`Projection` maps a graph encoded in today's layout onto them -- an index
gather on ``x`` and a lookup on ``edge_type``, the values themselves untouched, so a checkpoint predicts
bit for bit what it predicted before the layout grew. A graph that uses a column or an edge kind the
checkpoint never saw (a student of a family it was not trained on, a recipe loss added since) is refused
with a one-line error naming it, never predicted as if the column were zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from distill.families import GraphLayout, StudentFamily

__all__ = ["RECIPE", "Layout", "Projection", "UnknownFeatureError", "checkpoint_layout", "compose_layout"]

RECIPE = "recipe"  # the declarer of the recipe's nodes, edges and features
# recipe one-hot prefixes -> what their values are, for error messages
_RECIPE_ONE_HOTS = {"logit_loss": "logit loss", "hint_transform": "hint transform", "hint_distance": "hint distance"}
_RETRAIN = "retrain it with `dass pretrain` on records that include it"


@dataclass(frozen=True)
class Layout(GraphLayout):
    """A :class:`~distill.families.GraphLayout` that knows who declared each name (for error messages).

    Attributes:
        feature_owners: per feature column, the family that declared it first, or :data:`RECIPE`.
        edge_owners: the same per edge kind.
    """

    feature_owners: tuple[str, ...] = ()
    edge_owners: tuple[str, ...] = ()

    @property
    def num_edge_types(self) -> int:
        """Forward kinds, then the reverse of each."""
        return 2 * len(self.edge_kinds)

    def same_names(self, other: GraphLayout) -> bool:
        """Whether ``other`` has the same feature columns and edge kinds, in the same order."""
        return self.feature_names == other.feature_names and self.edge_kinds == other.edge_kinds

    def describe_feature(self, name: str) -> tuple[str, str]:
        """What a feature column stands for, in words, and the column: ``("the 'vit' student family", "feature
        'node:attention'")``, ``("the logit loss 'x'", "feature 'logit_loss:x'")``."""
        owner = self.feature_owners[self.col(name)] if self.feature_owners else RECIPE
        prefix, _, value = name.partition(":")
        if owner != RECIPE:
            return f"the {owner!r} student family", f"feature {name!r}"
        if prefix in _RECIPE_ONE_HOTS and value:
            return f"the {_RECIPE_ONE_HOTS[prefix]} {value!r}", f"feature {name!r}"
        return "the recipe feature", repr(name)

    def describe_edge_kind(self, kind: str) -> tuple[str, str]:
        """The same for an edge kind."""
        owner = self.edge_owners[self.edge(kind)] if self.edge_owners else RECIPE
        if owner != RECIPE:
            return f"the {owner!r} student family", f"edge kind {kind!r}"
        return "the recipe edge kind", repr(kind)


def _union(*groups: Sequence[str]) -> tuple[str, ...]:
    """The names of all groups, in order, each once."""
    return tuple(dict.fromkeys(name for group in groups for name in group))


def _owners(names: tuple[str, ...], declared: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, ...]:
    """Per name, the first declarer (``(owner, names)`` pairs, in order) that lists it."""
    first: dict[str, str] = {}
    for owner, group in declared:
        for name in group:
            first.setdefault(name, owner)
    return tuple(first[n] for n in names)


def compose_layout(
    families: Sequence[StudentFamily],
    recipe_node_types: Sequence[str],
    recipe_edge_kinds: Sequence[str],
    recipe_features: Sequence[str],
) -> Layout:
    """The one layout of every family's graphs: node types, edge kinds and features of all families (in
    registration order), then the recipe's; the node-type one-hot columns come first."""
    node_types = _union(*(f.node_types for f in families), recipe_node_types)
    edge_kinds = _union(*(f.edge_kinds for f in families), recipe_edge_kinds)
    features = _union(tuple(f"node:{t}" for t in node_types), *(f.graph_features for f in families), recipe_features)
    declared_features = [(f.name, [f"node:{t}" for t in f.node_types] + list(f.graph_features)) for f in families]
    declared_features.append((RECIPE, [f"node:{t}" for t in recipe_node_types] + list(recipe_features)))
    declared_edges = [(f.name, f.edge_kinds) for f in families] + [(RECIPE, recipe_edge_kinds)]
    return Layout(
        features,
        node_types,
        edge_kinds,
        feature_owners=_owners(features, declared_features),
        edge_owners=_owners(edge_kinds, declared_edges),
    )


def checkpoint_layout(current: Layout, feature_names: Sequence[str], edge_kinds: Sequence[str]) -> Layout:
    """The layout a checkpoint was trained in, from its saved names; ``current`` itself when they are equal.

    Raises:
        ValueError: (one line) a saved feature or edge kind is not in ``current``: the checkpoint needs an input
            this dass no longer computes.
    """
    feature_names, edge_kinds = tuple(feature_names), tuple(edge_kinds)
    if feature_names == current.feature_names and edge_kinds == current.edge_kinds:
        return current
    for what, saved, known in (
        ("feature", feature_names, current.columns),
        ("edge kind", edge_kinds, current.edge_kinds),
    ):
        missing = [n for n in saved if n not in known]  # type: ignore[operator]
        if missing:
            raise ValueError(
                f"the predictor was trained with the graph {what} {missing[0]!r}, which this dass does not compute; "
                "retrain it with `dass pretrain`"
            )
    if len(set(feature_names)) != len(feature_names) or len(set(edge_kinds)) != len(edge_kinds):
        raise ValueError("the predictor's saved feature names or edge kinds repeat a name")
    node_types = tuple(n.removeprefix("node:") for n in feature_names if n.startswith("node:"))
    return Layout(
        feature_names,
        node_types,
        edge_kinds,
        feature_owners=tuple(current.feature_owners[current.col(n)] for n in feature_names)
        if current.feature_owners
        else (),
        edge_owners=tuple(current.edge_owners[current.edge(k)] for k in edge_kinds) if current.edge_owners else (),
    )


def _refusal(what: str, detail: str, where: str) -> str:
    return f"this predictor was trained without {what} ({detail}, {where}); {_RETRAIN}"


class UnknownFeatureError(ValueError):
    """A graph uses a feature column or an edge kind the predictor was trained without."""


class Projection:
    """Reads graphs of the ``source`` layout (today's) in the ``target`` layout (a checkpoint's), by name.

    Every name of ``target`` must be in ``source`` (:func:`checkpoint_layout` checks it). Columns of ``source``
    that ``target`` lacks must be zero in a graph, and its edges of kinds ``target`` lacks must not occur:
    otherwise the graph is refused (:class:`UnknownFeatureError`).

    Args:
        source: the layout the graphs are encoded in.
        target: the layout the model reads.
    """

    def __init__(self, source: Layout, target: GraphLayout) -> None:
        self.source = source
        self.target = target
        # x_target = x_source[:, columns]; dropped: source columns target lacks (must be zero)
        self.columns = np.array([source.col(n) for n in target.feature_names], dtype=np.int64)
        kept = set(target.feature_names)
        self.dropped = np.array([i for i, n in enumerate(source.feature_names) if n not in kept], dtype=np.int64)
        # edge_type_target = edge_map[edge_type_source]; -1 for a kind target lacks (forward and reverse)
        k_source, k_target = len(source.edge_kinds), len(target.edge_kinds)
        forward = np.array(
            [target.edge_kinds.index(k) if k in target.edge_kinds else -1 for k in source.edge_kinds], dtype=np.int64
        )
        self.edge_map = np.concatenate([forward, np.where(forward < 0, -1, forward + k_target)])
        self.drops_edges = bool((forward < 0).any())
        self.edge_identity = k_source == k_target and bool((forward == np.arange(k_source)).all())

    def __call__(
        self, x: np.ndarray, edge_index: np.ndarray, edge_type: np.ndarray, where: Callable[[int], str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(x, edge_type)`` of graphs in ``source``'s layout -> the same in ``target``'s.

        Args:
            x, edge_index, edge_type: the graphs' arrays in ``source``'s layout.
            where: node row -> which graph it belongs to, in words (for the error message).

        Shapes:
            input: ``x (N, len(source.feature_names))``, ``edge_index (2, E)``, ``edge_type (E,)``;
            output: ``x (N, len(target.feature_names))``, ``edge_type (E,)``.

        Raises:
            UnknownFeatureError: (one line) a node uses a column ``target`` lacks, or an edge a kind it lacks.
        """
        if len(self.dropped):
            used = x[:, self.dropped]  # (N, D): must be all zero
            if used.any():
                row, col = np.argwhere(used)[0]
                what, detail = self.source.describe_feature(self.source.feature_names[self.dropped[col]])
                raise UnknownFeatureError(_refusal(what, detail, where(int(row))))
        if self.edge_identity:
            return x[:, self.columns], edge_type
        mapped = self.edge_map[edge_type]
        if self.drops_edges and (mapped < 0).any():
            e = int(np.argmax(mapped < 0))
            kind = self.source.edge_kinds[int(edge_type[e]) % len(self.source.edge_kinds)]
            what, detail = self.source.describe_edge_kind(kind)
            raise UnknownFeatureError(_refusal(what, detail, where(int(edge_index[1, e]))))
        return x[:, self.columns], mapped


@lru_cache(maxsize=16)
def projection(source: Layout, target: GraphLayout) -> Projection | None:
    """The cached :class:`Projection` of ``source`` onto ``target``; ``None`` when they are the same layout."""
    if source is target or (source.feature_names == target.feature_names and source.edge_kinds == target.edge_kinds):
        return None
    return Projection(source, target)

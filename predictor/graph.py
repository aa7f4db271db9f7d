"""Student genome + distillation recipe -> a ``torch_geometric`` graph for the accuracy predictor.

The architecture's nodes, features and edges come from the genome's student family
(:meth:`~distill.families.StudentFamily.graph` and ``graph_batch``; for the staged CNN, with the block
types' own cost formulas); this module declares the recipe's nodes, composes the one feature layout
(:data:`LAYOUT`) from every family's declarations, adds the recipe nodes and their edges, doubles and
sorts the edges and packs ``Data`` / ``Batch`` objects. For the staged CNN family, the graph reads:

Nodes (in this order inside every graph)::

    input, stem, block_1 ... block_B, head, output, logit_kd [, hint]

* ``input`` -- the image batch; ``stem`` -- the 3x3 stem conv; one node per block of every stage (so a
  stage of depth 3 is three nodes); ``head`` -- global average pool + linear classifier; ``output`` --
  the logits.
* ``logit_kd`` -- the logit term of the recipe, attached to ``output``: loss one-hot over
  :data:`~distill.genome.LOGIT_LOSSES` (``'none'`` is the plain cross-entropy representation), log2
  temperature, CE weight, log2 KD weight. It is always present, so a CE-only student is a graph too.
* ``hint`` -- the feature hint, attached to the last block of ``genome.hint_stage()``: transform and
  distance one-hots, log2 hint weight, relative hint depth. Present only when the hint is on.

Every node has the same :data:`NUM_NODE_FEATURES` features (named in :data:`FEATURE_NAMES`): node-type
one-hot, block-type one-hot over :data:`~distill.genome.BLOCK_TYPES`, shortcut one-hot, log2 channels in
and out, kernel, expansion, SE, stride-2, relative stage and chain position, spatial downsampling,
log10 parameters and MACs, and the recipe genes. One-hots run over the module-level tuples of
``distill.genome`` (not over one space's choices), so every genome of every space has the same feature
dimension. Genes without effect are read from ``genome.canonical()``, so equivalent genomes give equal
graphs. A new family or a new registry entry grows the layout and moves columns and edge-type ids; a
checkpoint reads the graphs in its own layout, by name (:mod:`predictor.layout`, ``encode_batch(.., layout)``).

Edges follow the data (kinds in :data:`EDGE_KINDS`):

* ``flow``: ``input -> stem -> block_1 -> ... -> block_B -> head -> output``;
* ``residual_identity`` / ``residual_projection``: ``pred(b) -> succ(b)`` for a block ``b`` with a
  shortcut, exactly as :mod:`distill.nets` builds it (a basic block always has one -- identity when it
  keeps the shape, a 1x1 projection otherwise; an MBConv block has an identity shortcut when stride 1 and
  ``cin == cout``; conv and depthwise-separable blocks have none). The skip carries the block's input to
  the consumer of its output;
* ``logit_kd``: ``logit_kd -> output``; ``hint``: ``hint -> last block of the hint stage``.

Every edge is stored twice: ``edge_type = k`` for the forward edge of kind ``k`` and
``edge_type = k + len(EDGE_KINDS)`` for its reverse, so messages flow both ways and a layer can tell
predecessors from successors. Edges are sorted by ``(target, source)`` (the adjacency is CSR-ready);
``(source, target)`` pairs are unique.

Spatial sizes are relative to the stem output: as in :class:`distill.nets.StagedNet`, the first block of
every stage after the first halves the size. ``nets.py`` skips the halving once the map is 1x1; that
never happens for the registered spaces (at most 4 stages, inputs of 8x8 or more), so the encoder
assumes every such block has stride 2.

:func:`genome_to_graph` builds one graph with plain readable code; :func:`encode_batch` builds the graphs
of many genomes at once in numpy (the predictor's fast path) and gives the same graphs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from distill.families import FAMILIES, ArchGraph, ArchGraphBatch, GraphLayout, StudentFamily, ragged_arange
from distill.families.staged_cnn import block_cost, shortcut_of
from distill.genome import (
    HINT_DEPTH,
    HINT_DISTANCES,
    HINT_POSITIONS,
    HINT_TRANSFORMS,
    LOGIT_LOSSES,
    OWN_OBJECTIVE_TRANSFORMS,
    TEMPERATURE_LOSSES,
    Genome,
    get_space,
)
from distill.nets import SHORTCUTS
from predictor.layout import Layout, UnknownFeatureError, compose_layout, projection

__all__ = [
    "EDGE_KINDS",
    "FEATURE_NAMES",
    "LAYOUT",
    "NODE_TYPES",
    "NUM_EDGE_TYPES",
    "NUM_NODE_FEATURES",
    "SHORTCUTS",
    "UnknownFeatureError",
    "block_cost",
    "encode_batch",
    "genome_to_graph",
    "select_graphs",
    "shortcut_of",
]


_FAMILIES: list[StudentFamily] = [FAMILIES.get(name) for name in FAMILIES.names()]
# The recipe's nodes, edges and features, the same for every family.
RECIPE_NODE_TYPES = ("logit_kd", "hint")
RECIPE_EDGE_KINDS = ("logit_kd", "hint")
RECIPE_FEATURES: tuple[str, ...] = (
    *(f"logit_loss:{loss}" for loss in LOGIT_LOSSES),
    "log2_temperature",  # / 3
    "ce_weight",
    "log2_kd_weight",  # / 2
    *(f"hint_transform:{t}" for t in HINT_TRANSFORMS),
    *(f"hint_distance:{d}" for d in HINT_DISTANCES),
    "log2_hint_weight",  # / 2
    "hint_depth",  # HINT_DEPTH of the hint position
)

# Today's layout. The encoders below read it from here at call time (tests swap it for a grown one); a
# checkpoint reads graphs in its own layout through predictor.layout.Projection.
LAYOUT: Layout = compose_layout(_FAMILIES, RECIPE_NODE_TYPES, RECIPE_EDGE_KINDS, RECIPE_FEATURES)
NODE_TYPES = LAYOUT.node_types
EDGE_KINDS = LAYOUT.edge_kinds
NUM_EDGE_TYPES = LAYOUT.num_edge_types  # forward kinds, then the reverse of each
FEATURE_NAMES: tuple[str, ...] = LAYOUT.feature_names
NUM_NODE_FEATURES = LAYOUT.num_features
assert all("stage_pos" in f.graph_features for f in _FAMILIES), "the hint node records its depth in stage_pos"

_LOSS_ID = {x: i for i, x in enumerate(LOGIT_LOSSES)}
_HINT_POS_ID = {x: i for i, x in enumerate(HINT_POSITIONS)}
_TRANSFORM_ID = {x: i for i, x in enumerate(HINT_TRANSFORMS)}
_DISTANCE_ID = {x: i for i, x in enumerate(HINT_DISTANCES)}
_HINT_DEPTHS = np.array([HINT_DEPTH.get(p, -1.0) for p in HINT_POSITIONS])  # 'off' -> -1
_TEMPERATURE_LOSS = np.array([x in TEMPERATURE_LOSSES for x in LOGIT_LOSSES])
_OWN_OBJECTIVE = np.array([x in OWN_OBJECTIVE_TRANSFORMS for x in HINT_TRANSFORMS])  # their distance is 'mse'
_NO_LOGIT_LOSS = _LOSS_ID["none"]
_RECIPE_NODES = 1  # logit_kd; a hint node too when the hint is on


# ---------------------------------------------------------------------------------------------
# One genome, readable
# ---------------------------------------------------------------------------------------------
def genome_to_graph(genome: Genome) -> Data:
    """The graph of one genome (see the module docstring); the reference for :func:`encode_batch`.

    Returns:
        ``Data(x=(N, NUM_NODE_FEATURES) float32, edge_index=(2, E) int64, edge_type=(E,) int64)``.
    """
    layout = LAYOUT
    g = genome.canonical()
    arch: ArchGraph = g.family.graph(g, layout)
    rows = list(arch.x)
    edges = list(arch.edges)

    def add_node(kind: str, **features: float) -> int:
        rows.append(layout.node_row(kind, **features))
        return len(rows) - 1

    r = g.recipe
    kd = add_node(
        "logit_kd",
        **{f"logit_loss:{r.logit_loss}": 1.0},
        log2_temperature=np.log2(r.temperature) / 3,
        ce_weight=r.ce_weight,
        log2_kd_weight=np.log2(r.kd_weight) / 2,
    )
    edges.append((kd, arch.output, layout.edge("logit_kd")))
    hint_stage = g.hint_stage()
    if hint_stage is not None:
        hint = add_node(
            "hint",
            **{f"hint_transform:{r.hint_transform}": 1.0, f"hint_distance:{r.hint_distance}": 1.0},
            log2_hint_weight=np.log2(r.hint_weight) / 2,
            hint_depth=HINT_DEPTH[r.hint_position],
            stage_pos=hint_stage / max(len(arch.taps) - 1, 1),
        )
        edges.append((hint, arch.taps[hint_stage], layout.edge("hint")))

    n_kinds = len(layout.edge_kinds)
    both = [(s, d, k) for s, d, k in edges] + [(d, s, k + n_kinds) for s, d, k in edges]
    both.sort(key=lambda e: (e[1], e[0]))
    edge_array = np.array(both, dtype=np.int64).reshape(-1, 3)
    return Data(
        x=torch.from_numpy(np.stack(rows)),
        edge_index=torch.from_numpy(np.ascontiguousarray(edge_array[:, :2].T)),
        edge_type=torch.from_numpy(np.ascontiguousarray(edge_array[:, 2])),
        num_nodes=len(rows),
    )


# ---------------------------------------------------------------------------------------------
# Many genomes, vectorised
# ---------------------------------------------------------------------------------------------
def _by_family(genomes: Sequence[Genome]) -> dict[str, np.ndarray]:
    """Positions of the genomes of each family, in order."""
    try:
        spaces = [g.space for g in genomes]
    except AttributeError:
        bad = next(i for i, g in enumerate(genomes) if not isinstance(g, Genome))
        raise ValueError(f"expected Genome objects; item {bad} is {type(genomes[bad]).__name__}") from None
    family_of = {space: get_space(space).family.name for space in set(spaces)}
    if len(set(family_of.values())) == 1:  # the common case: one family, no regrouping
        return {next(iter(family_of.values())): np.arange(len(genomes))}
    names = np.array([family_of[s] for s in spaces])
    return {f: np.flatnonzero(names == f) for f in dict.fromkeys(family_of[s] for s in spaces)}


def _recipe_table(genomes: Sequence[Genome]) -> np.ndarray:
    """The recipe genes as a float table; one row per genome."""
    rows = []
    try:
        for g in genomes:
            r = g.recipe
            rows.append(
                (
                    _LOSS_ID[r.logit_loss],
                    r.temperature,
                    r.ce_weight,
                    r.kd_weight,
                    _HINT_POS_ID[r.hint_position],
                    _TRANSFORM_ID[r.hint_transform],
                    _DISTANCE_ID[r.hint_distance],
                    r.hint_weight,
                )
            )
    except KeyError as e:
        raise ValueError(f"genome {len(rows)} has an unknown gene value {e.args[0]!r}") from None
    return np.array(rows, dtype=np.float64).reshape(-1, 8)


def _arch_batches(genomes: Sequence[Genome], layout: GraphLayout) -> list[tuple[np.ndarray, ArchGraphBatch]]:
    """``(positions, architecture graphs)`` of the genomes of each family."""
    out = []
    for family, positions in _by_family(genomes).items():
        members = genomes if len(positions) == len(genomes) else [genomes[i] for i in positions]
        out.append((positions, FAMILIES.get(family).graph_batch(members, layout)))
    return out


def _encode_arrays(genomes: Sequence[Genome]) -> dict[str, np.ndarray]:
    """Concatenated graph arrays of ``genomes`` in today's :data:`LAYOUT`: x, edge_index, edge_type, node_ptr,
    edge_ptr."""
    layout = LAYOUT
    parts = _arch_batches(genomes, layout)
    rc = _recipe_table(genomes)
    n_graphs = len(genomes)
    loss = rc[:, 0].astype(np.int64)
    hint_pos = rc[:, 4].astype(np.int64)
    has_hint = hint_pos != _HINT_POS_ID["off"]

    arch_nodes = np.zeros(n_graphs, dtype=np.int64)
    n_taps = np.zeros(n_graphs, dtype=np.int64)
    for pos, arch in parts:
        arch_nodes[pos] = arch.counts
        n_taps[pos] = np.diff(arch.tap_ptr)
    n_nodes = arch_nodes + _RECIPE_NODES + has_hint
    node_ptr = np.zeros(n_graphs + 1, dtype=np.int64)
    np.cumsum(n_nodes, out=node_ptr[1:])
    off = node_ptr[:-1]
    kd_node = off + arch_nodes
    hint_node = kd_node + 1

    x = np.zeros((int(node_ptr[-1]), layout.num_features), dtype=np.float32)
    src, dst, kind, graph_of_edge = [], [], [], []
    h = np.flatnonzero(has_hint)
    h_depth = _HINT_DEPTHS[hint_pos[h]]
    h_stage = np.round(h_depth * (n_taps[h] - 1)).astype(np.int64)  # hint_index(); both round half to even
    stage = np.zeros(n_graphs, dtype=np.int64)
    stage[h] = h_stage
    output = np.zeros(n_graphs, dtype=np.int64)
    hint_target = np.zeros(n_graphs, dtype=np.int64)
    for pos, arch in parts:
        row_graph = np.repeat(pos, arch.counts)
        x[off[row_graph] + ragged_arange(arch.counts)] = arch.x
        e_graph = pos[arch.edge_graph]
        src.append(off[e_graph] + arch.edge_src)
        dst.append(off[e_graph] + arch.edge_dst)
        kind.append(arch.edge_kind)
        graph_of_edge.append(e_graph)
        output[pos] = off[pos] + arch.output
        # the hint reads the tap of its stage: local index of graph k's tap s is tap_node[tap_ptr[k] + s]
        local = np.flatnonzero(has_hint[pos])
        hint_target[pos[local]] = off[pos[local]] + arch.tap_node[arch.tap_ptr[local] + stage[pos[local]]]

    c = layout.columns
    # the one-hot columns of each gene value (by name: a grown layout need not keep a group contiguous)
    loss_col = np.array([c[f"logit_loss:{v}"] for v in LOGIT_LOSSES])
    transform_col = np.array([c[f"hint_transform:{v}"] for v in HINT_TRANSFORMS])
    distance_col = np.array([c[f"hint_distance:{v}"] for v in HINT_DISTANCES])
    # canonical(): the temperature only matters for KL/DIST, the KD weight only with a logit loss
    temperature = np.where(_TEMPERATURE_LOSS[loss], rc[:, 1], 1.0)
    kd_weight = np.where(loss == _NO_LOGIT_LOSS, 1.0, rc[:, 3])
    x[kd_node, c["node:logit_kd"]] = 1.0
    x[kd_node, loss_col[loss]] = 1.0
    x[kd_node, c["log2_temperature"]] = np.log2(temperature) / 3
    x[kd_node, c["ce_weight"]] = rc[:, 2]
    x[kd_node, c["log2_kd_weight"]] = np.log2(kd_weight) / 2

    h_node = hint_node[h]
    x[h_node, c["node:hint"]] = 1.0
    transform = rc[h, 5].astype(np.int64)
    distance = np.where(_OWN_OBJECTIVE[transform], _DISTANCE_ID["mse"], rc[h, 6].astype(np.int64))  # canonical()
    x[h_node, transform_col[transform]] = 1.0
    x[h_node, distance_col[distance]] = 1.0
    x[h_node, c["log2_hint_weight"]] = np.log2(rc[h, 7]) / 2
    x[h_node, c["hint_depth"]] = h_depth
    x[h_node, c["stage_pos"]] = h_stage / np.maximum(n_taps[h] - 1, 1)

    # ---- edges: the families', then the recipe's; every one twice (reversed), sorted by (target, source) ----
    src = np.concatenate([*src, kd_node, h_node])
    dst = np.concatenate([*dst, output, hint_target[h]])
    kind = np.concatenate([*kind, np.full(n_graphs, layout.edge("logit_kd")), np.full(len(h), layout.edge("hint"))])
    edge_graph = np.concatenate([*graph_of_edge, np.arange(n_graphs), h])
    src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    kind = np.concatenate([kind, kind + len(layout.edge_kinds)])
    order = np.argsort(dst * int(node_ptr[-1]) + src)  # (target, source) pairs are unique
    edge_index = np.stack([src[order], dst[order]])
    n_edges = 2 * np.bincount(edge_graph, minlength=n_graphs)
    edge_ptr = np.zeros(n_graphs + 1, dtype=np.int64)
    np.cumsum(n_edges, out=edge_ptr[1:])
    return {"x": x, "edge_index": edge_index, "edge_type": kind[order], "node_ptr": node_ptr, "edge_ptr": edge_ptr}


def _to_batch(arrays: dict[str, np.ndarray]) -> Batch:
    node_ptr = torch.from_numpy(arrays["node_ptr"])
    edge_ptr = torch.from_numpy(arrays["edge_ptr"])
    n_graphs = len(node_ptr) - 1
    counts = node_ptr[1:] - node_ptr[:-1]
    batch = Batch(
        x=torch.from_numpy(arrays["x"]),
        edge_index=torch.from_numpy(arrays["edge_index"]),
        edge_type=torch.from_numpy(arrays["edge_type"]),
        batch=torch.repeat_interleave(torch.arange(n_graphs), counts),
        ptr=node_ptr,
    )
    # What Batch.from_data_list records, so that batch[i] / to_data_list() give the single graphs back.
    batch._num_graphs = n_graphs
    batch._slice_dict = {"x": node_ptr, "edge_index": edge_ptr, "edge_type": edge_ptr}
    batch._inc_dict = {
        "x": torch.zeros(n_graphs, dtype=torch.long),
        "edge_index": node_ptr[:-1],
        "edge_type": torch.zeros(n_graphs, dtype=torch.long),
    }
    return batch


def encode_batch(genomes: Sequence[Genome], layout: GraphLayout | None = None) -> Batch:
    """The graphs of many genomes as one :class:`~torch_geometric.data.Batch`, built directly in numpy.

    Gives the same graphs as :func:`genome_to_graph` (``encode_batch(gs)[i]`` equals
    ``genome_to_graph(gs[i])``) at a fraction of the cost: the only per-genome Python work is reading
    the genes; everything else is a handful of array operations over the whole batch.

    Args:
        genomes: valid genomes of any registered space.
        layout: the layout to give the graphs in (a checkpoint's, :func:`~predictor.layout.checkpoint_layout`);
            by default today's :data:`LAYOUT`. The graphs are built in today's and projected onto it by name.

    Returns:
        A batch with ``x (N, F)`` (``F`` features of ``layout``), ``edge_index (2, E)``, ``edge_type (E,)``,
        ``batch (N,)`` and ``ptr (G + 1,)``.

    Raises:
        UnknownFeatureError: (a ``ValueError``, one line) a genome needs a feature or an edge kind that
            ``layout`` lacks, e.g. a student of a family the checkpoint was trained without.
    """
    if len(genomes) == 0:
        raise ValueError("encode_batch needs at least one genome")
    arrays = _encode_arrays(genomes)
    project = None if layout is None else projection(LAYOUT, layout)
    if project is not None:
        node_ptr = arrays["node_ptr"]

        def where(row: int) -> str:
            graph = int(np.searchsorted(node_ptr, row, side="right")) - 1
            return f"needed by a genome of space {genomes[graph].space!r}"

        arrays["x"], arrays["edge_type"] = project(arrays["x"], arrays["edge_index"], arrays["edge_type"], where)
    return _to_batch(arrays)


def select_graphs(batch: Batch, index: torch.Tensor) -> Batch:
    """The sub-batch of graphs ``index`` (in that order, repeats allowed) of an :func:`encode_batch` batch."""
    node_ptr = batch._slice_dict["x"]
    edge_ptr = batch._slice_dict["edge_index"]
    index = torch.as_tensor(index, dtype=torch.long)
    n_nodes = (node_ptr[1:] - node_ptr[:-1])[index]
    n_edges = (edge_ptr[1:] - edge_ptr[:-1])[index]
    node_idx = torch.from_numpy(ragged_arange(n_nodes.numpy())) + torch.repeat_interleave(node_ptr[index], n_nodes)
    edge_idx = torch.from_numpy(ragged_arange(n_edges.numpy())) + torch.repeat_interleave(edge_ptr[index], n_edges)
    new_ptr = torch.zeros(len(index) + 1, dtype=torch.long)
    torch.cumsum(n_nodes, 0, out=new_ptr[1:])
    shift = torch.repeat_interleave(new_ptr[:-1] - node_ptr[index], n_edges)
    new_edge_ptr = torch.zeros(len(index) + 1, dtype=torch.long)
    torch.cumsum(n_edges, 0, out=new_edge_ptr[1:])
    return _to_batch(
        {
            "x": batch.x[node_idx].numpy(),
            "edge_index": (batch.edge_index[:, edge_idx] + shift).numpy(),
            "edge_type": batch.edge_type[edge_idx].numpy(),
            "node_ptr": new_ptr.numpy(),
            "edge_ptr": new_edge_ptr.numpy(),
        }
    )

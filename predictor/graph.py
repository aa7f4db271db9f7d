"""Student genome + distillation recipe -> a ``torch_geometric`` graph for the accuracy predictor.

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
graphs.

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

from distill.genome import (
    BLOCK_TYPES,
    HINT_DEPTH,
    HINT_DISTANCES,
    HINT_POSITIONS,
    HINT_TRANSFORMS,
    LOGIT_LOSSES,
    TEMPERATURE_LOSSES,
    Genome,
)

__all__ = [
    "EDGE_KINDS",
    "FEATURE_NAMES",
    "NODE_TYPES",
    "NUM_EDGE_TYPES",
    "NUM_NODE_FEATURES",
    "SHORTCUTS",
    "block_cost",
    "encode_batch",
    "genome_to_graph",
    "select_graphs",
    "shortcut_of",
]

NODE_TYPES = ("input", "stem", "block", "head", "output", "logit_kd", "hint")
SHORTCUTS = ("none", "identity", "projection")
EDGE_KINDS = ("flow", "residual_identity", "residual_projection", "logit_kd", "hint")
NUM_EDGE_TYPES = 2 * len(EDGE_KINDS)  # forward kinds, then the reverse of each

FEATURE_NAMES: tuple[str, ...] = (
    *(f"node:{t}" for t in NODE_TYPES),
    *(f"block:{b}" for b in BLOCK_TYPES),
    *(f"shortcut:{s}" for s in SHORTCUTS),
    "log2_c_in",  # log2(channels) / 8: widths of 8..128 channels land in [0.375, 0.875]
    "log2_c_out",
    "kernel",  # kernel / 7
    "expansion",  # MBConv expansion / 6
    "se",
    "stride2",
    "stage_pos",  # stage index / (n_stages - 1)
    "chain_pos",  # position along input -> ... -> output, in [0, 1]
    "downsample",  # halvings of the spatial size since the stem output / 4
    "log10_params",  # log10(1 + parameters) / 6; the output node holds the total of stem + blocks
    "log10_macs",  # log10(1 + MACs per pixel of the stem output) / 6; output node: the total
    *(f"logit_loss:{loss}" for loss in LOGIT_LOSSES),
    "log2_temperature",  # / 3
    "ce_weight",
    "log2_kd_weight",  # / 2
    *(f"hint_transform:{t}" for t in HINT_TRANSFORMS),
    *(f"hint_distance:{d}" for d in HINT_DISTANCES),
    "log2_hint_weight",  # / 2
    "hint_depth",  # HINT_DEPTH of the hint position
)
NUM_NODE_FEATURES = len(FEATURE_NAMES)
_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}

STEM_KERNEL = 3  # StagedNet's stem is a 3x3 conv_bn; the stem's cost is given for one input channel
_FIXED_NODES = 5  # input, stem, head, output, logit_kd

_BLOCK_ID = {b: i for i, b in enumerate(BLOCK_TYPES)}
_LOSS_ID = {x: i for i, x in enumerate(LOGIT_LOSSES)}
_HINT_POS_ID = {x: i for i, x in enumerate(HINT_POSITIONS)}
_TRANSFORM_ID = {x: i for i, x in enumerate(HINT_TRANSFORMS)}
_DISTANCE_ID = {x: i for i, x in enumerate(HINT_DISTANCES)}
_HINT_DEPTHS = np.array([HINT_DEPTH.get(p, -1.0) for p in HINT_POSITIONS])  # 'off' -> -1
_TEMPERATURE_LOSS = np.array([x in TEMPERATURE_LOSSES for x in LOGIT_LOSSES])
_NO_LOGIT_LOSS = _LOSS_ID["none"]
_BASIC, _MBCONV = _BLOCK_ID["basic"], _BLOCK_ID["mbconv"]


# ---------------------------------------------------------------------------------------------
# Shared formulas (vectorised; the single-genome encoder calls them on scalars)
# ---------------------------------------------------------------------------------------------
def shortcut_of(block: np.ndarray, cin: np.ndarray, cout: np.ndarray, stride2: np.ndarray) -> np.ndarray:
    """Index into :data:`SHORTCUTS` of each block's shortcut, mirroring :mod:`distill.nets`."""
    block, cin, cout, stride2 = np.broadcast_arrays(block, cin, cout, stride2)
    keeps_shape = ~stride2.astype(bool) & (cin == cout)
    out = np.zeros(block.shape, dtype=np.int64)
    out[(block == _BASIC) & keeps_shape] = 1
    out[(block == _BASIC) & ~keeps_shape] = 2
    out[(block == _MBCONV) & keeps_shape] = 1
    return out


def _se_params(c: np.ndarray) -> np.ndarray:
    hidden = np.maximum(4, c // 4)  # SqueezeExcite(reduction=4): two 1x1 convs with biases
    return 2 * c * hidden + hidden + c


def block_cost(
    block: np.ndarray,
    cin: np.ndarray,
    cout: np.ndarray,
    kernel: np.ndarray,
    expansion: np.ndarray,
    se: np.ndarray,
    stride2: np.ndarray,
    downsample: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and MACs of blocks, computed from the genes as :mod:`distill.nets` builds them.

    Args:
        block: index into :data:`~distill.genome.BLOCK_TYPES`.
        cin, cout, kernel, expansion: the block's channels in and out, kernel and MBConv expansion.
        se, stride2: squeeze-and-excitation and stride-2 flags.
        downsample: halvings of the spatial size from the stem output to the block output.

    Returns:
        ``(params, macs)``: parameters exactly as ``count_params`` counts them (conv weights, BN affine,
        SE), and multiply-adds of the convolutions per pixel of the stem output.
    """
    block, cin, cout, kernel, expansion, se, stride2, downsample = (
        np.asarray(a, dtype=np.int64) for a in (block, cin, cout, kernel, expansion, se, stride2, downsample)
    )
    k2 = kernel * kernel
    proj = shortcut_of(block, cin, cout, stride2) == 2
    hidden = cin * expansion
    expands = expansion != 1
    # One entry per block type, in BLOCK_TYPES order: (params, MACs at the output resolution).
    costs = {
        "conv": (k2 * cin * cout + 2 * cout + se * _se_params(cout), k2 * cin * cout),
        "basic": (
            k2 * cin * cout + k2 * cout * cout + 4 * cout + se * _se_params(cout) + proj * (cin * cout + 2 * cout),
            k2 * cin * cout + k2 * cout * cout + proj * cin * cout,
        ),
        "mbconv": (
            expands * (cin * hidden + 2 * hidden)
            + k2 * hidden
            + 2 * hidden
            + se * _se_params(hidden)
            + hidden * cout
            + 2 * cout,
            # the 1x1 expansion runs before the strided depthwise conv: 4x the output pixels
            expands * cin * hidden * np.where(stride2 == 1, 4, 1) + k2 * hidden + hidden * cout,
        ),
        "dwsep": (k2 * cin + 2 * cin + se * _se_params(cin) + cin * cout + 2 * cout, k2 * cin + cin * cout),
    }
    assert tuple(costs) == BLOCK_TYPES, "block_cost needs one formula per registered block type"
    params = np.choose(block, [p for p, _ in costs.values()])
    macs = np.choose(block, [m for _, m in costs.values()]) * 0.25**downsample
    return params, macs


def _stem_cost(stem_width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k2 = STEM_KERNEL * STEM_KERNEL
    return k2 * stem_width + 2 * stem_width, k2 * stem_width


def _log2c(c: np.ndarray) -> np.ndarray:
    return np.log2(c) / 8.0


def _log10n(n: np.ndarray) -> np.ndarray:
    return np.log10(1.0 + n) / 6.0


# ---------------------------------------------------------------------------------------------
# One genome, readable
# ---------------------------------------------------------------------------------------------
def genome_to_graph(genome: Genome) -> Data:
    """The graph of one genome (see the module docstring); the reference for :func:`encode_batch`.

    Returns:
        ``Data(x=(N, NUM_NODE_FEATURES) float32, edge_index=(2, E) int64, edge_type=(E,) int64)``.
    """
    g = genome.canonical()
    rows: list[np.ndarray] = []
    edges: list[tuple[int, int, str]] = []

    def add_node(kind: str, **features: float) -> int:
        row = np.zeros(NUM_NODE_FEATURES, dtype=np.float32)
        row[_COL[f"node:{kind}"]] = 1.0
        for name, value in features.items():
            row[_COL[name]] = value
        rows.append(row)
        return len(rows) - 1

    n_stages = len(g.stages)
    n_blocks = sum(s.depth for s in g.stages)
    chain_len = n_blocks + 4  # input, stem, blocks, head, output

    def chain_pos(t: int) -> float:
        return t / (chain_len - 1)

    stem_params, stem_macs = _stem_cost(np.int64(g.stem_width))
    total_params, total_macs = stem_params, stem_macs
    prev = add_node("input", chain_pos=chain_pos(0))
    prev = add_node(
        "stem",
        log2_c_out=_log2c(g.stem_width),
        kernel=STEM_KERNEL / 7,
        chain_pos=chain_pos(1),
        log10_params=_log10n(stem_params),
        log10_macs=_log10n(stem_macs),
    )
    edges.append((prev - 1, prev, "flow"))
    cin, t, stage_last_block, shortcuts = g.stem_width, 2, [], {}
    for i, stage in enumerate(g.stages):
        b = _BLOCK_ID[stage.block]
        for j in range(stage.depth):
            stride2 = i > 0 and j == 0
            params, macs = block_cost(b, cin, stage.width, stage.kernel, stage.expansion, stage.se, stride2, i)
            shortcut = int(shortcut_of(b, cin, stage.width, stride2))
            node = add_node(
                "block",
                **{f"block:{stage.block}": 1.0, f"shortcut:{SHORTCUTS[shortcut]}": 1.0},
                log2_c_in=_log2c(cin),
                log2_c_out=_log2c(stage.width),
                kernel=stage.kernel / 7,
                expansion=stage.expansion / 6,
                se=float(stage.se),
                stride2=float(stride2),
                stage_pos=i / max(n_stages - 1, 1),
                chain_pos=chain_pos(t),
                downsample=i / 4,
                log10_params=_log10n(params),
                log10_macs=_log10n(macs),
            )
            edges.append((prev, node, "flow"))
            shortcuts[node] = SHORTCUTS[shortcut]
            total_params, total_macs = total_params + params, total_macs + macs
            prev, cin, t = node, stage.width, t + 1
        stage_last_block.append(prev)
    head = add_node(
        "head",
        log2_c_in=_log2c(cin),
        stage_pos=1.0,
        chain_pos=chain_pos(t),
        downsample=(n_stages - 1) / 4,
        log10_params=_log10n(np.int64(cin + 1)),  # the classifier's parameters per class
    )
    edges.append((prev, head, "flow"))
    output = add_node(
        "output", chain_pos=chain_pos(t + 1), log10_params=_log10n(total_params), log10_macs=_log10n(total_macs)
    )
    edges.append((head, output, "flow"))
    for node, shortcut in shortcuts.items():  # the skip carries pred(b)'s output to succ(b)
        if shortcut != "none":
            edges.append((node - 1, node + 1, f"residual_{shortcut}"))

    r = g.recipe
    kd = add_node(
        "logit_kd",
        **{f"logit_loss:{r.logit_loss}": 1.0},
        log2_temperature=np.log2(r.temperature) / 3,
        ce_weight=r.ce_weight,
        log2_kd_weight=np.log2(r.kd_weight) / 2,
    )
    edges.append((kd, output, "logit_kd"))
    hint_stage = g.hint_stage()
    if hint_stage is not None:
        hint = add_node(
            "hint",
            **{f"hint_transform:{r.hint_transform}": 1.0, f"hint_distance:{r.hint_distance}": 1.0},
            log2_hint_weight=np.log2(r.hint_weight) / 2,
            hint_depth=HINT_DEPTH[r.hint_position],
            stage_pos=hint_stage / max(n_stages - 1, 1),
        )
        edges.append((hint, stage_last_block[hint_stage], "hint"))

    kind_id = {k: i for i, k in enumerate(EDGE_KINDS)}
    both = [(s, d, kind_id[k]) for s, d, k in edges] + [(d, s, kind_id[k] + len(EDGE_KINDS)) for s, d, k in edges]
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
def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` without the Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def _gene_tables(genomes: Sequence[Genome]) -> tuple[np.ndarray, np.ndarray]:
    """The genes as two integer/float tables; the only per-genome Python work of the fast path."""
    stages: list[tuple] = []
    recipes: list[tuple] = []
    try:
        for g in genomes:
            for s in g.stages:
                stages.append((_BLOCK_ID[s.block], s.depth, s.width, s.kernel, s.expansion, s.se))
            r = g.recipe
            recipes.append(
                (
                    len(g.stages),
                    g.stem_width,
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
        raise ValueError(f"genome {len(recipes)} has an unknown gene value {e.args[0]!r}") from None
    except AttributeError:
        raise ValueError(f"expected Genome objects; item {len(recipes)} is {type(g).__name__}") from None
    return np.array(stages, dtype=np.int64).reshape(-1, 6), np.array(recipes, dtype=np.float64).reshape(-1, 10)


def _encode_arrays(genomes: Sequence[Genome]) -> dict[str, np.ndarray]:
    """Concatenated graph arrays of ``genomes``: x, edge_index, edge_type, node_ptr, edge_ptr."""
    st, rc = _gene_tables(genomes)
    n_graphs = len(rc)
    n_stages = rc[:, 0].astype(np.int64)
    stem = rc[:, 1].astype(np.int64)
    loss = rc[:, 2].astype(np.int64)
    hint_pos = rc[:, 6].astype(np.int64)

    # ---- stages -> blocks ----
    stage_graph = np.repeat(np.arange(n_graphs), n_stages)
    stage_idx = _ragged_arange(n_stages)
    block, depth, width, kernel, expansion, se = st.T
    expansion = np.where(block == _MBCONV, expansion, 1)  # canonical(): expansion only matters for MBConv
    prev_width = np.where(stage_idx == 0, stem[stage_graph], np.roll(width, 1))
    b_stage = np.repeat(np.arange(len(st)), depth)  # stage row of every block
    b_j = _ragged_arange(depth)  # block index inside its stage
    b_graph = stage_graph[b_stage]
    b_i = stage_idx[b_stage]
    b_cout = width[b_stage]
    b_cin = np.where(b_j == 0, prev_width[b_stage], b_cout)
    b_stride2 = (b_i > 0) & (b_j == 0)
    b_type = block[b_stage]
    b_shortcut = shortcut_of(b_type, b_cin, b_cout, b_stride2)
    b_params, b_macs = block_cost(
        b_type, b_cin, b_cout, kernel[b_stage], expansion[b_stage], se[b_stage], b_stride2, b_i
    )

    n_blocks = np.bincount(b_graph, minlength=n_graphs)
    has_hint = hint_pos != _HINT_POS_ID["off"]
    n_nodes = n_blocks + _FIXED_NODES + has_hint
    node_ptr = np.zeros(n_graphs + 1, dtype=np.int64)
    np.cumsum(n_nodes, out=node_ptr[1:])
    off = node_ptr[:-1]
    b_local = _ragged_arange(n_blocks)  # block index inside its genome
    b_node = off[b_graph] + 2 + b_local
    input_node, stem_node = off, off + 1
    head_node = off + 2 + n_blocks
    output_node, kd_node, hint_node = head_node + 1, head_node + 2, head_node + 3
    chain_den = (n_blocks + 3).astype(np.float64)  # chain length - 1

    x = np.zeros((int(node_ptr[-1]), NUM_NODE_FEATURES), dtype=np.float32)
    c = _COL
    x[input_node, c["node:input"]] = 1.0
    # input's chain_pos is 0
    stem_params, stem_macs = _stem_cost(stem)
    x[stem_node, c["node:stem"]] = 1.0
    x[stem_node, c["log2_c_out"]] = _log2c(stem)
    x[stem_node, c["kernel"]] = STEM_KERNEL / 7
    x[stem_node, c["chain_pos"]] = 1 / chain_den
    x[stem_node, c["log10_params"]] = _log10n(stem_params)
    x[stem_node, c["log10_macs"]] = _log10n(stem_macs)

    x[b_node, c["node:block"]] = 1.0
    x[b_node, c["block:" + BLOCK_TYPES[0]] + b_type] = 1.0
    x[b_node, c["shortcut:none"] + b_shortcut] = 1.0
    x[b_node, c["log2_c_in"]] = _log2c(b_cin)
    x[b_node, c["log2_c_out"]] = _log2c(b_cout)
    x[b_node, c["kernel"]] = kernel[b_stage] / 7
    x[b_node, c["expansion"]] = expansion[b_stage] / 6
    x[b_node, c["se"]] = se[b_stage]
    x[b_node, c["stride2"]] = b_stride2
    x[b_node, c["stage_pos"]] = b_i / np.maximum(n_stages[b_graph] - 1, 1)
    x[b_node, c["chain_pos"]] = (2 + b_local) / chain_den[b_graph]
    x[b_node, c["downsample"]] = b_i / 4
    x[b_node, c["log10_params"]] = _log10n(b_params)
    x[b_node, c["log10_macs"]] = _log10n(b_macs)

    last_cin = b_cout[np.cumsum(n_blocks) - 1]
    x[head_node, c["node:head"]] = 1.0
    x[head_node, c["log2_c_in"]] = _log2c(last_cin)
    x[head_node, c["stage_pos"]] = 1.0
    x[head_node, c["chain_pos"]] = (2 + n_blocks) / chain_den
    x[head_node, c["downsample"]] = (n_stages - 1) / 4
    x[head_node, c["log10_params"]] = _log10n(last_cin + 1)

    total_params = stem_params + np.bincount(b_graph, weights=b_params, minlength=n_graphs).astype(np.int64)
    total_macs = stem_macs + np.bincount(b_graph, weights=b_macs, minlength=n_graphs)
    x[output_node, c["node:output"]] = 1.0
    x[output_node, c["chain_pos"]] = 1.0
    x[output_node, c["log10_params"]] = _log10n(total_params)
    x[output_node, c["log10_macs"]] = _log10n(total_macs)

    # canonical(): the temperature only matters for KL/DIST, the KD weight only with a logit loss
    temperature = np.where(_TEMPERATURE_LOSS[loss], rc[:, 3], 1.0)
    kd_weight = np.where(loss == _NO_LOGIT_LOSS, 1.0, rc[:, 5])
    x[kd_node, c["node:logit_kd"]] = 1.0
    x[kd_node, c["logit_loss:" + LOGIT_LOSSES[0]] + loss] = 1.0
    x[kd_node, c["log2_temperature"]] = np.log2(temperature) / 3
    x[kd_node, c["ce_weight"]] = rc[:, 4]
    x[kd_node, c["log2_kd_weight"]] = np.log2(kd_weight) / 2

    h = np.flatnonzero(has_hint)
    h_node = hint_node[h]
    h_depth = _HINT_DEPTHS[hint_pos[h]]
    h_stage = np.round(h_depth * (n_stages[h] - 1)).astype(np.int64)  # hint_index(); both round half to even
    x[h_node, c["node:hint"]] = 1.0
    x[h_node, c["hint_transform:" + HINT_TRANSFORMS[0]] + rc[h, 7].astype(np.int64)] = 1.0
    x[h_node, c["hint_distance:" + HINT_DISTANCES[0]] + rc[h, 8].astype(np.int64)] = 1.0
    x[h_node, c["log2_hint_weight"]] = np.log2(rc[h, 9]) / 2
    x[h_node, c["hint_depth"]] = h_depth
    x[h_node, c["stage_pos"]] = h_stage / np.maximum(n_stages[h] - 1, 1)

    # ---- edges (forward kinds; reversed below) ----
    n_chain_edges = n_blocks + 3
    chain_src = np.repeat(off, n_chain_edges) + _ragged_arange(n_chain_edges)
    res = np.flatnonzero(b_shortcut > 0)
    stage_end = np.cumsum(depth) - (np.cumsum(n_blocks) - n_blocks)[stage_graph]  # blocks up to each stage's end
    stage_start_row = np.cumsum(n_stages) - n_stages
    hint_target = off[h] + 1 + stage_end[stage_start_row[h] + h_stage]
    kinds = {k: i for i, k in enumerate(EDGE_KINDS)}
    src = np.concatenate([chain_src, b_node[res] - 1, kd_node, h_node])
    dst = np.concatenate([chain_src + 1, b_node[res] + 1, output_node, hint_target])
    kind = np.concatenate(
        [
            np.full(len(chain_src), kinds["flow"]),
            kinds["residual_identity"] - 1 + b_shortcut[res],
            np.full(n_graphs, kinds["logit_kd"]),
            np.full(len(h), kinds["hint"]),
        ]
    )
    src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    kind = np.concatenate([kind, kind + len(EDGE_KINDS)])
    order = np.argsort(dst * int(node_ptr[-1]) + src)  # (target, source) pairs are unique
    edge_index = np.stack([src[order], dst[order]])
    n_edges = 2 * (n_chain_edges + 1 + has_hint) + 2 * np.bincount(b_graph[res], minlength=n_graphs)
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


def encode_batch(genomes: Sequence[Genome]) -> Batch:
    """The graphs of many genomes as one :class:`~torch_geometric.data.Batch`, built directly in numpy.

    Gives the same graphs as :func:`genome_to_graph` (``encode_batch(gs)[i]`` equals
    ``genome_to_graph(gs[i])``) at a fraction of the cost: the only per-genome Python work is reading
    the genes; everything else is a handful of array operations over the whole batch.

    Args:
        genomes: valid genomes of any registered space.

    Returns:
        A batch with ``x (N, NUM_NODE_FEATURES)``, ``edge_index (2, E)``, ``edge_type (E,)``, ``batch (N,)``
        and ``ptr (G + 1,)``.
    """
    if len(genomes) == 0:
        raise ValueError("encode_batch needs at least one genome")
    return _to_batch(_encode_arrays(genomes))


def select_graphs(batch: Batch, index: torch.Tensor) -> Batch:
    """The sub-batch of graphs ``index`` (in that order, repeats allowed) of an :func:`encode_batch` batch."""
    node_ptr = batch._slice_dict["x"]
    edge_ptr = batch._slice_dict["edge_index"]
    index = torch.as_tensor(index, dtype=torch.long)
    n_nodes = (node_ptr[1:] - node_ptr[:-1])[index]
    n_edges = (edge_ptr[1:] - edge_ptr[:-1])[index]
    node_idx = torch.from_numpy(_ragged_arange(n_nodes.numpy())) + torch.repeat_interleave(node_ptr[index], n_nodes)
    edge_idx = torch.from_numpy(_ragged_arange(n_edges.numpy())) + torch.repeat_interleave(edge_ptr[index], n_edges)
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

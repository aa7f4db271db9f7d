"""The staged CNN student family: ``stem -> stage_1 -> ... -> stage_n -> pool -> classifier``.

Each stage is ``depth`` blocks of one registered block type (:data:`distill.nets.BLOCKS`); the first
block of every stage after the first halves the spatial size. Stage widths never decrease. The
network is :class:`distill.nets.StagedNet`; its feature taps (hint positions, proxies) are the stage
outputs.

Every fact about a block -- its module, its parameter and MAC formulas, its shortcut and whether
the expansion gene matters -- is read from its :class:`~distill.nets.Block` class; the graph encoder
below (one genome, readable; many genomes, vectorised) calls the same formulas on ints and on numpy
arrays.

Graph of the architecture (node order): ``input, stem, block_1 ... block_B, head, output``; edges
``flow`` along that chain and ``residual_identity`` / ``residual_projection`` from ``pred(b)`` to
``succ(b)`` for a block ``b`` with a shortcut. Spatial sizes are relative to the stem output and the
encoder assumes every first block of a later stage has stride 2 (``nets.py`` skips the halving once the
map is 1x1, which never happens for the registered spaces: at most 4 stages, inputs of 8x8 or more).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np
from torch import nn

from distill.families.base import (
    FAMILIES,
    ArchGraph,
    ArchGraphBatch,
    Genome,
    GraphLayout,
    Recipe,
    StudentFamily,
    check_choice,
    check_keys,
    ragged_arange,
)
from distill.nets import (
    BLOCKS,
    SHORTCUTS,
    STEM_KERNEL,
    StageGene,
    build_net,
    conv_bn_params,
    conv_macs,
    count_net_macs,
    count_net_params,
)

__all__ = ["BLOCK_TYPES", "StageGene", "StagedCNN", "StagedCNNSpace", "block_cost", "shortcut_of"]

# Registration order of the block types: the order of the gene's choices and of the graph's one-hot.
BLOCK_TYPES: tuple[str, ...] = tuple(BLOCKS.names())


@dataclass(frozen=True)
class StagedCNNSpace:
    """The staged CNN's gene choices. Tuples, so the space is hashable and immutable."""

    family: ClassVar[str] = "staged_cnn"

    min_stages: int = 2
    max_stages: int = 4
    stem_widths: tuple[int, ...] = (8, 16, 24)
    block_types: tuple[str, ...] = BLOCK_TYPES
    depths: tuple[int, ...] = (1, 2, 3)
    # Widths are small on purpose: students are meant to be much smaller than the teacher
    # (about 0.6k to 300k parameters; the zoo's teachers have 80k to 2M).
    widths: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64)
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[int, ...] = (1, 2, 4)  # only meaningful for blocks that use it (MBConv)
    se: tuple[bool, ...] = (False, True)

    def __post_init__(self) -> None:
        if not 1 <= self.min_stages <= self.max_stages:
            raise ValueError(f"min_stages must be in [1, max_stages]; got {self.min_stages}")
        bad = [v for v in self.block_types if v not in BLOCKS]
        if bad:
            raise ValueError(f"block_types must be drawn from {tuple(BLOCKS.names())}; got {bad}")

    @property
    def stage_choices(self) -> tuple[tuple[str, tuple], ...]:
        """(gene, choices) of one stage, in the order of :class:`StageGene`'s fields."""
        return (
            ("block", self.block_types),
            ("depth", self.depths),
            ("width", self.widths),
            ("kernel", self.kernels),
            ("expansion", self.expansions),
            ("se", self.se),
        )


def _uses_expansion(block: str) -> bool:
    # getattr: a genome is canonicalised (and hashed) before it is validated, unknown blocks included
    return block in BLOCKS and getattr(BLOCKS.get(block), "uses_expansion", False)


# ---------------------------------------------------------------------------------------------
# Costs for the graph: from the block declarations, on ints or arrays
# ---------------------------------------------------------------------------------------------
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
    """Parameters and MACs of blocks for the graph's features, from each block type's declarations.

    Args:
        block: index into :data:`BLOCK_TYPES`.
        cin, cout, kernel, expansion: the block's channels in and out, kernel and expansion.
        se, stride2: squeeze-and-excitation and stride-2 flags.
        downsample: halvings of the spatial size from the stem output to the block output.

    Returns:
        ``(params, macs)``: parameters exactly as ``count_params`` counts them (conv weights, BN affine,
        SE), and multiply-adds of the convolutions per pixel of the stem output. Squeeze-excitation runs
        on the pooled map (per image, not per pixel), so it is left out of the per-pixel MACs.
    """
    block, cin, cout, kernel, expansion, se, stride2, downsample = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.int64) for a in (block, cin, cout, kernel, expansion, se, stride2, downsample))
    )
    stride = 1 + stride2
    in_pixels = np.where(stride2 == 1, 4, 1)  # per output pixel: a stride-2 block reads 4 input pixels
    params = np.zeros(block.shape, dtype=np.int64)
    macs = np.zeros(block.shape, dtype=np.int64)
    for b, name in enumerate(BLOCK_TYPES):
        m = block == b
        if m.any():
            cls = BLOCKS.get(name)
            args = (cin[m], cout[m], stride[m], kernel[m], expansion[m])
            params[m] = cls.params(*args, se[m])
            macs[m] = cls.macs(*args, 0, in_pixels[m], 1)
    return params, macs * 0.25**downsample


def shortcut_of(block: np.ndarray, cin: np.ndarray, cout: np.ndarray, stride2: np.ndarray) -> np.ndarray:
    """Index into :data:`~distill.nets.SHORTCUTS` of each block's shortcut, from the block declarations."""
    block, cin, cout, stride2 = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.int64) for a in (block, cin, cout, stride2))
    )
    out = np.zeros(block.shape, dtype=np.int64)
    for b, name in enumerate(BLOCK_TYPES):
        m = block == b
        if m.any():
            out[m] = BLOCKS.get(name).shortcut_kind(cin[m], cout[m], 1 + stride2[m])
    return out


def _stem_cost(stem_width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stem's parameters and MACs per output pixel, for one input channel (the graph knows no task)."""
    return conv_bn_params(1, stem_width, STEM_KERNEL), conv_macs(1, stem_width, STEM_KERNEL, 1)


def _log2c(c: np.ndarray) -> np.ndarray:
    return np.log2(c) / 8.0


def _log10n(n: np.ndarray) -> np.ndarray:
    return np.log10(1.0 + n) / 6.0


_BLOCK_ID = {b: i for i, b in enumerate(BLOCK_TYPES)}
_USES_EXPANSION = np.array([_uses_expansion(b) for b in BLOCK_TYPES])
_FIXED_NODES = 4  # input, stem, head, output


class StagedCNN(StudentFamily):
    """The staged CNN family (see the module docstring)."""

    name = "staged_cnn"
    space_type = StagedCNNSpace
    stage_type = StageGene
    genome_keys = ("stem_width", "stages")
    required_keys = ("stem_width", "stages")
    node_types = ("input", "stem", "block", "head", "output")
    edge_kinds = ("flow", "residual_identity", "residual_projection")
    spaces = {
        "default": StagedCNNSpace(),
        # A DaSS-style ResNet space: basic residual blocks only, 4 stages, 3x3 kernels.
        "resnet": StagedCNNSpace(
            min_stages=4,
            max_stages=4,
            block_types=("basic",),
            depths=(1, 2, 3),
            widths=(8, 16, 24, 32, 48, 64),
            kernels=(3,),
            expansions=(1,),
            se=(False,),
        ),
        # A MobileNet-style space: inverted residuals with expansion, larger kernels, optional SE.
        "mobilenet": StagedCNNSpace(
            min_stages=3,
            max_stages=4,
            block_types=("mbconv", "dwsep"),
            depths=(1, 2, 3),
            widths=(8, 12, 16, 24, 32, 48, 64),
            kernels=(3, 5, 7),
            expansions=(1, 3, 6),
            se=(False, True),
        ),
        # The default space with wider stems and stages (up to 96 channels): students of about 3k to 2M
        # parameters, the range 32x32 colour inputs call for (meta-dataset v2 draws its 32x32 students here).
        "wide": StagedCNNSpace(
            stem_widths=(8, 16, 24, 32),
            widths=(8, 12, 16, 24, 32, 48, 64, 96),
        ),
    }
    graph_features = (
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
    )

    # ---- genes ----
    def sample(
        self, space: StagedCNNSpace, rng: np.random.Generator, sample_recipe: Callable[[], Recipe]
    ) -> tuple[dict[str, Any], Recipe]:
        # The draw order (stages, then the recipe, then the stem) is v1's: a seed gives the same genomes.
        n = int(rng.integers(space.min_stages, space.max_stages + 1))
        widths = sorted(int(rng.choice(space.widths)) for _ in range(n))
        stages = []
        for w in widths:
            block = str(rng.choice(space.block_types))
            stages.append(
                StageGene(
                    block=block,
                    depth=int(rng.choice(space.depths)),
                    width=w,
                    kernel=int(rng.choice(space.kernels)),
                    expansion=int(rng.choice(space.expansions)),
                    se=bool(rng.choice(space.se)),
                )
            )
        recipe = sample_recipe()
        return {"stem_width": int(rng.choice(space.stem_widths)), "stages": tuple(stages)}, recipe

    def validate(self, space: StagedCNNSpace, genome: Genome) -> None:
        check_choice("'stem_width'", genome.stem_width, space.stem_widths)
        stages = genome.stages
        if not space.min_stages <= len(stages) <= space.max_stages:
            raise ValueError(
                f"the number of stages must be in [{space.min_stages}, {space.max_stages}]; got {len(stages)}"
            )
        for i, stage in enumerate(stages):
            for gene, choices in space.stage_choices:
                check_choice(f"stage {i} '{gene}'", getattr(stage, gene), choices)
            if i and stage.width < stages[i - 1].width:
                raise ValueError(
                    f"stage widths must not decrease; stage {i} has width {stage.width} after {stages[i - 1].width}"
                )

    def canonical(self, genome: Genome) -> dict[str, Any]:
        stages = tuple(s if _uses_expansion(s.block) else replace(s, expansion=1) for s in genome.stages)
        return {"stem_width": genome.stem_width, "stages": stages}

    def repaired(self, genome: Genome) -> dict[str, Any]:
        widths = sorted(s.width for s in genome.stages)
        return {
            "stem_width": genome.stem_width,
            "stages": tuple(replace(s, width=w) for s, w in zip(genome.stages, widths)),
        }

    def to_dict(self, genome: Genome) -> dict[str, Any]:
        return {"stem_width": genome.stem_width, "stages": [asdict(s) for s in genome.stages]}

    def from_dict(self, d: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(d["stages"], list) or not d["stages"]:
            raise ValueError("the genome's 'stages' must be a non-empty list")
        stages = []
        for i, s in enumerate(d["stages"]):
            if not isinstance(s, dict):
                raise ValueError(f"stage {i} must be a JSON object; got {s!r}")
            check_keys(f"stage {i}", s, {f.name for f in fields(StageGene)}, required={"block", "depth", "width"})
            stages.append(StageGene(**s))
        return {"stem_width": d["stem_width"], "stages": tuple(stages)}

    def vector_choices(self, space: StagedCNNSpace) -> list[tuple[str, tuple]]:
        out: list[tuple[str, tuple]] = [
            ("n_stages", tuple(range(space.min_stages, space.max_stages + 1))),
            ("stem_width", space.stem_widths),
        ]
        for i in range(space.max_stages):
            out += [(f"stage{i}.{g}", c) for g, c in space.stage_choices]
        return out

    def to_vector(self, space: StagedCNNSpace, genome: Genome) -> list[int]:
        """Inactive stages (beyond the genome's) use index 0."""
        v = [len(genome.stages) - space.min_stages, space.stem_widths.index(genome.stem_width)]
        for i in range(space.max_stages):
            for gene, choices in space.stage_choices:
                v.append(choices.index(getattr(genome.stages[i], gene)) if i < len(genome.stages) else 0)
        return v

    def from_vector(self, space: StagedCNNSpace, values: Sequence[Any]) -> dict[str, Any]:
        n, stem = values[0], values[1]
        k = len(space.stage_choices)
        stages = tuple(StageGene(*values[2 + i * k : 2 + (i + 1) * k]) for i in range(n))
        return {"stem_width": int(stem), "stages": stages}

    def prepare_mutation(
        self, space: StagedCNNSpace, genome: Genome, vector: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        # Fill inactive stages from random stages so that growing a stage gives a sensible one.
        k = len(space.stage_choices)
        for i in range(len(genome.stages), space.max_stages):
            src = int(rng.integers(len(genome.stages)))
            vector[2 + i * k : 2 + (i + 1) * k] = vector[2 + src * k : 2 + (src + 1) * k]
        return vector

    def smallest(self, space: StagedCNNSpace) -> list[dict[str, Any]]:
        """The fewest stages, the smallest stem, width, depth, kernel and expansion, and one block type and
        squeeze-excitation choice for all stages.

        With every stage at the same (smallest) width, a stage's cost depends on its own block only, so the
        cheapest block is the same in every stage and one of these candidates is the cheapest student.
        """
        smallest = (min(space.depths), min(space.widths), min(space.kernels), min(space.expansions))
        return [
            {"stem_width": min(space.stem_widths), "stages": (StageGene(block, *smallest, se),) * space.min_stages}
            for block, se in itertools.product(space.block_types, space.se)
        ]

    # ---- network ----
    def build(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int, seed: int | None) -> nn.Module:
        return build_net(genome.stem_width, genome.stages, in_shape, num_classes, seed)

    def count_params(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        return count_net_params(genome.stem_width, genome.stages, in_shape, num_classes)

    def count_macs(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        return count_net_macs(genome.stem_width, genome.stages, in_shape, num_classes)

    def tap_channels(self, genome: Genome) -> list[int]:
        return [s.width for s in genome.stages]

    # ---- predictor graph: one genome, readable ----
    def graph(self, genome: Genome, layout: GraphLayout) -> ArchGraph:
        rows: list[np.ndarray] = []
        edges: list[tuple[int, int, int]] = []

        def add_node(kind: str, **features: float) -> int:
            rows.append(layout.node_row(kind, **features))
            return len(rows) - 1

        g = genome  # canonical: the caller canonicalises (genes without effect are not in the graph)
        n_stages = len(g.stages)
        chain_len = sum(s.depth for s in g.stages) + 4  # input, stem, blocks, head, output

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
        edges.append((prev - 1, prev, layout.edge("flow")))
        cin, t, taps, shortcuts = g.stem_width, 2, [], {}
        for i, stage in enumerate(g.stages):
            b = _BLOCK_ID[stage.block]
            for j in range(stage.depth):
                stride2 = i > 0 and j == 0
                params, macs = block_cost(b, cin, stage.width, stage.kernel, stage.expansion, stage.se, stride2, i)
                shortcut = SHORTCUTS[int(shortcut_of(b, cin, stage.width, stride2))]
                node = add_node(
                    "block",
                    **{f"block:{stage.block}": 1.0, f"shortcut:{shortcut}": 1.0},
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
                edges.append((prev, node, layout.edge("flow")))
                shortcuts[node] = shortcut
                total_params, total_macs = total_params + params, total_macs + macs
                prev, cin, t = node, stage.width, t + 1
            taps.append(prev)  # the stage's output is its last block's
        head = add_node(
            "head",
            log2_c_in=_log2c(cin),
            stage_pos=1.0,
            chain_pos=chain_pos(t),
            downsample=(n_stages - 1) / 4,
            log10_params=_log10n(np.int64(cin + 1)),  # the classifier's parameters per class
        )
        edges.append((prev, head, layout.edge("flow")))
        output = add_node(
            "output", chain_pos=chain_pos(t + 1), log10_params=_log10n(total_params), log10_macs=_log10n(total_macs)
        )
        edges.append((head, output, layout.edge("flow")))
        for node, shortcut in shortcuts.items():  # the skip carries pred(b)'s output to succ(b)
            if shortcut != "none":
                edges.append((node - 1, node + 1, layout.edge(f"residual_{shortcut}")))
        return ArchGraph(x=np.stack(rows), edges=edges, output=output, taps=taps)

    # ---- predictor graph: many genomes, vectorised ----
    def graph_batch(self, genomes: Sequence[Genome], layout: GraphLayout) -> ArchGraphBatch:
        st, stem, n_stages = _gene_tables(genomes)
        n_graphs = len(stem)

        # ---- stages -> blocks ----
        stage_graph = np.repeat(np.arange(n_graphs), n_stages)
        stage_idx = ragged_arange(n_stages)
        block, depth, width, kernel, expansion, se = st.T
        expansion = np.where(_USES_EXPANSION[block], expansion, 1)  # canonical(): expansion matters only there
        prev_width = np.where(stage_idx == 0, stem[stage_graph], np.roll(width, 1))
        b_stage = np.repeat(np.arange(len(st)), depth)  # stage row of every block
        b_j = ragged_arange(depth)  # block index inside its stage
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
        counts = n_blocks + _FIXED_NODES
        off = np.cumsum(counts) - counts
        b_local = ragged_arange(n_blocks)  # block index inside its genome
        b_node = off[b_graph] + 2 + b_local
        input_node, stem_node = off, off + 1
        head_node = off + 2 + n_blocks
        output_node = head_node + 1
        chain_den = (n_blocks + 3).astype(np.float64)  # chain length - 1

        x = np.zeros((int(counts.sum()), layout.num_features), dtype=np.float32)
        c = layout.col
        x[input_node, c("node:input")] = 1.0
        # input's chain_pos is 0
        stem_params, stem_macs = _stem_cost(stem)
        x[stem_node, c("node:stem")] = 1.0
        x[stem_node, c("log2_c_out")] = _log2c(stem)
        x[stem_node, c("kernel")] = STEM_KERNEL / 7
        x[stem_node, c("chain_pos")] = 1 / chain_den
        x[stem_node, c("log10_params")] = _log10n(stem_params)
        x[stem_node, c("log10_macs")] = _log10n(stem_macs)

        x[b_node, c("node:block")] = 1.0
        x[b_node, c("block:" + BLOCK_TYPES[0]) + b_type] = 1.0
        x[b_node, c("shortcut:none") + b_shortcut] = 1.0
        x[b_node, c("log2_c_in")] = _log2c(b_cin)
        x[b_node, c("log2_c_out")] = _log2c(b_cout)
        x[b_node, c("kernel")] = kernel[b_stage] / 7
        x[b_node, c("expansion")] = expansion[b_stage] / 6
        x[b_node, c("se")] = se[b_stage]
        x[b_node, c("stride2")] = b_stride2
        x[b_node, c("stage_pos")] = b_i / np.maximum(n_stages[b_graph] - 1, 1)
        x[b_node, c("chain_pos")] = (2 + b_local) / chain_den[b_graph]
        x[b_node, c("downsample")] = b_i / 4
        x[b_node, c("log10_params")] = _log10n(b_params)
        x[b_node, c("log10_macs")] = _log10n(b_macs)

        last_cin = b_cout[np.cumsum(n_blocks) - 1]
        x[head_node, c("node:head")] = 1.0
        x[head_node, c("log2_c_in")] = _log2c(last_cin)
        x[head_node, c("stage_pos")] = 1.0
        x[head_node, c("chain_pos")] = (2 + n_blocks) / chain_den
        x[head_node, c("downsample")] = (n_stages - 1) / 4
        x[head_node, c("log10_params")] = _log10n(last_cin + 1)

        total_params = stem_params + np.bincount(b_graph, weights=b_params, minlength=n_graphs).astype(np.int64)
        total_macs = stem_macs + np.bincount(b_graph, weights=b_macs, minlength=n_graphs)
        x[output_node, c("node:output")] = 1.0
        x[output_node, c("chain_pos")] = 1.0
        x[output_node, c("log10_params")] = _log10n(total_params)
        x[output_node, c("log10_macs")] = _log10n(total_macs)

        # ---- edges (local indices) ----
        n_chain_edges = n_blocks + 3
        chain_graph = np.repeat(np.arange(n_graphs), n_chain_edges)
        chain_src = ragged_arange(n_chain_edges)
        res = np.flatnonzero(b_shortcut > 0)
        res_node = 2 + b_local[res]
        # taps: the last block of every stage; blocks up to each stage's end, counted inside its genome
        stage_end = np.cumsum(depth) - (np.cumsum(n_blocks) - n_blocks)[stage_graph]
        return ArchGraphBatch(
            x=x,
            counts=counts,
            edge_graph=np.concatenate([chain_graph, b_graph[res]]),
            edge_src=np.concatenate([chain_src, res_node - 1]),
            edge_dst=np.concatenate([chain_src + 1, res_node + 1]),
            edge_kind=np.concatenate(
                [np.full(len(chain_src), layout.edge("flow")), layout.edge("residual_identity") - 1 + b_shortcut[res]]
            ),
            output=3 + n_blocks,
            tap_ptr=np.concatenate([[0], np.cumsum(n_stages)]),
            tap_node=1 + stage_end,
        )


def _gene_tables(genomes: Sequence[Genome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stage genes as an integer table, stem widths and stage counts; the only per-genome Python work."""
    stages: list[tuple] = []
    stem: list[int] = []
    n_stages: list[int] = []
    try:
        for g in genomes:
            stem.append(g.stem_width)
            n_stages.append(len(g.stages))
            for s in g.stages:
                stages.append((_BLOCK_ID[s.block], s.depth, s.width, s.kernel, s.expansion, s.se))
    except KeyError as e:
        raise ValueError(f"genome {len(stem) - 1} has an unknown gene value {e.args[0]!r}") from None
    return (
        np.array(stages, dtype=np.int64).reshape(-1, 6),
        np.array(stem, dtype=np.int64),
        np.array(n_stages, dtype=np.int64),
    )


FAMILIES.add(StagedCNN.name, StagedCNN())

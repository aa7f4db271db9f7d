"""The vision-transformer student family: ``[conv stem] -> stage_1 -> ... -> stage_n -> pool -> classifier``.

The network is :class:`distill.vit.ViTNet`. A genome's ``stem_width`` is an optional 3x3 conv stem (0: none)
and its ``stages`` are :class:`~distill.vit.ViTStageGene` (patch, depth, width, heads, MLP ratio): stage 0
patchifies the image by ``patch`` (2 or 4 pixels), every later stage keeps the tokens (``patch = 1``) or
merges 2x2 of them (``patch = 2``), so the family is hierarchical like the staged CNN and its feature taps
are the stage outputs (hint positions early/mid/late read them unchanged). Per-stage genes (not per layer):
a stage is the unit the hints, the graph's ``stage_pos`` and the staged CNN already use, and it keeps the
vector short (5 genes a stage).

Constraints: stage widths never decrease (as in the staged CNN) and every stage's width is divisible by its
heads. The sampler draws heads among the divisors of the stage's width; ``repaired`` sorts the widths and
sets each stage's heads to ``gcd(width, heads)`` (a space's choices are closed under it, checked when the
space is made). A grid never shrinks below 1x1: every stage pads its grid up to a multiple of its patch
(``ceil(size / patch)`` tokens a side), so every genome builds on every input size, 1x1 included.

Graph of the architecture (node order): ``input, [stem], per stage: embed, (attention, mlp) x depth, head,
output``; the embed node is ``patch_embed`` in stage 0 and ``merge`` after. Edges ``flow`` along the chain
and ``residual_identity`` from ``pred(n)`` to ``succ(n)`` for every attention and MLP node (each half of a
block is a residual branch). The graph knows no task, so its costs are those of a :data:`REF_SHAPE` input
(one channel, 16x16): parameters exactly (position embeddings of that grid included), and multiply-adds
per input pixel -- the attention matmuls included, as ``count_flops`` counts them -- comparable with the
staged CNN's MACs per stem-output pixel (the same pixels below 24x24 inputs).
"""

from __future__ import annotations

import itertools
import math
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
from distill.losses import TRANSFORMER_RECIPE
from distill.vit import (
    STEM_KERNEL,
    ViTStageGene,
    attention_linear_macs,
    attention_matmul_macs,
    attention_params,
    build_vit,
    count_vit_macs,
    count_vit_params,
    embed_macs,
    embed_params,
    mlp_macs,
    mlp_params,
    plan_stages,
    stem_params,
)

__all__ = ["REF_SHAPE", "ViTFamily", "ViTSpace", "ViTStageGene"]

# The input the graph's costs are computed for (the graph knows no task).
REF_SHAPE = (1, 16, 16)
_REF_SIDE = REF_SHAPE[1]
_REF_PIXELS = REF_SHAPE[1] * REF_SHAPE[2]


@dataclass(frozen=True)
class ViTSpace:
    """The vision transformer's gene choices. Tuples, so the space is hashable and immutable."""

    family: ClassVar[str] = "vit"
    # the recipe choices its spaces offer: the first ones plus self-attention relations (distill.genome.space_of)
    recipe_space: ClassVar[dict[str, tuple[str, ...]]] = TRANSFORMER_RECIPE

    min_stages: int = 1
    max_stages: int = 3
    stem_widths: tuple[int, ...] = (0, 8, 16)  # 0: no conv stem, stage 0 patchifies the pixels
    patches: tuple[int, ...] = (2, 4)  # stage 0's patch: 8..16 px inputs give 2x2 to 8x8 tokens
    merges: tuple[int, ...] = (1, 2)  # a later stage's patch: keep the tokens or merge 2x2 of them
    depths: tuple[int, ...] = (1, 2, 3)
    # Students much smaller than the teachers, as in the staged CNN's space (sizes: see ``ViTFamily.spaces``).
    widths: tuple[int, ...] = (16, 24, 32, 48, 64)
    heads: tuple[int, ...] = (1, 2, 3, 4)
    mlp_ratios: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        if not 1 <= self.min_stages <= self.max_stages:
            raise ValueError(f"min_stages must be in [1, max_stages]; got {self.min_stages}")
        for name in ("stem_widths", "patches", "merges", "depths", "widths", "heads", "mlp_ratios"):
            values = getattr(self, name)
            low = 0 if name == "stem_widths" else 1
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values):
                raise ValueError(f"{name} must be a non-empty tuple of ints >= {low}; got {values!r}")
        # repaired() sets a stage's heads to gcd(width, heads): that must be a choice too
        missing = sorted({math.gcd(w, h) for w in self.widths for h in self.heads} - set(self.heads))
        if missing:
            raise ValueError(f"heads must hold gcd(width, heads) of every width and heads choice; missing {missing}")

    def stage_choices(self, index: int) -> tuple[tuple[str, tuple], ...]:
        """(gene, choices) of stage ``index``, in the order of :class:`~distill.vit.ViTStageGene`'s fields."""
        return (
            ("patch", self.patches if index == 0 else self.merges),
            ("depth", self.depths),
            ("width", self.widths),
            ("heads", self.heads),
            ("mlp_ratio", self.mlp_ratios),
        )


_GENES = tuple(f.name for f in fields(ViTStageGene))
_K = len(_GENES)  # vector positions per stage


def _log2c(c: np.ndarray) -> np.ndarray:
    return np.log2(c) / 8.0


def _log10n(n: np.ndarray) -> np.ndarray:
    return np.log10(1.0 + n) / 6.0


class ViTFamily(StudentFamily):
    """The vision-transformer family (see the module docstring)."""

    name = "vit"
    space_type = ViTSpace
    stage_type = ViTStageGene
    genome_keys = ("stem_width", "stages")
    required_keys = ("stem_width", "stages")
    node_types = ("input", "stem", "patch_embed", "merge", "attention", "mlp", "head", "output")
    edge_kinds = ("flow", "residual_identity")
    spaces = {
        # 8..16 px tasks (digits, MNIST resized): about 2.4k to 360k parameters at 16x16 (median 54k).
        "vit": ViTSpace(),
        # 32 px tasks (colour): wider stems and tokens, at least two stages; about 17k to 670k parameters at
        # 3x32x32 (median 150k; 95% below 410k).
        "vit-wide": ViTSpace(
            min_stages=2,
            max_stages=3,
            stem_widths=(0, 16, 24),
            patches=(2, 4),
            merges=(1, 2),
            depths=(1, 2, 3),
            widths=(24, 32, 48, 64, 96),
            heads=(1, 2, 3, 4),
            mlp_ratios=(1, 2, 4),
        ),
    }
    # Features shared with the staged CNN keep its names and scales (a width is a width); "heads" is the
    # family's own. Costs are those of a REF_SHAPE input (see the module docstring).
    graph_features = (
        "log2_c_in",  # log2(channels) / 8
        "log2_c_out",
        "kernel",  # the conv kernel / 7: the stem's 3, a patch embedding's patch
        "expansion",  # MLP hidden units per channel / 6 (as an MBConv's expansion)
        "stride2",  # a merge of 2x2 tokens
        "heads",  # attention heads / 8
        "stage_pos",  # stage index / (n_stages - 1)
        "chain_pos",  # position along input -> ... -> output, in [0, 1]
        "downsample",  # halvings of the token grid since the input / 4
        "log10_params",  # log10(1 + parameters) / 6; the output node holds the total without the classifier
        "log10_macs",  # log10(1 + MACs per input pixel) / 6, attention matmuls included; output node: the total
    )

    # ---- genes ----
    def sample(
        self, space: ViTSpace, rng: np.random.Generator, sample_recipe: Callable[[], Recipe]
    ) -> tuple[dict[str, Any], Recipe]:
        n = int(rng.integers(space.min_stages, space.max_stages + 1))
        widths = sorted(int(rng.choice(space.widths)) for _ in range(n))
        stages = []
        for i, w in enumerate(widths):
            heads = [h for h in space.heads if w % h == 0]
            stages.append(
                ViTStageGene(
                    patch=int(rng.choice(space.patches if i == 0 else space.merges)),
                    depth=int(rng.choice(space.depths)),
                    width=w,
                    heads=int(rng.choice(heads)),
                    mlp_ratio=int(rng.choice(space.mlp_ratios)),
                )
            )
        recipe = sample_recipe()
        return {"stem_width": int(rng.choice(space.stem_widths)), "stages": tuple(stages)}, recipe

    def validate(self, space: ViTSpace, genome: Genome) -> None:
        check_choice("'stem_width'", genome.stem_width, space.stem_widths)
        stages = genome.stages
        if not space.min_stages <= len(stages) <= space.max_stages:
            raise ValueError(
                f"the number of stages must be in [{space.min_stages}, {space.max_stages}]; got {len(stages)}"
            )
        for i, stage in enumerate(stages):
            if not isinstance(stage, ViTStageGene):
                raise ValueError(f"stage {i} must be a vision-transformer stage gene; got {type(stage).__name__}")
            for gene, choices in space.stage_choices(i):
                check_choice(f"stage {i} '{gene}'", getattr(stage, gene), choices)
            if stage.width % stage.heads:
                raise ValueError(
                    f"stage {i}: the 'width' {stage.width} must be divisible by the 'heads' {stage.heads}; "
                    f"heads dividing it: {[h for h in space.heads if stage.width % h == 0]}"
                )
            if i and stage.width < stages[i - 1].width:
                raise ValueError(
                    f"stage widths must not decrease; stage {i} has width {stage.width} after {stages[i - 1].width}"
                )

    def canonical(self, genome: Genome) -> dict[str, Any]:
        return {"stem_width": genome.stem_width, "stages": tuple(genome.stages)}  # every gene has an effect

    def repaired(self, genome: Genome) -> dict[str, Any]:
        widths = sorted(s.width for s in genome.stages)
        stages = tuple(replace(s, width=w, heads=math.gcd(w, s.heads)) for s, w in zip(genome.stages, widths))
        return {"stem_width": genome.stem_width, "stages": stages}

    def to_dict(self, genome: Genome) -> dict[str, Any]:
        return {"stem_width": genome.stem_width, "stages": [asdict(s) for s in genome.stages]}

    def from_dict(self, d: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(d["stages"], list) or not d["stages"]:
            raise ValueError("the genome's 'stages' must be a non-empty list")
        stages = []
        for i, s in enumerate(d["stages"]):
            if not isinstance(s, dict):
                raise ValueError(f"stage {i} must be a JSON object; got {s!r}")
            check_keys(f"stage {i}", s, set(_GENES), required=set(_GENES))
            stages.append(ViTStageGene(**s))
        return {"stem_width": d["stem_width"], "stages": tuple(stages)}

    def vector_choices(self, space: ViTSpace) -> list[tuple[str, tuple]]:
        out: list[tuple[str, tuple]] = [
            ("n_stages", tuple(range(space.min_stages, space.max_stages + 1))),
            ("stem_width", space.stem_widths),
        ]
        for i in range(space.max_stages):
            out += [(f"stage{i}.{g}", c) for g, c in space.stage_choices(i)]
        return out

    def to_vector(self, space: ViTSpace, genome: Genome) -> list[int]:
        """Inactive stages (beyond the genome's) use index 0."""
        v = [len(genome.stages) - space.min_stages, space.stem_widths.index(genome.stem_width)]
        for i in range(space.max_stages):
            for gene, choices in space.stage_choices(i):
                v.append(choices.index(getattr(genome.stages[i], gene)) if i < len(genome.stages) else 0)
        return v

    def from_vector(self, space: ViTSpace, values: Sequence[Any]) -> dict[str, Any]:
        n, stem = values[0], values[1]
        stages = tuple(ViTStageGene(*(int(x) for x in values[2 + i * _K : 2 + (i + 1) * _K])) for i in range(n))
        return {"stem_width": int(stem), "stages": stages}

    def prepare_mutation(
        self, space: ViTSpace, genome: Genome, vector: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        # Fill inactive stages from random stages so that growing a stage gives a sensible one; stage 0's patch
        # index points into other choices than a later stage's, so a copy of it is clipped to the merges.
        for i in range(len(genome.stages), space.max_stages):
            src = int(rng.integers(len(genome.stages)))
            vector[2 + i * _K : 2 + (i + 1) * _K] = vector[2 + src * _K : 2 + (src + 1) * _K]
            vector[2 + i * _K] = min(int(vector[2 + i * _K]), len(space.merges) - 1)
        return vector

    def smallest(self, space: ViTSpace) -> list[dict[str, Any]]:
        """The fewest stages, no or the smallest stem, the smallest depth, width and MLP ratio, and every
        combination of patches.

        Heads change no parameter; a stage's patch changes its embedding and its position embedding in
        opposite directions depending on the input size, so every patch combination is a candidate.
        """
        width = min(space.widths)
        heads = min(h for h in space.heads if width % h == 0)
        patch_choices = [space.stage_choices(i)[0][1] for i in range(space.min_stages)]
        return [
            {
                "stem_width": min(space.stem_widths),
                "stages": tuple(
                    ViTStageGene(p, min(space.depths), width, heads, min(space.mlp_ratios)) for p in patches
                ),
            }
            for patches in itertools.product(*patch_choices)
        ]

    # ---- network ----
    def build(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int, seed: int | None) -> nn.Module:
        return build_vit(genome.stem_width, genome.stages, in_shape, num_classes, seed)

    def count_params(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        return count_vit_params(genome.stem_width, genome.stages, in_shape, num_classes)

    def count_macs(self, genome: Genome, in_shape: tuple[int, int, int], num_classes: int) -> int:
        return count_vit_macs(genome.stem_width, genome.stages, in_shape, num_classes)

    def tap_channels(self, genome: Genome) -> list[int]:
        return [s.width for s in genome.stages]

    # ---- predictor graph: one genome, readable ----
    def graph(self, genome: Genome, layout: GraphLayout) -> ArchGraph:
        rows: list[np.ndarray] = []
        edges: list[tuple[int, int, int]] = []

        def add_node(kind: str, **features: float) -> int:
            rows.append(layout.node_row(kind, **features))
            if len(rows) > 1:
                edges.append((len(rows) - 2, len(rows) - 1, layout.edge("flow")))
            return len(rows) - 1

        g = genome
        n_stages = len(g.stages)
        chain_len = 3 + (g.stem_width > 0) + sum(1 + 2 * s.depth for s in g.stages)  # input, [stem], stages, head, out

        def chain_pos(node: int) -> float:
            return node / (chain_len - 1)

        add_node("input")
        total_params, total_macs = 0, 0
        if g.stem_width:
            params, macs = stem_params(1, g.stem_width), g.stem_width * STEM_KERNEL * STEM_KERNEL  # per pixel
            add_node(
                "stem",
                log2_c_out=_log2c(g.stem_width),
                kernel=STEM_KERNEL / 7,
                chain_pos=chain_pos(1),
                log10_params=_log10n(params),
                log10_macs=_log10n(macs),
            )
            total_params, total_macs = params, macs
        taps, residual = [], []
        for plan in plan_stages(g.stem_width, g.stages, REF_SHAPE):
            i, s, tokens = plan.index, plan.gene, plan.tokens
            place = {
                "stage_pos": i / max(n_stages - 1, 1),
                "downsample": np.log2(_REF_SIDE / plan.grid[0]) / 4,
            }
            params = embed_params(s.patch, plan.cin, s.width, tokens)
            macs = embed_macs(s.patch, plan.cin, s.width, tokens) / _REF_PIXELS
            add_node(
                "patch_embed" if i == 0 else "merge",
                log2_c_in=_log2c(plan.cin),
                log2_c_out=_log2c(s.width),
                kernel=s.patch / 7,
                stride2=float(i > 0 and s.patch == 2),
                chain_pos=chain_pos(len(rows)),
                log10_params=_log10n(params),
                log10_macs=_log10n(macs),
                **place,
            )
            total_params, total_macs = total_params + params, total_macs + macs
            for j in range(s.depth):
                params = attention_params(s.width)
                macs = (attention_linear_macs(s.width, tokens) + attention_matmul_macs(s.width, tokens)) / _REF_PIXELS
                node = add_node(
                    "attention",
                    log2_c_in=_log2c(s.width),
                    log2_c_out=_log2c(s.width),
                    heads=s.heads / 8,
                    chain_pos=chain_pos(len(rows)),
                    log10_params=_log10n(params),
                    log10_macs=_log10n(macs),
                    **place,
                )
                residual.append(node)
                total_params, total_macs = total_params + params, total_macs + macs
                params = mlp_params(s.width, s.mlp_ratio) + (j == s.depth - 1) * 2 * s.width  # + the stage's norm
                macs = mlp_macs(s.width, s.mlp_ratio, tokens) / _REF_PIXELS
                node = add_node(
                    "mlp",
                    log2_c_in=_log2c(s.width),
                    log2_c_out=_log2c(s.width),
                    expansion=s.mlp_ratio / 6,
                    chain_pos=chain_pos(len(rows)),
                    log10_params=_log10n(params),
                    log10_macs=_log10n(macs),
                    **place,
                )
                residual.append(node)
                total_params, total_macs = total_params + params, total_macs + macs
            taps.append(len(rows) - 1)  # the stage's output is its last MLP's (after the stage's norm)
        last = g.stages[-1].width
        add_node(
            "head",
            log2_c_in=_log2c(last),
            stage_pos=1.0,
            chain_pos=chain_pos(len(rows)),
            downsample=place["downsample"],
            log10_params=_log10n(np.int64(last + 1)),  # the classifier's parameters per class
        )
        output = add_node("output", chain_pos=1.0, log10_params=_log10n(total_params), log10_macs=_log10n(total_macs))
        for node in residual:  # each half of a block adds its input to its output: pred(n) -> succ(n)
            edges.append((node - 1, node + 1, layout.edge("residual_identity")))
        return ArchGraph(x=np.stack(rows), edges=edges, output=output, taps=taps)

    # ---- predictor graph: many genomes, vectorised ----
    def graph_batch(self, genomes: Sequence[Genome], layout: GraphLayout) -> ArchGraphBatch:
        st, stem, n_stages = _gene_tables(genomes)
        n_graphs = len(stem)
        patch, depth, width, heads, mlp_ratio = st.T
        has_stem = (stem > 0).astype(np.int64)

        # ---- stages: input channels and token grid at REF_SHAPE (plan_stages, over all stages at once) ----
        stage_graph = np.repeat(np.arange(n_graphs), n_stages)
        stage_idx = ragged_arange(n_stages)
        first_cin = np.where(stem > 0, stem, REF_SHAPE[0])
        cin = np.where(stage_idx == 0, first_cin[stage_graph], np.roll(width, 1))
        grid = np.zeros(len(st), dtype=np.int64)
        for k in range(int(n_stages.max()) if n_graphs else 0):  # stages of one genome are consecutive rows
            r = np.flatnonzero(stage_idx == k)
            base = np.full(len(r), _REF_SIDE) if k == 0 else grid[r - 1]
            grid[r] = -(-base // patch[r])
        tokens = grid * grid
        s_pos = stage_idx / np.maximum(n_stages[stage_graph] - 1, 1)
        s_down = np.log2(_REF_SIDE / grid) / 4
        s_nodes = 1 + 2 * depth
        first_stage_node = 1 + has_stem  # local index of stage 0's embed node
        s_start = first_stage_node[stage_graph] + np.cumsum(s_nodes) - s_nodes  # local embed node, per graph below
        stage_off = np.cumsum(n_stages) - n_stages  # first stage row of every graph
        graph_nodes_before = (np.cumsum(s_nodes) - s_nodes)[stage_off]  # stage nodes of earlier graphs
        s_start = s_start - graph_nodes_before[stage_graph]

        n_stage_nodes = np.bincount(stage_graph, weights=s_nodes, minlength=n_graphs).astype(np.int64)
        counts = 3 + has_stem + n_stage_nodes
        off = np.cumsum(counts) - counts
        chain_den = (counts - 1).astype(np.float64)

        x = np.zeros((int(counts.sum()), layout.num_features), dtype=np.float32)
        c = layout.col
        x[off, c("node:input")] = 1.0

        # ---- stem ----
        sg = np.flatnonzero(stem > 0)
        sp, sm = stem_params(1, stem[sg]), stem[sg] * STEM_KERNEL * STEM_KERNEL
        sn = off[sg] + 1
        x[sn, c("node:stem")] = 1.0
        x[sn, c("log2_c_out")] = _log2c(stem[sg])
        x[sn, c("kernel")] = STEM_KERNEL / 7
        x[sn, c("chain_pos")] = 1 / chain_den[sg]
        x[sn, c("log10_params")] = _log10n(sp)
        x[sn, c("log10_macs")] = _log10n(sm)
        total_params = np.zeros(n_graphs, dtype=np.int64)
        total_macs = np.zeros(n_graphs, dtype=np.float64)
        total_params[sg] += sp
        total_macs[sg] += sm

        # ---- embed nodes ----
        e_node = off[stage_graph] + s_start
        e_params = embed_params(patch, cin, width, tokens)
        e_macs = embed_macs(patch, cin, width, tokens) / _REF_PIXELS
        x[e_node, c("node:patch_embed")] = stage_idx == 0
        x[e_node, c("node:merge")] = stage_idx > 0
        x[e_node, c("log2_c_in")] = _log2c(cin)
        x[e_node, c("log2_c_out")] = _log2c(width)
        x[e_node, c("kernel")] = patch / 7
        x[e_node, c("stride2")] = (stage_idx > 0) & (patch == 2)
        x[e_node, c("chain_pos")] = s_start / chain_den[stage_graph]
        x[e_node, c("log10_params")] = _log10n(e_params)
        x[e_node, c("log10_macs")] = _log10n(e_macs)

        # ---- blocks: an attention node and an MLP node each ----
        b_stage = np.repeat(np.arange(len(st)), depth)
        b_j = ragged_arange(depth)
        b_w, b_tokens = width[b_stage], tokens[b_stage]
        a_local = s_start[b_stage] + 1 + 2 * b_j
        a_node = off[stage_graph[b_stage]] + a_local
        m_node = a_node + 1
        a_params = attention_params(b_w)
        a_macs = (attention_linear_macs(b_w, b_tokens) + attention_matmul_macs(b_w, b_tokens)) / _REF_PIXELS
        m_params = mlp_params(b_w, mlp_ratio[b_stage]) + (b_j == depth[b_stage] - 1) * 2 * b_w
        m_macs = mlp_macs(b_w, mlp_ratio[b_stage], b_tokens) / _REF_PIXELS
        b_den = chain_den[stage_graph[b_stage]]
        for nodes, kind, local in ((a_node, "attention", a_local), (m_node, "mlp", a_local + 1)):
            x[nodes, c(f"node:{kind}")] = 1.0
            x[nodes, c("log2_c_in")] = _log2c(b_w)
            x[nodes, c("log2_c_out")] = _log2c(b_w)
            x[nodes, c("chain_pos")] = local / b_den
        x[a_node, c("heads")] = heads[b_stage] / 8
        x[m_node, c("expansion")] = mlp_ratio[b_stage] / 6
        x[a_node, c("log10_params")] = _log10n(a_params)
        x[a_node, c("log10_macs")] = _log10n(a_macs)
        x[m_node, c("log10_params")] = _log10n(m_params)
        x[m_node, c("log10_macs")] = _log10n(m_macs)
        for name, values in (("stage_pos", s_pos), ("downsample", s_down)):
            x[e_node, c(name)] = values
            x[a_node, c(name)] = values[b_stage]
            x[m_node, c(name)] = values[b_stage]

        b_graph = stage_graph[b_stage]
        total_params += np.bincount(stage_graph, weights=e_params, minlength=n_graphs).astype(np.int64)
        total_params += np.bincount(b_graph, weights=a_params + m_params, minlength=n_graphs).astype(np.int64)
        total_macs += np.bincount(stage_graph, weights=e_macs, minlength=n_graphs)
        total_macs += np.bincount(b_graph, weights=a_macs + m_macs, minlength=n_graphs)

        # ---- head and output ----
        last_stage = stage_off + n_stages - 1
        head_node, output_node = off + counts - 2, off + counts - 1
        x[head_node, c("node:head")] = 1.0
        x[head_node, c("log2_c_in")] = _log2c(width[last_stage])
        x[head_node, c("stage_pos")] = 1.0
        x[head_node, c("chain_pos")] = (counts - 2) / chain_den
        x[head_node, c("downsample")] = s_down[last_stage]
        x[head_node, c("log10_params")] = _log10n(width[last_stage] + 1)
        x[output_node, c("node:output")] = 1.0
        x[output_node, c("chain_pos")] = 1.0
        x[output_node, c("log10_params")] = _log10n(total_params)
        x[output_node, c("log10_macs")] = _log10n(total_macs)

        # ---- edges (local indices): the chain, and a residual around every attention and MLP node ----
        chain_graph = np.repeat(np.arange(n_graphs), counts - 1)
        chain_src = ragged_arange(counts - 1)
        res_graph = np.repeat(b_graph, 2)
        res_node = np.stack([a_local, a_local + 1], axis=1).reshape(-1)
        return ArchGraphBatch(
            x=x,
            counts=counts,
            edge_graph=np.concatenate([chain_graph, res_graph]),
            edge_src=np.concatenate([chain_src, res_node - 1]),
            edge_dst=np.concatenate([chain_src + 1, res_node + 1]),
            edge_kind=np.concatenate(
                [np.full(len(chain_src), layout.edge("flow")), np.full(len(res_node), layout.edge("residual_identity"))]
            ),
            output=counts - 1,
            tap_ptr=np.concatenate([[0], np.cumsum(n_stages)]),
            tap_node=s_start + 2 * depth,
        )


def _gene_tables(genomes: Sequence[Genome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stage genes as an integer table, stem widths and stage counts; the only per-genome Python work."""
    stages: list[tuple[int, ...]] = []
    stem: list[int] = []
    n_stages: list[int] = []
    try:
        for g in genomes:
            stem.append(int(g.stem_width))
            n_stages.append(len(g.stages))
            for s in g.stages:
                stages.append((s.patch, s.depth, s.width, s.heads, s.mlp_ratio))
    except AttributeError as e:
        raise ValueError(f"genome {len(stem) - 1} is not a vision-transformer genome: {e}") from None
    return (
        np.array(stages, dtype=np.int64).reshape(-1, _K),
        np.array(stem, dtype=np.int64),
        np.array(n_stages, dtype=np.int64),
    )


FAMILIES.add(ViTFamily.name, ViTFamily())

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch

from distill.cost import count_params
from distill.genome import (
    BLOCK_TYPES,
    HINT_DEPTH,
    HINT_DISTANCES,
    HINT_POSITIONS,
    HINT_TRANSFORMS,
    LOGIT_LOSSES,
    SPACES,
    Genome,
    Recipe,
    StageGene,
    get_space,
)
from distill.nets import BasicBlock, MBConv, build_student
from predictor.graph import (
    EDGE_KINDS,
    FEATURE_NAMES,
    LAYOUT,
    NODE_TYPES,
    NUM_EDGE_TYPES,
    NUM_NODE_FEATURES,
    _encode_arrays,
    block_cost,
    encode_batch,
    genome_to_graph,
    select_graphs,
)
from predictor.layout import checkpoint_layout

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_genomes.npz"
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "predictor_v1.pt"
K = len(EDGE_KINDS)
CNN_SPACES = [s for s in SPACES.names() if get_space(s).arch.family == "staged_cnn"]  # the pinned, v1 spaces


def _sample(space: str, n: int, seed: int = 0, **kw) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng, **kw) for _ in range(n)]


def _extreme(space: str, largest: bool, recipe: Recipe | None = None) -> Genome:
    sp = get_space(space)
    pick = max if largest else min
    n = sp.max_stages if largest else sp.min_stages
    stage = StageGene(
        block=sp.block_types[-1 if largest else 0],
        depth=pick(sp.depths),
        width=pick(sp.widths),
        kernel=pick(sp.kernels),
        expansion=pick(sp.expansions),
        se=pick(sp.se),
    )
    if recipe is None:
        recipe = Recipe("kl", 8.0, 1.0, 4.0, "late", "relation", "cosine", 4.0) if largest else Recipe.plain()
    return Genome(pick(sp.stem_widths), (stage,) * n, recipe, space).validate()


def _node_types(data) -> list[str]:
    onehot = data.x[:, : len(NODE_TYPES)]
    assert torch.equal(onehot.sum(1), torch.ones(data.num_nodes)), "exactly one node type per node"
    return [NODE_TYPES[i] for i in onehot.argmax(1).tolist()]


def _edges(data) -> set[tuple[int, int, int]]:
    return set(zip(data.edge_index[0].tolist(), data.edge_index[1].tolist(), data.edge_type.tolist()))


def _check_graph(data, genome: Genome) -> None:
    """Invariants every student graph of every family must satisfy, beyond what ``Data.validate`` checks."""
    assert data.validate()
    types = _node_types(data)
    has_hint = genome.recipe.has_hint
    assert types[-1 - has_hint :] == ["logit_kd"] + ["hint"] * has_hint
    assert data.x.shape[1] == NUM_NODE_FEATURES
    assert data.x.dtype == torch.float32 and torch.isfinite(data.x).all()
    src, dst = data.edge_index
    assert data.edge_type.shape == (data.edge_index.shape[1],)
    assert bool(((data.edge_type >= 0) & (data.edge_type < NUM_EDGE_TYPES)).all())
    assert bool((src != dst).all()), "no self loops"
    edges = _edges(data)
    assert len({(s, d) for s, d, _ in edges}) == len(edges) == data.edge_index.shape[1], "pairs are unique"
    # every forward edge has its reverse twin, and nothing else is there
    forward = {(s, d, t) for s, d, t in edges if t < K}
    assert edges == forward | {(d, s, t + K) for s, d, t in forward}
    # sorted by (target, source)
    key = (dst * data.num_nodes + src).tolist()
    assert key == sorted(key)
    # forward edges point forward (a DAG), recipe nodes only send
    recipe_nodes = {i for i, t in enumerate(types) if t in ("logit_kd", "hint")}
    for s, d, _ in forward:
        assert d not in recipe_nodes
        assert s < d or s in recipe_nodes


def _check_structure(data, genome: Genome) -> None:
    """:func:`_check_graph`, and the staged CNN's nodes and chain."""
    _check_graph(data, genome)
    n_blocks = sum(s.depth for s in genome.stages)
    has_hint = genome.recipe.has_hint
    types = _node_types(data)
    assert types == ["input", "stem"] + ["block"] * n_blocks + ["head", "output", "logit_kd"] + ["hint"] * has_hint
    # the data flow is the chain input -> stem -> blocks -> head -> output
    flow = sorted((s, d) for s, d, t in _edges(data) if t == EDGE_KINDS.index("flow"))
    assert flow == [(i, i + 1) for i in range(n_blocks + 3)]


def test_feature_layout_is_fixed_and_named():
    assert NUM_NODE_FEATURES == len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    for prefix, names in (
        ("node", NODE_TYPES),
        ("block", BLOCK_TYPES),
        ("logit_loss", LOGIT_LOSSES),
        ("hint_transform", HINT_TRANSFORMS),
        ("hint_distance", HINT_DISTANCES),
    ):
        cols = [COL[f"{prefix}:{n}"] for n in names]
        assert cols == list(range(cols[0], cols[0] + len(names))), f"{prefix} one-hot is contiguous"
    assert NUM_EDGE_TYPES == 2 * len(EDGE_KINDS)


@pytest.mark.parametrize("space", SPACES.names())  # every family's
def test_samples_validate_and_batch_equals_single(space):
    genomes = _sample(space, 200) + _sample(space, 50, seed=1, distill=False) + _sample(space, 50, seed=2, distill=True)
    batch = encode_batch(genomes)
    assert batch.validate() and batch.num_graphs == len(genomes)
    assert batch.x.shape[1] == NUM_NODE_FEATURES
    for i, g in enumerate(genomes):
        single = genome_to_graph(g)
        (_check_structure if space in CNN_SPACES else _check_graph)(single, g)
        example = batch.get_example(i)
        assert torch.equal(single.x, example.x), f"genome {i}: node features differ"
        assert torch.equal(single.edge_index, example.edge_index), f"genome {i}: edges differ"
        assert torch.equal(single.edge_type, example.edge_type), f"genome {i}: edge types differ"


def test_batch_equals_pyg_collation():
    genomes = _sample("default", 40)
    ours = encode_batch(genomes)
    pyg = Batch.from_data_list([genome_to_graph(g) for g in genomes])
    for key in ("x", "edge_index", "edge_type", "batch", "ptr"):
        assert torch.equal(ours[key], pyg[key]), key


@pytest.mark.parametrize("space", CNN_SPACES)
@pytest.mark.parametrize("largest", [False, True])
def test_smallest_and_largest_genomes(space, largest):
    g = _extreme(space, largest)
    data = genome_to_graph(g)
    _check_structure(data, g)
    sp = get_space(space)
    n_blocks = (sp.max_stages * max(sp.depths)) if largest else (sp.min_stages * min(sp.depths))
    assert data.num_nodes == 5 + n_blocks + int(largest)  # the largest has a hint, the smallest trains plain CE
    batch = encode_batch([g, _extreme(space, not largest), g])
    assert torch.equal(batch.get_example(2).x, data.x) and torch.equal(batch.get_example(0).edge_index, data.edge_index)


def test_feature_dimension_is_the_same_for_every_space():
    dims = {encode_batch(_sample(space, 5)).x.shape[1] for space in SPACES.names()}
    assert dims == {NUM_NODE_FEATURES}


def _residuals_of_nets(genome: Genome, in_shape: tuple[int, int, int]) -> dict[int, str]:
    """Block index -> 'identity' / 'projection' for the blocks of the real network that add a shortcut."""
    net = build_student(genome, in_shape, 10)
    out = {}
    for k, block in enumerate(b for stage in net.stages for b in stage):
        if isinstance(block, BasicBlock):
            out[k] = "identity" if isinstance(block.shortcut, nn.Identity) else "projection"
        elif isinstance(block, MBConv) and block.residual:
            out[k] = "identity"
    return out


def _every_block_type_genomes() -> list[Genome]:
    """Each block type in first and later stages, keeping and changing the width (identity / projection)."""
    sp = get_space("default")
    stem = max(set(sp.stem_widths) & set(sp.widths))  # a stage-0 block that keeps the stem's width
    wider = [w for w in sp.widths if w > stem]
    out = []
    for block in BLOCK_TYPES:
        for widths in ((stem, stem, stem), (min(sp.widths), stem, wider[0]), (stem, stem, wider[-1])):
            for depth in (1, 2):
                stages = tuple(StageGene(block, depth, w, sp.kernels[-1], sp.expansions[-1], True) for w in widths)
                out.append(Genome(stem, stages, Recipe(), "default").validate())
    return out


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_residual_edges_exactly_where_nets_has_residuals(in_shape):
    genomes = _every_block_type_genomes() + [g for s in CNN_SPACES for g in _sample(s, 30, seed=3)]
    for g in genomes:
        data = genome_to_graph(g)
        kinds = {EDGE_KINDS.index(f"residual_{k}"): k for k in ("identity", "projection")}
        found = {(s, d): kinds[t] for s, d, t in _edges(data) if t in kinds}
        # block k is node 2 + k; its skip goes from its predecessor (node 1 + k) to its successor (node 3 + k)
        expected = {(1 + k, 3 + k): kind for k, kind in _residuals_of_nets(g, in_shape).items()}
        assert found == expected, g.to_json(indent=None)


def test_every_block_type_has_its_shortcut_feature_and_exact_parameter_count():
    for g in _every_block_type_genomes() + _sample("mobilenet", 20) + _sample("resnet", 20):
        data = genome_to_graph(g)
        net = build_student(g, (1, 8, 8), 10)
        blocks = [b for stage in net.stages for b in stage]
        residuals = _residuals_of_nets(g, (1, 8, 8))
        cin, total = g.stem_width, 0
        k = 0
        for i, stage in enumerate(g.canonical().stages):
            for j in range(stage.depth):
                row = data.x[2 + k]
                assert row[COL[f"block:{stage.block}"]] == 1 and row[COL["node:block"]] == 1
                expected = residuals.get(k, "none")
                assert row[COL[f"shortcut:{expected}"]] == 1
                assert row[COL["stride2"]] == float(i > 0 and j == 0)
                params, _ = block_cost(
                    BLOCK_TYPES.index(stage.block),
                    cin,
                    stage.width,
                    stage.kernel,
                    stage.expansion,
                    stage.se,
                    i > 0 and j == 0,
                    i,
                )
                assert int(params) == count_params(blocks[k]), (stage, cin)
                total += int(params)
                cin, k = stage.width, k + 1
        # the output node's total is the stem (one input channel) plus every block, as nets.py counts them
        stem = count_params(net.stem)
        assert total + stem == count_params(net) - count_params(net.classifier)
        assert data.x[-2 if g.recipe.has_hint else -1, COL["node:logit_kd"]] == 1
        output = data.x[2 + k + 1]
        assert output[COL["node:output"]] == 1
        assert output[COL["log10_params"]] == pytest.approx(np.log10(1 + total + stem) / 6, abs=1e-6)


@pytest.mark.parametrize("loss", LOGIT_LOSSES)
def test_every_logit_loss_is_a_recipe_node_on_the_output(loss):
    recipe = Recipe(loss, 4.0, 0.5 if loss != "none" else 1.0, 2.0, "off")
    g = replace(_extreme("default", False, recipe), recipe=recipe).validate()
    data = genome_to_graph(g)
    _check_structure(data, g)
    types = _node_types(data)
    kd, output = types.index("logit_kd"), types.index("output")
    row = data.x[kd]
    assert [row[COL[f"logit_loss:{x}"]].item() for x in LOGIT_LOSSES] == [float(x == loss) for x in LOGIT_LOSSES]
    assert row[COL["log2_temperature"]] == pytest.approx(2 / 3 if loss in ("kl", "dist") else 0.0)
    assert row[COL["ce_weight"]] == recipe.ce_weight
    assert row[COL["log2_kd_weight"]] == pytest.approx(0.5 if loss != "none" else 0.0)
    assert _edges(data) >= {(kd, output, EDGE_KINDS.index("logit_kd")), (output, kd, K + EDGE_KINDS.index("logit_kd"))}
    assert "hint" not in types


@pytest.mark.parametrize("position", HINT_POSITIONS)
@pytest.mark.parametrize("n_stages", [2, 3, 4])
def test_hint_node_attaches_to_the_last_block_of_the_hint_stage(position, n_stages):
    widths = get_space("default").widths
    stages = tuple(StageGene("conv", d, widths[i]) for i, d in enumerate((2, 1, 3, 2)[:n_stages]))
    g = Genome(widths[0], stages, Recipe("kl", 4.0, 0.5, 1.0, position, "attention", "pearson", 2.0)).validate()
    data = genome_to_graph(g)
    _check_structure(data, g)
    types = _node_types(data)
    if position == "off":
        assert "hint" not in types and g.hint_stage() is None
        return
    hint = types.index("hint")
    last_block = 2 + sum(s.depth for s in stages[: g.hint_stage() + 1]) - 1
    hint_edges = {(s, d) for s, d, t in _edges(data) if t == EDGE_KINDS.index("hint")}
    assert hint_edges == {(hint, last_block)}
    row = data.x[hint]
    assert row[COL["hint_transform:attention"]] == 1 and row[COL["hint_distance:pearson"]] == 1
    assert row[COL["hint_depth"]] == pytest.approx(HINT_DEPTH[position])
    assert row[COL["log2_hint_weight"]] == pytest.approx(0.5)


@pytest.mark.parametrize("transform", HINT_TRANSFORMS)
@pytest.mark.parametrize("distance", HINT_DISTANCES)
def test_every_hint_transform_and_distance(transform, distance):
    sp = get_space("default")
    g = Genome(
        sp.stem_widths[0],
        (StageGene("basic", 1, sp.widths[0]), StageGene("mbconv", 2, sp.widths[2], 3, sp.expansions[-1])),
        Recipe("none", 1.0, 0.0, 1.0, "mid", transform, distance, 0.5),
    )
    if transform in sp.hint_transforms and distance in sp.hint_distances:
        g.validate()  # a registry entry outside the default space's choices (a transformer's) is encoded all the same
    data = genome_to_graph(g)
    _check_structure(data, g)
    row = data.x[_node_types(data).index("hint")]
    assert [row[COL[f"hint_transform:{t}"]].item() for t in HINT_TRANSFORMS] == [
        float(t == transform) for t in HINT_TRANSFORMS
    ]
    canonical = g.recipe.canonical().hint_distance  # a transform with its own objective ignores the distance
    assert [row[COL[f"hint_distance:{d}"]].item() for d in HINT_DISTANCES] == [
        float(d == canonical) for d in HINT_DISTANCES
    ]
    assert torch.equal(encode_batch([g]).x, data.x)


def test_genes_without_effect_do_not_change_the_graph():
    sp = get_space("default")
    w, e = sp.widths, sp.expansions[-1]
    base = Genome(
        sp.stem_widths[0], (StageGene("conv", 1, w[0]), StageGene("dwsep", 2, w[2])), Recipe("mse", 1.0, 0.5, 2.0)
    )
    noisy = Genome(
        sp.stem_widths[0],
        (StageGene("conv", 1, w[0], 3, e), StageGene("dwsep", 2, w[2], 3, e)),
        Recipe("mse", 8.0, 0.5, 2.0),
    )
    assert base.validate() and noisy.validate()
    assert base.hash == noisy.hash
    a, b = genome_to_graph(base), genome_to_graph(noisy)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert torch.equal(encode_batch([noisy]).x, a.x)
    # ... while a gene with an effect does
    other = genome_to_graph(replace(base, recipe=Recipe("kl", 8.0, 0.5, 2.0)))
    assert not torch.equal(other.x, a.x)


def test_json_round_trip_gives_the_same_graph():
    for g in _sample("default", 20, seed=5):
        back = Genome.from_json(json.dumps(json.loads(g.to_json())))
        assert torch.equal(genome_to_graph(back).x, genome_to_graph(g).x)


def test_select_graphs_picks_graphs_in_order_with_repeats():
    genomes = _sample("mobilenet", 30, seed=7)
    batch = encode_batch(genomes)
    index = torch.tensor([29, 0, 5, 5, 17])
    sub = select_graphs(batch, index)
    assert sub.num_graphs == len(index) and sub.validate()
    for k, i in enumerate(index.tolist()):
        single = genome_to_graph(genomes[i])
        example = sub.get_example(k)
        assert torch.equal(example.x, single.x) and torch.equal(example.edge_index, single.edge_index)
        assert torch.equal(example.edge_type, single.edge_type)


def test_encode_batch_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one genome"):
        encode_batch([])
    with pytest.raises(ValueError, match="Genome objects"):
        encode_batch(_sample("default", 2) + ["not a genome"])
    bad = replace(_sample("default", 1)[0], stages=(StageGene("transformer", 1, 8), StageGene("conv", 1, 8)))
    with pytest.raises(ValueError, match="unknown gene value 'transformer'"):
        encode_batch([bad])


def _shipped_layout():
    """The layout the shipped checkpoint reads (the pinned graphs' layout), by name."""
    features = torch.load(SHIPPED, map_location="cpu", weights_only=True)["features"]
    return checkpoint_layout(LAYOUT, features["node"], features["edge_kinds"])


def _pinned_layout(golden, space: str):
    """The layout ``space``'s graphs were pinned in: the names stored beside them, else the shipped checkpoint's."""
    if f"{space}/graph/feature_names" not in golden.files:
        return _shipped_layout()
    names, kinds = golden[f"{space}/graph/feature_names"].tolist(), golden[f"{space}/graph/edge_kinds"].tolist()
    return checkpoint_layout(LAYOUT, names, kinds)


@pytest.mark.parametrize("space", SPACES.names())
def test_graphs_are_pinned_and_batch_equals_single(space):
    """500 genomes of every space (tests/data/make_golden_genomes.py): the graphs, read in the layout they were
    pinned in (the shipped checkpoint's for the first spaces), are bit-identical to the pinned ones, and each
    batched graph equals the single one. Columns today's layout has grown since (a family, a recipe loss) are
    zero for these genomes."""
    golden = np.load(GOLDEN, allow_pickle=False)
    genomes = [Genome.from_json(j) for j in golden[f"{space}/sampled"]]
    pinned_layout = _pinned_layout(golden, space)
    shipped = encode_batch(genomes, pinned_layout)
    arrays = {
        "x": shipped.x.numpy(),
        "edge_index": shipped.edge_index.numpy(),
        "edge_type": shipped.edge_type.numpy(),
        "node_ptr": shipped.ptr.numpy(),
        "edge_ptr": shipped._slice_dict["edge_index"].numpy(),
    }
    for key, value in arrays.items():
        pinned = golden[f"{space}/graph/{key}"]
        assert value.dtype == pinned.dtype and value.shape == pinned.shape, key
        np.testing.assert_array_equal(value, pinned, err_msg=key)
    today = _encode_arrays(genomes)
    new_columns = [i for i, name in enumerate(FEATURE_NAMES) if name not in pinned_layout.columns]
    assert not today["x"][:, new_columns].any()
    batch = encode_batch(genomes)
    for i, g in enumerate(genomes):
        single, example = genome_to_graph(g), batch.get_example(i)
        assert single.validate()
        assert torch.equal(single.x, example.x) and torch.equal(single.edge_index, example.edge_index)
        assert torch.equal(single.edge_type, example.edge_type)

"""The vision-transformer student family (distill/families/vit.py) and its network (distill/vit.py).

The contract every family meets (JSON, vector and hash round trips, cost formulas against the built module,
readable against batched graphs, taps) is tested for every space in test_families.py; here are the ViT's
own genes, errors, network contract, costs and a real training through the trainer and ``dass train``.
"""

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dass.cli import main
from distill.cost import count_flops, count_params
from distill.families import FAMILIES
from distill.families.vit import REF_SHAPE, ViTFamily, ViTSpace
from distill.genome import Genome, Recipe, get_space, load_genome
from distill.job import train_student
from distill.nets import Normalised
from distill.tasks import load_task
from distill.trainer import TrainConfig, distil
from distill.vit import ViTNet, ViTStageGene, attention_matmul_macs, build_vit
from predictor.graph import LAYOUT, encode_batch, genome_to_graph

S = ViTStageGene
# a stem, a merging stage and a token-keeping stage that changes width (projection) and one that does not
GENOME = Genome(8, (S(4, 2, 32, 4, 2), S(2, 1, 48, 3, 4), S(1, 1, 48, 2, 1)), Recipe(), space="vit")
PLAIN = Genome(0, (S(2, 1, 16, 2, 2), S(2, 1, 32, 4, 2)), Recipe.plain(), space="vit")


def _sample(space: str, n: int, seed: int) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng) for _ in range(n)]


# ---- genes ----
def test_the_family_and_its_spaces_are_registered():
    assert isinstance(FAMILIES.get("vit"), ViTFamily)
    for name in ("vit", "vit-wide"):
        sp = get_space(name)
        assert sp.family.name == "vit" and isinstance(sp.arch, ViTSpace)
        # the default recipe choices plus self-attention relations (distill.losses.TRANSFORMER_RECIPE)
        assert sp.hint_transforms == (*get_space("default").hint_transforms, "attn_relation")
        assert [c for c in sp.recipe_choices if c[0] != "hint_transform"] == [
            c for c in get_space("default").recipe_choices if c[0] != "hint_transform"
        ]


@pytest.mark.parametrize("space", ["vit", "vit-wide"])
def test_sampling_is_deterministic_and_valid(space):
    a, b, c = _sample(space, 200, 0), _sample(space, 200, 0), _sample(space, 200, 1)
    assert a == b and a != c
    sp = get_space(space)
    for g in a:
        g.validate()
        assert all(isinstance(s, ViTStageGene) for s in g.stages)
        assert all(s.width % s.heads == 0 for s in g.stages)
        assert [s.width for s in g.stages] == sorted(s.width for s in g.stages)
        assert g.stages[0].patch in sp.patches and all(s.patch in sp.merges for s in g.stages[1:])
    # every choice is drawn somewhere
    assert {s.heads for g in a for s in g.stages} == set(sp.heads)
    assert {s.patch for g in a for s in g.stages[1:]} == set(sp.merges)
    assert {g.stem_width for g in a} == set(sp.stem_widths)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(stem_width=4), "the 'stem_width' gene must be one of {0, 8, 16}; got 4"),
        (dict(stages=(S(2, 1, 32, 3, 2),)), "stage 0: the 'width' 32 must be divisible by the 'heads' 3"),
        (dict(stages=(S(2, 1, 16, 1, 2), S(4, 1, 16, 1, 2))), "the stage 1 'patch' gene must be one of {1, 2}; got 4"),
        (dict(stages=(S(1, 1, 16, 1, 2),)), "the stage 0 'patch' gene must be one of {2, 4}; got 1"),
        (dict(stages=(S(2, 5, 16, 1, 2),)), "the stage 0 'depth' gene must be one of {1, 2, 3}; got 5"),
        (dict(stages=(S(2, 1, 16, 1, 3),)), "the stage 0 'mlp_ratio' gene must be one of {1, 2, 4}; got 3"),
        (dict(stages=(S(2, 1, 16, 8, 2),)), "the stage 0 'heads' gene must be one of {1, 2, 3, 4}; got 8"),
        (dict(stages=(S(2, 1, 32, 1, 2), S(1, 1, 16, 1, 2))), "stage widths must not decrease; stage 1 has width 16"),
        (dict(stages=(S(2, 1, 16, 1, 2),) * 4), "the number of stages must be in [1, 3]; got 4"),
    ],
)
def test_validation_names_the_gene_and_what_is_allowed(change, message):
    from dataclasses import replace

    with pytest.raises(ValueError) as e:
        replace(GENOME, **change).validate()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_staged_cnn_stage_is_refused_in_a_vit_space():
    cnn = get_space("default").sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match="stage 0 must be a vision-transformer stage gene; got StageGene"):
        Genome(0, cnn.stages[:1], space="vit").validate()
    d = {**cnn.to_dict(), "space": "vit"}
    with pytest.raises(ValueError, match="unknown key 'block' in stage 0; allowed: depth, heads, mlp_ratio, patch"):
        Genome.from_dict(d)


def test_json_round_trip_and_genome_files(tmp_path):
    text = GENOME.to_json()
    assert json.loads(text)["stages"][1] == {"patch": 2, "depth": 1, "width": 48, "heads": 3, "mlp_ratio": 4}
    assert Genome.from_json(text) == GENOME and Genome.from_json(text).hash == GENOME.hash
    path = tmp_path / "vit.json"
    path.write_text(text)
    assert load_genome(str(path)) == GENOME
    d = json.loads(text)
    del d["stages"][0]["heads"]
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="stage 0 is missing the key 'heads'"):
        load_genome(str(path))
    d["stages"][0]["heads"] = 3
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="'width' 32 must be divisible by the 'heads' 3"):
        load_genome(str(path))


@pytest.mark.parametrize("space", ["vit", "vit-wide"])
def test_vectors_mutation_and_repair_stay_in_the_space(space):
    sp = get_space(space)
    lower, upper = sp.bounds()
    rng = np.random.default_rng(5)
    for g in _sample(space, 50, 2):
        assert Genome.from_vector(g.to_vector(), space) == g
        for n_genes in (1, 3, 8):
            g.mutate(rng, n_genes).validate()
    for _ in range(200):  # any vector decodes to a valid genome: widths sorted, heads gcd-repaired
        Genome.from_vector(rng.integers(lower, upper + 1), sp).validate()
    names = [n for n, _ in sp.vector_choices()]
    assert names[:7] == ["n_stages", "stem_width", "stage0.patch", "stage0.depth", "stage0.width"] + [
        "stage0.heads",
        "stage0.mlp_ratio",
    ]


def test_repair_sorts_widths_and_makes_heads_divide_them():
    g = Genome(0, (S(2, 1, 48, 3, 2), S(2, 1, 32, 4, 2)), space="vit").repaired()
    assert g.stages == (S(2, 1, 32, 1, 2), S(2, 1, 48, 4, 2))  # gcd(32, 3) = 1, gcd(48, 4) = 4
    g.validate()


def test_a_space_whose_heads_cannot_be_repaired_is_refused():
    with pytest.raises(ValueError, match=r"heads must hold gcd\(width, heads\).*missing \[1\]"):
        ViTSpace(widths=(16, 24), heads=(2, 3))


# ---- the network ----
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 12, 12), (3, 32, 32), (1, 28, 28), (2, 5, 7), (1, 1, 1)])
@pytest.mark.parametrize("genome", [GENOME, PLAIN], ids=["stem", "no-stem"])
def test_parameter_and_mac_formulas_equal_the_built_module(shape, genome):
    net = genome.build(shape, 7, seed=0)
    assert isinstance(net, ViTNet)
    assert genome.count_params(shape, 7) == count_params(net)
    assert genome.count_macs(shape, 7) == count_flops(net, shape)


def test_the_attention_matmuls_are_two_n_squared_c_multiply_adds():
    """What ``count_flops`` adds per ``scaled_dot_product_attention`` call: ``Q K^T`` and ``A V``."""
    b, heads, n, d = 1, 3, 10, 8
    q, k, v = (torch.randn(b, heads, n, d) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        torch.softmax(q @ k.transpose(-2, -1) / d**0.5, -1) @ v
    assert counter.get_total_flops() // 2 == attention_matmul_macs(heads * d, n)


def test_count_flops_counts_scaled_dot_product_attention():
    class Attend(torch.nn.Module):
        def forward(self, x):  # x (B, heads * n * d) -> q = k = v of shape (B, heads, n, d)
            q = x.view(x.shape[0], 3, 10, 8)
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    assert count_flops(Attend(), (1, 1, 240)) == attention_matmul_macs(3 * 8, 10)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (3, 32, 32), (1, 28, 28)])
def test_feature_maps_and_qkv_follow_the_transformer_contract(shape):
    net = GENOME.build(shape, 5, seed=0)
    x = torch.randn(2, *shape)
    logits, feats = net.forward_features(x)
    side = -(-shape[1] // 4)  # stage 0 patchifies by 4, stage 1 merges 2x2, stage 2 keeps the tokens
    grids = [side, -(-side // 2), -(-side // 2)]
    assert logits.shape == (2, 5) and torch.equal(logits, net(x))
    assert [tuple(f.shape) for f in feats] == [(2, c, h, h) for c, h in zip((32, 48, 48), grids)]
    assert net.stage_channels == [32, 48, 48] and net.num_attention_layers == 4
    for layer, stage in ((0, 0), (1, 0), (2, 1), (3, 2), (-1, 2), (-4, 0)):
        out, maps, (q, k, v) = net.forward_qkv(x, layer)
        width, n = net.stage_channels[stage], grids[stage] ** 2
        assert q.shape == k.shape == v.shape == (2, n, width)
        assert torch.equal(out, logits) and all(torch.equal(a, b) for a, b in zip(maps, feats))
    assert [t.shape for t in net.forward_qkv(x, -1)[2]] == [t.shape for t in net.forward_qkv(x, 3)[2]]
    for bad in (4, -5, 1.0):
        with pytest.raises(ValueError, match=r"the 'layer' parameter must be an int in \[-4, 3\]"):
            net.forward_qkv(x, bad)


def test_qkv_are_the_attention_inputs_of_that_layer_with_heads_concatenated():
    net = PLAIN.build((1, 8, 8), 3, seed=0).eval()
    x = torch.randn(2, 1, 8, 8)
    _, _, (q, k, v) = net.forward_qkv(x, 0)
    stage = net.stages[0]
    tokens = stage.embed(x).flatten(2).transpose(1, 2) + stage.pos  # (B, 16, 16)
    block = stage.blocks[0]
    expected = block.attn.qkv(block.norm1(tokens))
    torch.testing.assert_close(torch.cat([q, k, v], -1), expected)
    # the attention of the block is softmax(q k^T / sqrt(d)) v per head (2 heads of 8 channels)
    heads = [t.reshape(2, 16, 2, 8).transpose(1, 2) for t in (q, k, v)]
    attn = torch.softmax(heads[0] @ heads[1].transpose(-2, -1) / 8**0.5, -1) @ heads[2]
    torch.testing.assert_close(
        block.attn.proj(attn.transpose(1, 2).reshape(2, 16, 16)), block.attn(block.norm1(tokens))
    )
    # gradients reach the student through q, k and v
    q.sum().backward()
    assert block.attn.qkv.weight.grad is not None and block.attn.qkv.weight.grad.abs().sum() > 0


def test_seeded_build_is_deterministic_and_leaves_the_global_rng():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = build_vit(8, GENOME.stages, (1, 12, 12), 10, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = build_vit(8, GENOME.stages, (1, 12, 12), 10, seed=5)
    c = build_vit(8, GENOME.stages, (1, 12, 12), 10, seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_the_student_scripts_so_it_ships_as_one_file():
    net = GENOME.build((1, 12, 12), 4, seed=0).eval()
    wrapped = Normalised(net, (0.5,), (0.25,))
    scripted = torch.jit.script(wrapped)
    x = torch.rand(3, 1, 12, 12)
    torch.testing.assert_close(scripted(x), wrapped(x))


@pytest.mark.parametrize(
    ("stem", "stages", "message"),
    [
        (0, (S(2, 1, 30, 4, 2),), "stage 0: the 'width' 30 must be divisible by the 'heads' 4"),
        (0, (S(0, 1, 16, 1, 2),), "the stage 0 'patch' gene must be a positive int; got 0"),
        (-1, (S(2, 1, 16, 1, 2),), "the 'stem_width' gene must be an int >= 0 (0: no stem); got -1"),
        (0, (), "a vision transformer needs at least one stage"),
    ],
)
def test_building_an_unbuildable_network_is_a_clear_error(stem, stages, message):
    with pytest.raises(ValueError) as e:
        build_vit(stem, stages, (1, 8, 8), 3)
    assert str(e.value) == message


def test_the_smallest_candidates_cover_every_patch_of_stage_0():
    sp = get_space("vit")
    smallest = sp.family.smallest(sp.arch)
    assert [c["stages"][0].patch for c in smallest] == [2, 4]
    assert all(c["stem_width"] == 0 and len(c["stages"]) == 1 for c in smallest)


# ---- the predictor's graph ----
def test_graph_nodes_features_and_edges_of_one_genome():
    arch = FAMILIES.get("vit").graph(GENOME, LAYOUT)
    kinds = [LAYOUT.node_types[int(np.argmax(row[: len(LAYOUT.node_types)]))] for row in arch.x]
    blocks = ["attention", "mlp"]
    assert kinds == ["input", "stem", "patch_embed", *blocks * 2, "merge", *blocks, "merge", *blocks, "head", "output"]
    assert arch.taps == [6, 9, 12] and arch.output == 14
    col = LAYOUT.col
    assert arch.x[2, col("kernel")] == np.float32(4 / 7) and arch.x[7, col("stride2")] == 1.0
    assert arch.x[10, col("stride2")] == 0.0  # keeps its tokens
    assert arch.x[3, col("heads")] == np.float32(4 / 8) and arch.x[4, col("expansion")] == np.float32(2 / 6)
    # grids at the 16x16 reference: 4x4, 2x2, 2x2 tokens -> 2, 3, 3 halvings
    assert arch.x[[2, 7, 10, 13], col("downsample")].tolist() == [0.5, 0.75, 0.75, 0.75]
    assert arch.x[[2, 7, 10, 13], col("stage_pos")].tolist() == [0.0, 0.5, 1.0, 1.0]
    # the output holds the parameters at the reference input, without the classifier
    total = GENOME.count_params(REF_SHAPE, 1) - (48 + 1)
    assert arch.x[14, col("log10_params")] == np.float32(np.log10(1 + total) / 6)
    residual = {(s, d) for s, d, k in arch.edges if k == LAYOUT.edge("residual_identity")}
    assert residual == {(n - 1, n + 1) for n in (3, 4, 5, 6, 8, 9, 11, 12)}


def test_readable_and_batched_graphs_agree_and_validate_across_families():
    genomes = [*_sample("vit", 20, 7), *_sample("default", 5, 7), *_sample("vit-wide", 20, 8), GENOME, PLAIN]
    batch = encode_batch(genomes)
    for k, g in enumerate(genomes):
        single = genome_to_graph(g)
        single.validate()
        other = batch[k]
        assert torch.equal(single.x, other.x)
        assert torch.equal(single.edge_index, other.edge_index) and torch.equal(single.edge_type, other.edge_type)


def test_a_hint_attaches_to_the_stage_output_it_reads():
    g = GENOME.with_recipe(Recipe(hint_position="mid", hint_transform="connector"))
    data = genome_to_graph(g)
    hint = int(data.x[:, LAYOUT.col("node:hint")].argmax())
    targets = data.edge_index[1, data.edge_index[0] == hint].tolist()
    assert targets == [9]  # the last MLP of stage 1


# ---- training ----
def test_a_vit_student_distils_through_the_trainer_with_a_hint(digits_task):
    from distill.teachers import get_teacher, teacher_outputs

    teacher = get_teacher("cnn-s", digits_task, config=TrainConfig(epochs=2))
    outputs = teacher_outputs(teacher, digits_task)
    g = PLAIN.with_recipe(Recipe(hint_position="late", hint_transform="connector", hint_distance="mse"))
    result, student = distil(g, digits_task, outputs, TrainConfig(epochs=2), seed=0)
    assert result.status == "ok" and isinstance(student, ViTNet)
    assert result.val_acc > 0.4  # 5 classes: chance is 0.2


def test_a_vit_student_trains_on_mnist_through_the_job(mnist_dir):
    task = load_task("mnist:classes=0-4:size=12:n_train=1500:n_val=300:n_test=300", mnist_dir)
    trained = train_student(PLAIN, task, None, TrainConfig(epochs=3), seed=0)
    assert trained.result.status == "ok" and trained.params == PLAIN.count_params(task.in_shape, 5)
    assert trained.result.test_acc > 0.5  # chance is 0.2


def test_dass_genome_and_dass_train_run_a_vit_space_end_to_end(capsys, tmp_path, mnist_dir):
    genome = tmp_path / "vit.json"
    assert main(["genome", "--space", "vit", "--seed", "3", "--no-distill", "--out", str(genome)]) == 0
    g = load_genome(str(genome))
    assert g.space == "vit" and not g.recipe.distills
    out_dir = tmp_path / "run"
    task = "mnist:classes=0-4:size=12:n_train=1000:n_val=200:n_test=200"
    args = ["train", "--task", task, "--data-dir", mnist_dir, "--teacher", "cnn-s", "--genome", str(genome)]
    code = main([*args, "--epochs", "2", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["params"] == g.count_params((1, 12, 12), 5)
    assert metrics["test_acc"] > 0.3  # chance is 0.2
    state = torch.load(out_dir / "student.pt", weights_only=True)
    assert any(k.endswith(".attn.qkv.weight") for k in state)

import copy
import dataclasses
import math
import re

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from distill.cost import count_params
from distill.genome import SPACES, Genome, Recipe, get_space
from distill.nets import build_student
from distill.probe import CLASS_FEATURES, GLOBAL_FEATURES, METADATA_FEATURES
from predictor.conv import DirectedAdjacency, DirectedGINEConv, sequential_in_place
from predictor.estimator import FORMAT_VERSION, AccuracyPredictor, _ranks_in_groups
from predictor.graph import EDGE_KINDS, FEATURE_NAMES, NUM_EDGE_TYPES, encode_batch, genome_to_graph
from predictor.guard import concordance, student_folds, task_scale
from predictor.losses import pairwise_rank_loss, regression_loss
from predictor.model import AccuracyNet, NetConfig, TaskEncoder, adjacency_of, stem_inputs
from predictor.residual import ResidualGP


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Small graphs: one thread is as fast, and far faster when other jobs keep the cores busy.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------
def test_rank_loss_prefers_the_true_order():
    targets = torch.tensor([0.9, 0.6, 0.3, 0.1])
    groups = torch.zeros(4, dtype=torch.long)
    right = torch.tensor([3.0, 1.0, -1.0, -3.0])
    wrong = right.flip(0)
    assert pairwise_rank_loss(right, targets, groups) < pairwise_rank_loss(wrong, targets, groups)
    # one swapped pair costs more than none, less than all
    one_swap = torch.tensor([1.0, 3.0, -1.0, -3.0])
    assert (
        pairwise_rank_loss(right, targets, groups)
        < pairwise_rank_loss(one_swap, targets, groups)
        < pairwise_rank_loss(wrong, targets, groups)
    )


def test_rank_loss_value_on_two_students():
    # y = (0.8, 0.5): logit gap log(4), target probability sigmoid(log 4) = 0.8
    targets, groups = torch.tensor([0.8, 0.5]), torch.tensor([0, 0])
    at_optimum = pairwise_rank_loss(torch.tensor([math.log(4.0), 0.0]), targets, groups)
    entropy = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    assert at_optimum.item() == pytest.approx(entropy, abs=1e-5)
    reversed_ = pairwise_rank_loss(torch.tensor([0.0, math.log(4.0)]), targets, groups)
    assert reversed_.item() == pytest.approx(-(0.8 * math.log(0.2) + 0.2 * math.log(0.8)), abs=1e-5)


def test_rank_loss_compares_only_inside_a_group():
    scores = torch.tensor([-5.0, 5.0, 0.0, 1.0], requires_grad=True)
    targets = torch.tensor([0.9, 0.1, 0.5, 0.5])
    loss = pairwise_rank_loss(scores, targets, torch.tensor([0, 1, 2, 2]))  # no group has an ordered pair
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(scores.grad, torch.zeros(4))
    # the same scores in one group: the badly ordered pair is penalised
    assert pairwise_rank_loss(scores.detach(), targets, torch.zeros(4, dtype=torch.long)) > 1.0


def test_rank_loss_top_weighs_the_pairs_at_the_top_of_a_group_more():
    targets = torch.tensor([0.9, 0.8, 0.5, 0.4, 0.2, 0.1])
    groups = torch.zeros(6, dtype=torch.long)
    scores = torch.logit(targets)
    assert torch.equal(
        pairwise_rank_loss(scores, targets, groups, top=0.0), pairwise_rank_loss(scores, targets, groups)
    )

    def grad(swapped: tuple[int, int], top: float) -> float:
        s = scores.clone()
        s[list(swapped)] = s[list(reversed(swapped))]  # the two students' scores swapped
        s.requires_grad_(True)
        pairwise_rank_loss(s, targets, groups, top=top).backward()
        return float(s.grad.abs().sum())

    # a swap among the two best pulls harder than the same swap among the two worst, the more so with a larger top
    assert grad((0, 1), 0.0) == pytest.approx(grad((4, 5), 0.0), rel=0.15)  # RankNet: about the same
    assert grad((0, 1), 0.5) > 1.5 * grad((4, 5), 0.5)
    assert grad((0, 1), 1.0) / grad((4, 5), 1.0) > grad((0, 1), 0.5) / grad((4, 5), 0.5)
    # the weights by hand: two groups, 3 and 2 students; pairs (0,1) (0,2) (1,2) and (3,4)
    y = torch.tensor([0.9, 0.5, 0.2, 0.7, 0.6])
    g = torch.tensor([0, 0, 0, 1, 1])
    s = torch.tensor([0.3, -0.2, 0.5, 0.1, 0.4])
    d = 1 / math.log2(2), 1 / math.log2(3), 1 / math.log2(4)  # the position discounts of ranks 0, 1, 2
    delta = torch.tensor([d[0] - d[1], d[0] - d[2], d[1] - d[2], d[0] - d[1]])
    for top in (0.5, 1.0):
        w = (1 - top) + top * delta / delta.mean()
        pi, pj = [0, 0, 1, 3], [1, 2, 2, 4]
        z = torch.logit(y)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(
            s[pi] - s[pj], torch.sigmoid(z[pi] - z[pj]), reduction="none"
        )
        assert pairwise_rank_loss(s, y, g, top=top).item() == pytest.approx(float((w * ce).mean()), rel=1e-5)
    # ranks in the whole group, where a batch holds part of it: student 1 is third of its group, not second
    whole = pairwise_rank_loss(s[1:3], y[1:3], g[1:3], top=1.0, rank=torch.tensor([1, 2]))
    assert whole.item() == pytest.approx(pairwise_rank_loss(s[1:3], y[1:3], g[1:3]).item())  # one pair: weight 1
    three = pairwise_rank_loss(s, y, g, top=1.0, rank=torch.tensor([1, 2, 3, 0, 1]))
    assert three.item() != pytest.approx(pairwise_rank_loss(s, y, g, top=1.0).item())
    with pytest.raises(ValueError, match="top must be in"):
        pairwise_rank_loss(s, y, g, top=1.5)


def test_ranks_in_groups_count_the_higher_targets_of_the_same_group():
    target = torch.tensor([0.5, 0.9, 0.5, 0.1, 0.7, 0.7, 0.2])
    group = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    assert _ranks_in_groups(target, group).tolist() == [1, 0, 1, 3, 0, 0, 2]


def test_rank_top_must_be_in_zero_to_one():
    for bad in (-0.1, 1.5, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="'rank_top' parameter must be a number from 0 to 1"):
            AccuracyPredictor(rank_top=bad)._check_params()


def test_regression_loss_is_minimal_at_the_target():
    y = torch.tensor([0.2, 0.7, 0.95])
    best = regression_loss(torch.logit(y), y)
    for shift in (-0.5, 0.5):
        assert regression_loss(torch.logit(y) + shift, y) > best
    w = torch.tensor([1.0, 0.0, 0.0])
    assert regression_loss(torch.tensor([0.0, 9.0, 9.0]), y, w) == pytest.approx(
        regression_loss(torch.tensor([0.0]), y[:1]).item()
    )


# ---------------------------------------------------------------------------------------------
# the layer and the network
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("train_eps", [True, False])
def test_directed_gine_conv_matches_its_formula(train_eps):
    torch.manual_seed(0)
    genome = get_space("default").sample(np.random.default_rng(3))
    data = genome_to_graph(genome)
    n, c = data.num_nodes, 8
    mlp = torch.nn.Sequential(torch.nn.Linear(c, c), torch.nn.ReLU(), torch.nn.Linear(c, c))
    conv = DirectedGINEConv(mlp, c, NUM_EDGE_TYPES, eps=0.3, train_eps=train_eps)
    x = torch.randn(n, c)
    out = conv(x, DirectedAdjacency.from_edges(data.edge_index, data.edge_type, n, len(EDGE_KINDS)))
    # the formula, edge by edge
    agg = (1 + 0.3) * x
    rows = [agg[i] for i in range(n)]
    for (j, i), t in zip(data.edge_index.T.tolist(), data.edge_type.tolist()):
        message = x[j] if t < len(EDGE_KINDS) else conv.lin_rev(x[j])
        rows[i] = rows[i] + message + conv.edge_emb[t]
    assert torch.allclose(out, mlp(torch.stack(rows)), atol=1e-5)
    # edges in another order give the same result
    perm = torch.randperm(data.edge_index.shape[1])
    shuffled = DirectedAdjacency.from_edges(data.edge_index[:, perm], data.edge_type[perm], n, len(EDGE_KINDS))
    assert torch.allclose(conv(x, shuffled), out, atol=1e-5)


@pytest.mark.parametrize(("train_eps", "eps"), [(True, 0.3), (False, 0.3), (False, 0.0)])
def test_the_prediction_path_computes_what_the_training_path_does(train_eps, eps):
    torch.manual_seed(0)
    graph = encode_batch([get_space(s).sample(np.random.default_rng(i)) for i, s in enumerate(SPACES.names())])
    adj = adjacency_of(graph)
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16))
    conv = DirectedGINEConv(mlp, 16, NUM_EDGE_TYPES, eps=eps, train_eps=train_eps)
    x = torch.randn(graph.num_nodes, 16)
    before = x.clone()
    trained = conv(x, adj)  # autograd on: the chained addmm path
    with torch.no_grad():
        predicted = conv(x, adj)  # the in-place path
    assert torch.equal(x, before)  # the input is not written to
    assert torch.allclose(predicted, trained, atol=1e-6)
    if eps == 0.0 and not train_eps:  # the shipped GIN-0 layers: bit-identical
        assert torch.equal(predicted, trained)


@pytest.mark.parametrize(("hidden", "readouts"), [(16, False), (48, False), (48, True)])
def test_the_prediction_path_of_the_network_is_bit_identical(hidden, readouts):
    torch.manual_seed(0)
    config = NetConfig(hidden=hidden, layers=3, recipe_readout=readouts, sum_readout=readouts)
    net = AccuracyNet(config).eval()
    graph = encode_batch([get_space(s).sample(np.random.default_rng(i)) for i, s in enumerate(SPACES.names())])
    adj = adjacency_of(graph)
    x = graph.x.clone()
    trained = net.embed_graphs(graph.x, adj, graph.batch, graph.num_graphs)
    with torch.inference_mode():
        predicted = net.embed_graphs(graph.x, adj, graph.batch, graph.num_graphs)
    assert trained.requires_grad and not predicted.requires_grad
    assert torch.equal(predicted, trained.detach())
    assert torch.equal(graph.x, x)  # the batch every ensemble member reads is not written to


@pytest.mark.parametrize(("hidden", "readouts"), [(16, False), (48, True)])
def test_the_folded_first_layer_predicts_what_the_layers_do(hidden, readouts):
    torch.manual_seed(0)
    net = AccuracyNet(NetConfig(hidden=hidden, layers=3, recipe_readout=readouts, sum_readout=readouts)).eval()
    with torch.no_grad():  # weights of a trained size, not the near-zero ones of an initialisation
        for p in net.parameters():
            p.normal_(0, 0.3)
    for i, space in enumerate(SPACES.names()):  # a batch of one space uses only some of the columns
        graph = encode_batch([get_space(space).sample(np.random.default_rng([i, j])) for j in range(8)])
        adj = adjacency_of(graph)
        with torch.inference_mode():
            inputs = stem_inputs(graph.x, adj)
            layers = net.embed_graphs(graph.x, adj, graph.batch, graph.num_graphs)
            folded = net.embed_graphs(graph.x, adj, graph.batch, graph.num_graphs, (inputs, net.folded_stem()))
        full = 2 * graph.x.shape[1] + NUM_EDGE_TYPES
        assert 0 < len(inputs.cols) < full and inputs.u.shape == (graph.x.shape[0], len(inputs.cols)), space
        assert layers.abs().max() > 1 and not torch.equal(folded, layers)  # another sum order, the same sums
        torch.testing.assert_close(folded, layers, rtol=1e-5, atol=1e-5 * float(layers.abs().max()))


def test_the_first_layer_is_not_folded_where_it_is_not_linear_in_the_inputs():
    net = AccuracyNet(NetConfig(hidden=8)).eval()
    assert net.folded_stem() is not None
    net.convs[0].eps.fill_(0.5)  # (1 + eps) x: not the fold's sum
    assert net.folded_stem() is None
    graph = encode_batch([get_space("default").sample(np.random.default_rng(0))])
    adj = adjacency_of(graph)
    with pytest.raises(ValueError, match="folded stem is for prediction"):
        net.embed_graphs(
            graph.x, adj, graph.batch, 1, (stem_inputs(graph.x, adj), AccuracyNet(NetConfig(hidden=8)).folded_stem())
        )


def test_sequential_in_place_never_writes_its_input():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Identity(), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    x = torch.randn(5, 4)
    before = x.clone()
    with torch.no_grad():
        out = sequential_in_place(seq, x)
        assert torch.equal(out, seq(before))
    assert torch.equal(x, before)


_NO_SPARSE_WARNING = """
import warnings
import torch
from predictor.conv import DirectedAdjacency
adj = DirectedAdjacency.from_edges(torch.tensor([[0, 1], [1, 2]]), torch.tensor([0, 1]), 3, 1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    # what torch 2.11 does inside the graph products: consult the process's invariant-check setting
    torch.sparse_csr_tensor(adj.forward.crow_indices(), adj.forward.col_indices(), adj.forward.values(), (3, 3))
print([str(w.message)[:60] for w in caught if "invariant" in str(w.message)])
"""


def test_graphs_leave_the_sparse_invariant_checks_explicitly_off():
    """torch warns every search that sparse invariant checks are "implicitly disabled" unless the setting was
    chosen explicitly; building an adjacency chooses it (off), so no later sparse operation warns. A fresh
    interpreter: torch warns once per process."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _NO_SPARSE_WARNING], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _task(rng: np.random.Generator, k: int) -> dict:
    return {"classes": rng.random((k, 8)).tolist(), "global": rng.random(13).tolist()}


def test_task_encoder_is_a_set_function_of_any_size():
    torch.manual_seed(0)
    enc = TaskEncoder(8, 13, 16)
    a, b = torch.randn(3, 8), torch.randn(10, 8)
    ga, gb = torch.randn(1, 13), torch.randn(1, 13)
    alone_a = enc(a, torch.zeros(3, dtype=torch.long), ga)
    alone_b = enc(b, torch.zeros(10, dtype=torch.long), gb)
    together = enc(torch.cat([a, b]), torch.tensor([0] * 3 + [1] * 10), torch.cat([ga, gb]))
    assert torch.allclose(together, torch.cat([alone_a, alone_b]), atol=1e-6)
    shuffled = enc(b[torch.randperm(10)], torch.zeros(10, dtype=torch.long), gb)
    assert torch.allclose(shuffled, alone_b, atol=1e-6)


def test_task_features_outside_the_training_range_do_not_extrapolate():
    torch.manual_seed(0)
    net = AccuracyNet(NetConfig(hidden=16, layers=2)).eval()
    classes, glob = torch.rand(20, 8), torch.rand(5, 13)
    glob[:, 3] = 0.375  # e.g. the input side: every training task had 12x12 images
    net.set_input_scaling(classes, glob, torch.full((5,), 2.0))
    class_batch = torch.zeros(4, dtype=torch.long)
    seen = glob[:1].clone()
    new_side = seen.clone()
    new_side[0, 3] = 0.25  # an 8x8 task: a value never seen in training changes nothing
    assert torch.allclose(
        net.embed_tasks(classes[:4], class_batch, new_side), net.embed_tasks(classes[:4], class_batch, seen)
    )
    far, farther = seen.clone(), seen.clone()
    far[0, 0], farther[0, 0] = 100.0, 1000.0  # far outside the range: clipped to the same edge
    assert torch.allclose(
        net.embed_tasks(classes[:4], class_batch, far), net.embed_tasks(classes[:4], class_batch, farther)
    )
    assert not torch.allclose(
        net.embed_tasks(classes[:4], class_batch, far), net.embed_tasks(classes[:4], class_batch, seen)
    )


@pytest.mark.parametrize(
    ("recipe_readout", "sum_readout"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_accuracy_net_shapes_and_batch_independence(recipe_readout, sum_readout):
    torch.manual_seed(0)
    net = AccuracyNet(NetConfig(hidden=16, layers=2, recipe_readout=recipe_readout, sum_readout=sum_readout)).eval()
    genomes = [get_space(s).sample(np.random.default_rng(i)) for i, s in enumerate(["default", "resnet", "mobilenet"])]
    graph = encode_batch(genomes)
    classes, glob = torch.rand(7, 8), torch.rand(2, 13)
    class_batch = torch.tensor([0] * 4 + [1] * 3)
    task_index, budget = torch.tensor([0, 1, 1]), torch.tensor([1.0, 3.0, 5.0])
    logits = net(graph, classes, class_batch, glob, task_index, budget)
    assert logits.shape == (3,) and torch.isfinite(logits).all()
    # one graph alone gets the same logit as inside the batch
    alone = net(encode_batch(genomes[1:2]), classes, class_batch, glob, task_index[1:2], budget[1:2])
    assert torch.allclose(alone, logits[1:2], atol=1e-5)


def test_sum_readout_is_the_sum_of_the_node_states_and_sees_the_graph_size():
    torch.manual_seed(0)
    net = AccuracyNet(NetConfig(hidden=16, layers=2, sum_readout=True)).eval()
    genome = get_space("default").sample(np.random.default_rng(0))
    graph = encode_batch([genome])
    adj = adjacency_of(graph)
    emb = net.embed_graphs(graph.x, adj, graph.batch, 1)
    assert emb.shape == (1, 48) and net.readout_size == 48
    h = net.node_lin(graph.x)
    for conv in net.convs:
        h = torch.relu(conv(h, adj))
    torch.testing.assert_close(emb[0, :16], h.mean(0))
    torch.testing.assert_close(emb[0, 32:], h.sum(0))
    # the same graph twice, as one disconnected graph: mean and max pooling cannot tell, the sum doubles
    two = encode_batch([genome, genome])
    both = net.embed_graphs(two.x, adjacency_of(two), torch.zeros_like(two.batch), 1)
    torch.testing.assert_close(both[0, :32], emb[0, :32])
    torch.testing.assert_close(both[0, 32:], 2 * emb[0, 32:])


def test_recipe_readout_is_the_recipe_nodes_final_state():
    torch.manual_seed(0)
    net = AccuracyNet(NetConfig(hidden=16, layers=2, recipe_readout=True)).eval()
    space = get_space("default")
    base = next(g for g in (space.sample(np.random.default_rng(i)) for i in range(100)) if g.recipe.has_hint)
    no_hint = dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, hint_position="off"))  # no hint node
    for genome in (base, no_hint):
        graph = encode_batch([genome])
        emb = net.embed_graphs(graph.x, adjacency_of(graph), graph.batch, 1)
        assert emb.shape == (1, 48)
        h = net.node_lin(graph.x)
        for conv in net.convs:
            h = torch.relu(conv(h, adjacency_of(graph)))
        recipe_nodes = graph.x[:, [FEATURE_NAMES.index("node:logit_kd"), FEATURE_NAMES.index("node:hint")]].sum(1) > 0
        assert int(recipe_nodes.sum()) == (2 if genome.recipe.has_hint else 1)
        torch.testing.assert_close(emb[0, 32:], h[recipe_nodes].sum(0))


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------
def _true_accuracy(genome: Genome, center: float) -> float:
    """A known function of the genome: increasing in log parameters, plus a distillation bonus."""
    log_params = math.log10(count_params(build_student(genome, (1, 8, 8), 10)))
    r = genome.recipe
    z = 2.0 * (log_params - center) + 0.5 * (r.logit_loss != "none") + 0.3 * r.has_hint
    return 1 / (1 + math.exp(-z))


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    space = get_space("default")
    genomes = [space.sample(rng) for _ in range(420)]
    log_params = [math.log10(count_params(build_student(g, (1, 8, 8), 10))) for g in genomes]
    center = float(np.median(log_params))
    targets = np.array([_true_accuracy(g, center) for g in genomes])
    task = _task(rng, 10)
    train = [
        {"genome": g.to_json(), "task_features": task, "budget": 10, "group": "toy", "target": float(y)}
        for g, y in zip(genomes[:300], targets[:300])
    ]
    return {"genomes": genomes, "targets": targets, "task": task, "train": train, "center": center}


@pytest.fixture(scope="module")
def fitted(toy):
    return AccuracyPredictor(n_models=2, epochs=30, random_state=0).fit(toy["train"])


def test_learns_the_toy_function_on_held_out_genomes(toy, fitted):
    held_out = toy["genomes"][300:]
    mean, std = fitted.predict(held_out, toy["task"], 10)
    assert mean.shape == std.shape == (len(held_out),)
    assert ((mean >= 0) & (mean <= 1)).all() and (std >= 0).all()
    rho = spearmanr(mean, toy["targets"][300:]).statistic
    assert rho > 0.7, rho
    assert np.abs(mean - toy["targets"][300:]).mean() < 0.1
    # JSON text and Genome objects give the same predictions
    again, _ = fitted.predict([g.to_json() for g in held_out[:5]], toy["task"], 10)
    np.testing.assert_allclose(again, mean[:5], atol=1e-6)  # another batch size: float rounding only


def test_learned_attributes(fitted):
    assert len(fitted.models_) == 2 and len(fitted.meta_states_) == 2
    assert fitted.n_features_in_ == fitted.feature_dims_["node"]
    assert fitted.feature_dims_["class"] == 8 and fitted.feature_dims_["global"] == 13
    assert fitted.n_records_ == 300 and fitted.n_tasks_ == 1 and fitted.adapted_ is False
    assert clone(fitted).get_params() == fitted.get_params()
    assert not hasattr(clone(fitted), "models_")


def test_predict_before_fit_is_a_clear_error(toy):
    est = AccuracyPredictor()
    with pytest.raises(NotFittedError, match="not fitted yet.*'fit'"):
        est.predict(toy["genomes"][:3], toy["task"], 10)
    with pytest.raises(ValueError, match="not fitted"):  # NotFittedError is a ValueError
        est.adapt(toy["train"][:3])
    with pytest.raises(NotFittedError):
        est.save("unused.pt")


def test_deterministic_under_random_state_and_global_rng_untouched(toy):
    records = toy["train"][:60]
    rng_before = torch.random.get_rng_state()
    a = AccuracyPredictor(n_models=2, epochs=3, hidden=16, random_state=7, n_jobs=1).fit(records)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    b = AccuracyPredictor(n_models=2, epochs=3, hidden=16, random_state=7, n_jobs=2).fit(records)  # threads: same
    c = AccuracyPredictor(n_models=2, epochs=3, hidden=16, random_state=8).fit(records)
    genomes = toy["genomes"][300:340]
    pa, pb, pc = (m.predict(genomes, toy["task"], 10)[0] for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)
    many = toy["genomes"] * 2  # several prediction chunks, spread over threads or not
    np.testing.assert_array_equal(
        a.set_params(n_jobs=1).predict(many, toy["task"], 10)[0],
        a.set_params(n_jobs=2).predict(many, toy["task"], 10)[0],
    )


def test_task_noise_is_seeded_and_only_in_training(toy):
    records = toy["train"][:60]
    genomes = toy["genomes"][300:340]

    def fit(noise: float) -> AccuracyPredictor:
        return AccuracyPredictor(n_models=1, epochs=3, hidden=16, task_noise=noise, n_jobs=1).fit(records)

    plain, noisy, again = fit(0.0), fit(0.5), fit(0.5)
    p_noisy = noisy.predict(genomes, toy["task"], 10)[0]
    np.testing.assert_array_equal(p_noisy, again.predict(genomes, toy["task"], 10)[0])  # same seed, same noise
    np.testing.assert_array_equal(p_noisy, noisy.predict(genomes, toy["task"], 10)[0])  # no noise at prediction
    assert not np.array_equal(p_noisy, plain.predict(genomes, toy["task"], 10)[0])
    adapted = noisy.adapt(records[:10]).predict(genomes, toy["task"], 10)[0]  # adapt adds no noise either
    np.testing.assert_array_equal(
        adapted, noisy.set_params(task_noise=0.0).adapt(records[:10]).predict(genomes, toy["task"], 10)[0]
    )
    with pytest.raises(ValueError, match="the 'task_noise' parameter must be a non-negative number; got -0.1"):
        AccuracyPredictor(task_noise=-0.1).fit(records)


def test_task_noise_on_probe_leaves_the_metadata_exact():
    net = AccuracyNet(NetConfig(hidden=16, layers=2))
    seen = []
    net.task.forward = lambda classes, class_batch, glob: seen.append((classes, glob))  # what the encoder gets
    classes, class_batch = torch.rand(6, len(CLASS_FEATURES)), torch.tensor([0, 0, 0, 1, 1, 1])
    glob = torch.rand(2, len(GLOBAL_FEATURES))
    exact = torch.tensor([name in METADATA_FEATURES for name in GLOBAL_FEATURES])
    net.embed_tasks(classes, class_batch, glob)
    net.embed_tasks(classes, class_batch, glob, 0.5, torch.Generator().manual_seed(0), exact)
    net.embed_tasks(classes, class_batch, glob, 0.5, torch.Generator().manual_seed(0))
    (clean_c, clean_g), (probe_c, probe_g), (all_c, all_g) = seen
    assert exact.sum() == 7 and not exact[GLOBAL_FEATURES.index("teacher_val_acc")]
    torch.testing.assert_close(probe_g[:, exact], clean_g[:, exact], rtol=0, atol=0)  # the metadata: untouched
    assert (probe_g[:, ~exact] != clean_g[:, ~exact]).all() and (probe_c != clean_c).all()  # the statistics: noisy
    torch.testing.assert_close(probe_g[:, ~exact], all_g[:, ~exact], rtol=0, atol=0)  # the same draws otherwise
    torch.testing.assert_close(probe_c, all_c, rtol=0, atol=0)
    assert (all_g[:, exact] != clean_g[:, exact]).all()


def test_task_noise_on_is_a_setting_of_the_fit(toy):
    records = toy["train"][:60]
    genomes = toy["genomes"][300:340]

    def fit(on: str) -> AccuracyPredictor:
        return AccuracyPredictor(n_models=1, epochs=3, hidden=16, task_noise=0.5, task_noise_on=on, n_jobs=1)

    probe = fit("probe").fit(records)
    assert not np.array_equal(probe.predict(genomes, toy["task"], 10)[0],
                              fit("all").fit(records).predict(genomes, toy["task"], 10)[0])  # fmt: skip
    assert AccuracyPredictor(task_noise_on="all").get_params()["task_noise_on"] == "all"  # the default
    with pytest.raises(ValueError, match="the 'task_noise_on' parameter must be one of 'all', 'probe'; got 'meta'"):
        fit("meta").fit(records)


def test_numpy_settings_save_and_load(toy, tmp_path):
    est = AccuracyPredictor(
        n_models=1, epochs=1, hidden=8, recipe_readout=np.True_, sum_readout=np.True_, task_noise=np.float64(0.1)
    )
    est.fit(toy["train"][:20]).save(tmp_path / "p.pt")
    back = AccuracyPredictor.load(tmp_path / "p.pt")
    assert back.config_.recipe_readout is True and back.config_.sum_readout is True
    assert back.get_params()["task_noise"] == 0.1
    est.set_params(task_noise_on="probe").fit(toy["train"][:20]).save(tmp_path / "q.pt")
    assert AccuracyPredictor.load(tmp_path / "q.pt").get_params()["task_noise_on"] == "probe"
    state = torch.load(tmp_path / "q.pt", weights_only=True)
    del state["params"]["task_noise_on"]  # as the files written before the setting: the noise fell on everything
    torch.save(state, tmp_path / "old.pt")
    assert AccuracyPredictor.load(tmp_path / "old.pt").get_params()["task_noise_on"] == "all"


def test_a_checkpoint_saved_before_sum_readout_loads_without_it(toy, tmp_path):
    est = AccuracyPredictor(n_models=1, epochs=1, hidden=8).fit(toy["train"][:20])
    est.save(tmp_path / "p.pt")
    state = torch.load(tmp_path / "p.pt", weights_only=True)
    del state["params"]["sum_readout"], state["config"]["sum_readout"]  # as the files written before it
    torch.save(state, tmp_path / "old.pt")
    back = AccuracyPredictor.load(tmp_path / "old.pt")
    assert back.config_.sum_readout is False and back.get_params()["sum_readout"] is False
    genomes = toy["genomes"][300:310]
    np.testing.assert_array_equal(back.predict(genomes, toy["task"], 10)[0], est.predict(genomes, toy["task"], 10)[0])


def test_the_budgets_seen_in_training_are_kept_and_outside_them_is_a_warning(toy, tmp_path):
    est = AccuracyPredictor(n_models=1, epochs=1, hidden=8).fit(toy["train"][:20])
    budgets = {r["budget"] for r in toy["train"][:20]} | {
        e + 1 for r in toy["train"][:20] for e in range(len(r.get("curve") or []))
    }
    assert est.budgets_ == (min(budgets), max(budgets))
    low, high = est.budgets_
    assert est.budget_note(low) is None and est.budget_note(high) is None
    assert f"at {high + 1} epochs is an extrapolation" in est.budget_note(high + 1)
    if low == high:
        assert f"meta-trained on a budget of {low} epochs;" in est.budget_note(high + 1)
    est.save(tmp_path / "p.pt")
    assert AccuracyPredictor.load(tmp_path / "p.pt").budgets_ == est.budgets_
    state = torch.load(tmp_path / "p.pt", weights_only=True)
    del state["info"]["budgets"]  # as the files written before it was recorded
    torch.save(state, tmp_path / "old.pt")
    old = AccuracyPredictor.load(tmp_path / "old.pt")
    assert old.budgets_ is None and old.budget_note(high + 100) is None


def test_predict_records_mixes_tasks_and_budgets(toy, fitted):
    other = _task(np.random.default_rng(9), 4)
    genomes = toy["genomes"][300:310]
    records = [
        {"genome": g.to_json(), "task_features": task, "budget": budget}
        for g in genomes
        for task, budget in ((toy["task"], 10), (other, 3))
    ]
    mean, std = fitted.predict_records(records)
    first, first_std = fitted.predict(genomes, toy["task"], 10)
    second, _ = fitted.predict(genomes, other, [3] * len(genomes))
    np.testing.assert_allclose(mean[0::2], first, atol=1e-6)
    np.testing.assert_allclose(mean[1::2], second, atol=1e-6)
    np.testing.assert_allclose(std[0::2], first_std, atol=1e-6)


def test_save_load_round_trip(toy, fitted, tmp_path):
    path = tmp_path / "predictor.pt"
    fitted.save(path)
    state = torch.load(path, weights_only=True)  # plain tensors and JSON-able values only
    assert state["format_version"] == FORMAT_VERSION and state["params"]["n_models"] == 2
    loaded = AccuracyPredictor.load(path)
    genomes = toy["genomes"][300:]
    for a, b in zip(loaded.predict(genomes, toy["task"], 10), fitted.predict(genomes, toy["task"], 10)):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.feature_dims_ == fitted.feature_dims_ and loaded.n_features_in_ == fitted.n_features_in_


def test_load_errors_name_the_file_and_the_problem(fitted, tmp_path):
    path = tmp_path / "predictor.pt"
    fitted.save(path)
    blob = path.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated.pt.*truncated or corrupted") as err:
        AccuracyPredictor.load(truncated)
    assert "\n" not in str(err.value)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all" * 10)
    with pytest.raises(ValueError, match="garbage.pt.*truncated or corrupted"):
        AccuracyPredictor.load(garbage)

    state = torch.load(path, weights_only=True)
    state["format_version"] = FORMAT_VERSION + 1
    future = tmp_path / "future.pt"
    torch.save(state, future)
    with pytest.raises(ValueError, match=f"future.pt.*format_version {FORMAT_VERSION + 1}.*reads format_version"):
        AccuracyPredictor.load(future)

    del state["models"]
    state["format_version"] = FORMAT_VERSION
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    with pytest.raises(ValueError, match="damaged.pt.*damaged"):
        AccuracyPredictor.load(damaged)

    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="other.pt.*not a dass predictor file"):
        AccuracyPredictor.load(other)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        AccuracyPredictor.load(tmp_path / "missing.pt")


def test_adapt_lowers_the_error_on_a_shifted_task(toy, fitted, tmp_path):
    # a new task on which every student is 0.2 less accurate (in logit units: -1.5)
    rng = np.random.default_rng(4)
    task = _task(rng, 6)

    def shifted(i: int) -> float:
        y = toy["targets"][i]
        return float(1 / (1 + math.exp(-(math.log(y / (1 - y)) - 1.5))))

    few = [
        {
            "genome": toy["genomes"][i].to_json(),
            "task_features": task,
            "budget": 10,
            "group": "new",
            "target": shifted(i),
        }
        for i in range(300, 330)
    ]
    test_ids = range(330, 420)
    truth = np.array([shifted(i) for i in test_ids])
    genomes = [toy["genomes"][i] for i in test_ids]
    est = copy.deepcopy(fitted)
    before = np.abs(est.predict(genomes, task, 10)[0] - truth).mean()
    est.adapt(few, steps=60)
    after = np.abs(est.predict(genomes, task, 10)[0] - truth).mean()
    assert est.adapted_ and after < 0.6 * before, (before, after)
    # an adapted predictor saves and loads as such, with its meta-trained weights beside
    est.save(tmp_path / "adapted.pt")
    loaded = AccuracyPredictor.load(tmp_path / "adapted.pt")
    assert loaded.adapted_
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[0], est.predict(genomes, task, 10)[0])
    # reset goes back to the meta-trained weights (and a later adapt starts from them)
    loaded.reset_adaptation()
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[0], fitted.predict(genomes, task, 10)[0])
    est.reset_adaptation()
    np.testing.assert_array_equal(est.predict(genomes, task, 10)[0], fitted.predict(genomes, task, 10)[0])
    # tuning every weight (small lr) helps as well
    est.adapt(few, steps=30, lr=1e-3, params="all")
    assert np.abs(est.predict(genomes, task, 10)[0] - truth).mean() < 0.6 * before
    assert fitted.adapted_ is False


@pytest.mark.parametrize(
    "params, prefixes",
    [
        ("head", ("film.", "head.")),
        ("context", ("task.rho.2.bias",)),
        ("task", ("task.",)),
        ("all", ("",)),
    ],
)
def test_adapt_tunes_only_the_chosen_weights(fitted, toy, params, prefixes):
    est = copy.deepcopy(fitted)
    shifted = [dict(r, target=0.5 * r["target"]) for r in toy["train"][:20]]
    est.adapt(shifted, steps=5, lr=1e-2, params=params)
    before, after = fitted.models_[0].state_dict(), est.models_[0].state_dict()
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    tunable = {n for n, _ in fitted.models_[0].named_parameters() if n.startswith(prefixes)}
    assert changed and changed <= tunable, (params, sorted(changed - tunable))


def test_the_budget_is_an_input_and_curves_are_labels():
    rng = np.random.default_rng(1)
    task = _task(rng, 5)
    genomes = [get_space("resnet").sample(rng) for _ in range(60)]
    quality = rng.uniform(0.6, 0.95, len(genomes))
    records = [
        {
            "genome": g.to_json(),
            "task_features": task,
            "budget": 4,
            "group": "curves",
            "target": float(q),
            "curve": [float(q * f) for f in (0.4, 0.6, 0.8, 1.0)],
        }
        for g, q in zip(genomes, quality)
    ]
    est = AccuracyPredictor(n_models=1, epochs=25, hidden=32, random_state=0).fit(records)
    early, _ = est.predict(genomes, task, 1)
    late, _ = est.predict(genomes, task, 4)
    assert (late - early).mean() > 0.15


def test_bad_records_and_arguments_are_one_line_errors(toy):
    good = toy["train"][0]
    est = AccuracyPredictor(epochs=1, n_models=1)
    with pytest.raises(ValueError, match="record 1 is missing the key 'target'"):
        est.fit([good, {k: v for k, v in good.items() if k != "target"}])
    with pytest.raises(ValueError, match=r"record 0: the target must be an accuracy in \[0, 1\]; got 1.5"):
        est.fit([dict(good, target=1.5)])
    with pytest.raises(ValueError, match="record 0: the budget must be a positive whole number"):
        est.fit([dict(good, budget=0)])
    with pytest.raises(ValueError, match=r"record 0: task_features\['global'\] must have 13 numbers; got 1"):
        est.fit([dict(good, task_features={"classes": [[0.0] * 8], "global": [0.0]})])
    with pytest.raises(ValueError, match="record 0: the genome is not valid JSON"):
        est.fit([dict(good, genome="{")])
    with pytest.raises(ValueError, match="the 'n_models' parameter must be a positive integer; got 0"):
        AccuracyPredictor(n_models=0).fit([good])
    with pytest.raises(ValueError, match="no records"):
        est.fit([])


def test_adapt_argument_errors(fitted, toy):
    allowed = "{'head', 'context', 'task', 'all'}"
    with pytest.raises(ValueError, match=f"the 'params' parameter must be one of {allowed}; got 'everything'"):
        fitted.adapt(toy["train"][:3], params="everything")
    with pytest.raises(ValueError, match="the 'steps' parameter must be a non-negative integer"):
        fitted.adapt(toy["train"][:3], steps=-1)


def test_residual_adaptation_corrects_an_offset_without_reordering_and_saves(toy, fitted, tmp_path):
    rng = np.random.default_rng(5)
    task = _task(rng, 6)
    genomes = [toy["genomes"][i] for i in range(330, 420)]
    est = copy.deepcopy(fitted)
    zero_mean, zero_std = est.predict(genomes, task, 10)
    # the measured accuracies of this task sit 0.15 below the predictions, whatever the student
    records = [
        {
            "genome": toy["genomes"][i].to_json(),
            "task_features": task,
            "budget": 10,
            "group": "new",
            "target": float(m - 0.15),
        }
        for i, m in zip(range(300, 310), est.predict(toy["genomes"][300:310], task, 10)[0])
    ]
    est.adapt(records, method="residual")
    mean, std = est.predict(genomes, task, 10)
    assert est.adapted_ and abs(np.mean(mean - zero_mean) + 0.15) < 0.02
    assert spearmanr(mean, zero_mean).statistic > 0.99  # an offset is no reason to reorder the students
    assert (std >= zero_std).all()
    est.save(tmp_path / "residual.pt")
    loaded = AccuracyPredictor.load(tmp_path / "residual.pt")
    np.testing.assert_allclose(loaded.predict(genomes, task, 10)[0], mean, atol=1e-12)
    loaded.reset_adaptation()
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[0], zero_mean)
    assert fitted.adapted_ is False


def test_residual_adaptation_learns_a_systematic_error_from_enough_records(toy, fitted):
    # on this task distillation hurts: a distilled student is 0.15 less accurate than the predictor says, a
    # no-distillation control is as predicted; half the students are controls
    rng = np.random.default_rng(6)
    task = _task(rng, 6)
    genomes = [g if i % 2 else g.with_recipe(Recipe.plain()) for i, g in enumerate(toy["genomes"][300:420])]
    zero, _ = fitted.predict(genomes, task, 10)
    truth = np.clip(zero - 0.15 * np.array([g.recipe.distills for g in genomes]), 0.0, 1.0)
    records = [
        {"genome": g.to_json(), "task_features": task, "budget": 10, "group": "new", "target": float(y)}
        for g, y in zip(genomes[:48], truth[:48])
    ]
    est = copy.deepcopy(fitted).adapt(records, method="residual")
    adapted = est.predict(genomes[48:], task, 10)[0]
    before, after = spearmanr(zero[48:], truth[48:]).statistic, spearmanr(adapted, truth[48:]).statistic
    assert (1 - after) < 0.6 * (1 - before), (before, after)  # the gap to a perfect ranking shrinks
    # the error shrinks: by 0.42-0.56x over the toy fit's seeds 0-4 (the fit's initial weights, hence this ratio,
    # change whenever the graph layout grows by a family or a recipe loss), so 0.6x rather than the median 0.5x
    assert np.abs(adapted - truth[48:]).mean() < 0.6 * np.abs(zero[48:] - truth[48:]).mean()


def test_residual_gp_shrinks_to_the_offset_on_noise_and_is_surer_near_its_records():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4))
    gp = ResidualGP.fit(x, 0.05 + 0.01 * rng.normal(size=10))
    far = x + 100.0
    mean_far, var_far = gp.predict(far)
    mean_near, var_near = gp.predict(x)
    assert np.allclose(mean_far, mean_far[0]) and 0.03 < mean_far[0] < 0.07
    assert (var_near <= var_far + 1e-12).all()
    with pytest.raises(ValueError, match="finite"):
        ResidualGP.fit(x, np.full(10, np.nan))


def _records_of(genomes, targets, task):
    return [
        {"genome": g.to_json(), "task_features": task, "budget": 10, "group": "new", "target": float(y)}
        for g, y in zip(genomes, targets)
    ]


def test_guarded_adaptation_only_shifts_when_fine_tuning_orders_held_out_records_worse(
    toy, fitted, tmp_path, monkeypatch
):
    rng = np.random.default_rng(8)
    task = _task(rng, 6)
    genomes = toy["genomes"][300:420]
    zero, _ = fitted.predict(genomes, task, 10)
    # 10 records 0.1 below the predictions, in the predicted order; a fine-tuning that scrambles the order (its
    # members are re-initialised: as if a few records had dragged every weight) must not be kept
    targets = zero[:10] - 0.1
    est = copy.deepcopy(fitted)

    def scrambled(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            return [AccuracyNet(est.config_, est.layout_).eval() for _ in est.meta_states_]

    monkeypatch.setattr(est, "_finetuned", scrambled)
    est.adapt(_records_of(genomes[:10], targets, task), method="guarded")
    scores = est.adaptation_["concordance"]
    assert est.adaptation_["method"] == "shift" and scores["shift"] == 1.0 and scores["finetune"] < 0.9, scores
    mean, _ = est.predict(genomes, task, 10)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    np.testing.assert_allclose(logit(mean) - logit(zero), est.shift_, atol=1e-6)  # one offset in logit space
    assert (np.argsort(mean, kind="stable") == np.argsort(zero, kind="stable")).all()  # the students keep their order
    assert est.shift_ == pytest.approx(np.mean(logit(targets) - logit(zero[:10])), abs=1e-5)
    # the interval is re-scaled for the task from the shifted predictions' errors on the records
    assert np.isfinite(est.task_scale_) and est.task_scale_ > 0 and est.adaptation_["task_scale"] > 0
    # a shift up near the top of [0, 1] (an easy task) ties no students at 1.0, as clipping would
    fitted_shift, est.shift_ = est.shift_, 8.0
    high, _ = est.predict(genomes, task, 10)
    assert high.max() < 1.0 and len(np.unique(high)) == len(np.unique(zero))
    est.shift_ = fitted_shift
    est.save(tmp_path / "guarded.pt")
    loaded = AccuracyPredictor.load(tmp_path / "guarded.pt")
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[0], mean)
    assert loaded.adaptation_["method"] == "shift"
    loaded.reset_adaptation()
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[0], zero)


def test_guarded_adaptation_fine_tunes_unless_that_orders_held_out_records_worse(toy, fitted):
    # the measured order is the reverse of the predicted one: the meta-trained order is as wrong as can be, so
    # the fine-tuning is kept, and the result is exactly a plain fine-tuning's
    rng = np.random.default_rng(6)
    task = _task(rng, 6)
    genomes = toy["genomes"][300:420]
    zero, _ = fitted.predict(genomes, task, 10)
    records = _records_of(genomes[:20], 1.0 - zero[:20], task)
    guarded = copy.deepcopy(fitted).adapt(records, method="guarded")
    scores = guarded.adaptation_["concordance"]
    assert guarded.adaptation_["method"] == "finetune" and scores["shift"] == 0.0, scores
    plain = copy.deepcopy(fitted).adapt(records)
    np.testing.assert_array_equal(guarded.predict(genomes, task, 10)[0], plain.predict(genomes, task, 10)[0])
    assert guarded.shift_ == 0.0


def test_guard_folds_and_concordance():
    keys = ["a", "b", "a", "c", "d", "b", "e"]
    folds = student_folds(keys, 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(keys)))
    assert all(len({keys[i] for i in f} & {keys[i] for i in g}) == 0 for f in folds for g in folds if f is not g)
    assert [f.tolist() for f in folds] == [f.tolist() for f in student_folds(keys, 3, seed=0)]
    # order within a budget only: the pair across budgets (0, 2) does not count
    assert concordance([0.1, 0.2, 0.9], [0.3, 0.4, 0.1], [1, 1, 2]) == 1.0
    assert concordance([0.2, 0.1], [0.3, 0.4], [1, 1]) == 0.0
    assert concordance([0.2, 0.2], [0.3, 0.4], [1, 1]) == 0.5
    assert np.isnan(concordance([0.1, 0.2], [0.3, 0.3], [1, 1]))


def test_task_scale_is_the_conformal_rank_of_the_error_ratios():
    ratios = np.arange(1.0, 11.0)  # ten records, errors 1..10 times their sigma, in any order
    err, std = np.random.default_rng(0).permutation(ratios) * 0.01, np.full(10, 0.01)
    assert task_scale(err, std, 0.68) == pytest.approx(8.0)  # the ceil(11 * 0.68) = 8th smallest
    assert task_scale(err, std, 0.95) == pytest.approx(10.0)  # past the last rank: the largest
    assert task_scale(err[:9], std[:9], 0.7) == pytest.approx(np.sort(err[:9])[6] / 0.01)  # (9 + 1) * 0.7 = 7 exactly
    # a zero sigma (one member, no floor) says nothing about a factor on it: left out; none left, or a zero
    # quantile: no change
    assert task_scale([0.01, 0.02, 0.03], [0.0, 0.01, 0.01], 0.3) == pytest.approx(2.0)  # ratios 2, 3: rank 1
    assert task_scale([0.01, 0.02], [0.0, 0.0], 0.5) == 1.0
    assert task_scale([0.0, 0.0, 0.02], [0.01, 0.01, 0.01], 0.5) == 1.0


@pytest.mark.parametrize("method", ["finetune", "guarded"])
def test_adapting_rescales_the_uncertainty_to_the_tasks_out_of_fold_errors(toy, fitted, method, tmp_path):
    rng = np.random.default_rng(9)
    task = _task(rng, 6)
    genomes = toy["genomes"][300:340]
    zero, zero_std = fitted.predict(genomes, task, 10)
    # measured accuracies unrelated to the predictions: the task is unlike the meta-training ones
    records = _records_of(genomes[:20], rng.uniform(0.1, 0.9, 20), task)
    est = copy.deepcopy(fitted).adapt(records, method=method)
    plain = copy.deepcopy(fitted).adapt(records, method=method, calibrate=False)
    assert plain.task_scale_ == 1.0 and "task_scale" not in plain.adaptation_
    assert est.task_scale_ > 1.0 and est.adaptation_["task_scale"] == pytest.approx(est.task_scale_, abs=1e-6)
    mean, std = est.predict(genomes, task, 10)
    np.testing.assert_array_equal(mean, plain.predict(genomes, task, 10)[0])  # the means are the same
    np.testing.assert_allclose(std, plain.predict(genomes, task, 10)[1] * est.task_scale_, rtol=1e-9)
    est.save(tmp_path / "adapted.pt")
    loaded = AccuracyPredictor.load(tmp_path / "adapted.pt")
    assert loaded.task_scale_ == est.task_scale_
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[1], std)
    loaded.reset_adaptation()
    assert loaded.task_scale_ == 1.0
    np.testing.assert_array_equal(loaded.predict(genomes, task, 10)[1], zero_std)
    # too few records to split: no scale
    assert copy.deepcopy(fitted).adapt(records[:4], method=method).task_scale_ == 1.0


def test_an_unknown_adaptation_method_is_refused(fitted, toy):
    with pytest.raises(ValueError, match="'method' parameter must be one of"):
        copy.deepcopy(fitted).adapt(toy["train"][:3], method="magic")


def test_calibrate_makes_the_interval_cover_what_it_says_and_is_saved(toy, fitted, tmp_path):
    est = copy.deepcopy(fitted)
    rng = np.random.default_rng(7)
    noisy = lambda ids: [  # noqa: E731 (labels with seed noise the ensemble's spread knows nothing of)
        {
            **toy["train"][0],
            "genome": toy["genomes"][i].to_json(),
            "target": float(np.clip(toy["targets"][i] + 0.03 * rng.normal(), 0, 1)),
        }
        for i in ids
    ]
    held_out, check = noisy(range(300, 360)), noisy(range(360, 420))
    raw_mean, raw_std = est.predict_records(check)
    assert est.calibration_ == (1.0, 0.0)
    est.calibrate(held_out)
    mean, std = est.predict_records(check)
    np.testing.assert_array_equal(mean, raw_mean)  # only the uncertainty changes
    within = np.mean(np.abs(np.array([r["target"] for r in check]) - mean) <= std)
    assert 0.5 <= within <= 0.85, within
    est.save(tmp_path / "calibrated.pt")
    loaded = AccuracyPredictor.load(tmp_path / "calibrated.pt")
    assert loaded.calibration_ == est.calibration_
    np.testing.assert_array_equal(loaded.predict_records(check)[1], std)
    with pytest.raises(ValueError, match="at least 20 held-out records"):
        est.calibrate(held_out[:5])
    with pytest.raises(ValueError, match="'coverage' parameter must be in"):
        est.calibrate(held_out, coverage=1.5)


def test_balance_by_source_weighs_every_task_source_the_same(toy):
    from predictor.estimator import _examples

    big = [dict(r, group=f"big{i // 10}", tags={"source": "mnist"}) for i, r in enumerate(toy["train"][:200])]
    small = [dict(r, group=f"small{i // 10}", tags={"source": "glyphs"}) for i, r in enumerate(toy["train"][200:220])]
    data = _examples(big + small, curve_weight=0.0)
    settings = {"none": None, "source": "source", "0.5": 0.5, "1": 1.0}
    counts = {key: np.zeros(2) for key in settings}
    for balance, setting in settings.items():
        est = AccuracyPredictor(balance=setting, batch_size=16)
        generator = torch.Generator().manual_seed(0)
        for _ in range(50):
            batches = est._batches(data, generator)
            idx = torch.cat(batches)
            counts[balance] += np.bincount(data.source[idx].numpy(), minlength=2)
            order = data.rank_group[idx].numpy()  # a drawn group's records stay together (ranking pairs)
            runs = 1 + int((order[1:] != order[:-1]).sum())
            assert runs <= len(idx) // 10 + 1  # groups of 10 records: at most one run per drawn group
    assert counts["none"].tolist() == [200 * 50, 20 * 50]  # every record once an epoch
    assert abs(counts["source"][0] / counts["source"][1] - 1) < 0.15  # both sources as often
    assert abs(counts["source"].sum() / (220 * 50) - 1) < 0.05  # an epoch as long as before
    # tempered: shares 10:1 of the records become sqrt(10):1 of an epoch; 1 is every record once
    assert abs(counts["0.5"][0] / counts["0.5"][1] / 10**0.5 - 1) < 0.15
    assert abs(counts["0.5"].sum() / (220 * 50) - 1) < 0.05
    assert counts["1"].tolist() == [200 * 50, 20 * 50]
    fitted = AccuracyPredictor(n_models=1, epochs=2, balance="source").fit(big + small)
    assert fitted.get_params()["balance"] == "source"
    for bad in ("family", 1.5, -0.1, True):
        allowed = "'balance' parameter must be None, 'source' or a number from 0 to 1"
        with pytest.raises(ValueError, match=re.escape(f"{allowed}; got {bad!r}")):
            AccuracyPredictor(balance=bad).fit(big)


def test_landmarks_tell_apart_tasks_the_probe_features_cannot(toy, tmp_path):
    """Two tasks with the same probe features where the students rank in opposite orders (as depth helps on some
    tasks and hurts on others): only the landmarks say which is which."""
    task = toy["task"]
    up = {**task, "landmarks": [0.5, 0.7, 0.2]}
    down = {**task, "landmarks": [0.7, 0.5, -0.2]}
    genomes, targets = toy["genomes"], toy["targets"]
    records = [
        {"genome": g.to_json(), "task_features": tf, "budget": 10, "group": name, "target": float(y)}
        for tf, name, ys in ((up, "up", targets), (down, "down", 1.0 - targets))
        for g, y in zip(genomes[:300], ys[:300])
    ]
    held_out = genomes[300:]
    est = AccuracyPredictor(n_models=1, epochs=30, random_state=0, landmarks=True).fit(records)
    assert est.feature_dims_["global"] == 16 and est.n_tasks_ == 2
    rho_up = spearmanr(est.predict(held_out, up, 10)[0], targets[300:]).statistic
    rho_down = spearmanr(est.predict(held_out, down, 10)[0], 1.0 - targets[300:]).statistic
    assert rho_up > 0.6 and rho_down > 0.6, (rho_up, rho_down)
    # without them the two tasks are one, and no ranking fits both
    plain = AccuracyPredictor(n_models=1, epochs=30, random_state=0).fit(records)
    assert plain.n_tasks_ == 1
    rho = spearmanr(plain.predict(held_out, task, 10)[0], targets[300:]).statistic
    assert abs(rho) < 0.5, rho

    with pytest.raises(ValueError, match=r"predict: this predictor reads landmarks: task_features\['landmarks'\]"):
        est.predict(held_out, task, 10)
    est.save(tmp_path / "lm.pt")
    back = AccuracyPredictor.load(tmp_path / "lm.pt")
    assert back.landmarks is True and back.feature_dims_["global"] == 16
    np.testing.assert_allclose(back.predict(held_out, down, 10)[0], est.predict(held_out, down, 10)[0], atol=1e-6)
    state = torch.load(tmp_path / "lm.pt", weights_only=True)
    state["params"]["landmarks"] = False  # its inputs no longer match what it says it reads
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="is damaged: ValueError: its task features differ from this dass's"):
        AccuracyPredictor.load(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="the 'landmarks' parameter must be True or False; got 'yes'"):
        AccuracyPredictor(landmarks="yes").fit(records)

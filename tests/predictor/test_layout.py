"""A predictor reads graphs in its own layout, by name (predictor/layout.py).

The layout grows whenever a student family or a recipe loss is registered; these tests grow it on purpose with
a fake family (whose node types, features and edge kinds sort before or among the existing ones) and fake
recipe one-hot columns, and check that a checkpoint still predicts bit for bit, refuses what it was trained
without, and that a predictor fitted on several families at once works end to end.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from distill.families import FAMILIES, StagedCNN, StagedCNNSpace
from distill.genome import LOGIT_LOSSES, SPACES, Genome, SearchSpace, get_space
from predictor import graph as graph_module
from predictor.estimator import AccuracyPredictor
from predictor.graph import (
    LAYOUT,
    RECIPE_EDGE_KINDS,
    RECIPE_FEATURES,
    RECIPE_NODE_TYPES,
    UnknownFeatureError,
    encode_batch,
    genome_to_graph,
)
from predictor.layout import Projection, checkpoint_layout, compose_layout

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints" / "predictor_v1.pt"
FAKE = "aa_fake"  # sorts before every real name


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# A fake second family: the staged CNN whose blocks are "attention" nodes with a "heads" feature, plus a
# skip edge of its own kind from the stem to the head.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FakeSpace(StagedCNNSpace):
    family: ClassVar[str] = FAKE


class FakeFamily(StagedCNN):
    name = FAKE
    space_type = FakeSpace
    node_types = ("input", "stem", f"{FAKE}_attention", "head", "output")
    edge_kinds = (f"{FAKE}_skip", "flow", "residual_identity", "residual_projection")
    graph_features = (f"{FAKE}_heads", *StagedCNN.graph_features)
    spaces = {FAKE: FakeSpace()}

    @staticmethod
    def _attention(x: np.ndarray, layout) -> None:
        blocks = x[:, layout.col("node:block")] == 1
        x[blocks, layout.col("node:block")] = 0.0
        x[blocks, layout.col(f"node:{FAKE}_attention")] = 1.0
        x[blocks, layout.col(f"{FAKE}_heads")] = 0.5

    def graph(self, genome, layout):
        arch = super().graph(genome, layout)
        self._attention(arch.x, layout)
        arch.edges.append((1, arch.output - 1, layout.edge(f"{FAKE}_skip")))
        return arch

    def graph_batch(self, genomes, layout):
        arch = super().graph_batch(genomes, layout)
        self._attention(arch.x, layout)
        n = len(arch.counts)
        arch.edge_graph = np.concatenate([arch.edge_graph, np.arange(n)])
        arch.edge_src = np.concatenate([arch.edge_src, np.ones(n, dtype=np.int64)])
        arch.edge_dst = np.concatenate([arch.edge_dst, arch.output - 1])
        arch.edge_kind = np.concatenate([arch.edge_kind, np.full(n, layout.edge(f"{FAKE}_skip"))])
        return arch


def _grown_recipe_features() -> tuple[str, ...]:
    """The recipe's features with a new logit-loss column among the others and a hint transform before them."""
    out = []
    for name in RECIPE_FEATURES:
        if name == "log2_temperature":
            out.append("logit_loss:zz_new")  # appended to the logit-loss one-hots, as a registry entry would be
        if name.startswith("hint_transform:") and f"hint_transform:{FAKE}" not in out:
            out.append(f"hint_transform:{FAKE}")
        out.append(name)
    return tuple(out)


@pytest.fixture(params=["first", "last"])
def grown(request, monkeypatch):
    """Today's layout grown by the fake family (registered before or after the real ones) and two recipe columns."""
    family = FakeFamily()
    monkeypatch.setitem(FAMILIES._entries, FAKE, family)
    monkeypatch.setitem(SPACES._entries, FAKE, SearchSpace(name=FAKE, arch=FakeSpace()))
    real = [FAMILIES.get(n) for n in FAMILIES.names() if n != FAKE]
    families = [family, *real] if request.param == "first" else [*real, family]
    layout = compose_layout(families, RECIPE_NODE_TYPES, RECIPE_EDGE_KINDS, _grown_recipe_features())
    monkeypatch.setattr(graph_module, "LAYOUT", layout)
    return layout


def _golden_rows() -> tuple[list[dict], np.lib.npyio.NpzFile]:
    golden = np.load(ROOT / "tests" / "data" / "golden_predictions.npz", allow_pickle=False)
    rows = [
        {"genome": str(g), "task_features": json.loads(str(f)), "budget": int(b)}
        for g, f, b in zip(golden["genome"], golden["task_features"], golden["budget"])
    ]
    return rows, golden


def _task(rng: np.random.Generator, k: int = 5) -> dict:
    return {"classes": rng.random((k, 8)).tolist(), "global": rng.random(13).tolist()}


def _records(genomes: list[Genome], task: dict, rng: np.random.Generator) -> list[dict]:
    return [
        {"genome": g.to_json(), "task_features": task, "budget": 8, "group": "g", "target": float(rng.random())}
        for g in genomes
    ]


def _sample(space: str, n: int, seed: int) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# The layout and the projection
# ---------------------------------------------------------------------------------------------
def test_the_grown_layout_moves_the_columns_and_the_edge_ids(grown):
    assert grown.col("node:logit_kd") != LAYOUT.col("node:logit_kd")
    assert grown.col("logit_loss:zz_new") == grown.col(f"logit_loss:{LOGIT_LOSSES[-1]}") + 1
    assert grown.feature_owners[grown.col(f"node:{FAKE}_attention")] == FAKE
    assert grown.feature_owners[grown.col("node:block")] == "staged_cnn"
    assert grown.edge_owners[grown.edge(f"{FAKE}_skip")] == FAKE
    if grown.feature_names[0] == f"node:{FAKE}_attention":  # the fake family first: everything moved
        assert grown.edge(f"{FAKE}_skip") == 0 and grown.edge("flow") == 1


def test_the_fake_family_graphs_are_valid_and_batch_equals_single(grown):
    genomes = _sample(FAKE, 30, 0) + _sample("default", 10, 1)
    batch = encode_batch(genomes)
    assert batch.validate() and batch.x.shape[1] == grown.num_features
    for i, g in enumerate(genomes):
        single, example = genome_to_graph(g), batch.get_example(i)
        assert torch.equal(single.x, example.x) and torch.equal(single.edge_index, example.edge_index)
        assert torch.equal(single.edge_type, example.edge_type)
    assert batch.x[:, grown.col(f"node:{FAKE}_attention")].sum() > 0


def test_a_checkpoint_layout_equal_to_todays_is_todays():
    assert checkpoint_layout(LAYOUT, LAYOUT.feature_names, LAYOUT.edge_kinds) is LAYOUT


@pytest.mark.parametrize("what", ["feature", "edge kind"])
def test_a_checkpoint_needing_a_name_this_dass_lacks_is_refused_by_name(what):
    features, kinds = list(LAYOUT.feature_names), list(LAYOUT.edge_kinds)
    (features if what == "feature" else kinds).append("gone")
    with pytest.raises(ValueError, match=f"graph {what} 'gone', which this dass does not compute.*dass pretrain"):
        checkpoint_layout(LAYOUT, features, kinds)


def test_projection_gathers_columns_and_maps_edge_types_by_name():
    source = compose_layout([], ("a", "b", "c"), ("e0", "e1", "e2"), ("f0", "f1"))
    target = checkpoint_layout(source, ["f1", "node:a", "node:c"], ["e2", "e0"])
    project = Projection(source, target)
    x = np.array([[1, 0, 0, 5, 6], [0, 0, 1, 7, 8]], dtype=np.float32)  # node:a node:b node:c f0 f1
    edge_index = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])
    edge_type = np.array([0, 2, 3, 5])  # e0, e2, reverse e0, reverse e2
    # a non-zero column the target lacks (f0), an edge of a kind it lacks (e1): refused, named
    with pytest.raises(UnknownFeatureError, match=r"without the recipe feature \('f0', node 0\); retrain"):
        project(x, edge_index, edge_type, lambda row: f"node {row}")
    x[:, 3] = 0
    with pytest.raises(UnknownFeatureError, match=r"without the recipe edge kind \('e1', node 1\)"):
        project(x, edge_index, np.array([0, 2, 4, 5]), lambda row: f"node {row}")
    gathered, mapped = project(x, edge_index, edge_type, str)
    np.testing.assert_array_equal(gathered, [[6, 1, 0], [8, 0, 1]])
    np.testing.assert_array_equal(mapped, [1, 0, 3, 2])


# ---------------------------------------------------------------------------------------------
# The shipped checkpoint in a grown layout
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def today():
    """The shipped checkpoint's predictions of the golden rows in today's layout, on this machine (the pinned ones
    match them to float32 rounding only, which differs from CPU to CPU: tests/predictor/test_golden.py)."""
    rows, _ = _golden_rows()
    return AccuracyPredictor.load(SHIPPED).predict_records(rows)


def test_shipped_checkpoint_predicts_bit_identically_in_a_grown_layout(today, grown):
    rows, _ = _golden_rows()
    predictor = AccuracyPredictor.load(SHIPPED)
    assert predictor.layout_.feature_names != grown.feature_names  # it reads its own layout, by name
    mean, std = predictor.predict_records(rows)
    np.testing.assert_array_equal(mean, today[0])
    np.testing.assert_array_equal(std, today[1])


def test_shipped_checkpoint_refuses_a_family_it_was_trained_without(grown):
    rows, _ = _golden_rows()
    predictor = AccuracyPredictor.load(SHIPPED)
    fake = _sample(FAKE, 3, 0)
    with pytest.raises(
        ValueError,
        match=rf"trained without the '{FAKE}' student family \(feature 'node:{FAKE}_attention', needed by a genome "
        rf"of space '{FAKE}'\); retrain it with `dass pretrain` on records that include it",
    ) as err:
        predictor.predict(_sample("default", 5, 0) + fake, rows[0]["task_features"], 10)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("space", [s for s in SPACES.names() if get_space(s).arch.family != "staged_cnn"])
def test_shipped_checkpoint_refuses_every_new_real_family(space):
    """Every space of a family registered since v1 (e.g. ``vit``; a ``mixed`` space samples some of them)."""
    rows, _ = _golden_rows()
    pattern = (
        rf"trained without the '(?!staged_cnn)[\w-]+' student family \(feature '[^']+', "
        rf"needed by a genome of space '{space}'\); retrain it with `dass pretrain`"
    )
    with pytest.raises(ValueError, match=pattern):
        AccuracyPredictor.load(SHIPPED).predict(_sample(space, 8, 0), rows[0]["task_features"], 10)


def test_a_recipe_loss_the_checkpoint_lacks_is_refused_by_name(grown):
    predictor = AccuracyPredictor.load(SHIPPED)
    project = Projection(grown, predictor.layout_)
    arrays = graph_module._encode_arrays(_sample("default", 3, 0))
    kd = np.flatnonzero(arrays["x"][:, grown.col("node:logit_kd")])[1]  # the second genome's logit-KD node
    arrays["x"][kd, grown.col("logit_loss:zz_new")] = 1.0
    with pytest.raises(UnknownFeatureError, match=r"without the logit loss 'zz_new' \(feature 'logit_loss:zz_new'"):
        project(arrays["x"], arrays["edge_index"], arrays["edge_type"], str)


# ---------------------------------------------------------------------------------------------
# Fresh predictors: the full layout, several families at once
# ---------------------------------------------------------------------------------------------
def test_a_predictor_fitted_today_predicts_bit_identically_after_the_layout_grows(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    task = _task(rng)
    genomes = _sample("default", 40, 3)
    est = AccuracyPredictor(n_models=2, hidden=16, epochs=2, recipe_readout=True, sum_readout=True, n_jobs=1)
    est.fit(_records(genomes, task, rng)).save(tmp_path / "today.pt")
    before = est.predict(genomes, task, 8)
    # today's layout grows by a family sorted first and new recipe columns: the node types' columns move
    family = FakeFamily()
    monkeypatch.setitem(FAMILIES._entries, FAKE, family)
    grown = compose_layout(
        [family, *graph_module._FAMILIES], RECIPE_NODE_TYPES, RECIPE_EDGE_KINDS, _grown_recipe_features()
    )
    monkeypatch.setattr(graph_module, "LAYOUT", grown)
    loaded = AccuracyPredictor.load(tmp_path / "today.pt")
    assert loaded.models_[0].recipe_columns == [LAYOUT.col("node:logit_kd"), LAYOUT.col("node:hint")]
    for a, b in zip(loaded.predict(genomes, task, 8), before):
        np.testing.assert_array_equal(a, b)
    # adapted and saved again, it keeps its own layout
    loaded.adapt(_records(genomes[:8], task, rng), steps=2).save(tmp_path / "adapted.pt")
    features = torch.load(tmp_path / "adapted.pt", weights_only=True)["features"]
    assert features["node"] == list(LAYOUT.feature_names) and features["edge_kinds"] == list(LAYOUT.edge_kinds)


def test_a_predictor_fits_and_predicts_a_batch_that_mixes_families(grown, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    task = _task(rng)
    other = [s for s in SPACES.names() if get_space(s).arch.family not in ("staged_cnn", FAKE)]
    spaces = ["default", FAKE, *other]
    genomes = [g for i, s in enumerate(spaces) for g in _sample(s, 24, 10 + i)]
    order = rng.permutation(len(genomes))  # families interleaved
    genomes = [genomes[i] for i in order]
    est = AccuracyPredictor(n_models=2, hidden=16, epochs=2, recipe_readout=True, n_jobs=2).fit(
        _records(genomes, task, rng)
    )
    assert est.layout_ is grown and est.n_features_in_ == grown.num_features
    mean, std = est.predict(genomes, task, 8)
    assert np.isfinite(mean).all() and (std >= 0).all()
    # a genome's prediction does not depend on the families beside it in the batch
    for space in spaces:
        alone = [g for g in genomes if g.space == space]
        np.testing.assert_allclose(
            est.predict(alone, task, 8)[0], mean[[g.space == space for g in genomes]], rtol=0, atol=1e-6
        )
    est.adapt(_records(genomes[:12], task, rng), steps=2)
    est.adapt(_records(genomes[:12], task, rng), method="residual")
    est.save(tmp_path / "mixed.pt")
    loaded = AccuracyPredictor.load(tmp_path / "mixed.pt")
    for a, b in zip(loaded.predict(genomes, task, 8), est.predict(genomes, task, 8)):
        np.testing.assert_array_equal(a, b)
    # without the fake family registered, the file needs a feature this dass does not compute
    monkeypatch.setattr(graph_module, "LAYOUT", LAYOUT)
    with pytest.raises(ValueError, match=rf"mixed.pt.*graph feature 'node:{FAKE}_attention'.*dass pretrain"):
        AccuracyPredictor.load(tmp_path / "mixed.pt")

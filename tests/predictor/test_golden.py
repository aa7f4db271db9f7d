"""The shipped checkpoint's predictions are pinned (see tests/data/make_golden_predictions.py).

Pinned to float32 rounding, not bit for bit: the same code on another CPU (AVX2 against AVX-512 kernels) moves
a prediction by up to a few 1e-8; a change of what the predictor computes moves it by far more.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from predictor.estimator import AccuracyPredictor

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_checkpoint_predictions_match_the_pinned_ones_to_float32_rounding():
    golden = np.load(ROOT / "tests" / "data" / "golden_predictions.npz", allow_pickle=False)
    rows = [
        {"genome": str(g), "task_features": json.loads(str(f)), "budget": int(b), "group": "g", "target": 0.0}
        for g, f, b in zip(golden["genome"], golden["task_features"], golden["budget"])
    ]
    assert len(rows) >= 2000
    mean, std = AccuracyPredictor.load(ROOT / "checkpoints" / "predictor_v1.pt").predict_records(rows)
    np.testing.assert_allclose(mean, golden["mean"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(std, golden["std"], rtol=0, atol=1e-6)


def test_the_v2_checkpoint_names_all_of_its_data_and_ranks_transformer_students():
    # meta-trained on v1 and every part of v2 (1-9), the transformer parts among them, and the tasks' landmarks:
    # the checkpoint that scores the `vit` and `mixed` spaces (v1 refuses them).
    from distill.genome import Genome
    from predictor.data import load_records

    card = json.loads((ROOT / "checkpoints" / "predictor_v2.json").read_text())
    files = {f["file"]: f["sha256"] for f in card["data"]["files"]}
    parts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "datasets_meta" / "meta_v2").glob("part[1-9]_*.csv.gz"))
    assert len(parts) == 10 and set(files) == {"datasets_meta/meta_v1.csv.gz", *parts}
    for name, digest in files.items():  # the exports it learned from are the committed ones
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, name
    records = load_records(ROOT / "datasets_meta" / "meta_v2" / "part4_vit.csv.gz")
    group = [r for r in records if r["group"] == records[0]["group"]]
    vit = [r for r in group if Genome.from_json(r["genome"]).space.startswith("vit")]
    assert len(vit) >= 20
    predictor = AccuracyPredictor.load(ROOT / "checkpoints" / "predictor_v2.pt")
    # it reads the tasks' landmarks, from the committed table it was meta-trained with
    from distill.landmarks import LandmarkTable, attach_landmarks

    table = ROOT / card["landmarks"]["file"]
    assert predictor.landmarks and hashlib.sha256(table.read_bytes()).hexdigest() == card["landmarks"]["sha256"]
    vit = attach_landmarks(vit, LandmarkTable(table))
    mean, std = predictor.predict_records(vit)
    assert np.all((mean > 0) & (mean < 1)) and np.all(std > 0) and np.ptp(mean) > 0.05


def test_the_v2_checkpoint_predicts_every_space_through_the_folded_first_layer_as_through_the_layers(monkeypatch):
    # predict runs each member's input projection and first layer as one product (AccuracyNet.folded_stem); on
    # the shipped checkpoint and genomes of every space it gives the layers' predictions to float32 rounding
    import predictor.estimator as estimator_module
    from distill.genome import SPACES, get_space
    from predictor.model import AccuracyNet

    predictor = AccuracyPredictor.load(ROOT / "checkpoints" / "predictor_v2.pt")
    rng = np.random.default_rng(0)
    genomes = [get_space(space).sample(rng) for space in SPACES.names() for _ in range(40)]
    task = {"classes": rng.random((10, 8)).tolist(), "global": rng.random(13).tolist(), "landmarks": [0.5] * 3}
    built = []
    stem_inputs = estimator_module.stem_inputs
    monkeypatch.setattr(estimator_module, "stem_inputs", lambda *a: built.append(1) or stem_inputs(*a))
    folded = predictor.predict(genomes, task, 10)
    assert built  # the folded path ran
    with monkeypatch.context() as m:
        m.setattr(AccuracyNet, "folded_stem", lambda self: None)
        layers = predictor.predict(genomes, task, 10)
    assert len(built) == 1 + (len(genomes) - 1) // estimator_module.PREDICT_CHUNK  # and only the first time
    np.testing.assert_allclose(folded[0], layers[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(folded[1], layers[1], rtol=0, atol=1e-6)
    assert np.ptp(folded[0]) > 0.05
